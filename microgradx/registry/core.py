"""The registry: every component by kind and name, tagged with the plugin that gave it.

It is built once, the first time anything needs it (usually the first op applied): plugins
are discovered, each plugin's registration hooks run once, and `microgradx.registry.resolve`
decides who gets each name. After that, op dispatch is a plain dict read from `OPS`: pluggy
is never on the per-op path. Registering or unregistering a plugin at run time
runs only that plugin's hooks and decides again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Optional

from microgradx.engine.op import Op
from microgradx.engine.optable import OPS
from microgradx.engine.value import apply
from microgradx.registry.discovery import (
    PluginInfo,
    add_plugin,
    builtin_plugins,
    entry_point_plugins,
    missing_selection,
    module_plugins,
    new_plugin_manager,
    unmarked_problem,
)
from microgradx.registry.errors import DuplicateComponentError, PluginError, PluginLoadError, UnknownComponentError
from microgradx.registry.problems import Problem, describe, report
from microgradx.registry.resolve import KINDS, SINGULAR, Component, clash_message, resolve

if TYPE_CHECKING:
    from microgradx.engine.value import Value

__all__ = ["KINDS", "OPS", "SINGULAR", "Component", "OpsNamespace", "Registry", "get_registry", "ops",
           "plugin_registered", "register_plugin", "reset_registry", "unregister_plugin"]


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
    """All plugins, the components they registered, and the problems found on the way."""

    def __init__(self) -> None:
        self.pm = new_plugin_manager()
        self.plugins: list[PluginInfo] = []
        self.tables: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.conflicts: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}
        #: The problems of the current build: failed and skipped plugins, clashes, replacements.
        self.problems: list[Problem] = []
        self._missing: Optional[Problem] = None
        self.ready = False  # True once load() has finished: other threads wait until then

    # -- building -------------------------------------------------------------------

    def load(self) -> None:
        """Discover the built-in, entry-point and ``-p`` module plugins, run their hooks, build the tables."""
        for info in builtin_plugins():
            if not add_plugin(self.pm, info):
                raise PluginError(f"{info.where}: {info.error}")  # a bug in microgradx itself
            self.plugins.append(info)
        found = entry_point_plugins(self.pm)  # (registered there, by pluggy's loader)
        self._missing = missing_selection(found)
        self.plugins += found
        for info in module_plugins(skip=[p.obj for p in found if p.obj is not None]):
            if info.error is None:
                add_plugin(self.pm, info)
            self.plugins.append(info)
        for info in self.plugins:
            if info.error is None:
                self.collect(info)
        self.rebuild()

    def collect(self, info: PluginInfo) -> None:
        """Run ``info``'s registration hooks, once; keep what it registered only if they all succeed.

        On failure ``info.error`` says which hook failed and how (``info.exception`` is the
        exception), nothing of it is kept, and it is removed from the plugin manager.
        """
        if info.registered is not None:
            return
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
                    info.error = f"hook microgradx_register_{kind} failed: {describe(exc)}"
                    info.exception = exc
                    if info.builtin:
                        raise PluginError(f"{info.where}: {info.error}") from exc
                    if self.pm.get_plugin(info.name) is info.obj:
                        self.pm.unregister(name=info.name)
                    info.registered = []
                    return
        info.registered = staged

    def rebuild(self) -> None:
        """Decide again who gets each name, refill the tables and `OPS`, and report new problems.

        A problem is reported once: one that the previous build also had is not reported again.
        """
        with _LOCK:
            before = {(p.kind, p.message) for p in self.problems}
            problems = [Problem("failed", f"{info.where} was skipped: {info.error}", (info.name,), info.names,
                                info.exception) for info in self.plugins if info.error is not None]
            problems += [unmarked_problem(info) for info in self.plugins if info.unmarked and info.error is None]
            if self._missing is not None:
                problems.append(self._missing)
            result = resolve([p for p in self.plugins if p.error is None])
            self.tables, self.conflicts = result.tables, result.conflicts
            self.problems = problems + result.problems
            OPS.clear()
            OPS.update({name: c.obj for name, c in self.tables["ops"].items()})
            OPS.origins = {name: c.plugin.where for name, c in self.tables["ops"].items()}
            _CALLERS.clear()
        for problem in self.problems:
            if (problem.kind, problem.message) not in before:
                report(problem)

    @staticmethod
    def _stage(staged: list, info: PluginInfo, kind: str, component: Any, name: Optional[str] = None,
               replace: bool = False) -> None:
        """The ``register`` callback a registration hook receives (see `microgradx.types.Register`)."""

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
        """The error for a name that is unusable: two third-party plugins register it, or two replace it."""
        return DuplicateComponentError(clash_message(kind, name, self.conflicts[kind][name]))

    def plugin(self, name: str) -> PluginInfo:
        """The plugin registered as ``name`` (`UnknownComponentError` if there is none)."""
        for info in self.plugins:
            if info.name == name:
                return info
        raise UnknownComponentError(f"no plugin named {name!r} is registered")


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

    Its hooks run at once and its components are available at once, under the same rules as
    installed plugins (a clash with a built-in skips the component with a warning, ...). A
    plugin that fails validation or whose hook raises is not registered: `PluginLoadError`
    here, with the hook's exception as ``__cause__``.
    """
    registry = get_registry()
    name = name or getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
    with _LOCK:
        if any(p.name == name for p in registry.plugins):
            raise PluginLoadError(f"a plugin named {name!r} is already registered", (name,))
        info = PluginInfo(name=name, obj=plugin)
        if add_plugin(registry.pm, info):
            registry.collect(info)
        if info.error is not None:
            raise PluginLoadError(f"{info.where} was not registered: {info.error}", (name,)) from info.exception
        registry.plugins.append(info)
        try:
            registry.rebuild()
        except BaseException:
            unregister_plugin(name)
            raise
    return name


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with `register_plugin` (or any non-built-in plugin) by name."""
    registry = get_registry()
    with _LOCK:
        info = registry.plugin(name)
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


_CALLERS: dict[str, Callable[..., Value]] = {}


class OpsNamespace:
    """``microgradx.ops``: every registered op as a function, ``ops.tanh(v)``, ``ops.add(a, b)``."""

    def __getattr__(self, name: str) -> Callable[..., Value]:
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

