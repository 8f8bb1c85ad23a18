"""A plugin with a misspelled hook name (``opz`` for ``ops``)."""

from microgradx import Op, hookimpl


@hookimpl
def microgradx_register_opz(register):
    """Misspelled: no such hook."""
    register(Op(name="misspelled_op", forward=lambda x: x, backward=lambda g, out, x: (g,)))
