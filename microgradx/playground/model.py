"""What one configuration builds: the dataset, the loss, the network, its Trainer and the compiled probe.

`build` assembles them from registered components (a dataset, a loss, an optimizer, the
``Layer`` the network stacks) and the Trainer's compiled training steps: nothing is half
made when a setting is bad, since a `Model` is swapped into a run only once all of it exists.
The probe is the one compiled forward that gives every neuron's output for a batch of
points: the grid of the heat maps, or the training and test points for the loss curves.
"""

from __future__ import annotations

import contextlib
from typing import Any, Optional

import numpy as np

from microgradx.compiler import compile
from microgradx.datasets import Dataset, load
from microgradx.engine.value import Value
from microgradx.playground.frames import GRID, as_bytes, plane
from microgradx.playground.network import Network
from microgradx.playground.settings import LINEAR, Settings
from microgradx.registry.components import settings_of
from microgradx.registry.core import get_registry
from microgradx.train import DEFAULT_LOSS, Trainer, build_component, predictions
from microgradx.train.components import outputs_for

#: The dataset a run loads from a CSV file (the ``--data`` file or one uploaded from the page).
CSV = "csv"


def playground_datasets() -> tuple:
    """The registered datasets the playground offers: those that generate points in the plane (they take
    ``n_samples`` and ``noise`` and give two features), third-party ones included.

    Each candidate is asked for 20 points once (a dataset that only reads a file refuses
    ``n_samples`` before reading anything).
    """

    offered = []
    for name, component in get_registry().tables["datasets"].items():
        if not {"n_samples", "noise"} <= (settings_of(component.obj) or set()):
            continue
        try:
            if load(name, n_samples=20, noise=0.0, test_size=0.25).n_features == 2:
                offered.append(name)
        except Exception:
            continue
    return tuple(offered)


def load_dataset(settings: Settings, csv_path: Optional[str], csv_name: str = "the CSV file") -> Dataset:
    """The dataset the settings name, split with their seed and test share, checked to be 2-D."""

    if settings.dataset == CSV:
        if csv_path is None:
            raise ValueError("no CSV file here: upload one, or start the playground with --data FILE.csv")
        try:
            data = load(CSV, path=csv_path, seed=settings.seed, test_size=settings.test)
        except ValueError as exc:  # a CSVError names the file by its path on disk: name it as the user knows it
            raise ValueError(str(exc).replace(str(csv_path), csv_name)) from None
        name = csv_name
    else:
        data = load(settings.dataset, seed=settings.seed, test_size=settings.test, n_samples=settings.samples,
                    noise=settings.noise)
        name = f"dataset {settings.dataset!r}"
    if data.n_features != 2:
        raise ValueError(f"the playground draws the plane of two features, and {name} has {data.n_features} "
                         f"({', '.join(data.feature_names[:6])}{', ...' if data.n_features > 6 else ''}): "
                         f"keep two feature columns and the label")
    return data


class Model:
    """One configuration's pieces, ready to train (see the module docstring)."""

    def __init__(self, settings: Settings, data: Dataset, network: Optional[Network] = None) -> None:
        registry = get_registry()
        loss_name = DEFAULT_LOSS.get(data.task, "mse") if settings.loss == "auto" else settings.loss
        loss = build_component(registry, "losses", loss_name, {"l2": settings.l2} if settings.l2 else None)
        n_outputs = outputs_for(loss, data)
        if network is None:
            acts = [None if a == LINEAR else a for a in settings.acts]
            network = Network(data.n_features, settings.layers, acts, n_outputs, seed=settings.seed)
        self.settings, self.data, self.loss, self.loss_name, self.network = settings, data, loss, loss_name, network
        self.trainer = Trainer(model=network, loss=loss, optimizer=settings.optimizer, lr=settings.lr, schedule=None,
                               dataset=data, epochs=1, batch_size=settings.batch, seed=settings.seed)
        self.probe = compile(self._all_outputs)
        self.points = np.concatenate([data.X_train, data.X_test])
        self.extent, self.grid = plane(self.points, GRID)
        y = np.concatenate([data.y_train, data.y_test]).astype(np.float64)
        self.target_scale = (float(np.abs(y).max()) or 1.0) if data.task == "regression" else 1.0
        self.initial = self.metrics()  # an activation that refuses these inputs (log of a negative) says so here
        self._session = contextlib.ExitStack()  # the Trainer's session: its compiled steps keep a flat store
        self.hook = self._session.enter_context(self.trainer.session())

    def close(self) -> None:
        """End the Trainer's session: the parameters are plain Parameters again."""
        self._session.close()

    def _all_outputs(self, xs: list) -> list[Value]:
        """Every neuron's output, layer after layer (built from ops only: it is compiled)."""
        return [v for layer in self.network.forward_all(xs) for v in layer]

    def layer_outputs(self, X: np.ndarray) -> list[list[np.ndarray]]:
        """Every neuron's outputs for the points ``X``, by layer, from one call of the compiled probe."""
        flat = self.probe(X)
        flat = flat if isinstance(flat, tuple) else (flat,)
        out, k = [], 0
        for size in self.network.nouts:
            out.append([np.broadcast_to(np.asarray(v.data, dtype=np.float64), (len(X),)) for v in flat[k:k + size]])
            k += size
        return out

    def metrics(self) -> dict:
        """Loss (without the L2 penalty) and accuracy on the training and the test points, now."""
        final = self.layer_outputs(self.points)[-1]
        n = self.data.n_train
        result = {}
        for split, rows, y in (("train", slice(0, n), self.data.y_train), ("test", slice(n, None), self.data.y_test)):
            outs = [Value(o[rows].copy()) for o in final]
            result[f"{split}_loss"] = float(self.loss(outs, y).data)
            if self.data.task != "regression":
                result[f"{split}_accuracy"] = float(np.mean(predictions(self.loss, outs, self.data.task) == y))
        return result

    def describe(self) -> dict:
        """What the page draws once per configuration: the points, the plane, the names."""
        data = self.data
        y = np.concatenate([data.y_train, data.y_test])
        return {
            "task": data.task, "classes": [str(c) for c in (data.classes or data.class_names)],
            "features": [str(f) for f in data.feature_names], "extent": self.extent, "grid": GRID,
            "points": np.round(self.points, 4).tolist(),
            "labels": (np.round(y / self.target_scale, 4).tolist() if data.task == "regression"
                       else y.astype(int).tolist()),
            "n_train": data.n_train, "sizes": [self.network.nin, *self.network.nouts],
            "activations": [a or LINEAR for a in self.network.activations], "loss": self.loss_name,
            "input_heat": [plane_heat(self.grid[:, j], self.extent[2 * j:2 * j + 2]) for j in range(2)],
        }


def plane_heat(values: np.ndarray, bounds: Any) -> str:
    """A feature's own heat map: -1 at the plane's low edge, 1 at its high edge."""
    low, high = bounds
    return as_bytes((2 * values - low - high) / (high - low))
