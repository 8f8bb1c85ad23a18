"""The ``microgradx`` console script: ``plugins`` (text and JSON) and ``gradcheck``."""

from __future__ import annotations

import json
import re

import pytest
from helpers.cli import run_main
from helpers.plugin_env import CLI, run_cli

import microgradx
from microgradx import Op, hookimpl
from microgradx.cli import main

BUNDLED_OPS = ["add", "sub", "neg", "mul", "div", "pow", "tanh", "relu", "exp", "log", "sigmoid",
               "lane_sum", "lane_mean"]
NO_AUTOLOAD = {"MICROGRADX_DISABLE_PLUGIN_AUTOLOAD": "1"}


def _result_lines(stdout):
    """op name -> 'ok' or 'FAIL' from gradcheck's one-line-per-op output."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^(ok|FAIL)\s+(\w+)", stdout, re.MULTILINE)}


def test_console_script_is_installed_next_to_the_interpreter():
    assert CLI.exists(), f"no console script at {CLI}"
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"microgradx {microgradx.__version__}"


def test_plugins_lists_builtins_with_their_ops():
    proc = run_main("plugins", env=NO_AUTOLOAD)
    assert proc.returncode == 0, proc.stderr
    assert f"arithmetic  (built-in {microgradx.__version__})" in proc.stdout
    assert "ops: add, sub, neg, mul, div, pow" in proc.stdout
    for name in BUNDLED_OPS:
        assert re.search(rf"ops: .*\b{name}\b", proc.stdout), name


def test_plugins_json():
    proc = run_main("plugins", "--json", env=NO_AUTOLOAD)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert isinstance(report, list) and report
    for entry in report:
        assert {"name", "distribution", "version", "components"} <= set(entry)
        assert isinstance(entry["components"], dict)
        assert entry["distribution"] == "microgradx" and entry["version"] == microgradx.__version__
    names = [p["name"] for p in report]
    assert {"arithmetic", "activations", "reductions"} <= set(names)
    listed = [op for p in report for op in p["components"].get("ops", [])]
    assert set(BUNDLED_OPS) <= set(listed)
    assert len(listed) == len(set(listed))  # no op listed twice among the built-ins


def test_gradcheck_all_ops_pass():
    proc = run_main("gradcheck", env=NO_AUTOLOAD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = _result_lines(proc.stdout)
    assert set(BUNDLED_OPS) <= set(results)
    assert set(results.values()) == {"ok"}
    assert f"{len(results)} passed, 0 failed" in proc.stdout
    report = json.loads(run_main("plugins", "--json", env=NO_AUTOLOAD).stdout)
    assert results.keys() == {op for p in report for op in p["components"].get("ops", [])}  # every op, once


def test_gradcheck_named_ops():
    proc = run_main("gradcheck", "tanh", "exp", "--seed", "3", env=NO_AUTOLOAD)
    assert proc.returncode == 0, proc.stdout
    assert _result_lines(proc.stdout) == {"tanh": "ok", "exp": "ok"}
    assert "2 passed, 0 failed" in proc.stdout


def test_gradcheck_unknown_op_fails():
    proc = run_main("gradcheck", "tanh", "no_such_op", env=NO_AUTOLOAD)
    assert proc.returncode != 0
    assert _result_lines(proc.stdout) == {"tanh": "ok", "no_such_op": "FAIL"}
    assert "no op named 'no_such_op'" in proc.stdout


def test_missing_subcommand_is_a_usage_error():
    proc = run_main()
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_gradcheck_catches_a_broken_entry_point_op(plugin_sites):
    sites = [plugin_sites["badgrad"], plugin_sites["softsign"]]
    proc = run_main("gradcheck", sites=sites)  # the pip-installed plugins on sys.path, in this process
    assert proc.returncode == 1, proc.stdout
    results = _result_lines(proc.stdout)
    assert results.pop("badsquare") == "FAIL"
    assert set(BUNDLED_OPS) | {"softsign"} <= set(results) and set(results.values()) == {"ok"}
    failure = proc.stdout[proc.stdout.index("FAIL"):]
    failure = failure[:re.search(r"^(ok|\d+ passed)", failure, re.MULTILINE).start()]  # the FAIL block
    assert "badsquare" in failure and "input 0" in failure and "analytic" in failure and "numeric" in failure
    assert f"{len(results)} passed, 1 failed" in proc.stdout

    proc = run_main("gradcheck", "softsign", "tanh", sites=sites)  # the broken op is not named: all pass
    assert proc.returncode == 0 and _result_lines(proc.stdout) == {"softsign": "ok", "tanh": "ok"}


def test_gradcheck_catches_a_broken_run_time_op(fresh_registry, capsys):
    class Plugin:
        @hookimpl
        def microgradx_register_ops(self, register):
            register(Op(name="bad_cube", forward=lambda x: x * x * x, backward=lambda g, out, x: (g * x * x,)))
            register(Op(name="crashes", forward=lambda x: x, backward=lambda g, out, x: 1 / 0))

    with microgradx.plugin_registered(Plugin(), name="rt-broken"):
        code = main(["gradcheck", "bad_cube", "crashes", "sigmoid"])
    out = capsys.readouterr().out
    assert code == 1
    assert _result_lines(out) == {"bad_cube": "FAIL", "crashes": "FAIL", "sigmoid": "ok"}
    assert "1 passed, 2 failed" in out


@pytest.mark.parametrize("args", [["plugins"], ["plugins", "--json"]])
def test_plugins_in_process(args, capsys):
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "arithmetic" in out and "tanh" in out
