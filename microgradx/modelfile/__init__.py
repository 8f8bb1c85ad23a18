"""Model files: a model's architecture, parameters and schema as JSON or ``.npz``, never pickle.

A model file holds the model's ``spec()`` (a small JSON-able dict naming a registered
layer, such as ``{"layer": "MLP", "nin": 30, "nouts": [16, 16, 1], ...}``), its
weights (``get_weights()``, a flat list of floats in ``parameters()`` order), its `Schema`
(task, loss, feature names, the standardisation fitted on the training data, the target's
name and class labels or scaling: what ``microgradx predict`` needs), the plugin and
distribution of every non-built-in component it uses, and an optional ``meta`` dict::

    {"format": "microgradx-model", "version": 2, "spec": {...}, "weights": [...],
     "schema": {"task": ..., "loss": ..., "features": [...], "mean": [...], ...},
     "components": [{"kind": "layers", "name": ..., "distribution": ..., ...}], "meta": {...}}

A ``.npz`` file holds the same document: the header (everything but the weights) as a
JSON string in ``header.npy`` and the weights as a float64 array in ``weights.npy``.

**Versions.** This microgradx writes format version 2 (`VERSION`) and reads versions 1
and 2 (`READABLE_VERSIONS`): a version 1 file (no schema, no components) loads as before,
and `load_predictor` says that it is too old to predict from raw data. A newer version
fails with a message saying so and to upgrade. The policy is in docs/design.md.

Loading trusts nothing in the file. Everything is checked before any model is built or
changed: the format and version, the types and sizes of every spec and schema value, that
the layer (and every recorded plugin component) is registered, the number of weights, and
that every weight is a finite number. Nothing in a file is ever executed or imported: a
layer is found by name in the registry, and numbers are parsed as numbers. Any problem
raises `ModelFileError` naming the file and the problem, and `load_into` leaves its model
untouched.

Saving is atomic: the file is written to a temporary file in the same directory,
flushed to disk, then renamed over the target, so a crash mid-write leaves either the
old file or the new one, never half a file.
"""

from microgradx.modelfile.checks import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_LIST,
    MAX_PARAMETERS,
    MAX_SPEC_INT,
    MAX_STRING,
    MAX_UNITS,
    ModelFileError,
)
from microgradx.modelfile.core import (
    FORMAT,
    READABLE_VERSIONS,
    VERSION,
    ModelFile,
    load,
    load_into,
    read,
    save,
)
from microgradx.modelfile.predictor import Predictor, load_predictor
from microgradx.modelfile.schema import Schema

__all__ = ["FORMAT", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_LIST", "MAX_PARAMETERS", "MAX_SPEC_INT", "MAX_STRING",
           "MAX_UNITS", "READABLE_VERSIONS", "VERSION", "ModelFile", "ModelFileError", "Predictor", "Schema", "load",
           "load_into", "load_predictor", "read", "save"]
