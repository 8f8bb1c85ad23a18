"""``ResidualMLP``: an MLP whose equal-width hidden layers add their input to their output.

Built from the bundled ``Layer``, looked up by name in the registry like any component,
so it is a model the trainer can build by name (``Trainer(model="ResidualMLP")``): same
constructor as ``MLP`` (``nin``, ``nouts``, ``activation``, ``last_activation``, ``seed``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from microgradx import Value, get_registry, zero_grad


def _check_nouts(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if (not isinstance(value, list) or not value
            or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in value)):
        raise ValueError(f"ResidualMLP: nouts must be a non-empty list of positive layer sizes, got {value!r}")


@attrs.define(eq=False, repr=False)
class ResidualMLP:
    """``ResidualMLP(nin, nouts)``: like ``MLP``, plus skip connections ``h + act(W h + b)``.

    A hidden layer whose input and output widths agree (every hidden layer after the first
    in ``ResidualMLP(30, [16, 16, 16, 1])``) adds its input to its output, which lets
    gradients reach the early layers through deep stacks. The last layer is linear
    (``last_activation=None``) and never residual. ``seed`` seeds the initialisation.
    """

    nin: int = attrs.field()
    nouts: list = attrs.field(converter=list, validator=_check_nouts)
    activation: str | None = "relu"
    last_activation: str | None = None
    seed: Any = 0
    layers: list = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        layer = get_registry().get("layers", "Layer")
        rng = self.seed if isinstance(self.seed, np.random.Generator) else np.random.default_rng(self.seed)
        sizes = [self.nin, *self.nouts]
        last = len(self.nouts) - 1
        self.layers = [layer(sizes[i], sizes[i + 1], activation=self.last_activation if i == last else self.activation,
                             seed=rng) for i in range(len(self.nouts))]

    def __call__(self, x: Any) -> list[Value]:
        """One output Value per unit of the last layer, for one example or a 2-D batch (lanes)."""
        h = self.layers[0](x)  # the bundled Layer checks and converts the input
        for i, layer in enumerate(self.layers[1:], start=1):
            out = layer.forward(h)
            residual = i < len(self.layers) - 1 and len(out) == len(h)
            h = [a + b for a, b in zip(h, out, strict=True)] if residual else out
        return h

    def parameters(self) -> list[Value]:
        """Every layer's parameters, layer by layer."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0."""
        zero_grad(self.parameters())

    def num_parameters(self) -> int:
        """How many scalar parameters the model has."""
        return len(self.parameters())

    def get_weights(self) -> list[float]:
        """Every parameter's value, in `parameters` order."""
        return [float(p.data) for p in self.parameters()]

    def set_weights(self, weights: Sequence[float]) -> None:
        """Set every parameter from a flat list; checks length and finiteness before changing anything."""
        params = self.parameters()
        values = [float(w) for w in weights]
        if len(values) != len(params):
            raise ValueError(f"ResidualMLP.set_weights: expected {len(params)} weights, got {len(values)}")
        bad = next((i for i, w in enumerate(values) if not math.isfinite(w)), None)
        if bad is not None:
            raise ValueError(f"ResidualMLP.set_weights: weight {bad} is {values[bad]!r}; weights must be finite")
        for p, w in zip(params, values, strict=True):
            p.data = w

    def spec(self) -> dict:
        """The architecture as a JSON-able dict; ``ResidualMLP.from_spec(spec)`` rebuilds it."""
        return {"layer": "ResidualMLP", "nin": self.nin, "nouts": list(self.nouts), "activation": self.activation,
                "last_activation": self.last_activation}

    @classmethod
    def from_spec(cls, spec: dict) -> ResidualMLP:
        """A freshly initialised model with the architecture of ``spec`` (see `spec`)."""
        settings = {k: v for k, v in spec.items() if k != "layer"}
        unknown = sorted(set(settings) - {"nin", "nouts", "activation", "last_activation"})
        if spec.get("layer") != "ResidualMLP" or unknown:
            raise ValueError(f"ResidualMLP.from_spec: not a ResidualMLP spec (layer {spec.get('layer')!r}, "
                             f"unknown keys {unknown})")
        return cls(**settings)

    def __repr__(self) -> str:
        return (f"ResidualMLP(nin={self.nin}, nouts={self.nouts}, activation={self.activation!r}; "
                f"{self.num_parameters()} parameters)")
