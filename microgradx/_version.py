"""microgradx's version: one place for the package, its distribution's metadata and the registry's built-ins."""

__version__ = "0.1.0"
