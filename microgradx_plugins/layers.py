"""Layers: `Neuron`, `Layer` and `MLP`, registered as the components "Neuron", "Layer", "MLP".

A model is called on one example (a list or 1-D array of numbers or Values: one scalar
graph) or on a 2-D numpy array of examples, shape ``(n, nin)`` (lane mode: input ``j``
becomes one lane Value holding column ``j``, and the same graph computes all ``n``
examples). It returns a list of output Values, one per output unit. Weights and biases are
`microgradx.Parameter` s: Values whose numbers an optimizer can keep in one array.

With ``fused=True`` (the default) a neuron's pre-activation ``b + w . x`` is one ``dot``
node; with ``fused=False`` it is the fine-grained graph of single ``mul`` and ``add``
nodes that micrograd builds, for teaching. Both give the same numbers.

**Scopes.** A layer names what it builds, so that pictures can collapse it by that name
(`microgradx.draw`): an MLP's neuron ``j`` of layer ``i`` has the scope ``L{i}.n{j}``; it labels
the Value it returns ``L0.n1`` and its parameters ``L0.n1.w0`` ... ``L0.n1.b``. A `Layer` of
its own names its neurons ``n0``, ``n1`` ... (``scope="enc"`` makes them ``enc.n0`` ...); a
`Neuron` of its own has no scope unless given one (its parameters are ``w0`` ... ``b``). Only
the returned Value is labelled: the ops inside stay unlabelled, and nothing costs more.

Initialisation (seeded, ``numpy.random.default_rng(seed)``): every weight and bias is drawn
from ``uniform(-1/sqrt(nin), 1/sqrt(nin))``, PyTorch's default for ``nn.Linear``. An MLP
draws its parameters layer by layer, neuron by neuron, weights before the bias.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Optional, Union

import attrs
import numpy as np

from microgradx import Parameter, UnknownComponentError, Value, get_registry, hookimpl, ops
from microgradx.engine.op import Op
from microgradx.engine.value import apply

Seed = Union[int, np.random.Generator, None]


# -- validation helpers --------------------------------------------------------------------

def _positive_int(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a positive int "
                         f"(a number of inputs or units), got {value!r}")


def _check_nouts(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"MLP: nouts must be a list of layer sizes such as [16, 16, 1], got {value!r}")
    if len(value) == 0:
        raise ValueError("MLP: nouts (the list of layer sizes) is empty; give at least one layer, e.g. [1]")
    for i, size in enumerate(value):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"MLP: nouts[{i}] must be a positive int (a layer size), got {size!r}")


def _check_seed(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None or isinstance(value, np.random.Generator):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{type(instance).__name__}: seed must be a non-negative int, a numpy Generator "
                         f"or None, got {value!r}")


def _check_scope(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or value != value.strip() or value.startswith(".") or value.endswith("."):
        raise TypeError(f"{type(instance).__name__}: scope must be a name such as 'L0.n1' (a str, no leading or "
                        f"trailing dot or space), got {value!r}")


def _check_bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{type(instance).__name__}: {attribute.name} must be True or False, got {value!r}")


def resolve_activation(name: Optional[str], setting: str = "activation") -> Optional[Op]:
    """The registered unary op called ``name`` (None for a linear unit).

    Raises `UnknownComponentError` listing the registered ops for an unknown name, and
    ``ValueError`` for an op that is not a lanewise unary op (``add``, ``lane_sum`` ...).
    """
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"{setting} must be the name of a registered unary op (or None for linear), got {name!r}")
    try:
        op = get_registry().get("ops", name)
    except UnknownComponentError as exc:
        raise UnknownComponentError(f"{setting}={name!r}: {exc}") from None
    if op.arity != 1 or op.reduces_lanes:
        what = "a lane reduction" if op.reduces_lanes else f"an op of arity {op.arity or 'variadic'}"
        raise ValueError(f"{setting}={name!r}: an activation must be a unary op that maps each lane, "
                         f"and {name!r} is {what}")
    return op


def _check_activation(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    resolve_activation(value, f"{type(instance).__name__}: {attribute.name}")


def _sizes(value: Any) -> Any:
    """``nouts`` as a list of Python ints (anything odd is left for the validator to report)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [int(n) if isinstance(n, numbers.Integral) and not isinstance(n, bool) else n for n in value]
    return value


def _fixed(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """on_setattr hook: the architecture is fixed at construction (changing it would not rebuild the layers)."""
    name = type(instance).__name__
    raise AttributeError(f"{name}.{attribute.name} is fixed at construction; build a new {name} "
                         f"(e.g. {name}.from_spec({{**model.spec(), {attribute.name!r}: ...}}))")


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_batch(x: np.ndarray, nin: int, who: str) -> None:
    """Raise a clear error unless the 2-D array ``x`` is a batch of examples with ``nin`` real numbers each."""
    if x.shape[1] != nin:
        raise ValueError(f"{who} takes {nin} inputs per example, got a batch of shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{who}: the batch of shape {x.shape} has no examples")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{who} takes real numbers, got an array of dtype {x.dtype}")


def as_inputs(x: Any, nin: int, who: str = "model") -> list:
    """Turn a model input into a list of ``nin`` Values.

    ``x`` is one example (a list, tuple or 1-D array of numbers or Values) or a 2-D numpy
    array of shape ``(n, nin)``, whose columns become lane Values (lane mode) that take no
    gradient (``grad`` None: they are data, and nothing outside holds them). Values are used
    as they are (so their gradients can be asked for); numbers become new leaves.
    """
    if isinstance(x, np.ndarray):
        if x.ndim == 2:
            _check_batch(x, nin, who)
            return [_data(column) for column in x.T]
        if x.ndim != 1:
            raise ValueError(f"{who} takes one example (1-D) or a batch (2-D array of shape (n, {nin})), "
                             f"got an array of shape {x.shape}")
        x = x.tolist()
    elif isinstance(x, Value):
        x = [x]
    elif not isinstance(x, (list, tuple)):
        raise TypeError(f"{who} takes a list of {nin} numbers or Values, or a 2-D numpy array of shape "
                        f"(n, {nin}); got {type(x).__name__}")
    if len(x) != nin:
        raise ValueError(f"{who} takes {nin} inputs per example, got {len(x)}")
    for i, xi in enumerate(x):
        if isinstance(xi, (list, tuple, np.ndarray)) and not isinstance(xi, Value):
            raise TypeError(f"{who}: input {i} is a {type(xi).__name__}; pass a batch as a 2-D numpy array "
                            f"of shape (n, {nin})")
    return [xi if isinstance(xi, Value) else Value(xi) for xi in x]


def _data(column: np.ndarray) -> Value:
    """A lane Value of input data: it takes no gradient (backward passes it by)."""
    v = Value(column)
    v.grad = None
    return v


def _check_weights(weights: Any, n: int, who: str) -> list[float]:
    if isinstance(weights, np.ndarray):
        if weights.ndim != 1:
            raise ValueError(f"{who}.set_weights: expected a flat list of {n} weights, got an array of shape "
                             f"{weights.shape}")
        weights = weights.tolist()
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError(f"{who}.set_weights: expected a list of {n} numbers, got {type(weights).__name__}")
    if len(weights) != n:
        raise ValueError(f"{who}.set_weights: expected {n} weights (one per parameter), got {len(weights)}")
    out = []
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise TypeError(f"{who}.set_weights: weight {i} must be a number, got {type(w).__name__}")
        w = float(w)
        if not math.isfinite(w):
            raise ValueError(f"{who}.set_weights: weight {i} is {w!r}; weights must be finite")
        out.append(w)
    return out


class _Module:
    """What every layer shares: parameters, gradients, weights as a flat list, a spec."""

    def parameters(self) -> list[Value]:  # pragma: no cover - overridden
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0.0."""
        for p in self.parameters():
            p.grad = 0.0

    def num_parameters(self) -> int:
        """How many scalar parameters (weights and biases) the model has."""
        return len(self.parameters())

    def get_weights(self) -> list[float]:
        """Every parameter's value as a flat list of floats, in `parameters` order."""
        return [float(p.data) for p in self.parameters()]

    def set_weights(self, weights: Sequence[float]) -> None:
        """Set every parameter from a flat list (the order of `get_weights`).

        Checks the length, the types and that every number is finite before changing
        anything: on an error the model is unchanged.
        """
        params = self.parameters()
        values = _check_weights(weights, len(params), type(self).__name__)
        for p, w in zip(params, values):
            p.data = w

    def spec(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: dict) -> Any:
        """A new, freshly initialised model with the architecture that `spec` describes."""
        if not isinstance(spec, dict):
            raise TypeError(f"{cls.__name__}.from_spec takes a dict, got {type(spec).__name__}")
        if spec.get("layer") != cls.__name__:
            raise ValueError(f"{cls.__name__}.from_spec: spec['layer'] is {spec.get('layer')!r}, "
                             f"expected {cls.__name__!r}")
        allowed = {a.name for a in attrs.fields(cls) if a.init and a.name != "seed"}
        settings = {k: v for k, v in spec.items() if k != "layer"}
        unknown = sorted(set(settings) - allowed)
        if unknown:
            raise ValueError(f"{cls.__name__}.from_spec: unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(sorted(allowed))}")
        missing = sorted(a.name for a in attrs.fields(cls) if a.init and a.name in allowed
                         and a.default is attrs.NOTHING and a.name not in settings)
        if missing:
            raise ValueError(f"{cls.__name__}.from_spec: missing key(s) {', '.join(map(repr, missing))}")
        return cls(**settings)


# -- Neuron ----------------------------------------------------------------------------------

@attrs.define(eq=False, repr=False)
class Neuron(_Module):
    """One unit: ``activation(b + w1*x1 + ... + wn*xn)``.

    Args:
        nin: number of inputs.
        activation: name of a registered unary op (``"relu"``, ``"tanh"``, a plugin's op), or
            None for a linear unit.
        seed: an int, a numpy Generator (shared by the neurons of a model) or None.
        fused: compute the pre-activation with one ``dot`` node (True) or with single
            ``mul`` and ``add`` nodes, as micrograd does (False).
        scope: the neuron's name (``"L0.n1"``; see the module docstring), or "" for none: it
            labels the Value the neuron returns, and its parameters are labelled inside it.
    """

    nin: int = attrs.field(validator=_positive_int, on_setattr=_fixed)
    activation: Optional[str] = attrs.field(default="relu", validator=_check_activation, on_setattr=_fixed)
    seed: Seed = attrs.field(default=0, validator=_check_seed, on_setattr=_fixed)
    fused: bool = attrs.field(default=True, validator=_check_bool, on_setattr=_fixed)
    scope: str = attrs.field(default="", kw_only=True, validator=_check_scope, on_setattr=_fixed)
    w: list = attrs.field(init=False)
    b: Parameter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        rng = _rng(self.seed)
        bound = 1.0 / math.sqrt(self.nin)
        inside = f"{self.scope}." if self.scope else ""
        self.w = [Parameter(wi, label=f"{inside}w{i}")
                  for i, wi in enumerate(rng.uniform(-bound, bound, self.nin).tolist())]
        self.b = Parameter(float(rng.uniform(-bound, bound)), label=f"{inside}b")

    def __call__(self, x: Any) -> Value:
        """The neuron's output for one example (a float Value) or a batch (a lane Value)."""
        return self.forward(as_inputs(x, self.nin, repr(self)))

    def forward(self, xs: list) -> Value:
        """The output for ``xs``, a list of ``nin`` Values (no conversion or checks)."""
        if self.fused:
            act = ops.dot(self.b, *self.w, *xs)
        else:  # micrograd's graph: b + w1*x1 + w2*x2 + ..., one mul and one add per input
            act = sum((wi * xi for wi, xi in zip(self.w, xs)), self.b)
        out = act if self.activation is None else apply(self.activation, act)
        if self.scope:
            out.label = self.scope  # the neuron's name on what it returns: pictures collapse its ops by it
        return out

    def parameters(self) -> list[Value]:
        """The weights, then the bias."""
        return [*self.w, self.b]

    def spec(self) -> dict:
        """The architecture as a JSON-able dict (see `from_spec`)."""
        return {"layer": "Neuron", "nin": self.nin, "activation": self.activation, "fused": bool(self.fused)}

    def __repr__(self) -> str:
        return f"Neuron(nin={self.nin}, activation={self.activation!r}, fused={self.fused})"


# -- Layer -----------------------------------------------------------------------------------

@attrs.define(eq=False, repr=False)
class Layer(_Module):
    """``nout`` neurons that each see the same ``nin`` inputs.

    Args:
        nin, nout: numbers of inputs and of neurons (outputs).
        activation, seed, fused: as for `Neuron`; the neurons share one random generator.
        scope: the layer's name (``"L0"``), or "": its neuron ``j`` is ``{scope}.n{j}`` (or ``n{j}``).
    """

    nin: int = attrs.field(validator=_positive_int, on_setattr=_fixed)
    nout: int = attrs.field(validator=_positive_int, on_setattr=_fixed)
    activation: Optional[str] = attrs.field(default="relu", validator=_check_activation, on_setattr=_fixed)
    seed: Seed = attrs.field(default=0, validator=_check_seed, on_setattr=_fixed)
    fused: bool = attrs.field(default=True, validator=_check_bool, on_setattr=_fixed)
    scope: str = attrs.field(default="", kw_only=True, validator=_check_scope, on_setattr=_fixed)
    neurons: list = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        rng = _rng(self.seed)
        inside = f"{self.scope}." if self.scope else ""
        self.neurons = [Neuron(self.nin, self.activation, rng, self.fused, scope=f"{inside}n{j}")
                        for j in range(self.nout)]

    def __call__(self, x: Any) -> list[Value]:
        """The ``nout`` outputs for one example or a batch (see the module docstring)."""
        return self.forward(as_inputs(x, self.nin, repr(self)))

    def forward(self, xs: list) -> list[Value]:
        """The outputs for ``xs``, a list of ``nin`` Values: each neuron's output."""
        return [n.forward(xs) for n in self.neurons]

    def parameters(self) -> list[Value]:
        """Every neuron's parameters, neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def spec(self) -> dict:
        """The architecture as a JSON-able dict (see `from_spec`)."""
        return {"layer": "Layer", "nin": self.nin, "nout": self.nout, "activation": self.activation,
                "fused": bool(self.fused)}

    def __repr__(self) -> str:
        return f"Layer(nin={self.nin}, nout={self.nout}, activation={self.activation!r}, fused={self.fused})"


# -- MLP -------------------------------------------------------------------------------------

@attrs.define(eq=False, repr=False)
class MLP(_Module):
    """A multi-layer perceptron: ``MLP(30, [16, 16, 1])`` has two hidden layers of 16 units.

    Args:
        nin: number of inputs.
        nouts: the size of each layer, the last one being the number of outputs.
        activation: the hidden layers' activation, any registered unary op name.
        last_activation: the last layer's activation; None (linear) by default, since the
            losses take raw scores (logits).
        seed: an int (reproducible), a numpy Generator, or None.
        fused: one ``dot`` node per neuron (True) or micrograd's fine-grained graph (False).

    ``model(x)`` returns a list with one Value per output unit (see the module docstring).
    """

    nin: int = attrs.field(validator=_positive_int, on_setattr=_fixed)
    nouts: list = attrs.field(converter=_sizes, validator=_check_nouts, on_setattr=_fixed)
    activation: Optional[str] = attrs.field(default="relu", validator=_check_activation, on_setattr=_fixed)
    last_activation: Optional[str] = attrs.field(default=None, validator=_check_activation, on_setattr=_fixed)
    seed: Seed = attrs.field(default=0, validator=_check_seed, on_setattr=_fixed)
    fused: bool = attrs.field(default=True, validator=_check_bool, on_setattr=_fixed)
    layers: list = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        rng = _rng(self.seed)
        sizes = [self.nin, *self.nouts]
        last = len(self.nouts) - 1
        self.layers = [Layer(sizes[i], sizes[i + 1], self.last_activation if i == last else self.activation,
                             rng, self.fused, scope=f"L{i}") for i in range(len(self.nouts))]

    def __call__(self, x: Any) -> list[Value]:
        """The outputs (a list of ``nouts[-1]`` Values) for one example or a batch."""
        xs = as_inputs(x, self.nin, "MLP")
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def parameters(self) -> list[Value]:
        """Every layer's parameters, layer by layer (each neuron's weights, then its bias)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def spec(self) -> dict:
        """The architecture as a JSON-able dict: ``MLP.from_spec(model.spec())`` rebuilds it."""
        return {"layer": "MLP", "nin": self.nin, "nouts": list(self.nouts), "activation": self.activation,
                "last_activation": self.last_activation, "fused": bool(self.fused)}

    def __repr__(self) -> str:
        return (f"MLP(nin={self.nin}, nouts={self.nouts}, activation={self.activation!r}, "
                f"last_activation={self.last_activation!r}, fused={self.fused}; "
                f"{self.num_parameters()} parameters)")


@hookimpl
def microgradx_register_layers(register):
    """Register Neuron, Layer and MLP under their class names."""
    register(Neuron, name="Neuron")
    register(Layer, name="Layer")
    register(MLP, name="MLP")
