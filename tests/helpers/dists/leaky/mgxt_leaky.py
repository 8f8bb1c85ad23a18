"""Deliberate replacements (``replace=True``): the built-in ``relu`` by a leaky one, and mgx-softsign's
``softsign`` by ``x / (2 + |x|)`` (whichever of the two plugins loads first)."""

from microgradx import Op, hookimpl

SLOPE = 0.01

leaky_relu = Op(
    name="relu",
    doc="leaky relu: x for x > 0, 0.01 x otherwise",
    forward=lambda x: x * ((x > 0.0) + SLOPE * (x <= 0.0)),
    backward=lambda g, out, x: (g * ((x > 0.0) + SLOPE * (x <= 0.0)),),
)

softsign2 = Op(
    name="softsign",
    doc="x / (2 + |x|)",
    forward=lambda x: x / (2.0 + abs(x)),
    backward=lambda g, out, x: (2.0 * g / ((2.0 + abs(x)) * (2.0 + abs(x))),),
)


@hookimpl
def microgradx_register_ops(register):
    """Replace relu and softsign."""
    register(leaky_relu, replace=True)
    register(softsign2, replace=True)
