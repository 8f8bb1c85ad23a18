"""microgradx's bundled plugins, installed as the import package ``microgradx_plugins``.

Each module is a plain plugin: ``@hookimpl`` functions that register components. The
core registers them by module name (see ``microgradx.registry.discovery.BUILTIN_PLUGINS``); a
third-party plugin is written exactly the same way.
"""
