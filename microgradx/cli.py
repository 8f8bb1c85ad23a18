"""The ``microgradx`` command: ``plugins``, ``gradcheck`` (and more as components grow).

Each subcommand is a function ``cmd_NAME(args) -> int`` plus an entry in `build_parser`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Optional

from . import __version__


def plugins_report() -> list[dict]:
    """One dict per plugin: name, distribution, version, builtin, components by kind, error."""
    from .registry import get_registry

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


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from .errors import PluginError
    from .registry import get_registry
    from .testing import GradcheckError, check_op

    names = args.ops or get_registry().names("ops")
    failed = 0
    for name in names:
        try:
            result = check_op(name, seed=args.seed)
        except (GradcheckError, PluginError) as exc:
            failed += 1
            print(f"FAIL  {name}: {exc}")
        except Exception as exc:  # a broken op must not hide the others' results
            failed += 1
            print(f"FAIL  {name}: {type(exc).__name__}: {exc}")
        else:
            print(f"ok    {name}  (scalar and lane mode, max abs error {result.max_error:.1e})")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microgradx", description="Scalar autograd engine with plugins.")
    parser.add_argument("--version", action="version", version=f"microgradx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plugins", help="list plugins, their distributions and what they registered")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per plugin")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("gradcheck", help="check registered ops against central finite differences")
    p.add_argument("ops", nargs="*", metavar="OP", help="op names (default: every registered op)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random test points")
    p.set_defaults(func=cmd_gradcheck)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``microgradx`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
