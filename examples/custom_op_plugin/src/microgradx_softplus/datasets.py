"""The ``quadrants`` dataset: points in the square, labelled by whether their coordinates share a sign.

No linear model can separate it (a linear model stays near chance), so it shows at a
glance whether a nonlinearity is learning. Pure numpy: nothing heavy to import.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from microgradx.datasets import Dataset


def load_quadrants(seed: int = 0, test_size: float = 0.2, standardize: bool = False, n_samples: int | None = None,
             noise: float | None = None) -> Dataset:
    """``n_samples`` (default 400) points uniform in [-1, 1]², label ``x0 * x1 > 0``.

    ``noise`` (default 0) is the standard deviation of Gaussian jitter added to the points
    after labelling. The split is seeded; with ``standardize`` the scaling is fitted on the
    training split only.
    """
    n = 400 if n_samples is None else n_samples
    noise = 0.0 if noise is None else noise
    _check(isinstance(n, int) and not isinstance(n, bool) and n >= 10, "n_samples", n, "an int >= 10")
    _check(_real(noise) and noise >= 0, "noise", noise, "a finite number >= 0")
    _check(_real(test_size) and 0 < test_size < 1, "test_size", test_size, "a number in (0, 1)")
    _check(isinstance(seed, int) and not isinstance(seed, bool), "seed", seed, "an int")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    X = X + rng.normal(0.0, noise, size=X.shape) if noise else X
    order = rng.permutation(n)
    k = n - max(1, round(test_size * n))
    train, test = order[:k], order[k:]
    mean = scale = None
    if standardize:
        mean, scale = X[train].mean(axis=0), X[train].std(axis=0)
        X = (X - mean) / scale
    return Dataset(name="quadrants", X_train=X[train], y_train=y[train], X_test=X[test], y_test=y[test], task="binary",
                   n_classes=2, feature_names=("x0", "x1"), class_names=("different sign", "same sign"),
                   mean=mean, scale=scale)


def _real(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def _check(ok: bool, setting: str, value: Any, want: str) -> None:
    if not ok:
        raise ValueError(f"dataset 'quadrants': {setting} must be {want}, got {value!r}")
