"""A neuron or a tiny MLP of the registered layers in micrograd's fine-grained form, applied to labelled inputs."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx import Value, get_registry


def build_model_graph(
    kind: str, nin: int, nouts: Optional[list[int]] = None, *, activation: Optional[str] = None, seed: int = 0
) -> tuple[Any, list[Value], dict[str, Value]]:
    """Build the registered layer ``kind`` ("Neuron" or "MLP") in fine-grained form and apply it.

    ``activation`` is the name of a registered unary op (``microgradx graph --activation``; by
    default, None, the layer's own default).
    The inputs are Values labelled ``x0 .. x{nin-1}`` with seeded data in [-1, 1); the layers label
    their parameters (``w0``/``b`` for a neuron, ``L0.n1.w2`` in an MLP) and an MLP's outputs (by
    their scopes, ``L1.n0``); unlabelled parameters get ``p0``, ``p1`` ... and unlabelled outputs
    ``out`` (``out0``, ``out1`` ... for several). Returns ``(model, outputs, {input name: Value})``.
    """

    cls = get_registry().get("layers", kind)
    options = {"seed": seed, "fused": False, **({} if activation is None else {"activation": activation})}
    model = cls(nin, list(nouts or []), **options) if kind == "MLP" else cls(nin, **options)
    rng = np.random.default_rng(seed)
    xs = [Value(float(rng.uniform(-1.0, 1.0)), label=f"x{i}") for i in range(nin)]
    outputs = model(xs)
    outputs = [outputs] if isinstance(outputs, Value) else list(outputs)
    for i, out in enumerate(outputs):
        out.label = out.label or ("out" if len(outputs) == 1 else f"out{i}")
    for k, p in enumerate(model.parameters()):
        p.label = p.label or f"p{k}"
    return model, outputs, {x.label: x for x in xs}
