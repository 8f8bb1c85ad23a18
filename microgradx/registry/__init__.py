"""The plugin machinery: hook specifications, discovery, and the registry of components.

``hookspecs.py`` declares every hook; ``discovery.py`` finds plugins (the bundled ones,
entry points, environment variables); ``core.py`` runs their registration hooks once and
keeps every component by kind and name; ``errors.py`` holds the exceptions and warnings.
"""

from microgradx.registry.core import (
    KINDS,
    OPS,
    SINGULAR,
    Component,
    OpsNamespace,
    Registry,
    get_registry,
    ops,
    plugin_registered,
    register_plugin,
    reset_registry,
    unregister_plugin,
)

__all__ = ["KINDS", "OPS", "SINGULAR", "Component", "OpsNamespace", "Registry", "get_registry", "ops",
           "plugin_registered", "register_plugin", "reset_registry", "unregister_plugin"]
