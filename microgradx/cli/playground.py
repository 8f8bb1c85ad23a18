"""``microgradx playground``: train a network live in the browser (`microgradx.playground`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

_EPILOG = """\
examples:
  microgradx playground                      a free port; opens the page in your browser
  microgradx playground --port 8765 --no-browser
  microgradx playground --data points.csv    your own data: two numeric feature columns and a label

The server listens on 127.0.0.1 only and serves one page that needs no network. Ctrl-C stops it.
The page's address holds its settings (dataset, layers, activations, learning rate ...): copy it
to share or reload a configuration.
"""


def add_playground_command(subparsers: Any) -> None:
    """Add the ``playground`` subcommand (with its handler as ``func``) to an argparse subparsers object."""
    p = subparsers.add_parser(
        "playground",
        help="train a network live in the browser and open any neuron's backward pass",
        description="Start a local web server (127.0.0.1) with the playground: choose data and a network,\n"
                    "watch it train (in Python, on compiled steps), and open any neuron or weight in the\n"
                    "explorer to step its forward and backward pass with the numbers of that moment.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=0, help="the port to listen on (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser; just print the address")
    p.add_argument("--data", metavar="FILE.csv", default=None,
                   help="offer this CSV file as the dataset 'csv': a header row, two numeric feature columns and "
                        "a label (classes, or numbers to regress on) last")
    p.set_defaults(func=cmd_playground)


def cmd_playground(args: argparse.Namespace) -> int:
    """Handler of ``microgradx playground``: serve until Ctrl-C; 2 for a bad port or data file."""
    from microgradx.playground import serve

    if not 0 <= args.port <= 65535:
        print(f"microgradx playground: error: --port must be from 0 (a free one) to 65535, got {args.port}",
              file=sys.stderr)
        return 2
    try:
        return serve(port=args.port, data=args.data, open_browser=not args.no_browser)
    except OSError as exc:
        where = f"port {args.port}" if args.port else "a free port on 127.0.0.1"
        print(f"microgradx playground: error: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        message = " ".join(str(exc).split())
        print(f"microgradx playground: error: --data {args.data}: {message}", file=sys.stderr)
        return 2
