"""Layers: `Neuron`, `Layer` and `MLP`, registered as the components "Neuron", "Layer", "MLP".

A model is called on one example (a list or 1-D array of numbers or Values: one scalar
graph) or on a 2-D numpy array of examples, shape ``(n, nin)`` (lane mode: input ``j``
becomes one lane Value holding column ``j``, and the same graph computes all ``n``
examples). It returns a list of output Values, one per output unit.

With ``fused=True`` (the default) a neuron's pre-activation ``b + w . x`` is one ``dot``
node; with ``fused=False`` it is the fine-grained graph of single ``mul`` and ``add``
nodes that micrograd builds, for teaching. Both give the same numbers.

Initialisation (seeded, ``numpy.random.default_rng(seed)``): every weight and bias is drawn
from ``uniform(-1/sqrt(nin), 1/sqrt(nin))``, PyTorch's default for ``nn.Linear``. An MLP
draws its parameters layer by layer, neuron by neuron, weights before the bias.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from operator import mul
from typing import Any, Optional, Union

import attrs
import numpy as np
from microgradx_plugins.activations import exp_op, relu, sigmoid, tanh_op
from microgradx_plugins.fused import constant_rows, lane_matrix, matrix_rows
from microgradx_plugins.fused import dot as _DOT

from microgradx import UnknownComponentError, Value, get_registry, hookimpl
from microgradx.engine import value as _value
from microgradx.engine.op import Op

_ndarray = np.ndarray

#: Bundled activation ops whose forward works on a 2-D array, element by element, as on lanes:
#: a layer applies them to all its units at once.
_ELEMENTWISE = frozenset(map(id, (relu, tanh_op, sigmoid, exp_op)))  # by identity: a replaced op is not in it
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
    if isinstance(value, (list, tuple, _ndarray)):
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
    array of shape ``(n, nin)``, whose columns become lane Values (lane mode).

    The Values made here (from numbers, or the columns of a 2-D array) are the model's own:
    nothing outside holds them. The lane ones are constants that take no gradient: their
    data are the rows of one read-only copy of ``x.T`` (`microgradx_plugins.fused.constant_rows`),
    which ``dot`` uses as its input matrix without stacking it, and gives no gradient.
    Pass Values (a list of them) to get gradients with respect to the inputs.
    """
    node = _value._node  # read at each call: anomaly mode replaces it
    if isinstance(x, _ndarray):
        if x.ndim == 2:
            _check_batch(x, nin, who)
            return [node(row, (), None) for row in constant_rows(x)]  # one copy of x.T, read-only
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
    out = []
    for i, xi in enumerate(x):
        cls = xi.__class__
        if cls is float:  # the common case (a row of a float array): nothing to check
            out.append(node(xi, (), None))
        elif cls is Value or isinstance(xi, Value):
            out.append(xi)
        elif isinstance(xi, (list, tuple, _ndarray)):
            raise TypeError(f"{who}: input {i} is a {type(xi).__name__}; pass a batch as a 2-D numpy array "
                            f"of shape (n, {nin})")
        else:
            out.append(Value(xi))
    return out


def _check_weights(weights: Any, n: int, who: str) -> list[float]:
    if isinstance(weights, _ndarray):
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
            ``mul`` and ``add`` nodes (False).
    """

    nin: int = attrs.field(validator=_positive_int, on_setattr=_fixed)
    activation: Optional[str] = attrs.field(default="relu", validator=_check_activation, on_setattr=_fixed)
    seed: Seed = attrs.field(default=0, validator=_check_seed, on_setattr=_fixed)
    fused: bool = attrs.field(default=True, validator=_check_bool, on_setattr=_fixed)
    w: list = attrs.field(init=False)
    b: Value = attrs.field(init=False)
    _act: Optional[Op] = attrs.field(init=False)
    _dot: Op = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        rng = _rng(self.seed)
        bound = 1.0 / math.sqrt(self.nin)
        self.w = [Value(wi, label=f"w{i}") for i, wi in enumerate(rng.uniform(-bound, bound, self.nin).tolist())]
        self.b = Value(float(rng.uniform(-bound, bound)), label="b")
        self._act = resolve_activation(self.activation)
        self._dot = get_registry().get("ops", "dot")

    def __call__(self, x: Any) -> Value:
        """The neuron's output for one example (a float Value) or a batch (a lane Value)."""
        return self.forward(as_inputs(x, self.nin, repr(self)))

    def forward(self, xs: list) -> Value:
        """The output for ``xs``, a list of ``nin`` Values (no conversion or checks)."""
        if self.fused:
            op = self._dot
            parents = (self.b, *self.w, *xs)
            data = [p.data for p in parents]
            if op.check is not None:
                op.check(*data)
            out = Value(op.forward(*data), parents, op)
        else:  # micrograd's graph: b + w1*x1 + w2*x2 + ..., one add and one mul per input
            out = self.b
            for wi, xi in zip(self.w, xs):
                out = out + wi * xi
        act = self._act
        if act is None:
            return out
        if act.check is not None:
            act.check(out.data)
        return Value(act.forward(out.data), (out,), act)

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
    """

    nin: int = attrs.field(validator=_positive_int, on_setattr=_fixed)
    nout: int = attrs.field(validator=_positive_int, on_setattr=_fixed)
    activation: Optional[str] = attrs.field(default="relu", validator=_check_activation, on_setattr=_fixed)
    seed: Seed = attrs.field(default=0, validator=_check_seed, on_setattr=_fixed)
    fused: bool = attrs.field(default=True, validator=_check_bool, on_setattr=_fixed)
    neurons: list = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        rng = _rng(self.seed)
        self.neurons = [Neuron(self.nin, self.activation, rng, self.fused) for _ in range(self.nout)]
        for j, n in enumerate(self.neurons):
            for p in n.parameters():
                p.label = f"n{j}.{p.label}"

    def __call__(self, x: Any) -> list[Value]:
        """The ``nout`` outputs for one example or a batch (see the module docstring)."""
        return self.forward(as_inputs(x, self.nin, repr(self)))

    def forward(self, xs: list) -> list[Value]:
        """The outputs for ``xs``, a list of ``nin`` Values (no conversion or checks).

        The graph is the one each neuron builds (`Neuron.forward`): one ``dot`` node and one
        activation node per neuron. With ``fused`` (and the bundled ``dot``), the layer
        computes the ``dot`` nodes' values together: in lane mode one matrix product for
        all its neurons (``W @ X + b``, equal to each neuron's ``w @ X + b`` to rounding,
        about 1e-16), in scalar mode each neuron's ``b + w1*x1 + ...`` exactly as ``dot`` does.
        """
        neurons = self.neurons
        if self.fused and xs and neurons[0]._dot is _DOT:
            first = xs[0].data
            if first.__class__ is _ndarray:
                outs = self._lane_forward(xs)
                if outs is not None:
                    return outs
            else:
                return self._scalar_forward(xs)
        return [n.forward(xs) for n in neurons]

    def _lane_forward(self, xs: list) -> Optional[list]:
        """`forward` for lane inputs: one matrix product; None when the inputs or weights don't fit."""
        neurons = self.neurons
        matrix = lane_matrix([x.data for x in xs])
        z = None if matrix is None else self._affine(matrix)
        if z is None:
            return None
        node, dot, act = _value._node, _DOT, neurons[0]._act
        xs = tuple(xs)
        if act is None:  # the dot nodes are the outputs: the next layer can use z as its matrix
            return [node(zj, (n.b, *n.w, *xs), dot) for n, zj in zip(neurons, matrix_rows(z))]
        z.flags.writeable = False  # its rows are the dot nodes' data
        _, hs = self._activate(z)
        return [node(hj, (node(zj, (n.b, *n.w, *xs), dot),), act) for n, zj, hj in zip(neurons, z, hs)]

    def _affine(self, matrix: np.ndarray) -> Optional[np.ndarray]:
        """``W @ matrix + b`` for the (nin, lanes) ``matrix``: every neuron's ``dot`` (None if a weight holds lanes)."""
        neurons = self.neurons
        nin, nout = len(neurons[0].w), len(neurons)
        if matrix.ndim != 2 or matrix.shape[0] != nin:
            return None
        if any([len(n.w) != nin for n in neurons]):
            return None
        try:  # (np.fromiter with a count: half the time of np.array on a list)
            w = np.fromiter([wi.data for n in neurons for wi in n.w], np.float64, nout * nin)
            b = np.fromiter([n.b.data for n in neurons], np.float64, nout)
        except (TypeError, ValueError):  # a parameter holding lanes: each neuron's own path
            return None
        z = w.reshape(nout, nin) @ matrix
        z += b[:, None]
        return z

    def _activate(self, z: np.ndarray) -> tuple:
        """``(matrix or None, rows)``: the activation of each row of ``z`` (one row per neuron).

        For an elementwise bundled op, one call on all of ``z``: its rows are those of one
        matrix, remembered so that the next layer's ``dot`` uses it without stacking.
        """
        act = self.neurons[0]._act
        if id(act) in _ELEMENTWISE and act.check is None:
            h = act.forward(z)
            return h, matrix_rows(h)
        hs = []
        for zj in z:
            if act.check is not None:
                act.check(zj)
            hs.append(act.forward(zj))
        return None, hs

    def output_matrix(self, matrix: np.ndarray) -> Optional[np.ndarray]:
        """The layer's outputs for the (nin, lanes) ``matrix`` as an (nout, lanes) array, without a graph.

        The numbers ``forward`` gives for lane inputs (the same computation, no Values); None
        when the layer can't compute that way (``fused=False``, a replaced ``dot`` op, a
        parameter holding lanes).
        """
        if not self.fused or self.neurons[0]._dot is not _DOT:
            return None
        z = self._affine(matrix)
        if z is None or self.neurons[0]._act is None:
            return z
        h, hs = self._activate(z)
        return h if h is not None else np.stack(hs)

    def _scalar_forward(self, xs: list) -> list:
        """`forward` for one example: each neuron's ``b + w1*x1 + ...`` as ``dot`` computes it."""
        node, dot, act = _value._node, _DOT, self.neurons[0]._act
        xdata = [x.data for x in xs]
        xs = tuple(xs)
        outs = []
        for n in self.neurons:
            b = n.b
            out = node(sum(map(mul, [wi.data for wi in n.w], xdata), b.data), (b, *n.w, *xs), dot)
            if act is not None:
                if act.check is not None:
                    act.check(out.data)
                out = node(act.forward(out.data), (out,), act)
            outs.append(out)
        return outs

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
                             rng, self.fused) for i in range(len(self.nouts))]
        for i, layer in enumerate(self.layers):
            for p in layer.parameters():
                p.label = f"L{i}.{p.label}"

    def __call__(self, x: Any) -> list[Value]:
        """The outputs (a list of ``nouts[-1]`` Values) for one example or a batch."""
        xs = as_inputs(x, self.nin, "MLP")
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def output_arrays(self, X: np.ndarray) -> Optional[list]:
        """The outputs for the batch ``X`` (shape ``(n, nin)``), one array of ``n`` lanes per unit, without a graph.

        The same numbers as ``[o.data for o in model(X)]`` (the same matrix products and
        activation calls, without making Values): for predictions and metrics, which need no
        gradient. None when a layer can't compute that way (see `Layer.output_matrix`).
        """
        if not isinstance(X, _ndarray) or X.ndim != 2:
            raise TypeError(f"MLP.output_arrays takes a 2-D numpy array of shape (n, {self.nin}), got "
                            f"{type(X).__name__ if not isinstance(X, _ndarray) else f'shape {X.shape}'}")
        _check_batch(X, self.nin, "MLP")
        matrix = np.array(X.T, dtype=np.float64, order="C")  # as `constant_rows` makes it
        for layer in self.layers:
            matrix = layer.output_matrix(matrix)
            if matrix is None:
                return None
        return list(matrix)

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
