"""Saving, reading and loading model files (the format is described in `microgradx.modelfile`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import attrs
import numpy as np

from microgradx._version import __version__
from microgradx.modelfile import checks
from microgradx.modelfile.checks import (
    MAX_PARAMETERS,
    ModelFileError,
    PathLike,
    check_finite,
    check_plain,
    check_spec,
    describe,
    expected_parameters,
    json_type,
    short,
)
from microgradx.modelfile.schema import (
    Schema,
    check_components,
    components_used,
    require_components,
    schema_from_dict,
)
from microgradx.modelfile.storage import atomic_write, read_json, read_npz
from microgradx.registry.core import get_registry
from microgradx.registry.errors import PluginError

FORMAT = "microgradx-model"
#: The newest format version this microgradx writes: 3 when the schema has ``inputs`` (categories,
#: imputation), else 2, so a file without them stays readable by a microgradx that reads version 2.
VERSION = 3
#: The format versions it reads: version 1 files (no schema, no components) still load.
READABLE_VERSIONS = (1, 2, 3)

_TOP_KEYS_V1 = {"format", "version", "spec", "weights", "meta"}
_TOP_KEYS = _TOP_KEYS_V1 | {"schema", "components"}
#: Spec keys that do not change what a model computes once its weights are set (fused: same numbers).
_IGNORED_IN_COMPARISON = frozenset({"seed", "fused"})


@attrs.frozen
class ModelFile:
    """A validated model file: its spec, weights, meta, format version, schema and components (nothing built)."""

    path: str
    spec: dict
    weights: np.ndarray = attrs.field(repr=lambda w: f"<{w.size} weights>")
    meta: dict = attrs.Factory(dict)
    version: int = VERSION
    schema: Optional[Schema] = None
    components: list = attrs.Factory(list)

    def build(self) -> Any:
        """The model this file describes, with its weights (plugins checked first)."""
        model = _build(self)
        _set_weights(self, model)
        return model


# -- saving ------------------------------------------------------------------------------


def save(model: Any, path: PathLike, meta: Optional[dict] = None, schema: Optional[Schema] = None) -> Path:
    """Write ``model`` (its ``spec()`` and ``get_weights()``) to ``path``, atomically.

    The format follows the suffix: ``.npz`` writes a numpy archive (no pickle), anything
    else JSON. ``schema`` (a `Schema`: task, loss, feature names, standardisation, class
    labels) is what ``microgradx predict`` and `load_predictor` need to take raw data;
    ``meta`` is an optional JSON-able dict stored alongside (for example the dataset the
    model was trained with). The plugin and distribution of every non-built-in component
    (layer, activation, loss) are recorded too. Returns the path written.

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
    check_spec(path, spec)
    check_plain(path, meta, "meta")
    if not isinstance(meta, dict):
        raise ModelFileError(path, f"meta must be a dict, not {type(meta).__name__}")
    if weights.ndim != 1:
        raise ModelFileError(path, f"get_weights() must give a flat list, got shape {weights.shape}")
    check_finite(path, weights)
    header = {"format": FORMAT, "version": VERSION if schema is not None and schema.inputs else 2, "spec": spec}
    if schema is not None:
        if not isinstance(schema, Schema):
            raise ModelFileError(path, f"schema must be a modelfile.Schema, not {type(schema).__name__}")
        header["schema"] = schema.as_dict()
        check_plain(path, header["schema"], "schema")
        schema_from_dict(path, header["schema"], spec)
    components = components_used(spec, schema)
    if components:
        header["components"] = components
    if meta:
        header["meta"] = meta
    if path.suffix.lower() == ".npz":
        def write(f):
            np.savez(f, header=np.array(json.dumps(header, allow_nan=False)), weights=weights)
        atomic_write(path, write, binary=True)
    else:
        document = dict(header, weights=weights.tolist())

        def write(f):
            json.dump(document, f, allow_nan=False)
            f.write("\n")
        atomic_write(path, write, binary=False)
    return path


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
    if size > checks.MAX_FILE_BYTES:
        raise ModelFileError(path, f"file is {size} bytes, larger than the limit of {checks.MAX_FILE_BYTES} bytes")
    if size == 0:
        raise ModelFileError(path, "file is empty")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if magic.startswith(b"PK"):
        header, weights = read_npz(path)
    else:
        header, weights = read_json(path)
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


def _validate(path: Path, header: dict, weights: np.ndarray) -> ModelFile:
    fmt = header.get("format")
    if fmt != FORMAT:
        raise ModelFileError(path, f"not a microgradx model file: 'format' is {short(fmt)}, expected {FORMAT!r}")
    version = header.get("version")
    if version.__class__ is not int:
        raise ModelFileError(path, f"'version' must be an integer, found {json_type(version)} {short(version)}")
    if version > VERSION:
        raise ModelFileError(path, f"format version {version} is newer than this microgradx {__version__} reads "
                                   f"(versions {', '.join(map(str, READABLE_VERSIONS))}): upgrade microgradx")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(path, f"unsupported format version {version} (this microgradx reads versions "
                                   f"{', '.join(map(str, READABLE_VERSIONS))})")
    keys = _TOP_KEYS if version >= 2 else _TOP_KEYS_V1
    unknown = sorted(set(header) - keys)
    if unknown:
        raise ModelFileError(path, f"unexpected key(s) {', '.join(map(repr, unknown))}; a version {version} model "
                                   f"file has {', '.join(sorted(keys))}")
    if "spec" not in header:
        raise ModelFileError(path, "missing key 'spec'")
    spec = header["spec"]
    check_spec(path, spec)
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelFileError(path, f"'meta' must be an object, found {json_type(meta)}")
    check_plain(path, meta, "meta")
    if weights.size > MAX_PARAMETERS:
        raise ModelFileError(path, f"{weights.size} weights is more than the limit of {MAX_PARAMETERS}")
    check_finite(path, weights)
    expected = expected_parameters(path, spec)
    if expected is not None and expected != weights.size:
        raise ModelFileError(path, f"wrong number of weights: the spec ({describe(spec)}) has {expected} "
                                   f"parameters, the file holds {weights.size}")
    if version < 3 and isinstance(header.get("schema"), dict) and "inputs" in header["schema"]:
        raise ModelFileError(path, f"schema['inputs'] needs format version 3; the file says version {version}")
    schema = schema_from_dict(path, header["schema"], spec) if "schema" in header else None
    components = check_components(path, header.get("components", []))
    return ModelFile(path=str(path), spec=spec, weights=weights, meta=meta, version=version, schema=schema,
                     components=components)


def _layer_class(mf: ModelFile) -> Any:

    require_components(mf.path, mf.components)  # a missing plugin is named with its distribution
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


