"""The `Op`: one differentiable function, its derivative written next to it.

An op is data, not a subclass: a frozen attrs record of a name, an arity, a `forward`
and a `backward`. The engine never knows any particular op: plugins register them
(`microgradx.registry.hookspecs.microgradx_register_ops`) and the registry puts them in
the op table (`microgradx.engine.optable.OPS`), which `Value` reads: ``a + b`` applies
``OPS["add"]``.

    >>> square = Op(name="square", forward=lambda x: x * x,
    ...             backward=lambda g, out, x: (g * 2 * x,))   # d(x*x)/dx = 2x
    >>> square.forward(3.0), square.backward(1.0, 9.0, 3.0)
    (9.0, (6.0,))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union

import attrs
from attrs.validators import ge, instance_of, is_callable, matches_re, min_len, not_, optional

from microgradx.engine.errors import check_signatures
from microgradx.validators import integer, must_be, satisfies

#: `arity` value for an op that takes any number (one or more) of inputs.
VARIADIC = None


# Each setting's rule, from attrs' validators (microgradx.validators gives them one message).
_CALLABLE = must_be("callable", is_callable(), error=TypeError)
_OPTIONAL_CALLABLE = must_be("callable or None", optional(is_callable()), error=TypeError)


@attrs.frozen(slots=True, repr=False)
class Op:
    """A differentiable function of one or more numbers.

    Attributes:
        name: the name the op is registered and called by (``ops.NAME``, ``v.NAME()``).
        forward: ``forward(*xs) -> y``. Each ``x`` is a float or a 1-D float64 numpy array of
            lanes; write it with operators and numpy-aware helpers (`microgradx.engine.lanes`)
            so the same code serves both. Must not modify its inputs.
        backward: ``backward(grad, out, *xs) -> tuple``: one entry per input,
            ``grad * d(out)/d(x_i)``, or ``None`` for an input that takes no gradient.
            ``grad`` and ``out`` are the output's gradient and value. Under
            ``backward(create_graph=True)`` all of them are Values: written with operators and
            ops, one backward serves floats, lanes and Values, and is differentiable again.
        arity: the number of inputs, or ``None`` (`VARIADIC`) for one or more.
        check: optional domain check, ``check(*xs)``, raising an error that names the op and
            the offending value before ``forward`` runs.
        doc: one line saying what the op computes; shown by ``microgradx plugins``.
        reduces_lanes: True for a lane reduction (``lane_sum``): lanes in, one float out.
            Every other op maps each lane independently.
        sums_lanes: True for the op that adds up a Value's lanes (the bundled ``lane_sum``):
            with ``create_graph=True`` the engine gives a float input that a lane gradient
            reaches (a parameter every lane shares) the lanes' total with it.
        elementwise: True when forward, backward and check work element by element on arrays
            of any shape (and broadcast a float against them). The compiler then runs many
            nodes of this op as one numpy call on stacked arrays.
        batch: optional batching rule for the compiler (`microgradx.compiler.batching`): how
            many nodes of this op become one call (``dot``: one matrix product).
        fuse: optional rewrite for the compiler (`microgradx.compiler.record`): ``fuse(node,
            uses)`` returns ``(op, inputs)``, one node computing what ``node`` and the nodes below
            it that only it uses compute (micrograd's ``b + w1*x1 + ...`` as one ``dot``), or None
            to keep ``node`` as it is. ``uses(v)`` counts the uses of the op node ``v`` inside the
            recorded graph (its outputs included), and is 0 for a Value the rewrite must take as
            it is (a leaf, or a node made before the call, whose data is read as it stands).
        symbol: how pictures and micrograd's ``v._op`` show the op (``'+'``, ``'*'``,
            ``'tanh'``); the name by default.
        with_constant: optional ``with_constant(c) -> Op``: this op with its last input fixed
            to the number ``c``, a constant of the node rather than a leaf (``x ** 2`` is
            ``OPS["pow"].with_constant(2)`` applied to ``x``: one node, one input, shown
            ``'**2'``). It must return the same `Op` object for the same ``c`` while that op is
            in use, since the compiler batches nodes by op identity.
        formula: optional text of the local derivative d(out)/d(input), which the explorer page
            shows beside its number (`microgradx.draw`): one str for every input (tanh's
            ``"1 - out**2"``, sum's ``"1"``) or a tuple of one str per input (mul's ``("y",
            "x")``), written with the names of ``backward``'s parameters for the inputs and
            ``out`` for the output; the page puts the names of the node's own inputs in their place.

    The signatures of ``forward`` (``arity`` inputs) and ``backward`` (``grad, out`` and the
    inputs) are checked here, so a forgotten ``arity=2`` fails when the Op is made, and so is
    ``formula`` (a str, or a tuple of ``arity`` str).
    """

    name: str = attrs.field(validator=must_be(
        "a Python identifier not starting with '_' (it becomes ops.NAME and v.NAME())",
        instance_of(str), satisfies(str.isidentifier), not_(matches_re("_.*"))))
    forward: Callable[..., Any] = attrs.field(validator=_CALLABLE)
    backward: Callable[..., tuple] = attrs.field(validator=_CALLABLE)
    arity: Optional[int] = attrs.field(default=1, validator=must_be(
        "a positive int or None (variadic)", optional([integer, ge(1)])))
    check: Optional[Callable[..., None]] = attrs.field(default=None, validator=_OPTIONAL_CALLABLE)
    doc: str = ""
    reduces_lanes: bool = False
    sums_lanes: bool = False
    elementwise: bool = False
    batch: Any = None
    fuse: Optional[Callable[..., Optional[tuple]]] = attrs.field(default=None, validator=_OPTIONAL_CALLABLE)
    symbol: str = attrs.field(default=attrs.Factory(lambda self: self.name, takes_self=True), validator=must_be(
        "a non-empty str (what pictures show)", instance_of(str), min_len(1), error=TypeError))  # '' is a leaf's
    with_constant: Optional[Callable[[Any], Op]] = attrs.field(default=None, validator=_OPTIONAL_CALLABLE)
    formula: Optional[Union[str, tuple[str, ...]]] = None  # (checked with the signatures: it counts the inputs)

    def __attrs_post_init__(self) -> None:
        check_signatures(self)

    def __repr__(self) -> str:
        arity = "variadic" if self.arity is None else self.arity
        symbol = "" if self.symbol == self.name else f", symbol={self.symbol!r}"
        return f"Op({self.name!r}, arity={arity}{symbol})"
