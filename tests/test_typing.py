"""Types for plugin authors (issue 14, item 8): microgradx ships py.typed and its public API is mypy-clean.

microgradx is pip-installed (not editable: an editable install is an import hook that mypy
cannot follow) into a temp ``--target`` directory, offline, and mypy runs against that
install: a typed plugin (``tests/typed/plugin_usage.py``) must pass ``--strict``; the
mistakes in ``tests/typed/plugin_mistakes.py`` must be caught, each on its line; the
``new-plugin`` template must pass ``--strict``; and the plugin machinery itself is checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.plugin_env import pip_install_to

ROOT = Path(__file__).resolve().parents[1]
TYPING = Path(__file__).parent / "typed"

pytestmark = [pytest.mark.typing, pytest.mark.pip]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """microgradx installed for real (a wheel's files) into a temp directory."""
    target = tmp_path_factory.mktemp("typed-site")
    proc = pip_install_to(ROOT, target)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert (target / "microgradx" / "py.typed").is_file(), "the distribution does not ship microgradx/py.typed"
    return target


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def mypy(*args: str, cache: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run mypy (no config file, cache in ``cache``) in ``cwd`` with ``env`` added to a clean environment."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cache)}
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", "", "--cache-dir", str(cache),
                           "--no-color-output", "--no-error-summary", *args],
                          capture_output=True, text=True, timeout=300, env={**base, **env}, cwd=cwd)


def test_a_typed_plugin_passes_mypy_strict_against_the_installed_package(site, cache, tmp_path):
    proc = mypy("--strict", str(TYPING / "plugin_usage.py"), cache=cache, env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_types_catch_a_plugin_authors_mistakes(site, cache, tmp_path):
    source = TYPING / "plugin_mistakes.py"
    expected = {i for i, line in enumerate(source.read_text().splitlines(), start=1) if "# E:" in line}
    proc = mypy("--strict", str(source), cache=cache, env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    reported = {int(m.group(1)) for m in re.finditer(r"plugin_mistakes\.py:(\d+): error:", proc.stdout)}
    assert reported == expected, proc.stdout + proc.stderr


def test_the_new_plugin_template_passes_mypy_strict(site, cache, tmp_path):
    from microgradx.cli.newplugin import write_plugin

    root = write_plugin("mgx-typed-template", tmp_path)
    proc = mypy("--strict", "src", cache=cache, env={"PYTHONPATH": str(site)}, cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_plugin_machinery_is_mypy_clean(cache, tmp_path):
    """The registry, the testing helpers, the types and the plugin commands (imports of other parts unchecked)."""
    proc = mypy("--follow-imports=silent", "--disallow-untyped-defs", "--disallow-incomplete-defs",
                "-p", "microgradx.registry", "-p", "microgradx.testing",
                "-m", "microgradx.types", "-m", "microgradx.cli", "-m", "microgradx.cli.plugins",
                "-m", "microgradx.cli.newplugin",
                cache=cache, env={"MYPYPATH": str(ROOT)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
