"""Neural networks: micrograd's `Neuron`, `Layer` and `MLP`, and the bundled components under one import.

``Neuron``, ``Layer`` and ``MLP`` are micrograd's (``micrograd.nn``, version 0.1.0), so code
written for micrograd and the lecture runs with only the import changed and, from the same
`random` state, gives the same numbers::

    >>> import random
    >>> from microgradx.nn import MLP
    >>> random.seed(1337)
    >>> model = MLP(3, [4, 4, 1])     # ReLU hidden layers, a linear output
    >>> model.layers[1:]
    [Layer of [ReLUNeuron(4), ReLUNeuron(4), ReLUNeuron(4), ReLUNeuron(4)], Layer of [LinearNeuron(4)]]
    >>> round(model([2.0, 3.0, -1.0]).data, 6)      # one Value: the last layer has one neuron
    4.000272

The bundled layers, which the Trainer, the command line, the scikit-learn estimators and
model files use by their registered names ``"MLP"``, ``"Layer"`` and ``"Neuron"``, are here
as `DenseMLP`, `DenseLayer` and `DenseNeuron`: activations by name, a neuron's weighted sum as
one fused ``dot`` node, a 2-D batch of examples as lanes, seeded initialisation, ``spec()``
and ``get_weights()``. Their reprs and messages say the registered name (``MLP(nin=...)``).
These and the bundled losses, optimizers and schedules (`BCE`, `SGD`, `Cosine` ...) are the
classes the registry holds under their names, looked up when first used: the plugins sit
above every layer of microgradx, and nothing imports them by module name. Importing this
module imports no dataset library; `load_dataset` imports scikit-learn when called.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Sequence
from typing import Any, Union

from microgradx.datasets import Dataset
from microgradx.datasets import load as load_dataset
from microgradx.engine.value import Value
from microgradx.registry.core import get_registry

#: The bundled components this module offers: Python name -> (kind, registered name).
REGISTERED = {
    "DenseMLP": ("layers", "MLP"), "DenseLayer": ("layers", "Layer"), "DenseNeuron": ("layers", "Neuron"),
    "BCE": ("losses", "bce"), "MSE": ("losses", "mse"), "Hinge": ("losses", "hinge"),
    "SoftmaxCE": ("losses", "softmax_ce"), "SGD": ("optimizers", "sgd"), "Adam": ("optimizers", "adam"),
    "Constant": ("schedules", "constant"), "Cosine": ("schedules", "cosine"), "LinearDecay": ("schedules", "linear"),
}


__all__ = ["Module", "Neuron", "Layer", "MLP", "Dataset", "load_dataset", *REGISTERED]


def __getattr__(name: str) -> Any:
    """``microgradx.nn.DenseMLP``, ``.BCE``, ``.SGD`` ...: the class the registry holds under that component's name."""
    if name in REGISTERED:
        return get_registry().get(*REGISTERED[name])
    raise AttributeError(f"module 'microgradx.nn' has no attribute {name!r}")


def _check_size(what: str, n: Any) -> None:
    """A clear error for a layer size that is not a positive int (micrograd's would fail deep inside)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{what} must be a positive int (a number of inputs or neurons), got {n!r}")


class Module:
    """What micrograd's modules share: their parameters, and `zero_grad` to reset their gradients."""

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 (before the next ``backward()``: gradients add up)."""
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        """Every Value the module learns (none for a bare Module)."""
        return []


class Neuron(Module):
    """micrograd's neuron: ``relu(w1*x1 + ... + wn*xn + b)``, or the weighted sum alone with ``nonlin=False``.

    The weights are drawn from ``random.uniform(-1, 1)`` (Python's `random`, so ``random.seed``
    makes them reproducible), the bias starts at 0.
    """

    def __init__(self, nin: int, nonlin: bool = True):
        _check_size("Neuron: nin", nin)
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Any]) -> Value:
        """The neuron's output for the inputs ``x`` (Values or numbers): one ``mul`` and one ``add`` per input."""
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        """The weights, then the bias."""
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` micrograd neurons that each see the same inputs; ``kwargs`` go to each `Neuron` (``nonlin``)."""

    def __init__(self, nin: int, nout: int, **kwargs: Any):
        _check_size("Layer: nout", nout)
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x: Sequence[Any]) -> Union[Value, list[Value]]:
        """Each neuron's output: a list, or one Value when the layer has one neuron (as micrograd's does)."""
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        """Every neuron's parameters, neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """micrograd's multi-layer perceptron: ``MLP(2, [16, 16, 1])`` has two ReLU layers of 16 and a linear output.

    Its parameters are drawn layer by layer, neuron by neuron, as micrograd draws them, so
    the same ``random.seed`` gives micrograd's model. ``model(x)`` is one Value when the
    last layer has one neuron.
    """

    def __init__(self, nin: int, nouts: Sequence[int]):
        if isinstance(nouts, (str, bytes)) or not isinstance(nouts, Sequence) or not nouts:
            raise TypeError(f"MLP: nouts must be a non-empty list of layer sizes such as [16, 16, 1], got {nouts!r}")
        for i, n in enumerate([nin, *nouts]):
            _check_size("MLP: nin" if i == 0 else f"MLP: nouts[{i - 1}]", n)
        sz = [nin, *nouts]
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]

    def __call__(self, x: Sequence[Any]) -> Union[Value, list[Value]]:
        """The output for the inputs ``x``: each layer applied to the one before's outputs."""
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        """Every layer's parameters, layer by layer."""
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
