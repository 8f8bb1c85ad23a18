"""A well-behaved third-party plugin: the op ``softsign(x) = x / (1 + |x|)``.

``HOOK_CALLS`` counts how often the registration hook ran (the registry must run it once).
"""

from microgradx import Op, hookimpl

HOOK_CALLS = 0

softsign = Op(
    name="softsign",
    doc="x / (1 + |x|)",
    forward=lambda x: x / (1.0 + abs(x)),
    backward=lambda g, out, x: (g / ((1.0 + abs(x)) * (1.0 + abs(x))),),
)


@hookimpl
def microgradx_register_ops(register):
    """Register softsign."""
    global HOOK_CALLS
    HOOK_CALLS += 1
    register(softsign)
