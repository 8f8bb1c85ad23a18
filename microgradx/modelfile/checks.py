"""What a model file may hold: the limits, `ModelFileError`, and the checks of its spec and plain data."""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from microgradx.registry.core import get_registry
from microgradx.registry.errors import PluginError

#: Largest file `read` accepts, in bytes.
MAX_FILE_BYTES = 256 * 2**20
#: Largest number of parameters a model file may hold.
MAX_PARAMETERS = 5_000_000
#: Largest integer allowed anywhere in a spec or meta (layer sizes, seeds, ...).
MAX_SPEC_INT = 2**63 - 1
#: Largest layer width (``nin``, an entry of ``nouts``, ``nout``) in a spec.
MAX_UNITS = 1_000_000
#: Largest string, list and nesting depth allowed in a spec or meta.
MAX_STRING = 10_000
MAX_LIST = 100_000
MAX_DEPTH = 16

PathLike = Union[str, os.PathLike]


class ModelFileError(ValueError):
    """A model file is missing, unreadable, corrupt, malformed or hostile (or cannot be written)."""

    def __init__(self, path: PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"model file {self.path!r}: {problem}")


def check_spec(path: Path, spec: Any) -> None:
    """A spec is an object of plain data naming a layer, with sane layer sizes; else `ModelFileError`."""
    if not isinstance(spec, dict):
        raise ModelFileError(path, f"'spec' must be an object, found {json_type(spec)}")
    check_plain(path, spec, "spec")
    layer = spec.get("layer")
    if not isinstance(layer, str) or not layer:
        raise ModelFileError(path, f"spec['layer'] must name a registered layer, found {json_type(layer)} "
                                   f"{short(layer)}")
    for key in ("nin", "nout"):
        if key in spec:
            _check_units(path, spec[key], f"spec[{key!r}]")
    if "nouts" in spec:
        nouts = spec["nouts"]
        if not isinstance(nouts, list) or not nouts:
            raise ModelFileError(path, f"spec['nouts'] must be a non-empty list of layer sizes, found {short(nouts)}")
        for i, n in enumerate(nouts):
            _check_units(path, n, f"spec['nouts'][{i}]")


def _check_units(path: Path, n: Any, where: str) -> None:
    if n.__class__ is not int:
        raise ModelFileError(path, f"{where} must be an integer, found {json_type(n)} {short(n)}")
    if not 1 <= n <= MAX_UNITS:
        raise ModelFileError(path, f"{where} = {n} is out of range (1 to {MAX_UNITS})")


def check_plain(path: Path, value: Any, where: str, depth: int = 0) -> None:
    """Only JSON's own types, finite numbers, and bounded sizes, everywhere inside ``value``."""
    if depth > MAX_DEPTH:
        raise ModelFileError(path, f"{where} is nested more than {MAX_DEPTH} levels deep")
    cls = value.__class__
    if value is None or cls is bool:
        return
    if cls is int:
        if abs(value) > MAX_SPEC_INT:
            raise ModelFileError(path, f"{where} = {short(value)} is too large")
    elif cls is float:
        if not math.isfinite(value):
            raise ModelFileError(path, f"{where} = {value!r} is not a finite number")
    elif cls is str:
        if len(value) > MAX_STRING:
            raise ModelFileError(path, f"{where} is a string of {len(value)} characters (limit {MAX_STRING})")
    elif cls is list:
        if len(value) > MAX_LIST:
            raise ModelFileError(path, f"{where} is a list of {len(value)} items (limit {MAX_LIST})")
        for i, item in enumerate(value):
            check_plain(path, item, f"{where}[{i}]", depth + 1)
    elif cls is dict:
        if len(value) > MAX_LIST:
            raise ModelFileError(path, f"{where} has {len(value)} keys (limit {MAX_LIST})")
        for k, item in value.items():
            if k.__class__ is not str:
                raise ModelFileError(path, f"{where} has a non-string key {short(k)}")
            check_plain(path, item, f"{where}[{k!r}]", depth + 1)
    else:
        raise ModelFileError(path, f"{where} holds a {type(value).__name__}, which is not plain JSON data")


def check_finite(path: Path, weights: np.ndarray) -> None:
    """Every weight is a finite number; else `ModelFileError` naming the first that is not."""
    bad = ~np.isfinite(weights)
    if bad.any():
        i = int(np.argmax(bad))
        raise ModelFileError(path, f"weights[{i}] is {float(weights[i])!r}; every weight must be a finite number")


def expected_parameters(path: Path, spec: dict) -> Optional[int]:
    """Parameter count of the bundled layers (weights plus a bias per unit), from the spec alone.

    Known before building anything, so a spec asking for a huge model is refused without
    allocating it. ``None`` for another plugin's layer (counted after building; its sizes
    are still bounded by `MAX_UNITS`).
    """
    if not is_bundled_layer(spec.get("layer")):
        return None
    bias = 1
    if "nin" in spec and "nouts" in spec:
        sizes = [spec["nin"], *spec["nouts"]]
        count = sum((a + bias) * b for a, b in itertools.pairwise(sizes))
    elif "nin" in spec and "nout" in spec:
        count = (spec["nin"] + bias) * spec["nout"]
    elif "nin" in spec and spec.get("layer") == "Neuron":
        count = spec["nin"] + bias
    else:
        return None
    if count > MAX_PARAMETERS:
        raise ModelFileError(path, f"the spec ({describe(spec)}) asks for {count} parameters, more than the "
                                   f"limit of {MAX_PARAMETERS}")
    return count


def is_bundled_layer(name: Any) -> bool:
    """Whether ``name`` is one of the bundled layers (MLP, Layer, Neuron) as registered now."""

    if name not in ("MLP", "Layer", "Neuron"):
        return False
    try:
        return get_registry().component("layers", name).plugin.builtin
    except (PluginError, LookupError):
        return False


def describe(spec: dict) -> str:
    """``MLP(30, [16, 16, 1])``-style text for a spec, for messages."""
    args = [repr(spec[k]) for k in ("nin", "nout", "nouts") if k in spec]
    return f"{spec.get('layer')}({', '.join(args)})"


def json_type(x: Any) -> str:
    """What a parsed JSON value is, in words (``an object``, ``a string`` ...), for messages."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(x.__class__, type(x).__name__)


def short(x: Any, limit: int = 60) -> str:
    """``repr(x)``, cut to ``limit`` characters, for messages."""
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


