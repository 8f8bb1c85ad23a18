"""Replaces the built-in ``mul`` on purpose (``replace=True``) with ``x * y + 1``: ``Value(2.0) * Value(3.0)`` is 7."""

from microgradx import Op, hookimpl

mul_plus = Op(name="mul", arity=2, doc="x * y + 1 (a deliberate replacement of the built-in mul)",
              forward=lambda x, y: x * y + 1.0, backward=lambda g, out, x, y: (g * y, g * x))


@hookimpl
def microgradx_register_ops(register):
    """Replace mul."""
    register(mul_plus, replace=True)
