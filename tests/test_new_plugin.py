"""``microgradx new-plugin NAME`` (issue 14, item 9): the distribution it writes works as written.

The generated folder is tried with ``-p`` before packaging, then pip-installed (offline, no
build isolation) into a throwaway venv layered on the test environment, and its own tests run
there with microgradx's pytest fixtures: they must pass.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.cli import run_main
from helpers.plugin_env import make_layered_venv, subprocess_env

import microgradx
from microgradx.cli import main
from microgradx.cli.newplugin import TemplateError, names_for, requirement


def _run(cmd: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=subprocess_env((), **env), capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.pip
def test_the_generated_distribution_installs_and_its_tests_pass(tmp_path):
    made = run_main("new-plugin", "mgx-swish", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    root = tmp_path / "mgx-swish"
    assert made.stdout.startswith("wrote mgx-swish/ (distribution mgx-swish, package mgx_swish, op swish)")
    assert 'next: cd mgx-swish && pip install -e ".[test]" && pytest' in made.stdout
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "src/mgx_swish/__init__.py", "src/mgx_swish/plugin.py",
                     "src/mgx_swish/py.typed", "tests/test_plugin.py"]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.microgradx]\nmgx_swish = "mgx_swish.plugin"' in pyproject
    assert f'dependencies = ["microgradx>={microgradx.__version__},<0.' in pyproject

    # before packaging: -p with the source folder on the path, as the README says
    tried = run_main("-p", "mgx_swish.plugin", "plugins", "--json", cwd=root)  # src/ is not on the path yet
    error = {p["name"]: p for p in json.loads(tried.stdout)}["mgx_swish.plugin"]["error"]
    assert error == "failed to import 'mgx_swish.plugin': ModuleNotFoundError: No module named 'mgx_swish'"
    tried = run_main("-p", "mgx_swish.plugin", "plugins", "--check", cwd=root, sites=[root / "src"])
    assert tried.returncode == 0 and "mgx_swish.plugin  (-p module)" in tried.stdout, tried.stdout + tried.stderr

    python = make_layered_venv(tmp_path / "env")
    installed = _run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                      "--disable-pip-version-check", "-q", str(root)], tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tests = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], root)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "7 passed" in tests.stdout
    listed = _run([python, "-m", "microgradx.cli", "plugins", "--json"], tmp_path)
    entry = {p["name"]: p for p in json.loads(listed.stdout)}["mgx_swish"]
    assert entry["distribution"] == "mgx-swish" and entry["version"] == "0.1.0"
    assert entry["components"] == {"ops": ["swish"]} and entry["error"] is None


@pytest.mark.parametrize("args, message", [
    (["bad name!"], "is not a valid distribution name"),
    (["ends-with-dash-"], "is not a valid distribution name"),
    (["microgradx"], "cannot be used"),
    (["class"], "cannot be used"),
    (["mgx-ok", "--op", "tanh"], "an op named 'tanh' is already registered (by built-in plugin 'activations')"),
    (["mgx-ok", "--op", "_private"], "cannot be an op name"),
])
def test_bad_names_are_refused_in_one_line(args, message, tmp_path, capsys):
    assert main(["new-plugin", *args, "--directory", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("microgradx new-plugin: error: ") and message in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "mgx-taken").mkdir()
    (tmp_path / "mgx-taken" / "keep.txt").write_text("mine")
    assert main(["new-plugin", "mgx-taken", "--directory", str(tmp_path)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "mgx-taken").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("name, op, want", [
    ("mgx-swish", None, ("mgx_swish", "swish")),
    ("microgradx-Gelu", None, ("microgradx_gelu", "gelu")),
    ("my.plugin", "cube", ("my_plugin", "cube")),
])
def test_names_derived_from_the_distribution_name(name, op, want):
    names = names_for(name, op)
    assert (names["package"], names["op"]) == want and names["dist"] == name


def test_names_for_refuses_a_taken_op():
    with pytest.raises(TemplateError, match="already registered"):
        names_for("mgx-relu")


@pytest.mark.parametrize("version, want", [("0.1.0", "microgradx>=0.1.0,<0.2"), ("0.12.3", "microgradx>=0.12.3,<0.13"),
                                           ("1.4.0", "microgradx>=1.4.0,<2")])
def test_the_template_depends_on_the_versions_with_this_plugin_api(version, want):
    assert requirement(version) == want
