"""What a frame carries to the page: the plane's grid, heat maps as bytes, the points.

Every heat map of a frame comes from one compiled forward call on the whole grid (`GRID` x
`GRID` points of the input plane): each neuron's output after its activation, and the
network's outputs for the decision boundary. A heat map travels as base64 text of signed
bytes (-127..127 stand for -1..1), a tenth of its JSON size, so a frame of a [8, 8] network
is about 60 kB and costs the server microseconds to encode.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Points per side of the grid the heat maps are computed on.
GRID = 50
#: The plane extends this share of the data's range beyond the outermost points.
MARGIN = 0.1


def plane(X: np.ndarray, n: int = GRID) -> tuple[list[float], np.ndarray]:
    """``(extent, grid)``: the box around the points ``X`` (``[x0 min, x0 max, x1 min, x1 max]``, with
    a margin) and its ``n * n`` grid points, row by row from the top (largest x1) and left to right,
    as the page draws them."""
    low, high = X.min(axis=0), X.max(axis=0)
    pad = np.maximum((high - low) * MARGIN, 0.5)
    low, high = low - pad, high + pad
    xs = np.linspace(low[0], high[0], n)
    ys = np.linspace(high[1], low[1], n)
    gx, gy = np.meshgrid(xs, ys)
    return [float(low[0]), float(high[0]), float(low[1]), float(high[1])], np.stack([gx.ravel(), gy.ravel()], axis=1)


def as_bytes(values: np.ndarray) -> str:
    """Values in [-1, 1] (clipped; nan as 0) as base64 text of signed bytes."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    return base64.b64encode(np.rint(np.clip(v, -1.0, 1.0) * 127).astype(np.int8).tobytes()).decode("ascii")


def heat(values: np.ndarray) -> dict:
    """One neuron's heat map: its outputs divided by ``scale`` (1, or the largest magnitude when above 1)."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    return {"scale": scale, "data": as_bytes(v / scale)}


def boundary(outputs: Sequence[np.ndarray], loss: Any, task: str, target_scale: float) -> dict:
    """The decision boundary (or the regression surface) from the network's outputs on the grid.

    * one output, classification: ``tanh(z / 2)`` (= 2p - 1 for a logit z: the sign is the class),
      or ``2z - 1`` for a regression loss on 0/1 labels (it predicts 1 above 1/2);
    * several outputs: the class with the largest output, and the softmax share it gets
      (``kind: "classes"``, classes as unsigned bytes, confidence as signed bytes);
    * regression: the prediction divided by ``target_scale`` (the largest target's magnitude).
    """
    outs = [np.asarray(o, dtype=np.float64) for o in outputs]
    if task == "regression":
        return {"kind": "values", "data": as_bytes(outs[0] / target_scale)}
    if len(outs) == 1:
        z = outs[0]
        v = 2.0 * z - 1.0 if getattr(loss, "task", None) == "regression" else np.tanh(z / 2.0)
        return {"kind": "binary", "data": as_bytes(v)}
    z = np.stack(outs, axis=1)
    z = z - np.nan_to_num(z.max(axis=1, keepdims=True))
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    if len(outs) == 2 and task == "binary":  # two logits for two classes: the binary picture
        return {"kind": "binary", "data": as_bytes(p[:, 1] - p[:, 0])}
    classes = np.nan_to_num(np.argmax(p, axis=1)).astype(np.uint8)
    return {"kind": "classes", "classes": base64.b64encode(classes.tobytes()).decode("ascii"),
            "data": as_bytes(np.max(p, axis=1))}


def rounded(xs: Sequence[float], digits: int = 5) -> list:
    """Numbers for JSON, to ``digits`` significant digits (nan and inf as None, which JSON has)."""
    out = []
    for x in xs:
        x = float(x)
        out.append(float(f"{x:.{digits}g}") if np.isfinite(x) else None)
    return out
