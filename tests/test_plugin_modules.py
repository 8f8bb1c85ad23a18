"""Trying a plugin before packaging it (issue 14, item 11): ``microgradx -p MODULE`` and MICROGRADX_PLUGIN_MODULES."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from helpers.cli import run_main
from helpers.plugin_env import probe, run_cli

import microgradx
from microgradx.cli import main
from microgradx.registry import discovery

MODULE = '''
from microgradx import Op, hookimpl

tryout = Op(name="tryout", doc="3 x", forward=lambda x: 3.0 * x, backward=lambda g, out, x: (3.0 * g,))


@hookimpl
def microgradx_register_ops(register):
    register(tryout)
'''
WHERE = "plugin '{}' (module named by -p or MICROGRADX_PLUGIN_MODULES)"


@pytest.fixture
def folder(tmp_path):
    """A folder holding mgx_try.py (a good plugin module) and mgx_fails.py (raises on import).

    The commands run in this process (`helpers.cli.run_main`), which keeps what it imports: the
    modules are forgotten before and after the test, so each test imports its own folder's.
    """
    (tmp_path / "mgx_try.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "mgx_fails.py").write_text("raise RuntimeError('mgx_fails cannot be imported')\n")
    for name in ("mgx_try", "mgx_fails"):
        sys.modules.pop(name, None)
    yield tmp_path
    for name in ("mgx_try", "mgx_fails"):
        sys.modules.pop(name, None)


def _listed(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {p["name"]: p for p in json.loads(proc.stdout)}


def test_p_loads_a_module_from_the_current_folder_for_any_command(folder):
    report = _listed(run_main("-p", "mgx_try", "plugins", "--json", cwd=folder))
    entry = report["mgx_try"]
    assert entry["source"] == "module" and entry["distribution"] is None and entry["error"] is None
    assert entry["components"] == {"ops": ["tryout"]} and entry["docs"]["ops"]["tryout"] == "3 x"
    check = run_main("-p", "mgx_try", "gradcheck", "tryout", cwd=folder)
    assert check.returncode == 0 and "ok    tryout" in check.stdout, check.stdout + check.stderr
    by_path = run_main("-p", str(folder / "mgx_try.py"), "plugins", cwd=folder.parent)
    assert by_path.returncode == 0 and "mgx_try  (-p module)" in by_path.stdout and "ops: tryout" in by_path.stdout
    assert "mgx_try" not in _listed(run_main("plugins", "--json", cwd=folder))  # only when asked for


def test_the_environment_variable_loads_modules_in_every_process_even_without_autoload(folder):
    out = probe("""
        out["tryout"] = Value(2.0).tryout().data
        from microgradx import get_registry
        out["where"] = get_registry().component("ops", "tryout").plugin.where
    """, [folder], env={"MICROGRADX_PLUGIN_MODULES": "mgx_try", "MICROGRADX_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert out["tryout"] == 6.0 and out["where"] == WHERE.format("mgx_try")
    assert out["warnings"] == []


def test_a_module_that_fails_gets_the_same_named_warning_and_the_rest_works(folder):
    proc = run_main("-p", "mgx_fails", "-p", "no_such_module", "-p", "mgx_try", "gradcheck", "tryout", cwd=folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (f"{WHERE.format('mgx_fails')} was skipped: failed to import 'mgx_fails': RuntimeError: mgx_fails "
            f"cannot be imported (raised at ") in proc.stderr
    assert f"{WHERE.format('no_such_module')} was skipped: failed to import 'no_such_module': " \
           f"ModuleNotFoundError" in proc.stderr
    assert run_main("-p", "mgx_fails", "plugins", "--check", cwd=folder).returncode == 1
    strict = run_main("-p", "mgx_fails", "gradcheck", "tanh", cwd=folder,
                      env={"MICROGRADX_STRICT_PLUGINS": "mgx_fails"})
    assert strict.returncode == 2 and WHERE.format("mgx_fails") in strict.stderr


def test_a_module_that_is_also_an_installed_plugin_loads_once(plugin_sites):
    report = _listed(run_cli("-p", "mgxt_softsign", "plugins", "--json", sites=[plugin_sites["softsign"]]))
    assert "softsign" in report and "mgxt_softsign" not in report


def test_p_in_process_applies_to_that_command_only(folder, monkeypatch, capsys, fresh_registry):
    monkeypatch.syspath_prepend(str(folder))
    assert main(["-p", "mgx_try", "plugins", "--json"]) == 0
    assert "mgx_try" in {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert discovery.module_names() == []
    assert "tryout" not in microgradx.get_registry().names("ops")


def test_a_plugin_file_never_replaces_an_imported_module(tmp_path):
    (tmp_path / "json.py").write_text("raise RuntimeError('must not run')\n")
    proc = run_main("-p", str(tmp_path / "json.py"), "plugins", "--json", cwd=tmp_path.parent)
    entry = _listed(proc)["json"]
    assert entry["error"].endswith(f"ImportError: a different module named 'json' is already imported; rename "
                                   f"{tmp_path / 'json.py'}")
    assert "must not run" not in proc.stderr
