"""Finding plugins: the built-ins, entry points, and plugins registered at run time.

Discovery happens once, when the registry is first needed. A third-party plugin that
fails to import, has a hook with an argument the spec does not have, or implements a
hook that does not exist (a misspelling) is skipped with a `PluginWarning` naming the
plugin and its distribution; the built-ins and every other plugin keep working.

Environment variables (read at discovery time):

``MICROGRADX_DISABLE_PLUGIN_AUTOLOAD=1``
    load only the built-in plugins, no entry points.
``MICROGRADX_PLUGINS=name1,name2``
    load only these entry-point plugins (entry-point or distribution names).
``MICROGRADX_STRICT_PLUGINS=1``
    raise `PluginLoadError` instead of warning (useful in a plugin's own CI).
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Optional

import attrs
import pluggy

from microgradx.registry import hookspecs
from microgradx.registry.errors import PluginLoadError, PluginWarning

#: Marks a function as a hook implementation: ``@hookimpl def microgradx_register_ops(register): ...``
hookimpl = pluggy.HookimplMarker("microgradx")

ENTRY_POINT_GROUP = "microgradx"

#: The bundled plugins, registered by module name before any third-party plugin.
BUILTIN_PLUGINS = (
    "microgradx_plugins.arithmetic",
    "microgradx_plugins.activations",
    "microgradx_plugins.reductions",
    "microgradx_plugins.fused",
    "microgradx_plugins.layers",
    "microgradx_plugins.losses",
    "microgradx_plugins.optimizers",
    "microgradx_plugins.schedules",
    "microgradx_plugins.datasets",
    "microgradx_plugins.callbacks",
)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # microgradx/


def strict() -> bool:
    """True when ``MICROGRADX_STRICT_PLUGINS`` asks for errors instead of warnings."""
    return _env_flag("MICROGRADX_STRICT_PLUGINS")


def report(message: str) -> None:
    """Warn about a plugin problem, or raise `PluginLoadError` in strict mode."""
    if strict():
        raise PluginLoadError(message)
    # Point the warning at the first caller outside microgradx (the user's line), not at us.
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, PluginWarning, stacklevel=level)


@attrs.define(eq=False)
class PluginInfo:
    """One plugin as the registry sees it: where it came from and what it registered."""

    name: str
    obj: Any = attrs.field(repr=False)
    distribution: Optional[str] = None
    version: Optional[str] = None
    builtin: bool = False
    components: list = attrs.Factory(list)
    error: Optional[str] = None

    @property
    def where(self) -> str:
        """'plugin NAME (distribution DIST VERSION)', for messages."""
        if self.builtin:
            return f"built-in plugin {self.name!r}"
        if self.distribution:
            return f"plugin {self.name!r} (distribution {self.distribution} {self.version or ''})".replace(" )", ")")
        return f"plugin {self.name!r} (registered at run time)"


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows microgradx's hook specifications."""
    pm = pluggy.PluginManager("microgradx")
    pm.add_hookspecs(hookspecs)
    return pm


def add_plugin(pm: pluggy.PluginManager, info: PluginInfo) -> bool:
    """Register ``info.obj`` with ``pm`` and validate its hooks. On a problem, undo and report.

    Returns True when the plugin was registered.
    """
    try:
        pm.register(info.obj, name=info.name)
    except Exception as exc:  # pluggy's PluginValidationError, or a duplicate plugin name
        if pm.get_plugin(info.name) is info.obj:
            pm.unregister(name=info.name)  # register() may have added some hooks before failing
        info.error = "bad hook: " + " ".join(str(exc).split())  # pluggy's message spans lines
        return False
    unknown = [hc.name for hc in pm.get_hookcallers(info.obj) or () if not hc.has_spec()]
    if unknown:
        pm.unregister(name=info.name)
        known = sorted(n for n in dir(pm.hook) if n.startswith("microgradx_") and getattr(pm.hook, n).has_spec())
        guesses = [f"{n} (did you mean {', '.join(m)}?)" if m else n
                   for n in unknown for m in [difflib.get_close_matches(n, known, n=1)]]
        info.error = f"unknown hook(s) {', '.join(guesses)}; known hooks: {', '.join(known)}"
        return False
    return True


def builtin_plugins() -> list[PluginInfo]:
    """The bundled plugins, imported by module name. A failure here is a bug: it raises."""
    from microgradx import __version__

    return [
        PluginInfo(name=modname.rsplit(".", 1)[1], obj=import_module(modname), distribution="microgradx",
                   version=__version__, builtin=True)
        for modname in BUILTIN_PLUGINS
    ]


def entry_point_plugins() -> list[PluginInfo]:
    """Third-party plugins from the ``microgradx`` entry-point group, as the environment selects.

    A plugin that fails to import comes back with ``error`` set (and is reported).
    """
    if _env_flag("MICROGRADX_DISABLE_PLUGIN_AUTOLOAD"):
        return []
    selected = {s.strip() for s in os.environ.get("MICROGRADX_PLUGINS", "").split(",") if s.strip()}
    infos = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        if selected and ep.name not in selected and dist_name not in selected:
            continue
        info = PluginInfo(name=ep.name, obj=None, distribution=dist_name,
                          version=dist.version if dist is not None else None)
        try:
            info.obj = ep.load()
        except Exception as exc:
            info.error = f"failed to import {ep.value!r}: {type(exc).__name__}: {exc}"
        infos.append(info)
    missing = selected - {i.name for i in infos} - {i.distribution for i in infos}
    if missing:
        report(f"MICROGRADX_PLUGINS names {', '.join(sorted(missing))}, but no installed plugin has that "
               f"entry-point or distribution name")
    return infos
