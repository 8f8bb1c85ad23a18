"""The ``microgradx`` command: each subcommand lives in a module of this package.

``plugins`` and ``gradcheck`` (`microgradx.cli.plugins`), ``train`` and ``evaluate``
(`microgradx.cli.train`), ``graph`` (`microgradx.cli.graph`), ``new-plugin``
(`microgradx.cli.newplugin`), ``playground`` (`microgradx.cli.playground`). Each module adds
its subparsers with an ``add_*_commands(sub)`` function; a handler is ``cmd_NAME(args) -> int``.
``-p MODULE`` (before the subcommand, any number of times) loads a plugin module that is not
installed, for that command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from microgradx import __version__
from microgradx.registry import discovery
from microgradx.registry.core import reset_registry
from microgradx.registry.errors import PluginLoadError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``microgradx`` command, with every subcommand."""
    from microgradx.cli.graph import add_graph_command
    from microgradx.cli.newplugin import add_newplugin_command
    from microgradx.cli.playground import add_playground_command
    from microgradx.cli.plugins import add_plugin_commands
    from microgradx.cli.train import add_train_commands

    parser = argparse.ArgumentParser(prog="microgradx", description="Scalar autograd engine with plugins.")
    parser.add_argument("--version", action="version", version=f"microgradx {__version__}")
    parser.add_argument("-p", dest="plugin_modules", action="append", default=[], metavar="MODULE",
                        help="load MODULE (an importable name, or a path to a .py file) as a plugin for this "
                             "command, installed or not; repeat for several (see also MICROGRADX_PLUGIN_MODULES)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_plugin_commands(sub)
    add_graph_command(sub)
    add_train_commands(sub)
    add_newplugin_command(sub)
    add_playground_command(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``microgradx`` console script."""

    args = build_parser().parse_args(argv)
    previous = discovery.set_cli_modules(args.plugin_modules)
    if previous != args.plugin_modules:
        reset_registry()  # a registry built before (in this process) did not load these modules
    try:
        return args.func(args)
    except PluginLoadError as exc:  # strict mode: a broken plugin stops the command, in one line
        message = " ".join(str(exc).split())
        print(f"microgradx {args.command}: error: {message} (run `microgradx plugins --traceback` for the "
              f"cause)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        discovery.set_cli_modules(previous)
        if previous != args.plugin_modules:
            reset_registry()


if __name__ == "__main__":
    sys.exit(main())
