"""The registry: every component by kind and name, tagged with the plugin that gave it.

It is built once, the first time anything needs it (usually the first op applied),
by running each plugin's registration hooks one plugin at a time. After that, op
dispatch is a plain dict read from `OPS`: pluggy is never on the per-op path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Optional

import attrs

from microgradx.engine.optable import OPS
from microgradx.registry.discovery import (
    PluginInfo,
    add_plugin,
    builtin_plugins,
    entry_point_plugins,
    new_plugin_manager,
    report,
)
from microgradx.registry.errors import DuplicateComponentError, PluginError, UnknownComponentError

#: Component kinds, each filled by the hook ``microgradx_register_<kind>``.
KINDS = ("ops", "losses", "optimizers", "schedules", "layers", "datasets", "callbacks")
#: One component of each kind, for messages ("no loss named ...").
SINGULAR = {"ops": "op", "losses": "loss", "optimizers": "optimizer", "schedules": "schedule",
            "layers": "layer", "datasets": "dataset", "callbacks": "callback"}


@attrs.frozen
class Component:
    """A registered component and where it came from."""

    kind: str
    name: str
    obj: Any = attrs.field(repr=False, eq=False)
    plugin: PluginInfo = attrs.field(repr=False, eq=False)
    replaced: Optional[str] = None  # the plugin whose component of this name it replaced
    replace: bool = False  # registered with replace=True: it wins over plain registrations of its name


def _load_op(name: str) -> Any:
    """`OPS.loader`: build the registry on the first lookup, then answer from the table."""
    with _LOCK:  # wait for a build in progress in another thread
        if dict.__contains__(OPS, name):
            return dict.__getitem__(OPS, name)
        registry = get_registry()
        if dict.__contains__(OPS, name):
            return dict.__getitem__(OPS, name)
        if name in registry.conflicts["ops"]:
            raise registry.conflict_error("ops", name)
    raise KeyError(name)


OPS.loader = _load_op
_LOCK = threading.RLock()
_REGISTRY: Optional[Registry] = None


class Registry:
    """All plugins and the components they registered."""

    def __init__(self) -> None:
        self.pm = new_plugin_manager()
        self.plugins: list[PluginInfo] = []
        self.tables: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.conflicts: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}
        self.ready = False  # True once load() has finished: other threads wait until then

    # -- building -------------------------------------------------------------------

    def load(self) -> None:
        """Discover the built-in and entry-point plugins and build the tables."""
        for info in builtin_plugins():
            if not add_plugin(self.pm, info):
                raise PluginError(f"{info.where}: {info.error}")  # a bug in microgradx itself
            self.plugins.append(info)
        for info in entry_point_plugins():
            if info.error is None:
                add_plugin(self.pm, info)
            self.plugins.append(info)
            if info.error is not None:
                report(f"{info.where} was skipped: {info.error}")
        self.rebuild()

    def rebuild(self, quiet: Optional[PluginInfo] = None) -> None:
        """Run every plugin's registration hooks again and refill the tables and `OPS`.

        Problems are reported once: a conflict or a failing hook that an earlier build
        already reported is not reported again; nor is a failure of ``quiet`` (a plugin
        being registered at run time, whose caller raises instead).
        """
        known = {(k, n) for k in KINDS for n in self.conflicts[k]}
        for kind in KINDS:
            self.tables[kind].clear()
            self.conflicts[kind].clear()
        for info in self.plugins:
            info.components = []
            if info.error is None or info.error.startswith("hook "):
                before, info.error = info.error, None
                self._collect(info)
                if info.error is not None and info.error != before and info is not quiet:
                    report(f"{info.where} was skipped: {info.error}")
        for kind, name in [(k, n) for k in KINDS for n in self.conflicts[k]]:
            if (kind, name) not in known:
                report(str(self.conflict_error(kind, name)) + "; every other name still works")
        with _LOCK:
            OPS.clear()
            OPS.update({name: c.obj for name, c in self.tables["ops"].items()})
            OPS.origins = {name: c.plugin.where for name, c in self.tables["ops"].items()}
            _CALLERS.clear()

    def _collect(self, info: PluginInfo) -> None:
        """Call ``info``'s registration hooks; keep what it registered only if they all succeed.

        On failure ``info.error`` says which hook failed and how; nothing of it is kept.
        """
        staged: list[Component] = []
        for kind in KINDS:
            hook = getattr(self.pm.hook, f"microgradx_register_{kind}")
            for impl in hook.get_hookimpls():
                if impl.plugin is not info.obj:
                    continue
                register = partial(self._stage, staged, info, kind)
                try:
                    impl.function(**({"register": register} if "register" in impl.argnames else {}))
                except Exception as exc:
                    info.error = f"hook microgradx_register_{kind} failed: {type(exc).__name__}: {exc}"
                    if info.builtin:
                        raise PluginError(f"{info.where}: {info.error}") from exc
                    return
        for component in staged:
            self._add(component)
            info.components.append(component)

    @staticmethod
    def _stage(staged: list, info: PluginInfo, kind: str, component: Any, name: Optional[str] = None,
               replace: bool = False) -> None:
        from microgradx.engine.op import Op

        if kind == "ops":
            if not isinstance(component, Op):
                raise TypeError(f"register() for ops takes a microgradx.Op, not {type(component).__name__}")
            if name is not None and name != component.name:
                raise ValueError(f"register(): name {name!r} differs from the op's own name {component.name!r}")
            name = component.name
        elif name is None:
            name = getattr(component, "name", None)
            if not isinstance(name, str):
                name = getattr(component, "__name__", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"register() needs a name for this {SINGULAR[kind]}: pass name='...'")
        staged.append(Component(kind=kind, name=name, obj=component, plugin=info, replace=bool(replace)))

    def _add(self, component: Component) -> None:
        table, conflicts = self.tables[component.kind], self.conflicts[component.kind]
        name, replace = component.name, component.replace
        if name in conflicts and not replace:
            conflicts[name].append(component)
            return
        old = table.get(name)
        if old is not None and not replace:
            if old.replace:  # registered with replace=True before this one: it wins, whatever the load order
                table[name] = attrs.evolve(old, replaced=component.plugin.name)
                return
            conflicts[name] = [old, component]
            del table[name]
            return
        conflicts.pop(name, None)
        if old is not None:
            component = attrs.evolve(component, replaced=old.plugin.name)
        table[name] = component

    # -- looking things up ------------------------------------------------------------

    def component(self, kind: str, name: str) -> Component:
        """The `Component` registered as ``name`` of ``kind``; a clear error if there is none."""
        if kind not in self.tables:
            raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
        try:
            return self.tables[kind][name]
        except KeyError:
            pass
        if name in self.conflicts[kind]:
            raise self.conflict_error(kind, name)
        known = ", ".join(self.names(kind)) or "none"
        raise UnknownComponentError(f"no {SINGULAR[kind]} named {name!r} is registered; registered {kind}: {known}")

    def get(self, kind: str, name: str) -> Any:
        """The object registered as ``name`` of ``kind`` (an Op, a loss class, ...)."""
        return self.component(kind, name).obj

    def names(self, kind: str) -> list[str]:
        """Sorted names of the usable components of ``kind``."""
        return sorted(self.tables[kind])

    def conflict_error(self, kind: str, name: str) -> DuplicateComponentError:
        """The error for a name that two or more plugins registered without ``replace=True``."""
        who = " and ".join(c.plugin.where for c in self.conflicts[kind][name])
        return DuplicateComponentError(
            f"{SINGULAR[kind]} {name!r} is registered by both {who}; uninstall one, disable it with "
            f"MICROGRADX_PLUGINS, or have one register it with replace=True"
        )


def get_registry() -> Registry:
    """The registry, built on first use (thread-safe: built exactly once)."""
    global _REGISTRY
    registry = _REGISTRY
    if registry is not None and registry.ready:
        return registry
    with _LOCK:  # other threads wait here while one builds; the building thread re-enters (an RLock)
        if _REGISTRY is None:
            registry = Registry()
            _REGISTRY = registry  # visible during loading so re-entrant lookups don't reload
            try:
                registry.load()
            except BaseException:
                _REGISTRY = None
                OPS.clear()
                raise
            registry.ready = True
        return _REGISTRY


def reset_registry() -> None:
    """Forget the registry so the next lookup rediscovers plugins (after a pip install, in tests)."""
    global _REGISTRY
    with _LOCK:
        _REGISTRY = None
        OPS.clear()
        _CALLERS.clear()


def register_plugin(plugin: Any, name: Optional[str] = None) -> str:
    """Register a plugin object or module at run time (no entry point needed); returns its name.

    Its components are available at once, with the same duplicate-name rules as installed
    plugins. A plugin that fails validation raises `PluginLoadError` here.
    """
    from microgradx.registry.errors import PluginLoadError

    registry = get_registry()
    name = name or getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
    with _LOCK:
        if any(p.name == name for p in registry.plugins):
            raise PluginLoadError(f"a plugin named {name!r} is already registered")
        info = PluginInfo(name=name, obj=plugin)
        if not add_plugin(registry.pm, info):
            raise PluginLoadError(f"{info.where} was not registered: {info.error}")
        registry.plugins.append(info)
        try:
            registry.rebuild(quiet=info)
        except BaseException:
            unregister_plugin(name)
            raise
        if info.error is not None:
            unregister_plugin(name)
            raise PluginLoadError(f"{info.where} was not registered: {info.error}")
    return name


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with `register_plugin` (or any non-built-in plugin) by name."""
    registry = get_registry()
    with _LOCK:
        info = next((p for p in registry.plugins if p.name == name), None)
        if info is None:
            raise UnknownComponentError(f"no plugin named {name!r} is registered")
        if info.builtin:
            raise PluginError(f"{info.where} cannot be unregistered")
        registry.plugins.remove(info)
        if registry.pm.get_plugin(name) is not None:
            registry.pm.unregister(name=name)
        registry.rebuild()


@contextmanager
def plugin_registered(plugin: Any, name: Optional[str] = None) -> Iterator[str]:
    """Register ``plugin`` for the duration of a ``with`` block, then unregister it."""
    name = register_plugin(plugin, name)
    try:
        yield name
    finally:
        unregister_plugin(name)


_CALLERS: dict = {}


class OpsNamespace:
    """``microgradx.ops``: every registered op as a function, ``ops.tanh(v)``, ``ops.add(a, b)``."""

    def __getattr__(self, name: str) -> Any:
        caller = _CALLERS.get(name)
        if caller is not None:
            return caller
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            op = OPS[name]
        except KeyError:
            known = ", ".join(sorted(OPS))
            raise AttributeError(f"no op named {name!r} is registered; registered ops: {known}") from None
        from microgradx.engine.value import apply

        caller = partial(apply, name)  # by name: the op table's entry at each call (anomaly mode swaps it)
        caller.__doc__ = op.doc or f"Apply the registered op {name!r}."
        _CALLERS[name] = caller
        return caller

    def get(self, name: str) -> Any:
        """The `Op` object registered as ``name``."""
        return get_registry().get("ops", name)

    def __dir__(self) -> list[str]:
        get_registry()
        return sorted(OPS)

    def __repr__(self) -> str:
        return "<microgradx.ops: registered ops as functions; dir(ops) lists them>"


ops = OpsNamespace()
