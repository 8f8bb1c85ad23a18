"""What a model expects and gives (`Schema`), and which plugins its components came from.

A `Schema` is all that ``microgradx predict`` needs besides the network: the task and loss,
the feature names in input order, the standardisation fitted on the training data, the
target's name, the class labels (or the regression target's standardisation). In a model
file it is the object ``"schema"``; ``"components"`` lists each non-built-in component the
model needs (its kind, name, plugin, distribution and version), so that a missing plugin
is named with the distribution to install.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.modelfile.checks import ModelFileError, PathLike, json_type, short

TASKS = ("binary", "multiclass", "regression")
SCHEMA_KEYS = {"task", "loss", "features", "mean", "scale", "target", "classes", "target_mean", "target_scale"}
COMPONENT_KEYS = {"kind", "name", "plugin", "distribution", "version"}
#: Losses whose outputs are log-odds (bce) or logits (softmax_ce): probabilities exist for them.
PROBABILISTIC_LOSSES = ("bce", "softmax_ce")
#: A distribution name (PEP 508) and a version (PEP 440's characters): a file's components are
#: quoted in a ``pip install`` line, so nothing else may stand there.
_DISTRIBUTION = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,200}[A-Za-z0-9])?")
_VERSION = re.compile(r"[A-Za-z0-9.+!_-]{1,100}")


def _floats(value: Any) -> Optional[tuple]:
    if value is None:
        return None
    return tuple(float(v) for v in np.asarray(value, dtype=np.float64).ravel())


def _label(value: Any) -> Any:
    """A class label as plain JSON data: numpy scalars become Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@attrs.frozen
class Schema:
    """What a model expects as input and what its outputs mean.

    Attributes:
        task: ``"binary"``, ``"multiclass"``, ``"regression"`` or None (unknown).
        loss: the registered name of the loss it was trained with (it decides what the
            outputs predict), or None.
        features: the feature names, in the order the model takes them.
        mean, scale: the standardisation of the features (``(X - mean) / scale``), or None.
        target: the target's name, or None.
        classes: the class labels (strings or numbers) of outputs 0..k-1, for classification.
        target_mean, target_scale: a regression target's standardisation (the model
            predicts ``(y - target_mean) / target_scale``), one number per output, or None.
    """

    task: Optional[str] = None
    loss: Optional[str] = None
    features: tuple = attrs.field(default=(), converter=tuple)
    mean: Optional[tuple] = attrs.field(default=None, converter=_floats)
    scale: Optional[tuple] = attrs.field(default=None, converter=_floats)
    target: Optional[str] = None
    classes: Optional[tuple] = attrs.field(default=None, converter=lambda c: None if c is None else
                                           tuple(_label(v) for v in c))
    target_mean: Optional[tuple] = attrs.field(default=None, converter=_floats)
    target_scale: Optional[tuple] = attrs.field(default=None, converter=_floats)

    @classmethod
    def from_dataset(cls, dataset: Any, loss: Optional[str] = None) -> Schema:
        """The schema of a model trained on ``dataset`` (a `microgradx.datasets.Dataset`) with ``loss``."""
        task = getattr(dataset, "task", None)
        classes = None
        if task in ("binary", "multiclass"):
            classes = tuple(getattr(dataset, "classes", ()) or getattr(dataset, "class_names", ()) or
                            range(getattr(dataset, "n_classes", 0) or 0)) or None
        return cls(task=task, loss=loss, features=getattr(dataset, "feature_names", ()),
                   mean=getattr(dataset, "mean", None), scale=getattr(dataset, "scale", None),
                   target=getattr(dataset, "target_name", None), classes=classes,
                   target_mean=getattr(dataset, "target_mean", None),
                   target_scale=getattr(dataset, "target_scale", None))

    @property
    def standardized(self) -> bool:
        """Whether the features are standardised before they reach the model."""
        return self.mean is not None and self.scale is not None

    def transform(self, X: Any) -> np.ndarray:
        """Raw features (n, n_features) -> what the model takes (standardised when the schema says so)."""
        X = np.asarray(X, dtype=np.float64)
        return (X - np.asarray(self.mean)) / np.asarray(self.scale) if self.standardized else X

    def inverse_target(self, y: Any) -> np.ndarray:
        """Regression outputs -> values in the target's own units."""
        y = np.asarray(y, dtype=np.float64)
        if self.target_mean is None or self.target_scale is None:
            return y
        return y * np.asarray(self.target_scale) + np.asarray(self.target_mean)  # one number, or one per column

    def as_dict(self) -> dict:
        """Plain JSON data (the ``"schema"`` object of a model file); empty settings are left out."""
        d = {"task": self.task, "loss": self.loss, "features": list(self.features), "mean": self.mean,
             "scale": self.scale, "target": self.target, "classes": self.classes, "target_mean": self.target_mean,
             "target_scale": self.target_scale}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items() if v not in (None, [], ())}


def schema_from_dict(path: PathLike, d: Any, spec: dict) -> Schema:
    """Check a file's ``"schema"`` object against itself and the spec; a `ModelFileError` naming the problem."""
    if not isinstance(d, dict):
        raise ModelFileError(path, f"'schema' must be an object, found {json_type(d)}")
    unknown = sorted(set(d) - SCHEMA_KEYS)
    if unknown:
        raise ModelFileError(path, f"unexpected key(s) {', '.join(map(repr, unknown))} in 'schema'; it has "
                                   f"{', '.join(sorted(SCHEMA_KEYS))}")
    task, loss, target = d.get("task"), d.get("loss"), d.get("target")
    if task is not None and task not in TASKS:
        raise ModelFileError(path, f"schema['task'] must be one of {', '.join(TASKS)}, found {short(task)}")
    for key, value in (("loss", loss), ("target", target)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ModelFileError(path, f"schema[{key!r}] must be a name, found {json_type(value)} {short(value)}")
    features = d.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) and f for f in features):
        raise ModelFileError(path, "schema['features'] must be a list of feature names")
    if len(set(features)) != len(features):
        raise ModelFileError(path, "schema['features'] names a feature twice")
    nin = spec.get("nin")
    if features and nin is not None and len(features) != nin:
        raise ModelFileError(path, f"schema['features'] names {len(features)} features but the model takes {nin}")
    n = len(features) or nin
    for key in ("mean", "scale"):
        _numbers(path, d.get(key), f"schema[{key!r}]", n, positive=key == "scale")
    if (d.get("mean") is None) != (d.get("scale") is None):
        raise ModelFileError(path, "schema has only one of 'mean' and 'scale'; a standardisation needs both")
    classes = d.get("classes")
    outputs = (spec.get("nouts") or [None])[-1]
    if classes is not None:
        if task == "regression":
            raise ModelFileError(path, "schema['classes'] is given for a regression task")
        if not isinstance(classes, list) or len(classes) < 2:
            raise ModelFileError(path, "schema['classes'] must be a list of at least 2 class labels")
        if not all(c.__class__ in (str, int, float, bool) for c in classes) or len(set(classes)) != len(classes):
            raise ModelFileError(path, "schema['classes'] must hold distinct strings or numbers")
        if task == "binary" and len(classes) != 2:
            raise ModelFileError(path, f"a binary task has 2 classes, schema['classes'] holds {len(classes)}")
        if outputs is not None and outputs not in (1, len(classes)):
            raise ModelFileError(path, f"schema['classes'] holds {len(classes)} classes but the model has "
                                       f"{outputs} outputs")
    for key in ("target_mean", "target_scale"):
        _numbers(path, d.get(key), f"schema[{key!r}]", outputs, positive=key == "target_scale")
    return Schema(task=task, loss=loss, features=features, mean=d.get("mean"), scale=d.get("scale"), target=target,
                  classes=classes, target_mean=d.get("target_mean"), target_scale=d.get("target_scale"))


def _numbers(path: PathLike, value: Any, where: str, n: Optional[int], positive: bool) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(v.__class__ in (int, float) for v in value):
        raise ModelFileError(path, f"{where} must be a list of numbers, found {json_type(value)}")
    if n is not None and len(value) != n:
        raise ModelFileError(path, f"{where} holds {len(value)} numbers, expected {n}")
    for i, v in enumerate(value):
        try:
            number = float(v)
        except OverflowError:  # an integer too large for a float (JSON allows 4300 digits)
            number = math.inf
        if not math.isfinite(number) or (positive and number <= 0):
            raise ModelFileError(path, f"{where}[{i}] = {short(v)} must be a finite number" +
                                 (" > 0" if positive else ""))


# -- where components came from -----------------------------------------------------------------


def components_used(spec: dict, schema: Optional[Schema]) -> list:
    """The non-built-in components a model needs, as plain dicts (kind, name, plugin, distribution, version)."""
    from microgradx.registry.core import get_registry
    from microgradx.registry.errors import PluginError

    wanted = [("layers", spec.get("layer"))]
    wanted += [("ops", spec.get(k)) for k in ("activation", "last_activation")]
    if schema is not None and schema.loss:
        wanted.append(("losses", schema.loss))
    registry, out = get_registry(), []
    for kind, name in wanted:
        if not isinstance(name, str):
            continue
        try:
            plugin = registry.component(kind, name).plugin
        except (PluginError, LookupError):
            continue
        if not plugin.builtin:
            out.append({"kind": kind, "name": name, "plugin": plugin.name, "distribution": plugin.distribution,
                        "version": plugin.version})
    return out


def check_components(path: PathLike, value: Any) -> list:
    """Check a file's ``"components"`` list (plain records, nothing looked up yet)."""
    if not isinstance(value, list):
        raise ModelFileError(path, f"'components' must be a list, found {json_type(value)}")
    for i, c in enumerate(value):
        if not isinstance(c, dict) or set(c) - COMPONENT_KEYS or not {"kind", "name"} <= set(c):
            raise ModelFileError(path, f"components[{i}] must be an object with kind, name, plugin, distribution "
                                       f"and version")
        if not all(v is None or isinstance(v, str) for v in c.values()):
            raise ModelFileError(path, f"components[{i}] must hold strings")
        for key, pattern, what in (("distribution", _DISTRIBUTION, "a distribution name"),
                                   ("version", _VERSION, "a version")):
            if c.get(key) is not None and not pattern.fullmatch(c[key]):
                raise ModelFileError(path, f"components[{i}][{key!r}] = {short(c[key])} is not {what}")
    return value


def require_components(path: PathLike, components: list) -> None:
    """A `ModelFileError` naming the distribution to install for the first recorded component not registered."""
    from microgradx.registry.core import SINGULAR, get_registry
    from microgradx.registry.errors import PluginError

    registry = get_registry()
    for c in components:
        try:
            registry.component(c["kind"], c["name"])
            continue
        except (PluginError, LookupError):
            pass
        what = f"no {SINGULAR.get(c['kind'], c['kind'])} named {c['name']!r} is registered"
        if c.get("distribution"):
            version = f" {c['version']}" if c.get("version") else ""
            raise ModelFileError(path, f"{what}; the model was saved with it from the distribution "
                                       f"{c['distribution']}{version} (plugin {c.get('plugin')!r}), which is not "
                                       f"installed here: pip install {c['distribution']}")
        raise ModelFileError(path, f"{what}; the model was saved with it from plugin {c.get('plugin')!r}, registered "
                                   f"at run time: register that plugin before loading the model")
