"""The playground's settings: what the page (and its URL) can ask for, checked before anything changes.

A configuration is a flat mapping of short keys, the same in the URL's query string
(``?dataset=moons&layers=8,8&acts=tanh,tanh&lr=0.03``), in the page's requests and here:

=========  ======================================================  ==================
key        meaning                                                 default
=========  ======================================================  ==================
dataset    a registered 2-D dataset that takes ``n_samples`` and   ``moons``
           ``noise`` (moons, circles, xor, spiral, blobs, bumps),
           or ``csv`` (the ``--data`` file, or one uploaded)
noise      the dataset's noise (>= 0)                              0.1
test       the share of the points held out for testing            0.5
samples    how many points the dataset generates                   200
seed       seeds the data, the split, the weights and shuffling    0
layers     hidden layer sizes, comma-separated (none: ``""``)      ``8,8``
acts       one activation per hidden layer: any registered unary   ``tanh,tanh``
           op, or ``linear``
loss       a registered loss, or ``auto`` (the dataset's default)  ``auto``
optimizer  a registered optimizer                                  ``sgd``
lr         learning rate (> 0)                                     0.03
batch      examples per step                                       10
l2         the loss's L2 penalty weight (>= 0)                     0
speed      epochs per second while playing, or ``max``             30
=========  ======================================================  ==================

`parse` reads any subset over a base configuration and reports every bad value with the
name the page shows for it ("learning rate: ..."), so a bad setting changes nothing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, Optional

import attrs

from microgradx.registry.core import get_registry

#: Limits that keep a frame small enough to draw live (TensorFlow Playground stops at 6 layers of 8).
MAX_LAYERS = 8
MAX_NEURONS = 32
MAX_SAMPLES = 5000
MAX_SPEED = 1000
#: What the page calls each setting, for messages.
LABELS = {
    "dataset": "dataset", "noise": "noise", "test": "test share", "samples": "points", "seed": "seed",
    "layers": "hidden layers", "acts": "activations", "loss": "loss", "optimizer": "optimizer",
    "lr": "learning rate", "batch": "batch size", "l2": "L2", "speed": "speed",
}
#: Settings whose change starts the run again from new weights; `TRAINER_KEYS` keep the weights.
RESTART_KEYS = ("dataset", "noise", "test", "samples", "seed", "layers", "acts", "loss")
TRAINER_KEYS = ("optimizer", "batch", "l2")
LINEAR = "linear"


class SettingsError(ValueError):
    """One or more bad settings; ``problems`` maps each key to what is wrong with it."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        super().__init__("; ".join(f"{LABELS.get(k, k)}: {m}" for k, m in self.problems.items()))


@attrs.frozen
class Settings:
    """One checked configuration of the playground (see the module docstring for each field)."""

    dataset: str = "moons"
    noise: float = 0.1
    test: float = 0.5
    samples: int = 200
    seed: int = 0
    layers: tuple = (8, 8)
    acts: tuple = ("tanh", "tanh")
    loss: str = "auto"
    optimizer: str = "sgd"
    lr: float = 0.03
    batch: int = 10
    l2: float = 0.0
    speed: Optional[int] = 30  # None: as fast as the machine goes

    def query(self) -> dict:
        """The settings as the URL's query parameters (strings)."""
        return {
            "dataset": self.dataset, "noise": _short(self.noise), "test": _short(self.test),
            "samples": str(self.samples), "seed": str(self.seed), "layers": ",".join(map(str, self.layers)),
            "acts": ",".join(self.acts), "loss": self.loss, "optimizer": self.optimizer, "lr": _short(self.lr),
            "batch": str(self.batch), "l2": _short(self.l2), "speed": "max" if self.speed is None else str(self.speed),
        }

    def changed(self, other: Settings) -> set:
        """The keys whose values differ between these settings and ``other``."""
        return {f.name for f in attrs.fields(Settings) if getattr(self, f.name) != getattr(other, f.name)}


def _short(x: float) -> str:
    return f"{x:.6g}"


def unary_ops() -> list[str]:
    """Every registered op an activation can be: unary and lanewise (third-party ops included), sorted."""

    table = get_registry().tables["ops"]
    return sorted(name for name, c in table.items() if c.obj.arity == 1 and not c.obj.reduces_lanes)


class _NotANumber(ValueError):
    """A setting's text that does not read as the number it must be."""


def _number(text: Any) -> float:
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        return float(text)
    try:
        return float(text.strip())
    except (AttributeError, ValueError):
        raise _NotANumber("must be a number") from None


def _integer(text: Any) -> int:
    x = _number(text)
    if not math.isfinite(x) or x != int(x):
        raise _NotANumber("must be a whole number")
    return int(x)


def _items(text: Any) -> list[str]:
    if isinstance(text, (list, tuple)):
        return [str(t).strip() for t in text]
    if not isinstance(text, str):
        raise ValueError
    return [] if not text.strip() else [t.strip() for t in text.split(",")]


def _check(key: str, text: Any, datasets: tuple, losses: tuple, optimizers: tuple, ops: list) -> Any:
    """The value of one setting from its text, or a ValueError whose message says what is wrong."""
    shown = repr(text) if isinstance(text, str) else str(text)
    try:
        if key == "dataset":
            if text not in datasets:
                raise ValueError(f"no dataset {shown} here; choose one of {', '.join(datasets)}")
            return text
        if key in ("noise", "l2"):
            x = _number(text)
            if not (math.isfinite(x) and x >= 0):
                raise ValueError(f"must be a number >= 0, got {shown}")
            return x
        if key == "lr":
            x = _number(text)
            if not (math.isfinite(x) and x > 0):
                raise ValueError(f"must be a positive number, got {shown}")
            return x
        if key == "test":
            x = _number(text)
            if not (0.05 <= x <= 0.95):
                raise ValueError(f"must be a fraction from 0.05 to 0.95, got {shown}")
            return x
        if key == "samples":
            n = _integer(text)
            if not 20 <= n <= MAX_SAMPLES:
                raise ValueError(f"must be a whole number from 20 to {MAX_SAMPLES}, got {shown}")
            return n
        if key == "seed":
            n = _integer(text)
            if not 0 <= n < 2**32:
                raise ValueError(f"must be a whole number from 0 to 2**32 - 1, got {shown}")
            return n
        if key == "batch":
            n = _integer(text)
            if n < 1:
                raise ValueError(f"must be a whole number >= 1, got {shown}")
            return n
        if key == "speed":
            if isinstance(text, str) and text.strip() == "max":
                return None
            n = _integer(text)
            if not 1 <= n <= MAX_SPEED:
                raise ValueError(f"must be 'max' or epochs per second from 1 to {MAX_SPEED}, got {shown}")
            return n
        if key == "layers":
            items = _items(text)
            if len(items) > MAX_LAYERS:
                raise ValueError(f"at most {MAX_LAYERS} hidden layers, got {len(items)}")
            sizes = []
            for i, item in enumerate(items, 1):
                try:
                    n = _integer(item)
                except ValueError:
                    raise ValueError(f"layer {i} needs a whole number of neurons, got {item!r}") from None
                if not 1 <= n <= MAX_NEURONS:
                    raise ValueError(f"layer {i} needs 1 to {MAX_NEURONS} neurons, got {n}")
                sizes.append(n)
            return tuple(sizes)
        if key == "acts":
            names = _items(text)
            for i, name in enumerate(names, 1):
                if name != LINEAR and name not in ops:
                    raise ValueError(f"layer {i}: no unary op named {name!r} is registered; choose "
                                     f"{LINEAR} or one of {', '.join(ops)}")
            return tuple(names)
        if key == "loss":
            if text != "auto" and text not in losses:
                raise ValueError(f"no loss named {shown} is registered; choose auto or one of {', '.join(losses)}")
            return text
        if key == "optimizer":
            if text not in optimizers:
                raise ValueError(f"no optimizer named {shown} is registered; choose one of {', '.join(optimizers)}")
            return text
    except _NotANumber as exc:
        raise ValueError(f"{exc}, got {shown}") from None
    raise ValueError("is not a setting of the playground")


def parse(values: Mapping[str, Any], base: Settings, datasets: tuple) -> Settings:
    """``base`` with the settings in ``values`` (text from a URL or the page, or numbers) applied.

    ``datasets`` are the dataset names this server offers. Unknown keys and bad values are
    refused: a `SettingsError` naming every one, and nothing is applied.
    """
    settings, problems = parse_partial(values, base, datasets)
    if problems:
        raise SettingsError(problems)
    return settings


def parse_partial(values: Mapping[str, Any], base: Settings, datasets: tuple) -> tuple[Settings, dict]:
    """``(settings, problems)``: ``base`` with every good value of ``values`` applied, and
    ``{key: message}`` for the bad ones (which keep ``base``'s value). A URL loads this way."""

    registry = get_registry()
    losses, optimizers = tuple(registry.names("losses")), tuple(registry.names("optimizers"))
    ops = unary_ops()
    good: dict = {}
    problems: dict = {}
    for key, text in values.items():
        try:
            good[key] = _check(key, text, datasets, losses, optimizers, ops)
        except ValueError as exc:
            problems[key] = str(exc)
    layers = good.get("layers", base.layers)
    acts = list(good.get("acts", base.acts))
    if len(acts) > len(layers) or "acts" not in values:  # fewer layers: drop the extra activations
        acts = acts[:len(layers)]
    fill = acts[-1] if acts else (base.acts[-1] if base.acts else "tanh")
    good["acts"] = tuple(acts + [fill] * (len(layers) - len(acts)))  # a new layer takes the last one's
    return attrs.evolve(base, **good), problems
