"""The playground's network: registered ``Layer`` components, each hidden layer with its own activation.

The bundled ``MLP`` gives every hidden layer one activation; the playground lets each layer
choose any registered unary op, so it stacks the registered ``Layer`` component (whatever
plugin provides it) itself: the hidden layers, then a linear output layer with one unit per
output the loss needs. Layers and neurons are numbered from 1, as on the page, and so are the
labels of the parameters: ``w2-3-1`` is the weight into neuron 3 of layer 2 from its input 1,
``b2-3`` that neuron's bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from microgradx.engine.value import Value
from microgradx.registry.core import get_registry


class Network:
    """Hidden layers of ``hidden[i]`` neurons with activation ``activations[i]`` (None: linear), then
    ``n_outputs`` linear units; weights drawn from one generator seeded with ``seed``.

    ``fused=False`` builds micrograd's fine-grained graph (a ``mul`` and an ``add`` per input),
    which is how the explorer shows a neuron; training uses the fused ``dot`` (the default).
    """

    def __init__(self, nin: int, hidden: Sequence[int], activations: Sequence[Optional[str]], n_outputs: int,
                 seed: int = 0, fused: bool = True) -> None:
        if len(activations) != len(hidden):
            raise ValueError(f"Network: {len(hidden)} hidden layers need {len(hidden)} activations, "
                             f"got {len(activations)}")
        layer = get_registry().get("layers", "Layer")
        rng = np.random.default_rng(seed)
        sizes = [nin, *hidden, n_outputs]
        acts = [*activations, None]
        self.nin = nin
        self.nouts = [*hidden, n_outputs]  # what the Trainer's compiled steps read for the output count
        self.activations = list(acts)
        self.layers = [layer(sizes[i], sizes[i + 1], activation=acts[i], seed=rng, fused=fused)
                       for i in range(len(sizes) - 1)]
        for li, lay in enumerate(self.layers, 1):
            for ni, neuron in enumerate(lay.neurons, 1):
                for k, w in enumerate(neuron.w, 1):
                    w.label = f"w{li}-{ni}-{k}"
                neuron.b.label = f"b{li}-{ni}"

    def __call__(self, x: Any) -> list[Value]:
        """The outputs for one example or a batch (2-D array of shape ``(n, nin)``), one Value per unit."""
        return self.forward_all(x)[-1]

    def forward_all(self, x: Any) -> list[list[Value]]:
        """Every layer's outputs (after its activation), layer by layer: what the heat maps show."""
        outputs = [self.layers[0](x)]
        for layer in self.layers[1:]:
            outputs.append(layer.forward(outputs[-1]))
        return outputs

    def parameters(self) -> list[Value]:
        """Every layer's parameters, layer by layer, neuron by neuron (weights, then the bias)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def weights(self) -> list[list[list[float]]]:
        """``[layer][neuron] -> [w1, ..., wn, b]`` as floats (the numbers of this moment)."""
        return [[[float(p.data) for p in neuron.parameters()] for neuron in layer.neurons] for layer in self.layers]

    def copy(self, fused: bool = True) -> Network:
        """A network of the same shape holding the same numbers (its own Parameters)."""
        twin = Network(self.nin, self.nouts[:-1], self.activations[:-1], self.nouts[-1], fused=fused)
        for mine, theirs in zip(twin.parameters(), self.parameters()):
            mine.data = float(theirs.data)
        return twin

    def __repr__(self) -> str:
        layers = ", ".join(f"{n} {a or 'linear'}" for n, a in zip(self.nouts, self.activations))
        return f"Network({self.nin} inputs: {layers})"
