"""Finding plugins: the built-ins, entry points, modules named on the command line, run-time plugins.

Discovery happens once, when the registry is first needed. A third-party plugin that
fails to import, has a hook with an argument the spec does not have, or implements a
hook that does not exist (a misspelling) is skipped with a `PluginWarning` naming the
plugin and its distribution, keeping the original exception as ``__cause__``; functions
named like hooks but not marked ``@hookimpl`` get a warning naming them. The built-ins and
every other plugin keep working.

Environment variables (read at discovery time):

``MICROGRADX_DISABLE_PLUGIN_AUTOLOAD=1``
    load only the built-in plugins, no entry points.
``MICROGRADX_PLUGINS=name1,name2``
    load only these entry-point plugins (entry-point or distribution names).
``MICROGRADX_PLUGIN_MODULES=module1,module2``
    also load these modules as plugins, installed or not (``microgradx -p MODULE`` does the
    same for one command); they load even with autoload disabled.
``MICROGRADX_STRICT_PLUGINS=1`` (or ``=name1,name2``)
    raise `PluginLoadError` instead of warning, for every plugin or only the named ones.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterable, Sequence
from importlib import import_module
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Optional

import attrs
import pluggy

from microgradx._version import __version__
from microgradx.engine.anomaly import library_code
from microgradx.registry import hookspecs
from microgradx.registry.problems import OFF, Problem, canonical, describe, report, strict

__all__ = ["BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "MODULES_VARIABLE", "PluginInfo", "add_plugin",
           "builtin_plugins", "entry_point_plugins", "hookimpl", "missing_selection", "module_plugins",
           "new_plugin_manager", "report", "set_cli_modules", "strict"]

#: Marks a function as a hook implementation: ``@hookimpl def microgradx_register_ops(register): ...``
hookimpl = pluggy.HookimplMarker("microgradx")

ENTRY_POINT_GROUP = "microgradx"
MODULES_VARIABLE = "MICROGRADX_PLUGIN_MODULES"

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

#: Modules given with ``microgradx -p MODULE`` for the command being run (see `set_cli_modules`).
_CLI_MODULES: list[str] = []


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in OFF


def _env_list(name: str) -> list[str]:
    return [s.strip() for s in os.environ.get(name, "").split(",") if s.strip()]


Key = tuple[str, str]  # (kind, name) of a component


@attrs.define(eq=False)
class PluginInfo:
    """One plugin as the registry sees it: where it came from, what it registered, what went wrong.

    ``components`` are the plugin's components in effect; ``registered`` everything its hooks
    registered. What did not take effect is in ``replaced_by`` (another plugin replaced it),
    ``skipped`` (it clashes with a built-in) and ``clashes`` (another third-party plugin
    registers the same name); ``replaces`` is what this plugin replaced. ``error`` says why
    the whole plugin was skipped, ``exception`` is the original exception, and ``unmarked``
    lists its functions named like hooks but not marked ``@hookimpl``.
    """

    name: str
    obj: Any = attrs.field(repr=False)
    distribution: Optional[str] = None
    version: Optional[str] = None
    builtin: bool = False
    source: str = "run time"  # "built-in", "entry point", "module" (-p) or "run time"
    components: list = attrs.Factory(list)
    error: Optional[str] = None
    exception: Optional[BaseException] = attrs.field(default=None, repr=False)
    unmarked: list[str] = attrs.Factory(list)
    registered: Optional[list] = attrs.field(default=None, repr=False)  # None until the hooks have run
    replaces: dict[Key, tuple[str, ...]] = attrs.Factory(dict)
    replaced_by: dict[Key, str] = attrs.Factory(dict)
    skipped: dict[Key, str] = attrs.Factory(dict)
    clashes: dict[Key, tuple[str, ...]] = attrs.Factory(dict)

    @property
    def where(self) -> str:
        """'plugin NAME (distribution DIST VERSION)', for messages."""
        if self.builtin:
            return f"built-in plugin {self.name!r}"
        if self.distribution:
            return f"plugin {self.name!r} (distribution {self.distribution} {self.version or ''})".replace(" )", ")")
        if self.source == "module":
            return f"plugin {self.name!r} (module named by -p or {MODULES_VARIABLE})"
        return f"plugin {self.name!r} (registered at run time)"

    @property
    def names(self) -> tuple[str, ...]:
        """The names strict mode and ``MICROGRADX_PLUGINS`` know this plugin by."""
        return tuple(n for n in (self.name, self.distribution) if n)

    @property
    def strict(self) -> bool:
        """True when strict mode applies to this plugin."""
        return not self.builtin and strict(self.names)


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows microgradx's hook specifications."""
    pm = pluggy.PluginManager("microgradx")
    pm.add_hookspecs(hookspecs)
    return pm


def _known_hooks(pm: pluggy.PluginManager) -> list[str]:
    return sorted(n for n in dir(pm.hook) if n.startswith("microgradx_") and getattr(pm.hook, n).has_spec())


def add_plugin(pm: pluggy.PluginManager, info: PluginInfo) -> bool:
    """Register ``info.obj`` with ``pm`` and validate its hooks. On a problem, undo and set ``info.error``.

    Returns True when the plugin was registered. Functions named like hooks that lack
    ``@hookimpl`` do not stop it; they are listed in ``info.unmarked``.
    """
    if pm.has_plugin(info.name):
        info.error = f"another plugin is already registered under the name {info.name!r}"
        return False
    if pm.is_registered(info.obj):
        info.error = f"the same object is already registered as plugin {pm.get_name(info.obj)!r}"
        return False
    try:
        pm.register(info.obj, name=info.name)
    except Exception as exc:  # pluggy's PluginValidationError, or the object registered under another name
        _undo(pm, info, "bad hook: " + " ".join(str(exc).split()), exc)  # (pluggy's message spans lines)
        return False
    return _checked(pm, info)


def _undo(pm: pluggy.PluginManager, info: PluginInfo, error: str, exc: Exception) -> None:
    """Take a plugin that failed while registering out of ``pm`` (register() may have added some hooks)."""
    if info.obj is not None and pm.get_plugin(info.name) is info.obj:
        pm.unregister(name=info.name)
    info.error, info.exception = error, exc


def _checked(pm: pluggy.PluginManager, info: PluginInfo) -> bool:
    """After pluggy registered ``info.obj``: refuse hooks without a spec (misspellings); note unmarked functions."""
    known = _known_hooks(pm)
    unknown = [hc.name for hc in pm.get_hookcallers(info.obj) or () if not hc.has_spec()]
    if unknown:
        pm.unregister(name=info.name)
        info.error = f"unknown hook(s) {', '.join(_guess(n, known) for n in unknown)}; known hooks: {', '.join(known)}"
        return False
    info.unmarked = [_guess(n, known) for n in _unmarked(pm, info.obj)]
    return True


def _guess(name: str, known: Sequence[str]) -> str:
    """``name``, with ``(did you mean X?)`` when it is not a hook name but close to one."""
    if name in known:
        return name
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    return f"{name} (did you mean {match[0]}?)" if match else name


def _unmarked(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    """Functions of ``plugin`` named ``microgradx_*`` that are not marked ``@hookimpl``: pluggy ignores them."""
    found = []
    for name in dir(plugin):
        if not name.startswith("microgradx_"):
            continue
        try:
            attr = inspect.getattr_static(plugin, name)
        except AttributeError:
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if inspect.isroutine(attr) and pm.parse_hookimpl_opts(plugin, name) is None:
            found.append(name)
    return found


def unmarked_problem(info: PluginInfo) -> Problem:
    """The warning for ``info.unmarked``."""
    nothing = "" if info.registered else "; it registers nothing"
    return Problem("unmarked", f"{info.where}: function(s) {', '.join(info.unmarked)} are named like hooks but "
                               f"not marked @microgradx.hookimpl, so microgradx ignores them{nothing}; decorate "
                               f"them with @hookimpl (from microgradx import hookimpl), or rename them",
                   (info.name,), info.names)


def builtin_plugins() -> list[PluginInfo]:
    """The bundled plugins, imported by module name. A failure here is a bug: it raises.

    Their files count as library code for anomaly mode's "made at" (it shows the user's lines).
    """
    modules = [import_module(modname) for modname in BUILTIN_PLUGINS]
    library_code(*[os.path.abspath(m.__file__) for m in modules if m.__file__])
    return [PluginInfo(name=m.__name__.rsplit(".", 1)[1], obj=m, distribution="microgradx", version=__version__,
                       builtin=True, source="built-in") for m in modules]


def _selection() -> set[str]:
    return {canonical(s) for s in _env_list("MICROGRADX_PLUGINS")}


def entry_point_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Third-party plugins of the ``microgradx`` entry-point group, as the environment selects, loaded into ``pm``.

    pluggy's own loader (`pluggy.PluginManager.load_setuptools_entrypoints`) imports and
    registers each one; what is added is that it runs one entry point at a time, so that a
    plugin that fails to import or to register comes back with ``error`` and ``exception`` set
    while the others load.
    """
    if _env_flag("MICROGRADX_DISABLE_PLUGIN_AUTOLOAD"):
        return []
    selected = _selection()
    infos = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        if selected and canonical(ep.name) not in selected and canonical(dist_name or "") not in selected:
            continue
        info = PluginInfo(name=ep.name, obj=None, distribution=dist_name,
                          version=dist.version if dist is not None else None, source="entry point")
        infos.append(info)
        if pm.has_plugin(ep.name):
            info.error = f"another plugin is already registered under the name {ep.name!r}"
            continue
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=ep.name)
        except pluggy.PluginValidationError as exc:  # a hook pluggy refused: it registered part of the plugin
            info.obj = pm.get_plugin(ep.name)
            _undo(pm, info, "bad hook: " + " ".join(str(exc).split()), exc)  # (pluggy's message spans lines)
            continue
        except Exception as exc:  # it failed to import (or to register): this plugin only
            info.obj = pm.get_plugin(ep.name)
            _undo(pm, info, f"failed to import {ep.value!r}: {describe(exc)}" if info.obj is None else
                  f"could not be registered: {describe(exc)}", exc)
            continue
        info.obj = pm.get_plugin(ep.name)
        _checked(pm, info)
    return infos


def missing_selection(infos: Iterable[PluginInfo]) -> Optional[Problem]:
    """The problem when ``MICROGRADX_PLUGINS`` names plugins that are not installed, else None."""
    if _env_flag("MICROGRADX_DISABLE_PLUGIN_AUTOLOAD"):
        return None
    found = {canonical(n) for info in infos for n in info.names}
    missing = sorted(n for n in _env_list("MICROGRADX_PLUGINS") if canonical(n) not in found)
    if not missing:
        return None
    return Problem("missing", f"MICROGRADX_PLUGINS names {', '.join(missing)}, but no installed plugin has that "
                              f"entry-point or distribution name", tuple(missing), tuple(missing))


def set_cli_modules(names: Sequence[str]) -> list[str]:
    """Set the modules that ``microgradx -p`` names for this process; returns the previous list."""
    previous = list(_CLI_MODULES)
    _CLI_MODULES[:] = list(names)
    return previous


def module_names() -> list[str]:
    """The plugin modules named by ``MICROGRADX_PLUGIN_MODULES`` and ``-p``, each once, in that order."""
    return list(dict.fromkeys([*_env_list(MODULES_VARIABLE), *_CLI_MODULES]))


def _import(spec: str) -> ModuleType:
    """Import ``spec``: a module name, or the path of a ``.py`` file. The current folder is searched too."""
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise ModuleNotFoundError(f"no file {path}")
        modname = os.path.splitext(os.path.basename(path))[0]
        other = sys.modules.get(modname)
        if other is not None:
            if os.path.abspath(getattr(other, "__file__", "") or "") == path:
                return other
            raise ImportError(f"a different module named {modname!r} is already imported; rename {path}")
        module_spec = importlib.util.spec_from_file_location(modname, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[modname] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(modname, None)
            raise
        return module
    try:
        return import_module(spec)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != spec.split(".")[0] or here in sys.path:
            raise
    sys.path.insert(0, here)  # as `python -m` would: try a module in the current folder
    try:
        return import_module(spec)
    finally:
        sys.path.remove(here)


def module_plugins(skip: Iterable[Any] = ()) -> list[PluginInfo]:
    """Plugins from the modules named by ``MICROGRADX_PLUGIN_MODULES`` and ``microgradx -p``.

    A module already loaded as a plugin (one of ``skip``, say through its entry point) is not
    loaded twice. A module that fails to import comes back with ``error`` and ``exception`` set.
    """
    loaded = {id(obj) for obj in skip}
    infos = []
    for spec in module_names():
        name = os.path.splitext(os.path.basename(spec))[0] if spec.endswith(".py") else spec
        info = PluginInfo(name=name, obj=None, source="module")
        try:
            info.obj = _import(spec)
        except Exception as exc:
            info.error, info.exception = f"failed to import {spec!r}: {describe(exc)}", exc
        if info.obj is not None and id(info.obj) in loaded:
            continue
        infos.append(info)
    return infos
