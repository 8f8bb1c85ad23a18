"""A plugin whose hook asks for an argument the hook specification does not have."""

from microgradx import Op, hookimpl


@hookimpl
def microgradx_register_ops(register, bogus_argument):
    """Never called: pluggy rejects the signature."""
    register(Op(name="bad_arg_op", forward=lambda x: x, backward=lambda g, out, x: (g,)))
