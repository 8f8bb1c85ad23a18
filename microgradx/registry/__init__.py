"""The plugin machinery: hook specifications, discovery, and the registry of components.

``hookspecs.py`` declares every hook (and `PLUGIN_API_VERSION`); ``discovery.py`` finds
plugins (the bundled ones, entry points, ``-p`` modules, environment variables);
``resolve.py`` decides who gets a name registered more than once; ``problems.py`` reports
what went wrong (warnings, or errors in strict mode); ``core.py`` runs the registration
hooks once and keeps every component by kind and name; ``errors.py`` holds the exceptions
and warnings.
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
