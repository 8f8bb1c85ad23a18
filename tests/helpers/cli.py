"""Run the ``microgradx`` command in the test's own process, as its console script would run it.

`run_main` calls `microgradx.cli.main` with the arguments and returns a
`subprocess.CompletedProcess` (``returncode``, ``stdout``, ``stderr``), so a test written against
the console script in a subprocess switches to it by changing one name::

    proc = run_main("gradcheck", "tanh", env={"MICROGRADX_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert proc.returncode == 0 and "1 passed" in proc.stdout

What a subprocess would see, it sees: the environment (microgradx's plugin variables unset, then
``env``), the working folder ``cwd``, empty standard input, a registry discovered afresh (and
forgotten afterwards), ``sys.argv``, Python's default warning filters with each warning written
to stderr as the interpreter writes it (or ``PYTHONWARNINGS=default``'s, as `helpers.plugin_env.run_cli`
gives its subprocesses), an exit code from ``main``'s return or ``SystemExit`` (argparse's usage errors: 2) and, for an
uncaught exception, its traceback on stderr and exit code 1. Neither stream is a terminal
(unless ``terminal=True``, below).

`run_script` does the same for ``python FILE ARGS`` (an example script run as ``__main__``), and
`run_code` for ``python -c CODE``. ``sites`` (all three) are as ``PYTHONPATH`` is to
`helpers.plugin_env.run_cli`: folders put first on ``sys.path`` for the run, where pip-installed
plugins are found through their real entry points, in that order; afterwards they leave
``sys.path`` and every module imported from them is forgotten. `probe_here` is
`helpers.plugin_env.probe` in this process. ``terminal=True`` makes both output streams say they
are a terminal (``isatty()``; no file descriptor, so the size is ``COLUMNS``/``LINES`` or 80 x 24),
for a command that decides on that (the progress bar); a real terminal needs a pty and a process.

It costs no interpreter start-up and no imports, which is most of a short command's time. What
needs a real process (the installed console script itself, a terminal, signals, plugins that
are only on a subprocess's ``PYTHONPATH``, a fresh interpreter's imports or memory) stays with
`helpers.plugin_env.run_cli` or `subprocess`.

Unlike a process, the test's interpreter keeps the modules a run imported: a test that has the
command import a module of its own (``-p mgx_try``) forgets it afterwards itself.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import runpy
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Optional

import microgradx
from helpers.plugin_env import PLUGIN_VARIABLES, last_json, probe_code
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


class _Terminal(io.StringIO):
    """An output stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def _on_path(sites: Iterable[Path]) -> Iterator[None]:
    """``sites`` first on ``sys.path`` (in order, as on ``PYTHONPATH``); then gone, and what was imported from them."""
    folders = [os.path.abspath(site) for site in sites]
    if not folders:
        yield
        return
    sys.path[:0] = folders
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for folder in folders:
            sys.path.remove(folder)
        for name, module in list(sys.modules.items()):
            where = getattr(module, "__file__", None) or ""
            if any(where.startswith(folder + os.sep) for folder in folders):
                del sys.modules[name]
        importlib.invalidate_caches()


def _run(argv: list[str], call: Callable[[], object], env: Optional[Mapping[str, str]], cwd: Optional[Path],
         warning_action: Optional[str], sites: Iterable[Path] = (), terminal: bool = False
         ) -> subprocess.CompletedProcess:
    """``call()`` as the process ``argv`` would run it (see the module docstring)."""
    out, err = (_Terminal(), _Terminal()) if terminal else (io.StringIO(), io.StringIO())
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    sys.argv = list(argv)
    try:
        with _environment(env), _on_path(sites), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                _no_stdin(), _warnings_to(err, warning_action):
            if cwd is not None:
                os.chdir(cwd)
            microgradx.reset_registry()  # discovered afresh under this environment, as a new process would
            try:
                code = call()
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
    return subprocess.CompletedProcess(argv, code if isinstance(code, int) else 0, out.getvalue(), err.getvalue())


def run_main(*args: str, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
             warning_action: Optional[str] = "default", sites: Iterable[Path] = (), terminal: bool = False
             ) -> subprocess.CompletedProcess:
    """``microgradx ARGS`` run in this process (see the module docstring); its exit code and output.

    ``warning_action`` is as ``PYTHONWARNINGS`` would be: ``"default"`` as `helpers.plugin_env.run_cli`
    sets it, None for Python's own filters (a subprocess started without the variable).
    """
    return _run(["microgradx", *args], lambda: main(list(args)), env, cwd, warning_action, sites, terminal)


def run_code(code: str, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
             warning_action: Optional[str] = "default", sites: Iterable[Path] = ()) -> subprocess.CompletedProcess:
    """``python -c CODE`` run in this process, in a namespace of its own named ``__main__``; its exit code and output.

    ``warning_action`` as for `run_main` (``"default"``: as `helpers.plugin_env.run_python` sets it).
    """
    return _run(["-c"], lambda: exec(compile(code, "<string>", "exec"), {"__name__": "__main__"}), env, cwd,
                warning_action, sites)


def probe_here(body: str, sites: Iterable[Path] = (), env: Optional[Mapping[str, str]] = None) -> dict:
    """`helpers.plugin_env.probe` run in this process (`run_code`): ``body``'s ``out`` dict.

    The plugin registry is discovered afresh for it, under ``env`` and with ``sites`` on the path,
    as a new interpreter discovers it on first use.
    """
    return last_json(run_code(probe_code(body), env=env, sites=sites))


def run_script(path: Path, *args: str, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
               warning_action: Optional[str] = None, sites: Iterable[Path] = ()) -> subprocess.CompletedProcess:
    """``python PATH ARGS`` run in this process as ``__main__`` (`runpy.run_path`); its exit code and output.

    As `run_main`, but ``warning_action`` defaults to None: Python's own filters, as a plain
    ``subprocess.run([sys.executable, PATH])`` has them. A script's ``sys.exit(n)`` is its exit code.
    """
    return _run([str(path), *args], lambda: runpy.run_path(str(path), run_name="__main__") and None, env, cwd,
                warning_action, sites)
