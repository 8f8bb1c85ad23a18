"""Components by name: ``"adam:beta1=0.8"`` read, checked against the class, and built.

Wherever a component is named, the name may carry settings: ``"adam:beta1=0.8"``,
``"early_stopping:patience=3:monitor=loss"``, ``"csv:path=data.csv"`` (`parse_component`).
The command line and Python read them the same way; the Trainer, the datasets, the estimators
and the playground build their components here.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import attrs

from microgradx.registry.core import SINGULAR, get_registry

__all__ = ["build_component", "check_settings", "component_name", "named_with_options", "parse_component",
           "setting_value", "settings_of"]


def setting_value(text: str) -> Any:
    """A setting written as text: a bool, None, int or float when it reads as one, else the string."""
    lower = text.strip().lower()
    if lower in ("true", "false"):
        return lower == "true"
    if lower in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_component(text: str, what: str = "component") -> tuple[str, dict]:
    """``"name"`` or ``"name:key=value:key=value"`` -> ``(name, {key: value})``.

    Values read as bools, ints, floats or None when they look like one, else as strings
    (`setting_value`). ``what`` names the setting in error messages (``"--optimizer"``,
    ``"optimizer"``). A malformed text raises ValueError.
    """
    if not isinstance(text, str):
        raise TypeError(f"{what}: expected a name or NAME:KEY=VALUE, got {text!r}")
    name, *pairs = text.strip().split(":")
    if not name.strip():
        raise ValueError(f"{what}: empty component name in {text!r}")
    settings: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{what}: expected NAME:KEY=VALUE, got {text!r} (bad setting {pair!r})")
        settings[key.strip()] = setting_value(value.strip())
    return name.strip(), settings


def settings_of(cls: Any) -> Optional[set]:
    """The keyword settings a component class accepts (None when it cannot be told)."""
    if attrs.has(cls):
        return {a.alias or a.name for a in attrs.fields(cls) if a.init}
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def check_settings(registry: Any, kind: str, name: str, settings: dict, where: Optional[str] = None) -> None:
    """Refuse settings the component registered as ``name`` does not have, listing the ones it has."""
    accepted = settings_of(registry.get(kind, name))
    if accepted is None:
        return
    accepted -= {"params"}
    unknown = sorted(set(settings) - accepted)
    if unknown:
        have = ", ".join(sorted(accepted)) or "none"
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}{SINGULAR[kind]} {name!r} has no setting {', '.join(map(repr, unknown))} "
                         f"(its settings: {have})")


def named_with_options(registry: Any, kind: str, text: str, options: Optional[dict]) -> tuple[str, dict]:
    """Split ``"name:key=value"`` and merge its settings with ``options`` (a setting given twice is an error)."""
    name, settings = parse_component(text, SINGULAR[kind])
    twice = sorted(set(settings) & set(options or {}))
    if twice:
        raise ValueError(f"{SINGULAR[kind]} {text!r}: {', '.join(map(repr, twice))} given both in the name and in "
                         f"{SINGULAR[kind]}_options; give each setting once")
    merged = {**settings, **(options or {})}
    if settings:
        check_settings(registry, kind, name, merged)
    return name, merged


def component_name(kind: str, obj: Any) -> str:
    """The name ``obj``'s class is registered under in ``kind`` (else its ``name`` or class name)."""
    cls = obj if isinstance(obj, type) else type(obj)
    for name, component in get_registry().tables[kind].items():
        if component.obj is cls:
            return name
    return getattr(obj, "name", None) or cls.__name__


def build_component(registry: Any, kind: str, what: Any, options: Optional[dict]) -> Any:
    """A component from a registered name (``"name"`` or ``"name:key=value"``) or a class (called with
    ``options``), or the object itself."""
    if isinstance(what, str):
        name, merged = named_with_options(registry, kind, what, options)
        return registry.get(kind, name)(**merged)
    if isinstance(what, type):
        return what(**(options or {}))
    if options:
        raise ValueError(f"{SINGULAR[kind]}_options only apply to a {SINGULAR[kind]} given by name or class")
    return what
