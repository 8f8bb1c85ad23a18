"""The ``microgradx`` command: each subcommand lives in a module of this package.

``plugins`` and ``gradcheck`` (`microgradx.cli.plugins`), ``train`` and ``evaluate``
(`microgradx.cli.train`), ``graph`` (`microgradx.cli.graph`). Each module adds its
subparsers with an ``add_*_commands(sub)`` function; a handler is ``cmd_NAME(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from microgradx import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``microgradx`` command, with every subcommand."""
    from microgradx.cli.graph import add_graph_command
    from microgradx.cli.plugins import add_plugin_commands
    from microgradx.cli.train import add_train_commands

    parser = argparse.ArgumentParser(prog="microgradx", description="Scalar autograd engine with plugins.")
    parser.add_argument("--version", action="version", version=f"microgradx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_plugin_commands(sub)
    add_graph_command(sub)
    add_train_commands(sub)
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
