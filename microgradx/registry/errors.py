"""Exceptions and warnings raised by microgradx's plugin system."""

from __future__ import annotations


class PluginError(Exception):
    """Base class: something is wrong with a plugin or with what it registered."""


class PluginLoadError(PluginError):
    """A plugin could not be loaded or its hooks could not run.

    Raised instead of a `PluginWarning` when ``MICROGRADX_STRICT_PLUGINS=1``.
    """


class DuplicateComponentError(PluginError, LookupError):
    """Two plugins registered the same name without ``replace=True``; the name is unusable."""


class UnknownComponentError(PluginError, LookupError):
    """No plugin registered a component of that kind and name."""


class PluginWarning(UserWarning):
    """A third-party plugin was skipped (or one of its names disabled); everything else works."""
