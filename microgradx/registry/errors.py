"""Exceptions and warnings raised by microgradx's plugin system."""

from __future__ import annotations

from collections.abc import Sequence


class PluginError(Exception):
    """Base class: something is wrong with a plugin or with what it registered."""


class PluginLoadError(PluginError):
    """A plugin could not be loaded, its hooks could not run, or what it registered clashes.

    Raised instead of a `PluginWarning` in strict mode (``MICROGRADX_STRICT_PLUGINS=1``, or a
    list of plugin or distribution names that includes this one), and by `register_plugin`
    for a plugin that cannot be registered. The original exception, when there is one (the
    error raised while importing the module or running a hook), is kept as ``__cause__``;
    ``plugins`` names the plugins involved.
    """

    def __init__(self, message: str, plugins: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.plugins: tuple[str, ...] = tuple(plugins)


class DuplicateComponentError(PluginError, LookupError):
    """Two third-party plugins registered the same name (or two replaced it); the name is unusable."""


class UnknownComponentError(PluginError, LookupError):
    """No plugin registered a component of that kind and name."""


class PluginWarning(UserWarning):
    """A third-party plugin (or one of its components) was skipped, or replaced a built-in.

    Everything else keeps working. When the problem came from an exception (an import or a
    hook that raised), the warning instance keeps it as ``__cause__``.
    """
