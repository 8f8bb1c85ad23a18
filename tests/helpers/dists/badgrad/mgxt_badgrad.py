"""An op with a deliberately wrong derivative: ``badsquare(x) = x * x`` with gradient ``x``."""

from microgradx import Op, hookimpl


@hookimpl
def microgradx_register_ops(register):
    """Register badsquare."""
    register(Op(name="badsquare", forward=lambda x: x * x, backward=lambda g, out, x: (g * x,)))
