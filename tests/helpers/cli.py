"""Run the ``microgradx`` command in the test's own process, as its console script would run it.

`run_main` calls `microgradx.cli.main` with the arguments and returns a
`subprocess.CompletedProcess` (``returncode``, ``stdout``, ``stderr``), so a test written against
the console script in a subprocess switches to it by changing one name::

    proc = run_main("gradcheck", "tanh", env={"MICROGRADX_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert proc.returncode == 0 and "1 passed" in proc.stdout

What a subprocess would see, it sees: the environment (microgradx's plugin variables unset, then
``env``), the working folder ``cwd``, empty standard input, a registry discovered afresh (and
forgotten afterwards), ``sys.argv``, Python's default warning filters with each warning written
to stderr as the interpreter writes it (or ``PYTHONWARNINGS=default``'s, as `helpers.plugin_env.run_cli` gives its subprocesses),
an exit code from ``main``'s return or ``SystemExit`` (argparse's usage errors: 2) and, for an
uncaught exception, its traceback on stderr and exit code 1. Neither stream is a terminal.

It costs no interpreter start-up and no imports, which is most of a short command's time. What
needs a real process (the installed console script itself, a terminal, signals, plugins that
are only on a subprocess's ``PYTHONPATH``) stays with `helpers.plugin_env.run_cli`.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Optional

from helpers.plugin_env import PLUGIN_VARIABLES

import microgradx
from microgradx.cli import main

#: Python's warning filters when no -W option or PYTHONWARNINGS is given (see the `warnings` docs)
PYTHON_DEFAULT_FILTERS = (("default", DeprecationWarning, "__main__"), ("ignore", DeprecationWarning, None),
                          ("ignore", PendingDeprecationWarning, None), ("ignore", ImportWarning, None),
                          ("ignore", ResourceWarning, None))


@contextlib.contextmanager
def _environment(env: Optional[Mapping[str, str]]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in PLUGIN_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(env or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _no_stdin() -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO()
    try:
        yield
    finally:
        sys.stdin = saved


@contextlib.contextmanager
def _warnings_to(stream: io.StringIO, action: Optional[str]) -> Iterator[None]:
    """Warnings filtered as a fresh interpreter filters them, and written to ``stream`` as it writes them."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        if action is None:
            for act, category, module in reversed(PYTHON_DEFAULT_FILTERS):
                warnings.filterwarnings(act, category=category, module=module or "")
        else:
            warnings.simplefilter(action)  # type: ignore[arg-type]
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: stream.write(
            warnings.formatwarning(message, category, filename, lineno, line))
        yield


def run_main(*args: str, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
             warning_action: Optional[str] = "default") -> subprocess.CompletedProcess:
    """``microgradx ARGS`` run in this process (see the module docstring); its exit code and output.

    ``warning_action`` is as ``PYTHONWARNINGS`` would be: ``"default"`` as `helpers.plugin_env.run_cli`
    sets it, None for Python's own filters (a subprocess started without the variable).
    """
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    sys.argv = ["microgradx", *args]
    try:
        with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                _no_stdin(), _warnings_to(err, warning_action):
            if cwd is not None:
                os.chdir(cwd)
            microgradx.reset_registry()  # discovered afresh under this environment, as a new process would
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code
                if code is not None and not isinstance(code, int):
                    print(code, file=sys.stderr)
                    code = 1
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        microgradx.reset_registry()
    return subprocess.CompletedProcess(["microgradx", *args], code or 0, out.getvalue(), err.getvalue())
