"""``microgradx plugins`` and ``microgradx gradcheck``: what is registered, and whether its ops are right."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import traceback
from typing import Any

from microgradx.registry.core import get_registry
from microgradx.registry.errors import PluginError
from microgradx.registry.problems import lenient, strict_selection
from microgradx.registry.resolve import SINGULAR

#: The listing's line for each outcome of `microgradx.registry.resolve` (keys of `plugins_report`),
#: filled with the component's kind in the singular, its name and the outcome's value.
_OUTCOMES = (
    ("replaces", "replaces: {kind} {name} of {value}"),
    ("replaced_by", "replaced: {kind} {name} by {value}"),
    ("skipped", "SKIPPED {kind} {name}: {value}"),
    ("clashes", "CLASH {kind} {name}: also registered by {value}; the name is unusable"),
)


def _doc(obj: Any) -> str:
    """An op's ``doc``, or the first line of a component's docstring."""
    doc = getattr(obj, "doc", None)
    if not isinstance(doc, str) or not doc:
        doc = inspect.getdoc(obj) if inspect.isclass(obj) or inspect.isroutine(obj) else None
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


def _by_kind(entries: dict) -> dict[str, dict[str, Any]]:
    """``{(kind, name): x}`` -> ``{kind: {name: x}}``, JSON-ready (a tuple becomes a list)."""
    out: dict[str, dict[str, Any]] = {}
    for (kind, name), x in entries.items():
        out.setdefault(kind, {})[name] = list(x) if isinstance(x, tuple) else x
    return out


def plugins_report(tracebacks: bool = True) -> list[dict]:
    """One dict per plugin, JSON-ready: where it came from, what it registered, and what went wrong.

    Keys: ``name``, ``distribution``, ``version``, ``builtin``, ``source`` (``built-in``,
    ``entry point``, ``module`` or ``run time``); ``components`` (kind -> the names in effect
    from this plugin) and ``docs`` (kind -> name -> one line); ``replaces`` (kind -> name ->
    the plugins it replaced), ``replaced_by`` (kind -> name -> the plugin that replaced its
    component), ``skipped`` (kind -> name -> why: a clash with a built-in) and ``clashes``
    (kind -> name -> the other plugins registering it: the name is unusable); ``unmarked``
    (functions named like hooks without ``@hookimpl``); ``error`` (why the whole plugin was
    skipped) and ``traceback`` (of the original exception, when there is one and ``tracebacks``).
    """

    report = []
    for info in get_registry().plugins:
        components: dict[str, list[str]] = {}
        docs: dict[str, dict[str, str]] = {}
        for c in info.components:
            components.setdefault(c.kind, []).append(c.name)
            docs.setdefault(c.kind, {})[c.name] = _doc(c.obj)
        exc = info.exception if info.error is not None else None
        report.append({
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "builtin": info.builtin,
            "source": info.source,
            "components": components,
            "docs": docs,
            **{key: _by_kind(getattr(info, key)) for key, _ in _OUTCOMES},
            "unmarked": list(info.unmarked),
            "error": info.error,
            "traceback": "".join(traceback.format_exception(exc)) if exc is not None and tracebacks else None,
        })
    return report


def _print_plugin(p: dict, verbose: bool) -> None:
    """The text listing of one plugin of `plugins_report` (its traceback, when the report holds one)."""
    origin = "built-in" if p["builtin"] else (p["distribution"] or ("-p module" if p["source"] == "module"
                                                                     else "run time"))
    version = f" {p['version']}" if p["version"] else ""
    print(f"{p['name']}  ({origin}{version})")
    if p["error"]:
        print(f"    SKIPPED: {p['error']}")
        if p["traceback"]:
            print("    " + p["traceback"].rstrip().replace("\n", "\n    "))
    for kind, names in p["components"].items():
        if verbose:
            width = max(len(n) for n in names)
            for name in names:
                doc = p["docs"].get(kind, {}).get(name, "")
                print(f"    {SINGULAR[kind]} {name:<{width}}  {doc}".rstrip())
        else:
            print(f"    {kind}: {', '.join(names)}")
    for key, line in _OUTCOMES:
        for kind, names in p[key].items():
            for name, value in names.items():
                value = ", ".join(value) if isinstance(value, list) else value
                print("    " + line.format(kind=SINGULAR[kind], name=name, value=value))
    if p["unmarked"]:
        print(f"    UNMARKED: {', '.join(p['unmarked'])} (not marked @hookimpl: ignored)")


def cmd_plugins(args: argparse.Namespace) -> int:
    """List the plugins; with ``--check``, exit 1 on any problem that counts as a failure.

    Those are the `microgradx.registry.problems.FAILURES`: a plugin that failed to load, a
    component skipped or clashing, hook functions without ``@hookimpl``, a ``MICROGRADX_PLUGINS``
    name that no installed plugin has; a deliberate replacement is not one.

    The registry is built leniently here: in strict mode the listing still shows what loaded
    and what failed, and the exit status is 1 when a problem concerns a strict plugin.
    """

    with lenient():
        registry = get_registry()
    report = plugins_report(tracebacks=args.traceback or args.json)
    failures = [p for p in registry.problems if p.failure]
    strict_failures = [p for p in failures if p.strict]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for p in report:
            _print_plugin(p, args.verbose)
        if failures and not args.traceback and any(p.cause is not None for p in failures):
            print("(run `microgradx plugins --traceback` for the full tracebacks)")
    if args.check:
        verdict = "FAILED" if failures else "ok"
        print(f"plugins check {verdict}: {len(report)} plugins, {len(failures)} problem(s)",
              file=sys.stderr if args.json else sys.stdout)
        for problem in failures:
            print(f"  - {problem.message}", file=sys.stderr if args.json else sys.stdout)
        return 1 if failures else 0
    if strict_failures:
        print(f"microgradx plugins: strict mode (MICROGRADX_STRICT_PLUGINS="
              f"{'1' if not strict_selection() else ','.join(sorted(strict_selection() or ()))}): "
              f"{len(strict_failures)} problem(s) with strict plugins", file=sys.stderr)
        return 1
    return 0


def _op_origin(name: str) -> str:
    """' from plugin NAME (distribution DIST VERSION)' for a registered op, else ''."""

    try:
        return f" from {get_registry().component('ops', name).plugin.where}"
    except Exception:  # unknown or conflicting name: the error message says so
        return ""


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """Run `check_op` on the named (or every) registered op (``--order 2``: second derivatives too); 1 on a failure."""
    from microgradx.testing.checks import GradcheckError, check_op

    registry = get_registry()  # in strict mode a broken plugin stops here, before any op is checked
    names = args.ops or registry.names("ops")
    failed = 0
    for name in names:
        try:
            result = check_op(name, seed=args.seed, order=args.order)
        except (GradcheckError, PluginError) as exc:
            failed += 1
            print(f"FAIL  {name}{_op_origin(name)}: {exc}")
        except Exception as exc:  # a broken op must not hide the others' results
            failed += 1
            print(f"FAIL  {name}{_op_origin(name)}: {type(exc).__name__}: {exc}")
        else:
            what = "scalar and lane mode" + (", second derivatives too" if args.order == 2 else "")
            print(f"ok    {name}  ({what}, max abs error {result.max_error:.1e})")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


def add_plugin_commands(sub: Any) -> None:
    """Add the ``plugins`` and ``gradcheck`` subcommands to the subparsers ``sub``."""
    p = sub.add_parser("plugins", help="list plugins, their distributions, what they registered and what failed",
                       description="List every plugin: where it came from, what it registered, what it replaced, "
                                   "and what was skipped or failed.")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per plugin")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a plugin failed to load, a component was skipped or clashes, hook functions "
                        "lack @hookimpl, or MICROGRADX_PLUGINS names a plugin that is not installed (for a "
                        "plugin's CI)")
    p.add_argument("--traceback", action="store_true", help="print the traceback of each plugin that failed")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per component, with its doc")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("gradcheck", help="check registered ops against central finite differences")
    p.add_argument("ops", nargs="*", metavar="OP", help="op names (default: every registered op)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random test points")
    p.add_argument("--order", type=int, choices=(1, 2), default=1,
                   help="2: check the second derivatives too (backward(create_graph=True), in scalar and lane "
                        "mode, against central differences of the first derivative)")
    p.set_defaults(func=cmd_gradcheck)
