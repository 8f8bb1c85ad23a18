"""Real entry-point plugins for the tests: throwaway distributions installed by pip into temp dirs.

Each folder of ``tests/helpers/dists/`` is a tiny distribution (pyproject + one module) with a
``[project.entry-points.microgradx]`` entry. `build_sites` copies them to a temp dir and installs
them with one ``pip install --no-deps --no-build-isolation --no-index --target ALL`` (offline),
then moves each distribution's files, as its ``RECORD`` lists them, into a site directory of its
own. Tests then run Python or the ``microgradx`` console script in a subprocess whose
``PYTHONPATH`` holds the sites they want, so the test environment itself never sees these plugins.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Optional

DISTS_DIR = Path(__file__).parent / "dists"

#: folder name -> (distribution name, version, entry-point name), as in each folder's pyproject.toml
DISTS = {
    "softsign": ("mgx-softsign", "1.2.3", "softsign"),
    "broken_import": ("mgx-broken-import", "0.1.0", "broken_import"),
    "bad_arg": ("mgx-bad-arg", "0.2.0", "bad_arg"),
    "misspelled": ("mgx-misspelled", "0.3.0", "misspelled"),
    "hook_raises": ("mgx-hook-raises", "0.4.0", "hook_raises"),
    "dup_one": ("mgx-dup-one", "1.0.0", "dup_one"),
    "dup_two": ("mgx-dup-two", "2.0.0", "dup_two"),
    "leaky": ("mgx-leaky", "0.5.0", "leaky"),
    "badgrad": ("mgx-badgrad", "0.6.0", "badgrad"),
    "mul_plus": ("mgx-mul-plus", "0.8.0", "mul_plus"),
    "mul_twice": ("mgx-mul-twice", "0.9.0", "mul_twice"),
    "fake_builtins": ("mgx-fake-builtins", "1.1.0", "fake_builtins"),
    "unmarked": ("mgx-unmarked", "1.3.0", "unmarked"),
    "deep_error": ("mgx-deep-error", "1.4.0", "deep_error"),
}

#: the console script installed next to the interpreter running the tests
CLI = Path(sys.executable).parent / "microgradx"

#: the environment variables that steer plugin discovery: no test inherits them from the shell
PLUGIN_VARIABLES = ("MICROGRADX_DISABLE_PLUGIN_AUTOLOAD", "MICROGRADX_PLUGINS", "MICROGRADX_STRICT_PLUGINS",
             "MICROGRADX_PLUGIN_MODULES")


class BuildError(RuntimeError):
    """pip could not build or install one of the throwaway distributions."""


def pip_install_to(src: Path | Iterable[Path], site: Path) -> subprocess.Popen:
    """Start installing the distribution in folder ``src`` (or each of several) into the directory ``site``.

    Offline (see above). Returns the running pip, its output (stdout and stderr together) as text on ``stdout``.
    """
    sources = [src] if isinstance(src, (str, Path)) else list(src)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
           "--no-cache-dir", "--disable-pip-version-check", "--no-input", "-q", "--target", str(site),
           *map(str, sources)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def split_site(site: Path, dist: str, into: Path) -> Path:
    """Move the files of the distribution ``dist`` that pip installed into ``site`` to the folder ``into``.

    The files are those its ``RECORD`` lists (paths relative to ``site``, so the record stays
    true in the new place), with their folders and compiled ``__pycache__`` files.
    """
    (info,) = site.glob(f"{dist.replace('-', '_')}-*.dist-info")
    for line in (info / "RECORD").read_text(encoding="utf-8").splitlines():
        relative = Path(line.rsplit(",", 2)[0])
        if not (site / relative).exists():  # a compiled file named in the record that is already moved
            continue
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).rename(into / relative)
    return into


def build_sites(workdir: Path, names: Iterable[str] = DISTS) -> dict[str, Path]:
    """Install each named distribution into a site directory ``workdir/site-NAME`` of its own; return name -> site.

    One pip run installs them all (pip's start-up and setuptools' build hooks cost most of
    the time, not the few files), then `split_site` gives each its own folder.
    """
    names = list(names)
    for name in names:
        shutil.copytree(DISTS_DIR / name, workdir / "src" / name)
    together = workdir / "site-all"
    proc = pip_install_to([workdir / "src" / name for name in names], together)
    out, _ = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise BuildError(f"pip could not install the test distributions {names} (exit {proc.returncode}):\n{out}")
    return {name: split_site(together, DISTS[name][0], workdir / f"site-{name}") for name in names}


def make_layered_venv(root: Path) -> Path:
    """A new venv in ``root/venv`` whose interpreter also sees the test environment's packages; its python.

    Made ``--without-pip`` (fast, offline); a ``.pth`` file adds the test environment's
    site-packages with ``site.addsitedir``, so its own ``.pth`` files (the editable install of
    microgradx) work too, and ``python -m pip`` runs the test environment's pip. What is
    installed into the new venv stays there: the test environment is never changed.
    """
    venv = root / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        raise BuildError(f"could not make a venv in {venv}:\n{made.stderr}")
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    inner = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    outer = sysconfig.get_paths()["purelib"]
    (Path(inner) / "_test_environment.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    return python


def subprocess_env(sites: Iterable[Path] = (), **env: str) -> dict[str, str]:
    """The current environment without microgradx's plugin variables, plus ``PYTHONPATH=sites`` and ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in PLUGIN_VARIABLES and k != "PYTHONPATH"}
    path = [str(s) for s in sites]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    if path:
        base["PYTHONPATH"] = os.pathsep.join(path)
    base["PYTHONWARNINGS"] = "default"
    base.update(env)
    return base


def run(cmd: list[str], sites: Iterable[Path] = (), env: Optional[Mapping[str, str]] = None,
        timeout: float = 120, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` with the plugin ``sites`` on ``PYTHONPATH``; capture text output.

    The working directory is the temp dir (or ``cwd``), so that ``python -c`` imports microgradx
    as installed, not from a source tree that happens to be the current directory.
    """
    return subprocess.run(cmd, env=subprocess_env(sites, **(env or {})), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or tempfile.gettempdir())


def run_python(code: str, sites: Iterable[Path] = (), env: Optional[Mapping[str, str]] = None
               ) -> subprocess.CompletedProcess:
    """Run ``python -c code`` in a subprocess (see `run`)."""
    return run([sys.executable, "-c", code], sites, env)


def run_cli(*args: str, sites: Iterable[Path] = (), env: Optional[Mapping[str, str]] = None,
            cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run the installed ``microgradx`` console script (see `run`)."""
    return run([str(CLI), *args], sites, env, cwd=cwd)


def last_json(proc: subprocess.CompletedProcess) -> object:
    """The JSON document on the last line of a subprocess's stdout (fails the test with its output)."""
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(lines[-1])


_PROBE = '''
import json, sys, warnings
warnings.simplefilter("always")
_recorder = warnings.catch_warnings(record=True)
_caught = _recorder.__enter__()
import numpy as np
from microgradx import Value, ops

def attempt(fn):
    """fn()'s result as {{"ok": ...}}, or the exception as {{"error": type name, "message": text}}."""
    try:
        return {{"ok": fn()}}
    except Exception as exc:
        return {{"error": type(exc).__name__, "message": str(exc)}}

out = {{}}
{body}
_recorder.__exit__(None, None, None)
out["warnings"] = [[w.category.__name__, str(w.message)] for w in _caught]
out["causes"] = [type(w.message.__cause__).__name__ if w.message.__cause__ is not None else None for w in _caught]
print(json.dumps(out))
'''


def probe_code(body: str) -> str:
    """The program `probe` runs for ``body``."""
    return _PROBE.format(body=textwrap.dedent(body))


def probe(body: str, sites: Iterable[Path] = (), env: Optional[Mapping[str, str]] = None) -> dict:
    """Run ``body`` in a fresh interpreter with the plugin ``sites`` on ``PYTHONPATH``; return its ``out`` dict.

    ``body`` sees ``np``, ``Value``, ``ops``, ``attempt(fn)`` and a dict ``out`` to fill with
    JSON-able results; ``out["warnings"]`` gets every warning raised, as [category, message], and
    ``out["causes"]`` the type name of each warning's ``__cause__`` (or None).
    """
    return last_json(run_python(probe_code(body), sites, env))
