"""What the subcommands share: one-line errors, ``NAME:KEY=VALUE`` settings, exit statuses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn, Optional

#: Errors that mean "a bad setting": reported as one line, exit status 2, no traceback.
_SETTING_ERRORS = (ValueError, TypeError, LookupError, ImportError, OSError)
_DATASET_SETTINGS = ("seed", "test_size", "n_samples", "noise", "standardize", "path", "target", "task", "delimiter",
                     "categorical", "labels", "impute", "ignore")


class UsageError(ValueError):
    """A bad command-line setting (reported as one line; exit status 2)."""


def _error(command: str, exc: BaseException, status: int = 2) -> int:
    message = str(exc) if str(exc) else type(exc).__name__
    if isinstance(exc, KeyError) and exc.args:  # KeyError quotes its message: unwrap it
        message = str(exc.args[0])
    print(f"microgradx {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return status


def _percent(x: Optional[float]) -> str:
    """A fraction as a percentage for the reports (``"n/a"`` for None)."""
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _check_output_path(option: str, path: Optional[str]) -> None:
    """A `UsageError` before any work when the directory of an output file (``--save``, ``--out``) is missing."""
    if path is not None and not Path(path).resolve().parent.is_dir():
        raise UsageError(f"{option} {path}: directory {str(Path(path).resolve().parent)!r} does not exist")


def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report a bad option as one line (plus a pointer to --help), exit status 2."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: error: {message} (see {parser.prog} --help)\n")

    parser.error = error  # type: ignore[method-assign]
    return parser


def parse_component(text: str, option: str) -> tuple[str, dict]:
    """``"name"`` or ``"name:key=value:key=value"`` -> ``(name, {key: value})``; a `UsageError` if malformed.

    The same reading as in Python (`microgradx.registry.components.parse_component`).
    """
    from microgradx.registry.components import parse_component as parse

    try:
        return parse(text, option)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None


class DivergenceReport:
    """A ``with`` block that shows each `microgradx.train.DivergenceWarning` at once as one line on
    standard error (``microgradx train: warning: ...``) and remembers it; other warnings pass through.

    A run that warned exits with status `STATUS` (3): trained, but the loss diverged.
    """

    STATUS = 3

    def __init__(self, command: str):
        self.command = command
        self.messages: list = []
        self._catcher: Any = None

    @property
    def warned(self) -> bool:
        """Whether a divergence warning was seen."""
        return bool(self.messages)

    def __enter__(self) -> DivergenceReport:
        import warnings

        from microgradx.train import DivergenceWarning

        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("always", DivergenceWarning)
        original = warnings.showwarning

        def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
            if issubclass(category, DivergenceWarning):
                self.messages.append(str(message))
                print(f"microgradx {self.command}: warning: {message}", file=sys.stderr, flush=True)
            else:
                original(message, category, *args, **kwargs)

        warnings.showwarning = show
        return self

    def __exit__(self, *exc: Any) -> None:
        self._catcher.__exit__(*exc)

    def final_note(self) -> None:
        """One closing line on standard error, after the report."""
        print(f"microgradx {self.command}: the loss diverged (see the warning above): the model is unlikely to be "
              f"useful; exit status {self.STATUS}", file=sys.stderr)
