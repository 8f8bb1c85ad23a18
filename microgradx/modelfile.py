"""Model files: a model's architecture and parameters as JSON or ``.npz``, never pickle.

A model file holds the model's ``spec()`` (a small JSON-able dict naming a registered
layer, such as ``{"layer": "MLP", "nin": 30, "nouts": [16, 16, 1], ...}``), its
weights (``get_weights()``, a flat list of floats in ``parameters()`` order) and an
optional ``meta`` dict (what it was trained on, with which loss, ...)::

    {"format": "microgradx-model", "version": 1, "spec": {...}, "weights": [...], "meta": {...}}

A ``.npz`` file holds the same document: the header (everything but the weights) as a
JSON string in ``header.npy`` and the weights as a float64 array in ``weights.npy``.

Loading trusts nothing in the file. Everything is checked before any model is built or
changed: the format and version, the types and sizes of every spec value, that the
layer is registered, the number of weights, and that every weight is a finite number.
Nothing in a file is ever executed or imported: a layer is found by name in the
registry, and numbers are parsed as numbers. Any problem raises `ModelFileError`
naming the file and the problem, and `load_into` leaves its model untouched.

Saving is atomic: the file is written to a temporary file in the same directory,
flushed to disk, then renamed over the target, so a crash mid-write leaves either the
old file or the new one, never half a file.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Optional, Union

import attrs
import numpy as np

FORMAT = "microgradx-model"
VERSION = 1

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

_TOP_KEYS = {"format", "version", "spec", "weights", "meta"}
_NPZ_MEMBERS = {"header.npy", "weights.npy"}
#: Spec keys that do not change what a model computes once its weights are set (fused: same numbers).
_IGNORED_IN_COMPARISON = frozenset({"seed", "fused"})

PathLike = Union[str, os.PathLike]


class ModelFileError(ValueError):
    """A model file is missing, unreadable, corrupt, malformed or hostile (or cannot be written)."""

    def __init__(self, path: PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"model file {self.path!r}: {problem}")


@attrs.frozen
class ModelFile:
    """A validated model file: its spec, weights and meta (nothing built yet)."""

    path: str
    spec: dict
    weights: np.ndarray = attrs.field(repr=lambda w: f"<{w.size} weights>")
    meta: dict = attrs.Factory(dict)


# -- saving ------------------------------------------------------------------------------


def save(model: Any, path: PathLike, meta: Optional[dict] = None) -> Path:
    """Write ``model`` (its ``spec()`` and ``get_weights()``) to ``path``, atomically.

    The format follows the suffix: ``.npz`` writes a numpy archive (no pickle), anything
    else JSON. ``meta`` is an optional JSON-able dict stored alongside (for example the
    loss and dataset the model was trained with). Returns the path written.

    Raises `ModelFileError` when the model cannot be described (no ``spec``/``get_weights``,
    non-finite weights, a spec or meta that is not plain JSON) or the file cannot be
    written; the previous file at ``path``, if any, is left as it was.
    """
    path = Path(path)
    for method in ("spec", "get_weights"):
        if not callable(getattr(model, method, None)):
            raise ModelFileError(path, f"cannot save a {type(model).__name__}: it has no {method}() method")
    spec = model.spec()
    weights = np.asarray(model.get_weights(), dtype=np.float64)
    meta = {} if meta is None else meta
    _check_spec(path, spec)
    _check_plain(path, meta, "meta")
    if not isinstance(meta, dict):
        raise ModelFileError(path, f"meta must be a dict, not {type(meta).__name__}")
    if weights.ndim != 1:
        raise ModelFileError(path, f"get_weights() must give a flat list, got shape {weights.shape}")
    _check_finite(path, weights)
    header = {"format": FORMAT, "version": VERSION, "spec": spec}
    if meta:
        header["meta"] = meta
    if path.suffix.lower() == ".npz":
        def write(f):
            np.savez(f, header=np.array(json.dumps(header, allow_nan=False)), weights=weights)
        _atomic_write(path, write, binary=True)
    else:
        document = dict(header, weights=weights.tolist())

        def write(f):
            json.dump(document, f, allow_nan=False)
            f.write("\n")
        _atomic_write(path, write, binary=False)
    return path


def _atomic_write(path: Path, write: Any, binary: bool) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it over ``path``."""
    directory = path.parent
    if not directory.is_dir():
        raise ModelFileError(path, f"cannot write: directory {str(directory)!r} does not exist")
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else None
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ModelFileError(path, f"cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ModelFileError(path, f"cannot write: {exc.strerror or exc}") from exc
        raise


# -- loading -----------------------------------------------------------------------------


def read(path: PathLike) -> ModelFile:
    """Read and validate a model file without building a model; `ModelFileError` on any problem."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ModelFileError(path, "not a regular file")
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise ModelFileError(path, f"file is {size} bytes, larger than the limit of {MAX_FILE_BYTES} bytes")
    if size == 0:
        raise ModelFileError(path, "file is empty")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if magic.startswith(b"PK"):
        header, weights = _read_npz(path)
    else:
        header, weights = _read_json(path)
    return _validate(path, header, weights)


def load(path: PathLike) -> Any:
    """Build the model a file describes, with its weights. `ModelFileError` on any problem.

    The layer class is looked up by name among registered layers and built with its
    ``from_spec`` classmethod; nothing else in the file is used as code.
    """
    mf = read(path)
    model = _build(mf)
    _set_weights(mf, model)
    return model


def load_into(model: Any, path: PathLike) -> Any:
    """Copy a file's weights into ``model`` (same architecture) and return ``model``.

    The file's spec must equal ``model.spec()`` (ignoring the initialisation seed and ``fused``,
    which change nothing once the weights are set).
    On any error ``model`` is left exactly as it was.
    """
    mf = read(path)
    _layer_class(mf)  # the spec must name a registered layer, even when we don't build one
    ours = model.spec()
    if _comparable(ours) != _comparable(mf.spec):
        diff = sorted(k for k in set(ours) | set(mf.spec)
                      if k not in _IGNORED_IN_COMPARISON and ours.get(k, "<missing>") != mf.spec.get(k, "<missing>"))
        detail = ", ".join(f"{k}: file {mf.spec.get(k, '<missing>')!r}, model {ours.get(k, '<missing>')!r}"
                           for k in diff)
        raise ModelFileError(mf.path, f"architecture does not match the model ({detail})")
    _set_weights(mf, model)
    return model


def _comparable(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k not in _IGNORED_IN_COMPARISON}


def _read_json(path: Path) -> tuple[Any, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(path, f"not a JSON model file: not UTF-8 text ({exc.reason} at byte {exc.start})"
                             ) from None
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ModelFileError(path, f"corrupt or truncated JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                             ) from None
    except RecursionError:
        raise ModelFileError(path, "corrupt JSON: nested too deeply") from None
    except ValueError as exc:  # a NaN/Infinity constant, or an integer with too many digits
        raise ModelFileError(path, f"corrupt JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ModelFileError(path, f"expected a JSON object at the top level, found {_json_type(document)}")
    weights = document.get("weights")
    header = {k: v for k, v in document.items() if k != "weights"}
    if "weights" not in document:
        raise ModelFileError(path, "missing key 'weights'")
    if not isinstance(weights, list):
        raise ModelFileError(path, f"'weights' must be a list of numbers, found {_json_type(weights)}")
    if len(weights) > MAX_PARAMETERS:
        raise ModelFileError(path, f"{len(weights)} weights is more than the limit of {MAX_PARAMETERS}")
    for i, w in enumerate(weights):
        if w.__class__ is not float and (w.__class__ is not int or abs(w) > 2**53):
            raise ModelFileError(path, f"weights[{i}] must be a number, found {_json_type(w)} {_short(w)}")
    return header, np.array(weights, dtype=np.float64)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


def _read_npz(path: Path) -> tuple[Any, Any]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if names != _NPZ_MEMBERS:
                raise ModelFileError(path, f"not a microgradx .npz model: it holds {sorted(names)}, "
                                           f"expected {sorted(_NPZ_MEMBERS)}")
            header_array = _read_npy(path, zf, "header.npy")
            weights = _read_npy(path, zf, "weights.npy")
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(path, f"corrupt or truncated .npz archive: {exc}") from None
    if header_array.dtype.kind != "U" or header_array.shape != ():
        raise ModelFileError(path, f"header.npy must hold one string, found dtype {header_array.dtype} "
                                   f"shape {header_array.shape}")
    try:
        header = json.loads(str(header_array), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(path, f"corrupt header in header.npy: {exc}") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, f"header.npy must hold a JSON object, found {_json_type(header)}")
    if "weights" in header:
        raise ModelFileError(path, "unexpected key 'weights' in header.npy (weights belong in weights.npy)")
    if weights.dtype != np.float64 or weights.ndim != 1:
        raise ModelFileError(path, f"weights.npy must be a 1-D float64 array, found dtype {weights.dtype} "
                                   f"shape {weights.shape}")
    return header, weights


def _read_npy(path: Path, zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """One array from an archive member, checking its declared size before reading (no pickle)."""
    fmt = np.lib.format
    info = zf.getinfo(name)
    if info.file_size > MAX_FILE_BYTES:
        raise ModelFileError(path, f"{name} is {info.file_size} bytes, larger than the limit of {MAX_FILE_BYTES}")
    with zf.open(info) as fp:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ModelFileError(path, f"{name}: unsupported .npy format version {version}")
        if dtype.hasobject:
            raise ModelFileError(path, f"{name} holds Python objects (dtype {dtype}); refusing to unpickle")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes > info.file_size:
            raise ModelFileError(path, f"{name} declares shape {shape} ({nbytes} bytes) but holds only "
                                       f"{info.file_size} bytes")
        data = fp.read(nbytes)
    if len(data) != nbytes:
        raise ModelFileError(path, f"{name} is truncated: expected {nbytes} bytes of data, found {len(data)}")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _validate(path: Path, header: dict, weights: np.ndarray) -> ModelFile:
    unknown = sorted(set(header) - _TOP_KEYS)
    if unknown:
        raise ModelFileError(path, f"unexpected key(s) {', '.join(map(repr, unknown))}; "
                                   f"a model file has {', '.join(sorted(_TOP_KEYS))}")
    fmt = header.get("format")
    if fmt != FORMAT:
        raise ModelFileError(path, f"not a microgradx model file: 'format' is {_short(fmt)}, expected {FORMAT!r}")
    version = header.get("version")
    if version.__class__ is not int:
        raise ModelFileError(path, f"'version' must be an integer, found {_json_type(version)} {_short(version)}")
    if version != VERSION:
        raise ModelFileError(path, f"unsupported format version {version} (this microgradx reads version {VERSION})")
    if "spec" not in header:
        raise ModelFileError(path, "missing key 'spec'")
    spec = header["spec"]
    _check_spec(path, spec)
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelFileError(path, f"'meta' must be an object, found {_json_type(meta)}")
    _check_plain(path, meta, "meta")
    if weights.size > MAX_PARAMETERS:
        raise ModelFileError(path, f"{weights.size} weights is more than the limit of {MAX_PARAMETERS}")
    _check_finite(path, weights)
    expected = _expected_parameters(path, spec)
    if expected is not None and expected != weights.size:
        raise ModelFileError(path, f"wrong number of weights: the spec ({_describe(spec)}) has {expected} "
                                   f"parameters, the file holds {weights.size}")
    return ModelFile(path=str(path), spec=spec, weights=weights, meta=meta)


def _check_spec(path: Path, spec: Any) -> None:
    if not isinstance(spec, dict):
        raise ModelFileError(path, f"'spec' must be an object, found {_json_type(spec)}")
    _check_plain(path, spec, "spec")
    layer = spec.get("layer")
    if not isinstance(layer, str) or not layer:
        raise ModelFileError(path, f"spec['layer'] must name a registered layer, found {_json_type(layer)} "
                                   f"{_short(layer)}")
    for key in ("nin", "nout"):
        if key in spec:
            _check_units(path, spec[key], f"spec[{key!r}]")
    if "nouts" in spec:
        nouts = spec["nouts"]
        if not isinstance(nouts, list) or not nouts:
            raise ModelFileError(path, f"spec['nouts'] must be a non-empty list of layer sizes, found {_short(nouts)}")
        for i, n in enumerate(nouts):
            _check_units(path, n, f"spec['nouts'][{i}]")


def _check_units(path: Path, n: Any, where: str) -> None:
    if n.__class__ is not int:
        raise ModelFileError(path, f"{where} must be an integer, found {_json_type(n)} {_short(n)}")
    if not 1 <= n <= MAX_UNITS:
        raise ModelFileError(path, f"{where} = {n} is out of range (1 to {MAX_UNITS})")


def _check_plain(path: Path, value: Any, where: str, depth: int = 0) -> None:
    """Only JSON's own types, finite numbers, and bounded sizes, everywhere inside ``value``."""
    if depth > MAX_DEPTH:
        raise ModelFileError(path, f"{where} is nested more than {MAX_DEPTH} levels deep")
    cls = value.__class__
    if value is None or cls is bool:
        return
    if cls is int:
        if abs(value) > MAX_SPEC_INT:
            raise ModelFileError(path, f"{where} = {_short(value)} is too large")
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
            _check_plain(path, item, f"{where}[{i}]", depth + 1)
    elif cls is dict:
        if len(value) > MAX_LIST:
            raise ModelFileError(path, f"{where} has {len(value)} keys (limit {MAX_LIST})")
        for k, item in value.items():
            if k.__class__ is not str:
                raise ModelFileError(path, f"{where} has a non-string key {_short(k)}")
            _check_plain(path, item, f"{where}[{k!r}]", depth + 1)
    else:
        raise ModelFileError(path, f"{where} holds a {type(value).__name__}, which is not plain JSON data")


def _check_finite(path: Path, weights: np.ndarray) -> None:
    bad = ~np.isfinite(weights)
    if bad.any():
        i = int(np.argmax(bad))
        raise ModelFileError(path, f"weights[{i}] is {float(weights[i])!r}; every weight must be a finite number")


def _expected_parameters(path: Path, spec: dict) -> Optional[int]:
    """Parameter count of the bundled layers (weights plus a bias per unit), from the spec alone.

    Known before building anything, so a spec asking for a huge model is refused without
    allocating it. ``None`` for another plugin's layer (counted after building; its sizes
    are still bounded by `MAX_UNITS`).
    """
    if not _is_bundled_layer(spec.get("layer")):
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
        raise ModelFileError(path, f"the spec ({_describe(spec)}) asks for {count} parameters, more than the "
                                   f"limit of {MAX_PARAMETERS}")
    return count


def _is_bundled_layer(name: Any) -> bool:
    from microgradx.registry.core import get_registry
    from microgradx.registry.errors import PluginError

    if name not in ("MLP", "Layer", "Neuron"):
        return False
    try:
        return get_registry().component("layers", name).plugin.builtin
    except (PluginError, LookupError):
        return False


def _layer_class(mf: ModelFile) -> Any:
    from microgradx.registry.core import get_registry
    from microgradx.registry.errors import PluginError

    try:
        cls = get_registry().get("layers", mf.spec["layer"])
    except (PluginError, LookupError) as exc:
        raise ModelFileError(mf.path, f"spec['layer']: {exc}") from None
    if not callable(getattr(cls, "from_spec", None)):
        raise ModelFileError(mf.path, f"layer {mf.spec['layer']!r} cannot be built from a file (it has no from_spec)")
    return cls


def _build(mf: ModelFile) -> Any:
    cls = _layer_class(mf)
    try:
        return cls.from_spec(dict(mf.spec))
    except Exception as exc:  # a validator rejecting a setting, an unknown activation, ...
        raise ModelFileError(mf.path, f"the spec does not describe a valid {mf.spec['layer']}: "
                                      f"{type(exc).__name__}: {exc}") from None


def _set_weights(mf: ModelFile, model: Any) -> None:
    n = len(model.parameters())
    if n != mf.weights.size:
        raise ModelFileError(mf.path, f"wrong number of weights: the model has {n} parameters, "
                                      f"the file holds {mf.weights.size}")
    try:
        model.set_weights(mf.weights.tolist())
    except Exception as exc:
        raise ModelFileError(mf.path, f"cannot set the weights: {type(exc).__name__}: {exc}") from None


def _describe(spec: dict) -> str:
    args = [repr(spec[k]) for k in ("nin", "nout", "nouts") if k in spec]
    return f"{spec.get('layer')}({', '.join(args)})"


def _json_type(x: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(x.__class__, type(x).__name__)


def _short(x: Any, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["FORMAT", "VERSION", "ModelFile", "ModelFileError", "load", "load_into", "read", "save"]
