"""`pip install` and `pip uninstall` of the example plugin, for real, in a throwaway environment.

test_custom_plugin.py checks everything the plugin does from a ``--target`` install. This
file checks the user's literal steps: install the distribution into an environment, use
it with no import in user code, uninstall it, and find it gone with everything else
working. The environment is a new venv layered on the test environment (a ``.pth`` file
adds the test environment's site-packages), so microgradx itself is not reinstalled and
the test environment is never changed. Offline: no index, no build isolation, no deps.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.plugin_env import make_layered_venv

pytestmark = pytest.mark.pip

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = ROOT / "examples" / "custom_op_plugin"
DIST = "microgradx-softplus"


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def layered_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv whose interpreter also sees the test environment's packages; returns its python."""
    return make_layered_venv(tmp_path_factory.mktemp("layered"))


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([python, "-m", "pip", "--disable-pip-version-check", "--no-input", *args])


def _plugins(python: Path) -> dict:
    result = _run([python, "-m", "microgradx.cli", "plugins", "--json"])
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)}


def test_pip_install_then_uninstall_the_example_plugin(layered_venv: Path, tmp_path: Path) -> None:
    python = layered_venv
    src = tmp_path / "custom_op_plugin"
    shutil.copytree(PLUGIN_DIR, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))

    before = _plugins(python)
    assert "microgradx_softplus" not in before

    installed = _pip(python, "install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    assert installed.returncode == 0, installed.stdout + installed.stderr

    plugin = _plugins(python)["microgradx_softplus"]
    assert plugin["distribution"] == DIST and plugin["version"] == "0.1.0"
    assert {"softplus", "leaky_relu"} <= set(plugin["components"]["ops"])
    check = _run([python, "-m", "microgradx.cli", "gradcheck", "softplus"])
    assert check.returncode == 0 and "ok    softplus" in check.stdout, check.stdout + check.stderr
    use = _run([python, "-c", "from microgradx import Value; v = Value(2.0).softplus(); v.backward(); "
                              "print(v.data)"])
    assert use.returncode == 0, use.stderr
    assert abs(float(use.stdout) - math.log1p(math.exp(2.0))) < 1e-12

    removed = _pip(python, "uninstall", "-y", DIST)
    assert removed.returncode == 0, removed.stdout + removed.stderr

    after = _plugins(python)
    assert after.keys() == before.keys()  # gone, and every built-in still there
    gone = _run([python, "-c", "from microgradx import Value; Value(2.0).softplus()"])
    assert gone.returncode != 0 and "softplus" in gone.stderr and "AttributeError" in gone.stderr
    still = _run([python, "-m", "microgradx.cli", "gradcheck", "tanh", "relu"])
    assert still.returncode == 0, still.stdout + still.stderr
