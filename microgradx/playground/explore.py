"""Opening a neuron or a weight: the explorer's view of its scalar graph for one example, now.

The run's weights are copied (at this moment) into the same network built in micrograd's
fine-grained form (a ``mul`` and an ``add`` per input), which is applied to one example as
float Values: a scalar graph like the lecture's. `microgradx.draw.explorer_html` (the
explorer page, the same as ``microgradx graph --html``) draws it and steps its forward and
backward pass with the numbers of that moment. What is drawn:

* a neuron, ``root="output"``: the graph of the neuron's output; ``root="loss"``: the graph of
  this example's loss (without the L2 penalty), so the grads are what training follows;
* a weight: the example's loss, with the weight a leaf whose grad is d(loss)/d(weight).

The opened neuron (the one a weight leads into) is drawn op by op; every other neuron is one
node, collapsed by the name its output carries (``hL-I``, ``out``: its weighted sum and
activation, its parameters inside), so a [8, 8] network stays readable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microgradx.draw import explorer_html, format_number
from microgradx.engine.value import Value
from microgradx.playground.network import Network

ROOTS = ("output", "loss")
SPLITS = ("train", "test")


class ExploreError(ValueError):
    """A neuron, weight or example that the network or the data does not have."""


def _index(text: Any, what: str, count: int) -> int:
    try:
        i = int(str(text))
    except ValueError:
        raise ExploreError(f"{what} must be a whole number from 1 to {count}, got {text!r}") from None
    if not 1 <= i <= count:
        raise ExploreError(f"{what} must be from 1 to {count}, got {i}")
    return i


def explore_page(network: Network, data: Any, loss: Any, layer: Any, neuron: Any, weight: Any = None,
                 example: Any = 1, split: str = "train", root: str = "output") -> str:
    """The explorer page (HTML) for neuron ``neuron`` of layer ``layer`` (both from 1), or for its
    input weight ``weight`` (from 1; then the root is the loss), on example ``example`` (from 1)
    of the ``split`` points. ``network`` is a fine-grained copy holding the numbers to show."""
    layers = network.layers
    li = _index(layer, "layer", len(layers))
    ni = _index(neuron, f"neuron of layer {li}", len(layers[li - 1].neurons))
    wi = None if weight in (None, "") else _index(weight, f"weight of neuron {li}-{ni}", layers[li - 1].nin)
    if split not in SPLITS:
        raise ExploreError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if root not in ROOTS:
        raise ExploreError(f"root must be one of {', '.join(ROOTS)}, got {root!r}")
    X, y = (data.X_train, data.y_train) if split == "train" else (data.X_test, data.y_test)
    k = _index(example, f"{split} example", len(X))
    if wi is not None:
        root = "loss"
    names = [str(f) for f in data.feature_names]
    xs = [Value(float(x), label=name) for x, name in zip(X[k - 1], names)]
    outputs = network.forward_all(xs)
    for lj, outs in enumerate(outputs, 1):
        last = lj == len(outputs)
        for nj, v in enumerate(outs, 1):
            v.label = (f"out{nj}" if len(outs) > 1 else "out") if last else f"h{lj}-{nj}"
    if root == "loss":
        subject = loss(outputs[-1], np.asarray([y[k - 1]]))
        subject.label = "loss"
        kept = range(len(layers))  # every layer is in the loss's graph
    else:
        subject = outputs[li - 1][ni - 1]
        kept = range(li)
    others = [v.label for lj in kept for nj, v in enumerate(outputs[lj]) if (lj + 1, nj + 1) != (li, ni)]
    target = _target_text(data, y[k - 1])
    point = ", ".join(f"{n} = {format_number(float(x), 4)}" for n, x in zip(names, X[k - 1]))
    what = f"weight w{li}-{ni}-{wi}" if wi is not None else f"neuron {li}-{ni}"
    of = "the loss" if root == "loss" else "its output"
    title = f"{what}: {of} for {split} example {k} ({point}; {target})"
    return explorer_html(subject, collapse=others or None, title=title)


def _target_text(data: Any, target: Any) -> str:
    if data.task == "regression":
        return f"target {format_number(float(target), 4)}"
    return f"label {data.labels([int(target)])[0]}"

