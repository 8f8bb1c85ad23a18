"""What a model file remembers about the run that trained it (a Trainer's ``model_meta``)."""

from __future__ import annotations

import os
from typing import Any

from microgradx.registry.components import component_name


def _plain_setting(v: Any) -> bool:
    return v is None or isinstance(v, (int, float, str)) or \
        (isinstance(v, (list, tuple)) and all(isinstance(i, str) for i in v))


def run_meta(trainer: Any, path: Any = None) -> dict:
    """What a model file should remember about this run (stored as its ``meta``).

    The loss (for predictions), the dataset and the options it was loaded with (so
    ``microgradx evaluate`` can rebuild the same split and scaling), and the task. For a
    CSV file, also its fingerprint (``data_fingerprint``: size and SHA-256), so a file that
    changed is refused rather than re-split; ``path`` (where the model file goes) makes the
    file's path stored relative to the model file's folder (else it is stored absolute).
    """
    meta = {"loss": component_name("losses", trainer.loss), "task": getattr(trainer.dataset, "task", None),
            "dataset": getattr(trainer.dataset, "name", None), "seed": trainer.seed}
    options = {k: v for k, v in trainer.dataset_options.items() if k != "progress" and _plain_setting(v)}
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
    source = getattr(trainer.dataset, "source", None)
    if source is not None:  # a CSV file: the "csv" loader rebuilds the same split from the same file
        meta["dataset"] = "csv"
        data = os.path.abspath(source)
        if path is not None:
            try:
                data = os.path.relpath(data, os.path.dirname(os.path.abspath(path)))
            except ValueError:  # another drive (Windows): keep it absolute
                pass
        options = {**options, "target": getattr(trainer.dataset, "target_name", None),
                   "task": "regression" if trainer.dataset.task == "regression" else "classification", "path": data}
        fingerprint = getattr(trainer.dataset, "fingerprint", None)
        if fingerprint:
            meta["data_fingerprint"] = dict(fingerprint)
    if options:
        meta["dataset_options"] = options
    return meta
