"""Registers ``tanh``, ``mul`` and ``adam`` without ``replace=True`` (clashes with built-ins), and ``fine_op``."""

from microgradx import Op, hookimpl


class FakeAdam:
    """Not Adam."""

    def __init__(self, params, lr=0.1):
        self.params, self.lr = list(params), lr

    def step(self):
        """Do nothing."""

    def zero_grad(self):
        """Do nothing."""


@hookimpl
def microgradx_register_ops(register):
    """tanh and mul clash with the built-ins; fine_op does not."""
    register(Op(name="tanh", forward=lambda x: x, backward=lambda g, out, x: (g,)))
    register(Op(name="mul", arity=2, forward=lambda x, y: x + y, backward=lambda g, out, x, y: (g, g)))
    register(Op(name="fine_op", forward=lambda x: 3.0 * x, backward=lambda g, out, x: (3.0 * g,)))


@hookimpl
def microgradx_register_optimizers(register):
    """adam clashes with the built-in."""
    register(FakeAdam, name="adam")
