"""``microgradx plugins`` and ``microgradx gradcheck``: what is registered, and whether its ops are right."""

from __future__ import annotations

import argparse
import json
from typing import Any


def plugins_report() -> list[dict]:
    """One dict per plugin: name, distribution, version, builtin, components by kind, error."""
    from microgradx.registry.core import get_registry

    registry = get_registry()
    report = []
    for info in registry.plugins:
        components: dict[str, list[str]] = {}
        for c in info.components:
            components.setdefault(c.kind, []).append(c.name)
        report.append({
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "builtin": info.builtin,
            "components": components,
            "error": info.error,
        })
    return report


def cmd_plugins(args: argparse.Namespace) -> int:
    report = plugins_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for p in report:
        origin = "built-in" if p["builtin"] else (p["distribution"] or "run time")
        version = f" {p['version']}" if p["version"] else ""
        print(f"{p['name']}  ({origin}{version})")
        if p["error"]:
            print(f"    SKIPPED: {p['error']}")
        for kind, names in sorted(p["components"].items()):
            print(f"    {kind}: {', '.join(names)}")
    return 0


def _op_origin(name: str) -> str:
    """' from plugin NAME (distribution DIST VERSION)' for a registered op, else ''."""
    from microgradx.registry.core import get_registry

    try:
        return f" from {get_registry().component('ops', name).plugin.where}"
    except Exception:  # unknown or conflicting name: the error message says so
        return ""


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from microgradx.registry.core import get_registry
    from microgradx.registry.errors import PluginError
    from microgradx.testing.checks import GradcheckError, check_op

    names = args.ops or get_registry().names("ops")
    failed = 0
    for name in names:
        try:
            result = check_op(name, seed=args.seed)
        except (GradcheckError, PluginError) as exc:
            failed += 1
            print(f"FAIL  {name}{_op_origin(name)}: {exc}")
        except Exception as exc:  # a broken op must not hide the others' results
            failed += 1
            print(f"FAIL  {name}{_op_origin(name)}: {type(exc).__name__}: {exc}")
        else:
            print(f"ok    {name}  (scalar and lane mode, max abs error {result.max_error:.1e})")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0



def add_plugin_commands(sub: Any) -> None:
    """Add the ``plugins`` and ``gradcheck`` subcommands to the subparsers ``sub``."""
    p = sub.add_parser("plugins", help="list plugins, their distributions and what they registered")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per plugin")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("gradcheck", help="check registered ops against central finite differences")
    p.add_argument("ops", nargs="*", metavar="OP", help="op names (default: every registered op)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random test points")
    p.set_defaults(func=cmd_gradcheck)
