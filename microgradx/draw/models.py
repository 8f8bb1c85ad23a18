"""A neuron or a tiny MLP in micrograd's fine-grained form, applied to labelled inputs (for pictures)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx import Value
from microgradx.draw.picture import named_neurons


def build_model_graph(
    kind: str, nin: int, nouts: Optional[list[int]] = None, *, activation: str = "tanh", seed: int = 0
) -> tuple[Any, list[Value], dict[str, Value]]:
    """Build the registered layer ``kind`` ("Neuron" or "MLP") in fine-grained form and apply it.

    The inputs are Values labelled ``x0 .. x{nin-1}`` with seeded data in [-1, 1); the
    parameters get labels (``w0``/``b`` for a neuron, ``L0n1.w2``/``L0n1.b`` in an MLP)
    unless they have some. Returns ``(model, outputs, {input name: Value})``; the outputs
    are labelled ``out`` (``out0``, ``out1``, ... for several).
    """
    from microgradx import get_registry

    cls = get_registry().get("layers", kind)
    if kind == "MLP":
        model = cls(nin, list(nouts or []), activation=activation, seed=seed, fused=False)
    else:
        model = cls(nin, activation=activation, seed=seed, fused=False)
    rng = np.random.default_rng(seed)
    xs = [Value(float(rng.uniform(-1.0, 1.0)), label=f"x{i}") for i in range(nin)]
    outputs = model(xs)
    outputs = [outputs] if isinstance(outputs, Value) else list(outputs)
    for i, out in enumerate(outputs):
        if not out.label:
            out.label = "out" if len(outputs) == 1 else f"out{i}"
    _label_parameters(model)
    return model, outputs, {x.label: x for x in xs}


def _label_parameters(model: Any) -> None:
    """Give unlabelled parameters readable labels by their place: ``w0``, ``b``; ``L0n1.w2`` in an MLP."""
    for name, neuron in named_neurons(model):
        place = name.replace("neuron", "").strip()
        prefix = f"L{place.replace('.', 'n')}." if "." in place else (f"n{place}." if place else "")
        w, b = getattr(neuron, "w", None), getattr(neuron, "b", None)
        wpos = {id(q): i for i, q in enumerate(w)} if isinstance(w, (list, tuple)) else {}
        for k, p in enumerate(neuron.parameters()):
            if not p.label:
                p.label = f"{prefix}b" if p is b else f"{prefix}w{wpos[id(p)]}" if id(p) in wpos else f"{prefix}p{k}"
