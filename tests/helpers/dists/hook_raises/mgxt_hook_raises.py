"""A plugin whose registration hook raises."""

from microgradx import hookimpl


@hookimpl
def microgradx_register_ops(register):
    """Fails while registering."""
    raise RuntimeError("mgxt_hook_raises cannot register anything")
