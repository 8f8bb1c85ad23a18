"""Pictures of training: loss and accuracy curves, and a 2-D decision boundary, as PNG files.

matplotlib is an optional extra (``pip install 'microgradx[plot]'``). It is imported
only when a picture is drawn, never by ``import microgradx``; without it, drawing
raises `MissingDependencyError` saying how to install it. Figures are drawn with
matplotlib's object API (no ``pyplot``, no global state, no display needed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from microgradx.atomicfile import write_atomically

INSTALL_HINT = "pip install 'microgradx[plot]'"


class MissingDependencyError(ImportError):
    """An optional dependency (here matplotlib) is not installed; the message says how to install it."""


def require_matplotlib() -> Any:
    """Import and return matplotlib, or raise `MissingDependencyError` naming the install command."""
    try:
        import matplotlib
        from matplotlib.figure import Figure  # noqa: F401  (the part we use; fails on a broken install)
    except ImportError as exc:
        raise MissingDependencyError(
            f"plotting needs matplotlib, which is not installed ({exc}); install it with: {INSTALL_HINT}"
        ) from None
    return matplotlib


def _figure(width: float, height: float) -> Any:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plot_history(history: Union[Any, Mapping[str, list]], path: Union[str, os.PathLike],
                 title: Optional[str] = None) -> Path:
    """Draw loss (left) and accuracy (right) per epoch from a training history into a PNG.

    ``history`` is a `microgradx.train.History` or a mapping with lists ``loss`` and,
    when present, ``test_loss``, ``train_accuracy``, ``test_accuracy``. The accuracy
    panel is left out for a history without accuracies (regression). Returns the path.
    """
    data = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    loss = data.get("loss") or []
    if not loss:
        raise ValueError("plot_history: the history has no epochs to plot")
    epochs = data.get("epoch") or list(range(1, len(loss) + 1))
    has_acc = any(a is not None for a in data.get("train_accuracy") or [])
    fig = _figure(10 if has_acc else 5.5, 4)
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    ax = axes[0]
    ax.plot(epochs, loss, label="train loss")
    if any(v is not None for v in data.get("test_loss") or []):
        ax.plot(epochs, _nan_for_none(data["test_loss"]), label="test loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if min(loss) > 0 and max(loss) / min(loss) > 50:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    if has_acc:
        ax = axes[1]
        ax.plot(epochs, 100 * _nan_for_none(data["train_accuracy"]), label="train accuracy")
        if any(v is not None for v in data.get("test_accuracy") or []):
            ax.plot(epochs, 100 * _nan_for_none(data["test_accuracy"]), label="test accuracy")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return _save_png(fig, path)


def plot_decision_boundary(score: Callable[[np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray,
                           path: Union[str, os.PathLike], title: Optional[str] = None,
                           resolution: int = 200, threshold: float = 0.0) -> Path:
    """Draw the regions a 2-feature binary classifier assigns to each class, with the data.

    ``score(points)`` takes an ``(m, 2)`` array and returns ``m`` scores; a point is class 1
    where its score is above ``threshold``. ``X`` is ``(n, 2)`` and ``y`` holds 0/1 (or -1/+1)
    labels. Returns the path of the PNG written.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary needs 2 features, X has shape {X.shape}")
    pad = 0.25 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    scores = np.asarray(score(np.column_stack([xx.ravel(), yy.ravel()])), dtype=np.float64).reshape(xx.shape)
    fig = _figure(6, 5)
    ax = fig.subplots()
    ax.contourf(xx, yy, scores > threshold, levels=[-0.5, 0.5, 1.5], colors=["#f4a582", "#92c5de"], alpha=0.8)
    ax.contour(xx, yy, scores, levels=[threshold], colors="k", linewidths=1)
    positive = y > 0
    ax.scatter(X[~positive, 0], X[~positive, 1], c="#ca0020", edgecolors="k", s=30, label="class 0")
    ax.scatter(X[positive, 0], X[positive, 1], c="#0571b0", edgecolors="k", s=30, label="class 1")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    return _save_png(fig, path)


def _save_png(fig: Any, path: Union[str, os.PathLike]) -> Path:
    """Write ``fig`` to ``path`` as a PNG (atomically: a reader never sees half a picture); return the path."""
    path = Path(path)
    write_atomically(path, lambda f: fig.savefig(f, format="png"))
    return path


def _nan_for_none(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
