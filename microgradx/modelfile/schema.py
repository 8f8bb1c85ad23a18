"""What a model expects and gives (`Schema`), and which plugins its components came from.

A `Schema` is all that ``microgradx predict`` needs besides the network: the task and loss,
the raw feature columns, what each becomes (``inputs``: a number, imputed or not, or one-hot
categories; absent when every feature is a number used as it is), the standardisation of the
network's inputs fitted on the training data, the target's name, the class labels (or the
regression target's standardisation). In a model
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

from microgradx.datasets.encoding import (
    UNKNOWN,
    ArrayProblems,
    ArraySource,
    InputColumn,
    encode,
    raw_columns,
    total_width,
)
from microgradx.modelfile.checks import ModelFileError, PathLike, check_plain, json_type, short
from microgradx.registry.core import SINGULAR, get_registry
from microgradx.registry.errors import PluginError

TASKS = ("binary", "multiclass", "regression")
SCHEMA_KEYS = {"task", "loss", "features", "mean", "scale", "target", "classes", "target_mean", "target_scale",
               "inputs"}
INPUT_KEYS = {"column", "kind", "impute", "categories", "drop", "unknown"}
#: Largest class label or category that is an integer: JSON allows any number of digits.
MAX_LABEL_INT = 2**63 - 1
COMPONENT_KEYS = {"kind", "name", "plugin", "distribution", "version"}
#: Losses whose outputs are log-odds (bce) or logits (softmax_ce): probabilities exist for them.
PROBABILISTIC_LOSSES = ("bce", "softmax_ce")


def probabilities(Z: np.ndarray) -> np.ndarray:
    """Class probabilities from a bce or softmax_ce model's raw outputs ``Z`` (n, k), rows summing to 1.

    One column is a log-odds ``z``: ``[1 - sigmoid(z), sigmoid(z)]``; k columns are logits: their
    softmax. `Predictor` and the scikit-learn classifier both use it.
    """
    if Z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-Z[:, 0]))
        return np.column_stack([1.0 - p, p])
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)
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
        features: the raw feature columns, in the order the model takes them.
        inputs: what each raw column becomes (`microgradx.datasets.encoding.InputColumn`:
            imputation, one-hot categories), or empty: every feature is a number, used as it is.
        mean, scale: the standardisation of the network's inputs (``(X - mean) / scale``), or None.
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
    inputs: tuple = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        if self.inputs and not self.features:
            object.__setattr__(self, "features", tuple(raw_columns(self.inputs)))

    @property
    def input_columns(self) -> tuple:
        """``inputs``, or for a schema without them one number input per feature."""
        return self.inputs or tuple(InputColumn(name) for name in self.features)

    @property
    def n_inputs(self) -> Optional[int]:
        """How many inputs the network takes (None when the schema names no features)."""
        return total_width(self.inputs) if self.inputs else (len(self.features) or None)

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
                   target_scale=getattr(dataset, "target_scale", None), inputs=getattr(dataset, "inputs", ()))

    @property
    def standardized(self) -> bool:
        """Whether the features are standardised before they reach the model."""
        return self.mean is not None and self.scale is not None

    def transform(self, X: Any) -> np.ndarray:
        """Raw features -> what the network takes: imputed, one-hot encoded, standardised as the schema says.

        ``X``: a 2-D array of the features in the order of ``features`` (of numbers, unless some
        are categories), or a source of columns by name (`microgradx.datasets.encoding.ArraySource`,
        `~microgradx.datasets.encoding.ColumnsSource`). A missing value without an imputation
        and an unknown category are a ValueError naming the row, column and value (for a CSV
        file's rows, a `CSVError` with the file's row numbers).
        """
        if not self.inputs and not hasattr(X, "codes"):
            X = np.asarray(X, dtype=np.float64)
        else:
            X = self._encode(X)
        return (X - np.asarray(self.mean)) / np.asarray(self.scale) if self.standardized else X

    def _encode(self, X: Any) -> np.ndarray:
        if not hasattr(X, "codes"):
            X = np.asarray(X)
            if X.ndim != 2 or X.shape[1] != len(self.features):
                raise ValueError(f"expected a 2-D array of {len(self.features)} feature columns, got shape {X.shape}")
            X = ArraySource({name: X[:, j] for j, name in enumerate(self.features)}, len(X))
        problems = getattr(X, "problems", None)
        if problems is None:
            problems = ArrayProblems(X)
        out = encode(self.input_columns, X, problems, first_row=getattr(X, "first_row", 0),
                     handle_unknown=getattr(X, "handle_unknown", None))
        problems.raise_if_any()
        return out

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
             "target_scale": self.target_scale, "inputs": [c.as_dict() for c in self.inputs]}
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
    check_plain(path, d, "schema")  # bounded strings, lists and integers, finite numbers, plain JSON only
    features = d.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) and f for f in features):
        raise ModelFileError(path, "schema['features'] must be a list of feature names")
    if len(set(features)) != len(features):
        raise ModelFileError(path, "schema['features'] names a feature twice")
    inputs = _inputs(path, d.get("inputs"))
    nin = spec.get("nin")
    if inputs:
        used = raw_columns(inputs)
        if features and sorted(features) != sorted(used):
            raise ModelFileError(path, f"schema['features'] must list the columns schema['inputs'] reads "
                                       f"({short(used)})")
        features, n = features or used, total_width(inputs)
        if nin is not None and n != nin:
            raise ModelFileError(path, f"schema['inputs'] make {n} inputs but the model takes {nin}")
    else:
        if features and nin is not None and len(features) != nin:
            raise ModelFileError(path, f"schema['features'] names {len(features)} features but the model takes "
                                       f"{nin}")
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
        _check_labels(path, classes, "schema['classes']")
        if task == "binary" and len(classes) != 2:
            raise ModelFileError(path, f"a binary task has 2 classes, schema['classes'] holds {len(classes)}")
        if task == "multiclass" and len(classes) < 3:
            raise ModelFileError(path, f"a multiclass task has at least 3 classes, schema['classes'] holds "
                                       f"{len(classes)}")
        if outputs is not None and not (outputs == len(classes) or (outputs == 1 and len(classes) == 2)):
            raise ModelFileError(path, f"schema['classes'] holds {len(classes)} classes but the model has "
                                       f"{outputs} outputs (one output serves 2 classes; more need one each)")
    for key in ("target_mean", "target_scale"):
        _numbers(path, d.get(key), f"schema[{key!r}]", outputs, positive=key == "target_scale")
    return Schema(task=task, loss=loss, features=features, mean=d.get("mean"), scale=d.get("scale"), target=target,
                  classes=classes, target_mean=d.get("target_mean"), target_scale=d.get("target_scale"),
                  inputs=inputs)


def _check_labels(path: PathLike, labels: list, where: str) -> None:
    """Class labels and categories: finite numbers, integers in range (a 400-digit one is refused)."""
    for i, c in enumerate(labels):
        if c.__class__ is int and abs(c) > MAX_LABEL_INT:
            raise ModelFileError(path, f"{where}[{i}] = {short(c)} is too large an integer (limit {MAX_LABEL_INT})")
        if c.__class__ is float and not math.isfinite(c):
            raise ModelFileError(path, f"{where}[{i}] = {c!r} is not a finite number")


def _inputs(path: PathLike, value: Any) -> tuple:
    """A file's ``schema["inputs"]`` as `InputColumn` s, every field checked; () when absent."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ModelFileError(path, f"schema['inputs'] must be a non-empty list, found {json_type(value)}")
    out = []
    for i, d in enumerate(value):
        where = f"schema['inputs'][{i}]"
        if not isinstance(d, dict) or set(d) - INPUT_KEYS or not {"column", "kind"} <= set(d):
            raise ModelFileError(path, f"{where} must be an object with column, kind and optionally "
                                       f"{', '.join(sorted(INPUT_KEYS - {'column', 'kind'}))}")
        name, kind, impute = d["column"], d["kind"], d.get("impute")
        if not isinstance(name, str) or not name:
            raise ModelFileError(path, f"{where}['column'] must be a column name, found {short(name)}")
        if kind == "number":
            if set(d) - {"column", "kind", "impute"}:
                raise ModelFileError(path, f"{where}: a number input has only column, kind and impute")
            if impute is not None and (impute.__class__ not in (int, float) or not math.isfinite(float(impute))):
                raise ModelFileError(path, f"{where}['impute'] must be a finite number, found {short(impute)}")
            out.append(InputColumn(name, "number", impute=impute))
            continue
        if kind != "category":
            raise ModelFileError(path, f"{where}['kind'] must be 'number' or 'category', found {short(kind)}")
        categories, drop, unknown = d.get("categories"), d.get("drop"), d.get("unknown", "error")
        if not isinstance(categories, list) or not categories or \
                not all(c.__class__ in (str, int, float) for c in categories) or \
                len({(c.__class__ is str, c) for c in categories}) != len(categories):
            raise ModelFileError(path, f"{where}['categories'] must be a non-empty list of distinct strings or "
                                       f"numbers")
        _check_labels(path, categories, f"{where}['categories']")
        if drop is not None and (drop.__class__ is not int or not 0 <= drop < len(categories)):
            raise ModelFileError(path, f"{where}['drop'] must be the index of a category, found {short(drop)}")
        if impute is not None and impute not in categories:
            raise ModelFileError(path, f"{where}['impute'] must be one of its categories, found {short(impute)}")
        if unknown not in UNKNOWN:
            raise ModelFileError(path, f"{where}['unknown'] must be 'error' or 'ignore', found {short(unknown)}")
        if drop is not None and len(categories) < 2:
            raise ModelFileError(path, f"{where}: a category with one value cannot drop it")
        out.append(InputColumn(name, "category", impute=impute, categories=tuple(categories), drop=drop,
                               unknown=unknown))
    return tuple(out)


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
