"""A plugin whose hooks lack ``@hookimpl``: pluggy ignores them, so it registers nothing."""

from microgradx import Op


def microgradx_register_ops(register):
    """Never called: not marked @hookimpl."""
    register(Op(name="unmarked_op", forward=lambda x: x, backward=lambda g, out, x: (g,)))


def microgradx_register_losess(register):
    """Misspelled and unmarked."""
