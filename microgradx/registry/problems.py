"""Plugin problems: what went wrong, how it is reported (a warning, or an error in strict mode).

A `Problem` names the plugins involved. `report` turns it into a `PluginWarning` pointing at
the user's line, or raises `PluginLoadError` (with the original exception as ``__cause__``)
when strict mode applies to one of those plugins:

``MICROGRADX_STRICT_PLUGINS=1`` (or ``true``, ``yes``, ``all``)
    strict for every third-party plugin;
``MICROGRADX_STRICT_PLUGINS=mgx-swish,other``
    strict only for these plugins, each given by plugin (entry-point or module) name or by
    distribution name, so that an unrelated broken plugin installed next to yours only warns.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import traceback
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

import attrs

from microgradx.registry.errors import PluginLoadError, PluginWarning

STRICT_VARIABLE = "MICROGRADX_STRICT_PLUGINS"
_ALL = ("1", "true", "yes", "on", "all")
#: Values that turn a microgradx environment flag off (``MICROGRADX_STRICT_PLUGINS=off``, ``...AUTOLOAD=0``).
OFF = ("", "0", "false", "no", "off")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # microgradx/
_STATE = threading.local()

#: Problem kinds that ``microgradx plugins --check`` counts as failures (``replaced`` is informational).
FAILURES = ("failed", "skipped", "clash", "unmarked", "missing")


def canonical(name: str) -> str:
    """A plugin or distribution name compared the way pip compares them (case, ``-``/``_``/``.`` alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def strict_selection() -> Optional[frozenset[str]]:
    """The plugins strict mode applies to: ``None`` (off), an empty set (all), or canonical names."""
    raw = os.environ.get(STRICT_VARIABLE, "").strip()
    if raw.lower() in OFF:
        return None
    if raw.lower() in _ALL:
        return frozenset()
    return frozenset(canonical(s) for s in raw.split(",") if s.strip())


def strict(names: Iterable[Optional[str]] = ()) -> bool:
    """True when strict mode applies to a plugin known by any of ``names`` (or to all plugins).

    With no ``names``, True when strict mode is on for all plugins.
    """
    if getattr(_STATE, "lenient", 0):
        return False
    selection = strict_selection()
    if selection is None:
        return False
    if not selection:
        return True
    return any(canonical(n) in selection for n in names if n)


@contextmanager
def lenient() -> Iterator[None]:
    """Within the block (this thread), problems are warnings even in strict mode.

    ``microgradx plugins`` lists what loaded and what failed this way, then decides its exit status.
    """
    _STATE.lenient = getattr(_STATE, "lenient", 0) + 1
    try:
        yield
    finally:
        _STATE.lenient -= 1


@attrs.frozen
class Problem:
    """One problem with one or more plugins, as reported and as ``microgradx plugins`` lists it.

    ``kind`` is ``failed`` (import, hook signature, misspelled hook, a hook that raised),
    ``skipped`` (a component that clashes with a built-in), ``clash`` (a name two third-party
    plugins register, or two replace), ``unmarked`` (hook-like functions without ``@hookimpl``),
    ``missing`` (``MICROGRADX_PLUGINS`` names no installed plugin) or ``replaced`` (a built-in
    replaced on purpose: a warning, never an error). ``names`` holds the plugin and
    distribution names strict mode matches; ``cause`` the original exception, if any.
    """

    kind: str
    message: str
    plugins: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    cause: Optional[BaseException] = attrs.field(default=None, eq=False, repr=False)

    @property
    def failure(self) -> bool:
        """True for the kinds ``--check`` fails on (all but ``replaced``)."""
        return self.kind in FAILURES

    @property
    def strict(self) -> bool:
        """True when strict mode applies to this problem (it then raises instead of warning)."""
        return self.failure and strict(self.names)


def report(problem: Problem) -> None:
    """Warn about ``problem`` (a `PluginWarning` at the user's line), or raise it in strict mode.

    The raised `PluginLoadError`, like the warning instance, keeps ``problem.cause`` as ``__cause__``.
    """
    if problem.strict:
        raise PluginLoadError(problem.message, problem.plugins) from problem.cause
    warning = PluginWarning(problem.message)
    warning.__cause__ = problem.cause
    # Point the warning at the first caller outside microgradx (the user's line), not at us.
    frame: Any = sys._getframe(0)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(warning, stacklevel=level)


def raised_at(exc: BaseException) -> str:
    """Where ``exc`` was raised, for a one-line message: ``' (raised at FILE:LINE, in FUNC)'``.

    The innermost frame of the plugin's code: outside importlib's machinery and outside
    microgradx (an error raised by microgradx, such as a bad ``Op(...)``, points at the
    plugin's line that called it). Empty when there is no such frame.
    """
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in f.filename and not f.filename.startswith(_PACKAGE_DIR)]
    if not frames:
        return ""
    last = frames[-1]
    return f" (raised at {last.filename}:{last.lineno}, in {last.name})"


def describe(exc: BaseException) -> str:
    """``'ValueError: math domain error (raised at FILE:LINE, in FUNC)'``."""
    return f"{type(exc).__name__}: {exc}{raised_at(exc)}"
