"""The example third-party plugin (examples/custom_op_plugin), installed for real with pip.

The distribution ``microgradx-softplus`` is pip-installed once per session into a temp
``--target`` directory (offline: no index, no build isolation, no dependencies), and every
check of it runs in a subprocess with that directory on ``PYTHONPATH``, so the shared test
environment never sees the plugin. "Uninstalling" is running without it, or deleting it: those
checks run in this process (`helpers.cli`), where the plugin never was.

Also here: a plugin whose op's backward returns the wrong number of gradients (the other
broken-plugin cases of issue 4 are in test_plugins.py).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REQUIRE_TORCH
from helpers.cli import run_code, run_main
from helpers.plugin_env import last_json, pip_install_to, run, run_cli, run_python, split_site, subprocess_env
from helpers.shared import made_once

pytestmark = pytest.mark.pip  # the plugin pip-installed, or (the last tests) checked without it

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = ROOT / "examples" / "custom_op_plugin"
DIST, ENTRY_POINT = "microgradx-softplus", "microgradx_softplus"
#: what the plugin registers, by kind
COMPONENTS = {"ops": {"softplus", "leaky_relu", "huber"}, "losses": {"huber", "huber_regression"},
              "optimizers": {"rmsprop"}, "callbacks": {"grad_norm"}, "layers": {"ResidualMLP"},
              "datasets": {"quadrants"}}

# A distribution whose op's backward returns two gradients for its one input.
WRONG_COUNT_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "mgx-wrong-count"
version = "0.7.0"
requires-python = ">=3.10"

[project.entry-points.microgradx]
wrong_count = "mgxt_wrong_count"

[tool.setuptools]
py-modules = ["mgxt_wrong_count"]
"""
WRONG_COUNT_MODULE = '''\
"""square(x) = x * x whose backward returns (2 g x, g): two gradients for one input."""

from microgradx import Op, hookimpl


@hookimpl
def microgradx_register_ops(register):
    """Register twograds."""
    register(Op(name="twograds", forward=lambda x: x * x, backward=lambda g, out, x: (2.0 * g * x, g)))
'''


def _plugin_version() -> str:
    match = re.search(r'^__version__ = "([^"]+)"', (PLUGIN_DIR / "src" / "microgradx_softplus" / "__init__.py")
                      .read_text(), re.M)
    assert match, "microgradx_softplus/__init__.py must set __version__"
    return match.group(1)


@pytest.fixture(scope="session")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"softplus": SITE, "wrong_count": SITE, "src": DIR}``: both distributions pip-installed once per test run.

    The example plugin is copied to ``DIR`` first, so that the build never writes into the
    repository; its own tests run from that copy. One pytest-xdist worker installs them, for
    all (`helpers.shared.made_once`); a test must not change them.
    """
    def install(work: Path) -> dict[str, str]:
        src = work / "custom_op_plugin"
        shutil.copytree(PLUGIN_DIR, src, ignore=shutil.ignore_patterns(
            "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache"))
        bad = work / "wrong_count"
        bad.mkdir()
        (bad / "pyproject.toml").write_text(WRONG_COUNT_PYPROJECT)
        (bad / "mgxt_wrong_count.py").write_text(WRONG_COUNT_MODULE)
        proc = pip_install_to([src, bad], work / "site-both")  # one pip run, then a folder for each
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"pip could not install the plugins (exit {proc.returncode}):\n{out}"
        return {"softplus": str(split_site(work / "site-both", DIST, work / "site-softplus")),
                "wrong_count": str(split_site(work / "site-both", "mgx-wrong-count", work / "site-wrong-count")),
                "src": str(src)}

    return {name: Path(path) for name, path in made_once(tmp_path_factory, "custom-plugin", install).items()}


@pytest.fixture(scope="session")
def site(sites: dict[str, Path]) -> Path:
    """The ``--target`` directory holding the installed microgradx-softplus."""
    return sites["softplus"]


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def _report(site_dirs: list[Path], env: dict | None = None) -> dict:
    """`microgradx plugins --json`, as a dict by plugin name."""
    return {p["name"]: p for p in json.loads(_ok(run_cli("plugins", "--json", sites=site_dirs, env=env)))}


# -- installed ------------------------------------------------------------------------------


def test_plugins_command_lists_it_with_its_distribution_and_version(site):
    plugin = _report([site]).get(ENTRY_POINT)
    assert plugin is not None, "microgradx plugins does not list the installed plugin"
    assert (plugin["distribution"], plugin["version"], plugin["builtin"]) == (DIST, _plugin_version(), False)
    assert plugin["error"] is None
    assert {kind: set(names) for kind, names in plugin["components"].items()} == COMPONENTS
    proc = run_cli("plugins", sites=[site])
    assert f"{ENTRY_POINT}  ({DIST} {_plugin_version()})" in _ok(proc)
    assert "PluginWarning" not in proc.stderr


def test_gradcheck_command_passes_for_the_plugin_ops(site):
    out = _ok(run_cli("gradcheck", "softplus", "leaky_relu", "huber", sites=[site]))
    for name in ("softplus", "leaky_relu", "huber"):
        assert re.search(rf"^ok +{name} ", out, re.M), out
    assert "3 passed, 0 failed" in out


def test_ops_are_value_methods_with_no_import_of_the_plugin(site):
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        from microgradx import Value, get_registry, topological_order
        imported_before = "microgradx_softplus" in sys.modules
        x = Value(np.array([-1000.0, 0.0, 1000.0]))
        y = x.softplus()
        y.lane_sum().backward()
        leaky = Value(-2.0).leaky_relu()
        model = get_registry().get("layers", "MLP")(2, [4, 1], activation="softplus", seed=0)
        out = model(np.array([[0.5, -1.0], [1.0, 2.0]]))[0]
        used = sorted({v.op.name for v in topological_order(out) if v.op is not None})
        print(json.dumps({"imported_before": imported_before, "y": y.data.tolist(), "grad": x.grad.tolist(),
                          "leaky": leaky.data, "mlp_ops": used,
                          "loss": type(get_registry().get("losses", "huber")).__name__,
                          "optimizer": get_registry().get("optimizers", "rmsprop").__module__}))
    """)
    got = last_json(run_python(code, sites=[site]))
    assert got["imported_before"] is False  # the registry imported it, through the entry point
    assert got["y"] == [0.0, pytest.approx(0.6931471805599453, rel=1e-15), 1000.0]
    assert got["grad"] == [0.0, 0.5, 1.0]
    assert got["leaky"] == pytest.approx(-0.02)
    assert "softplus" in got["mlp_ops"]
    assert got["optimizer"] == "microgradx_softplus.optimizers"


def test_train_command_trains_with_the_plugins_components(site, tmp_path):
    log = tmp_path / "log.jsonl"
    proc = run_cli("train", "--activation", "softplus", "--loss", "huber", "--optimizer", "rmsprop", "--lr", "0.01",
                   "--epochs", "4", "--seed", "0", "--json", "--callbacks", f"grad_norm,log:path={log}", sites=[site])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["loss_name"] == "huber" and result["optimizer"].startswith("rmsprop")
    assert "activation='softplus'" in result["model"]
    losses = result["history"]["loss"]
    assert len(losses) == 4 and losses[-1] < 0.5 * losses[0]
    # breast cancer is 63% benign: a model that learned nothing stays near that
    assert result["test_accuracy"] >= 0.9 and result["train_accuracy"] >= 0.9
    # the plugin's callback ran by name, before the bundled log callback recorded the metrics
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 4
    assert all(math.isfinite(r["grad_norm"]) and r["grad_norm"] > 0 for r in records)


def _guide_examples() -> list[str]:
    """The Python blocks of docs/plugins.md that are neither excerpts of the plugin nor the hook reference."""
    doc = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    doc = re.sub(r"<!-- hooks:start -->.*<!-- hooks:end -->", "", doc, flags=re.S)
    return [m["code"] for m in re.finditer(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", doc, re.S)
            if not m["before"].startswith("<!-- excerpt:")]


def test_the_guides_python_examples_run_with_the_plugin_installed(site):
    examples = _guide_examples()
    assert len(examples) == 4  # install and use, a differentiable backward, run-time registration, types
    code = textwrap.dedent("""
        import json, sys
        results = []
        for source in json.loads(sys.argv[1]):
            namespace = {}
            exec(compile(source, "docs/plugins.md", "exec"), namespace)
            results.append(sorted(k for k in namespace if not k.startswith("__")))
        from microgradx.types import Optimizer
        print(json.dumps({"names": results, "typed": isinstance(namespace["opt"], Optimizer)}))
    """)
    proc = run([sys.executable, "-c", code, json.dumps(examples)], [site])
    got = last_json(proc)
    assert "history" in got["names"][0] and "CubePlugin" in got["names"][2] and got["typed"] is True
    assert {"softsign", "g", "h"} <= set(got["names"][1]) and "0.4444 -0.5926\n" in proc.stdout  # what it says


@pytest.mark.torch  # also part of CI's PyTorch run, where its PyTorch comparisons must run too
def test_the_plugins_own_test_suite_passes(sites):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"], cwd=sites["src"],
                          env=subprocess_env([sites["softplus"]], PYTHONDONTWRITEBYTECODE="1"),
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    summary = out.strip().splitlines()[-1]
    match = re.fullmatch(r"=* *(\d+) passed(?:, (\d+) skipped)? in [\d.]+s.*", summary)
    assert match and int(match[1]) >= 10, summary  # nothing failed or errored
    skipped = int(match[2] or 0)
    if importlib.util.find_spec("torch") is not None or REQUIRE_TORCH:
        assert skipped == 0, out  # with PyTorch installed every comparison runs
    else:  # without it, exactly its PyTorch comparisons skip, and say why
        reasons = [line for line in out.splitlines() if line.startswith("SKIPPED")]
        assert reasons and all("PyTorch is not installed" in r for r in reasons), out


# -- uninstalled ----------------------------------------------------------------------------


def _gone_and_rest_works(site_dirs: list[Path], gradcheck_all: bool = True) -> None:
    """In this process, with ``site_dirs`` (none, or deleted ones) first on ``sys.path``: no trace of the plugin."""
    report = {p["name"]: p for p in json.loads(_ok(run_main("plugins", "--json", sites=site_dirs)))}
    assert ENTRY_POINT not in report and "microgradx_softplus" not in json.dumps(report)
    code = textwrap.dedent("""
        import json
        from microgradx import Value, get_registry
        try:
            Value(1.0).softplus()
        except AttributeError as exc:
            error = str(exc)
        else:
            error = None
        out = (Value(2.0) * 3.0 + 1.0).tanh()
        out.backward()
        names = {kind: get_registry().names(kind) for kind in get_registry().tables}
        print(json.dumps({"error": error, "names": names, "tanh": out.data}))
    """)
    got = last_json(run_code(code, sites=site_dirs))
    assert got["error"] is not None and "softplus" in got["error"]
    for kind, names in COMPONENTS.items():
        assert not names & set(got["names"][kind]), kind
    assert {"add", "mul", "tanh", "relu", "sigmoid"} <= set(got["names"]["ops"])
    assert {"bce", "mse"} <= set(got["names"]["losses"]) and "MLP" in got["names"]["layers"]
    assert got["tanh"] == pytest.approx(0.999998336943944)
    missing = run_main("gradcheck", "softplus", sites=site_dirs)
    assert missing.returncode == 1 and "no op named 'softplus' is registered" in missing.stdout
    if not gradcheck_all:
        return
    everything = run_main("gradcheck", sites=site_dirs)
    assert everything.returncode == 0 and " 0 failed" in everything.stdout, everything.stdout


def test_without_the_install_the_names_are_gone_and_everything_else_works():
    _gone_and_rest_works([])
    commands = {name: ["train", option, name, "--epochs", "1", "--quiet"] for option, name in
                (("--activation", "softplus"), ("--loss", "huber"), ("--optimizer", "rmsprop"))}
    commands["default"] = ["train", "--epochs", "3", "--quiet", "--json"]
    done = {name: run_main(*args) for name, args in commands.items()}
    for name, kind in (("softplus", "ops"), ("huber", "losses"), ("rmsprop", "optimizers")):
        err, code = done[name].stderr, done[name].returncode
        assert code != 0 and f"named '{name}' is registered" in err, err
        assert f"registered {kind}: " in err and "Traceback" not in err
    out, err, code = done["default"].stdout, done["default"].stderr, done["default"].returncode
    assert code == 0, out + err
    result = json.loads(out)
    assert result["test_accuracy"] >= 0.9  # the bundled components still train


def test_deleting_the_installed_files_removes_it(site, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    assert ENTRY_POINT in _report([copy])
    shutil.rmtree(copy)
    _gone_and_rest_works([copy], gradcheck_all=False)  # PYTHONPATH still names the deleted directory


def test_environment_variables_disable_and_select_it(site):
    assert ENTRY_POINT not in _report([site], {"MICROGRADX_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert ENTRY_POINT not in _report([site], {"MICROGRADX_PLUGINS": "some-other-plugin"})
    assert ENTRY_POINT in _report([site], {"MICROGRADX_PLUGINS": DIST})  # by distribution name
    assert ENTRY_POINT in _report([site], {"MICROGRADX_PLUGINS": f"other,{ENTRY_POINT}"})  # by entry-point name


# -- a plugin whose backward returns the wrong number of gradients --------------------------


def test_gradcheck_names_the_plugin_whose_backward_returns_too_many_gradients(sites):
    proc = run_cli("gradcheck", sites=[sites["wrong_count"], sites["softplus"]])
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    fail = [line for line in lines if line.startswith("FAIL")]
    assert len(fail) == 1, proc.stdout
    for part in ("twograds", "plugin 'wrong_count'", "distribution mgx-wrong-count 0.7.0",
                 "backward must return a tuple of 1 gradient(s) (one per input), got 2 values"):
        assert part in fail[0], fail[0]
    passed = {line.split()[1] for line in lines if line.startswith("ok ")}
    assert {"add", "mul", "tanh", "softplus", "leaky_relu", "huber"} <= passed
    assert f"{len(passed)} passed, 1 failed" in proc.stdout


def test_backward_through_the_bad_op_names_the_op_and_plugin_and_the_rest_works(sites):
    code = textwrap.dedent("""
        import json
        from microgradx import Value
        try:
            (Value(3.0).twograds() + 1.0).backward()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        x = Value(0.5)
        (x.softplus() * x).backward()
        print(json.dumps({"error": error, "grad": x.grad}))
    """)
    got = last_json(run_python(code, sites=[sites["wrong_count"], sites["softplus"]]))
    assert got["error"].startswith("ValueError: in backward of op 'twograds' from plugin 'wrong_count' "
                                   "(distribution mgx-wrong-count 0.7.0)"), got["error"]
    assert "returned a tuple of 2 for 1 input(s)" in got["error"]
    softplus, sigmoid = math.log1p(math.exp(0.5)), 1.0 / (1.0 + math.exp(-0.5))
    assert got["grad"] == pytest.approx(softplus + 0.5 * sigmoid, rel=1e-12)  # d(x softplus(x))/dx
