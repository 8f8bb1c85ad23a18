"""What the subcommands share: one-line errors, ``NAME:KEY=VALUE`` settings, exit statuses."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

#: Errors that mean "a bad setting": reported as one line, exit status 2, no traceback.
_SETTING_ERRORS = (ValueError, TypeError, LookupError, ImportError, OSError)
_DATASET_SETTINGS = ("seed", "test_size", "n_samples", "noise", "standardize")
class UsageError(ValueError):
    """A bad command-line setting (reported as one line; exit status 2)."""


def _error(command: str, exc: BaseException, status: int = 2) -> int:
    message = str(exc) if str(exc) else type(exc).__name__
    if isinstance(exc, KeyError) and exc.args:  # KeyError quotes its message: unwrap it
        message = str(exc.args[0])
    print(f"microgradx {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return status


def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report a bad option as one line (plus a pointer to --help), exit status 2."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: error: {message} (see {parser.prog} --help)\n")

    parser.error = error  # type: ignore[method-assign]
    return parser


def _setting_value(text: str) -> Any:
    """A setting from the command line: a bool, None, int or float when it reads as one, else the string."""
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


def parse_component(text: str, option: str) -> tuple[str, dict]:
    """``"name"`` or ``"name:key=value:key=value"`` -> ``(name, {key: value})``.

    Values read as bools, ints, floats or None when they look like one, else as strings.
    """
    name, *pairs = text.strip().split(":")
    if not name:
        raise UsageError(f"{option}: empty component name in {text!r}")
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"{option}: expected NAME:KEY=VALUE, got {text!r} (bad setting {pair!r})")
        settings[key.strip()] = _setting_value(value.strip())
    return name.strip(), settings


