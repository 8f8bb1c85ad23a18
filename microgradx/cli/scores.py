"""Scores the ``train``, ``evaluate`` and ``predict`` commands report: R², RMSE, accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np


def regression_scores(predicted: Any, actual: Any) -> dict:
    """``{"r2", "rmse", "mae"}`` of predictions against the actual values (same units; any shape)."""
    p = np.asarray(predicted, dtype=np.float64).reshape(len(actual), -1)
    y = np.asarray(actual, dtype=np.float64).reshape(len(actual), -1)
    residual = float(np.sum((y - p) ** 2))
    total = float(np.sum((y - y.mean(axis=0)) ** 2))
    return {"r2": 1.0 - residual / total if total > 0 else float("nan"),
            "rmse": float(np.sqrt(np.mean((y - p) ** 2))), "mae": float(np.mean(np.abs(y - p)))}
