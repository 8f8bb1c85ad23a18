"""Who gets a name: the rules that turn every plugin's registrations into one table per kind.

For each kind and name, given everything every plugin registered under it:

* one registration: it is the component;
* one of them passed ``replace=True``: it wins whatever the load order, and it *replaces*
  the others (a third-party plugin replacing a built-in gets a warning, once);
* two or more passed ``replace=True``: an error naming them all; the name is unusable;
* otherwise, when a built-in registered it: the built-in keeps the name and each
  third-party registration is *skipped* with a warning naming it and its distribution;
* otherwise (two or more third-party plugins): a *clash*, an error naming them all; the
  name is unusable (using it raises `DuplicateComponentError`) and every other name works.

This module only decides; `microgradx.registry.core` reports the problems and fills the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from microgradx.registry.discovery import PluginInfo
from microgradx.registry.problems import Problem

#: Component kinds, each filled by the hook ``microgradx_register_<kind>``.
KINDS = ("ops", "losses", "optimizers", "schedules", "layers", "datasets", "callbacks")
#: One component of each kind, for messages ("no loss named ...").
SINGULAR = {"ops": "op", "losses": "loss", "optimizers": "optimizer", "schedules": "schedule",
            "layers": "layer", "datasets": "dataset", "callbacks": "callback"}
#: What a replaced built-in operator op means for user code.
_OPERATORS = {"add": "+", "sub": "-", "neg": "unary -", "mul": "*", "div": "/", "pow": "**"}


@attrs.frozen
class Component:
    """A registered component and where it came from.

    ``replace`` is True when it was registered with ``replace=True``; ``replaced`` names
    the plugins whose components of the same name it replaced.
    """

    kind: str
    name: str
    obj: Any = attrs.field(repr=False, eq=False)
    plugin: PluginInfo = attrs.field(repr=False, eq=False)
    replaced: tuple[str, ...] = ()
    replace: bool = False


@attrs.define
class Resolution:
    """The outcome of `resolve`: the usable components, the unusable names, and the problems."""

    tables: dict[str, dict[str, Component]]
    conflicts: dict[str, dict[str, list[Component]]]
    problems: list[Problem]


def _who(components: Sequence[Component]) -> str:
    plugins = list(dict.fromkeys(c.plugin.where for c in components))
    return f"twice by {plugins[0]}" if len(plugins) == 1 else "by both " + " and ".join(plugins)


def _names(components: Sequence[Component]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(plugin names, every name strict mode matches) of the plugins behind ``components``."""
    plugins = tuple(dict.fromkeys(c.plugin.name for c in components))
    names = tuple(dict.fromkeys(n for c in components for n in c.plugin.names))
    return plugins, names


def clash_message(kind: str, name: str, components: Sequence[Component]) -> str:
    """The error for a name that is unusable: registered by two third-party plugins, or replaced by two."""
    what = f"{SINGULAR[kind]} {name!r}"
    if sum(c.replace for c in components) >= 2:
        return (f"{what} is replaced (register(..., replace=True)) {_who(components)}; it is unusable until you "
                f"uninstall one, or disable it with MICROGRADX_PLUGINS")
    return (f"{what} is registered {_who(components)}; uninstall one, disable it with MICROGRADX_PLUGINS, "
            f"or have one register it with replace=True")


def resolve(plugins: Sequence[PluginInfo]) -> Resolution:
    """Apply the rules to every registration of ``plugins`` (in order); fill each plugin's outcome fields."""
    for info in plugins:
        info.components = []
        info.replaces, info.replaced_by, info.skipped, info.clashes = {}, {}, {}, {}
    by_name: dict[tuple[str, str], list[Component]] = {}
    for info in plugins:
        for c in info.registered or ():
            by_name.setdefault((c.kind, c.name), []).append(c)
    result = Resolution({k: {} for k in KINDS}, {k: {} for k in KINDS}, [])
    for (kind, name), registrations in by_name.items():
        _decide(kind, name, registrations, result)
    for kind in KINDS:
        for c in result.tables[kind].values():
            c.plugin.components.append(c)
    for info in plugins:  # keep each plugin's components in the order it registered them
        order = {(c.kind, c.name): i for i, c in enumerate(info.registered or ())}
        info.components.sort(key=lambda c: order[(c.kind, c.name)])
    return result


def _decide(kind: str, name: str, registrations: list[Component], result: Resolution) -> None:
    key, what = (kind, name), f"{SINGULAR[kind]} {name!r}"
    if len(registrations) == 1:
        result.tables[kind][name] = registrations[0]
        return
    replacers = [c for c in registrations if c.replace]
    if len(replacers) == 1 or (not replacers and sum(c.plugin.builtin for c in registrations) == 1):
        winner = replacers[0] if replacers else next(c for c in registrations if c.plugin.builtin)
        losers = [c for c in registrations if c is not winner]
        if replacers:
            replaced = tuple(dict.fromkeys(c.plugin.name for c in losers))
            result.tables[kind][name] = attrs.evolve(winner, replaced=replaced)
            winner.plugin.replaces[key] = replaced
            for c in losers:
                c.plugin.replaced_by[key] = winner.plugin.name
            builtins = [c for c in losers if c.plugin.builtin]
            if builtins and not winner.plugin.builtin:
                operator = f"; the operator {_OPERATORS[name]} uses it now" if kind == "ops" and name in _OPERATORS \
                    else ""
                result.problems.append(Problem(
                    "replaced", f"{winner.plugin.where} replaces the built-in {what} of {builtins[0].plugin.where} "
                                f"(it registers it with replace=True){operator}", (winner.plugin.name,),
                    winner.plugin.names))
            return
        result.tables[kind][name] = winner
        for c in losers:
            reason = (f"the name is the built-in {SINGULAR[kind]} of {winner.plugin.where}, which keeps working; "
                      f"register yours under another name, or with replace=True to replace the built-in on purpose")
            c.plugin.skipped[key] = reason
            result.problems.append(Problem("skipped", f"{what} of {c.plugin.where} was skipped: {reason}",
                                           (c.plugin.name,), c.plugin.names))
        return
    unusable = replacers or registrations  # two replacers, or plain registrations by several third parties
    result.conflicts[kind][name] = list(unusable)
    plugins, names = _names(unusable)
    for c in unusable:
        c.plugin.clashes[key] = tuple(p for p in plugins if p != c.plugin.name) or (c.plugin.name,)
    for c in registrations:
        if all(c is not u for u in unusable):  # a plain registration that one of the two replacers would replace
            c.plugin.replaced_by[key] = " and ".join(plugins)
    result.problems.append(Problem("clash", clash_message(kind, name, unusable) + "; every other name still works",
                                   plugins, names))
