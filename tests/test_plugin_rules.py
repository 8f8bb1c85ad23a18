"""Who gets a name, with real pip-installed plugins (issue 14, items 3-6): replacements, clashes, strict mode.

Throwaway distributions (``tests/helpers/dists/``): leaky replaces the built-in ``relu`` and
mgx-softsign's ``softsign``; mul_plus replaces the built-in ``mul`` with
``x * y + 1``; mul_twice replaces it too; fake_builtins registers ``tanh``, ``mul`` and ``adam``
without ``replace=True`` (and ``fine_op``); deep_error fails in a helper module while importing;
unmarked has hook functions without ``@hookimpl``.

Each check runs in this process (`helpers.cli.probe_here`, `helpers.cli.run_main`) with the
distributions' folders first on ``sys.path``, as they would be on a new interpreter's
``PYTHONPATH``: their real entry points are found in the order given, and a fresh registry is
discovered for each. tests/test_plugins.py and tests/test_custom_plugin.py check the same
discovery in new processes.
"""

from __future__ import annotations

import json

import pytest
from helpers.cli import probe_here, run_main
from helpers.plugin_env import DISTS


def _sites(plugin_sites, *names):
    return [plugin_sites[n] for n in names]


def _where(name):
    dist, version, ep = DISTS[name]
    return f"plugin '{ep}' (distribution {dist} {version})"


def _report(plugin_sites, *names, env=None):
    proc = run_main("plugins", "--json", sites=_sites(plugin_sites, *names), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {p["name"]: p for p in json.loads(proc.stdout)}, proc


# -- item 3: replacements are visible -------------------------------------------------------------


def test_replacing_mul_changes_the_operator_warns_once_and_is_shown(plugin_sites):
    out = probe_here("""
        out["star"] = (Value(2.0) * Value(3.0)).data
        out["again"] = (Value(1.0) * 1.0).data
        out["add"] = (Value(2.0) + Value(3.0)).data
    """, _sites(plugin_sites, "mul_plus"))
    assert out["star"] == 7.0 and out["again"] == 2.0 and out["add"] == 5.0
    assert out["warnings"] == [["PluginWarning", f"{_where('mul_plus')} replaces the built-in op 'mul' of built-in "
                                                 f"plugin 'arithmetic' (it registers it with replace=True); the "
                                                 f"operator * uses it now"]]

    report, _ = _report(plugin_sites, "mul_plus")
    assert report["mul_plus"]["components"] == {"ops": ["mul"]}
    assert report["mul_plus"]["replaces"] == {"ops": {"mul": ["arithmetic"]}}
    assert report["mul_plus"]["docs"]["ops"]["mul"].startswith("x * y + 1")
    assert "mul" not in report["arithmetic"]["components"]["ops"]  # listed under one plugin only
    assert report["arithmetic"]["replaced_by"] == {"ops": {"mul": "mul_plus"}}
    assert [n for p in report.values() for n in p["components"].get("ops", [])].count("mul") == 1

    text = run_main("plugins", sites=_sites(plugin_sites, "mul_plus"))
    assert "    replaces: op mul of arithmetic" in text.stdout
    assert "    replaced: op mul by mul_plus" in text.stdout
    assert "ops: add, sub, neg, div, pow" in text.stdout
    check = run_main("plugins", "--check", sites=_sites(plugin_sites, "mul_plus"))
    assert check.returncode == 0, check.stdout  # a deliberate replacement is not a problem
    assert "plugins check ok" in check.stdout


def test_replace_true_replaces_a_builtin_deliberately(plugin_sites):
    out = probe_here("""
        out["relu"] = Value(np.array([-2.0, 3.0])).relu().data.tolist()
        out["function"] = ops.relu(Value(-1.0)).data
        v = Value(-1.0)
        v.relu().backward()
        out["grad"] = v.grad
        from microgradx import get_registry
        c = get_registry().component("ops", "relu")
        out["by"], out["replaced"] = c.plugin.name, c.replaced
    """, _sites(plugin_sites, "leaky"))
    assert out["relu"] == [-0.02, 3.0]
    assert out["function"] == -0.01 and out["grad"] == 0.01
    assert (out["by"], out["replaced"]) == ("leaky", ["activations"])
    # replacing a built-in is allowed, and said once
    assert out["warnings"] == [["PluginWarning", f"{_where('leaky')} replaces the built-in op 'relu' of built-in "
                                                 f"plugin 'activations' (it registers it with replace=True)"]]


@pytest.mark.parametrize("order", [("leaky", "softsign"), ("softsign", "leaky")],
                         ids=["replacer-first", "replacer-last"])
def test_replace_true_wins_whatever_the_load_order(plugin_sites, order):
    """mgx-leaky replaces mgx-softsign's op; entry points load in sys.path order, which users don't control."""
    out = probe_here("""
        from microgradx.cli.plugins import plugins_report
        out["order"] = [p["name"] for p in plugins_report() if not p["builtin"]]
        out["softsign"] = attempt(lambda: Value(2.0).softsign().data)
        from microgradx import get_registry
        c = get_registry().component("ops", "softsign")
        out["by"], out["replaced"] = c.plugin.name, c.replaced
    """, _sites(plugin_sites, *order))
    assert out["order"] == list(order)
    assert out["softsign"] == {"ok": 0.5}  # 2 / (2 + 2): the replacement
    assert (out["by"], out["replaced"]) == ("leaky", ["softsign"])
    # replacing another third-party plugin's op is not warned about (only replacing a built-in is)
    assert [m for _, m in out["warnings"] if "softsign" in m] == []
    assert len(out["warnings"]) == 1 and "'relu'" in out["warnings"][0][1]


@pytest.mark.parametrize("order", [("mul_plus", "mul_twice"), ("mul_twice", "mul_plus")], ids=["ab", "ba"])
def test_two_replacers_of_one_name_are_an_error_naming_both_whatever_the_order(plugin_sites, order):
    out = probe_here("""
        out["star"] = attempt(lambda: (Value(2.0) * Value(3.0)).data)
        out["add"] = (Value(1.0) + 2.0).data
    """, _sites(plugin_sites, *order))
    assert out["star"]["error"] == "DuplicateComponentError"
    for name in order:
        assert _where(name) in out["star"]["message"]
    assert "replaced (register(..., replace=True)) by both" in out["star"]["message"]
    assert out["add"] == 3.0
    (warning,) = [m for c, m in out["warnings"] if c == "PluginWarning"]
    assert all(_where(n) in warning for n in order) and "every other name still works" in warning

    strict = probe_here('out["star"] = attempt(lambda: (Value(2.0) * 3.0).data)', _sites(plugin_sites, *order),
                   env={"MICROGRADX_STRICT_PLUGINS": "1"})
    assert strict["star"]["error"] == "PluginLoadError"
    check = run_main("plugins", "--check", sites=_sites(plugin_sites, *order))
    assert check.returncode == 1 and "CLASH op mul" in check.stdout


# -- item 4: a clash with a built-in keeps the built-in -------------------------------------------


def test_a_clash_with_a_builtin_skips_the_third_party_component_and_the_builtin_works(plugin_sites):
    out = probe_here("""
        import math
        out["tanh"] = Value(0.5).tanh().data == math.tanh(0.5)
        out["mul"] = (Value(2.0) * 3.0).data
        from microgradx import get_registry
        out["adam"] = get_registry().get("optimizers", "adam").__module__
        out["fine_op"] = Value(2.0).fine_op().data
    """, _sites(plugin_sites, "fake_builtins", "softsign"))
    assert out["tanh"] is True and out["mul"] == 6.0 and out["fine_op"] == 6.0
    assert out["adam"] == "microgradx_plugins.optimizers"
    warnings = sorted(m for c, m in out["warnings"] if c == "PluginWarning")
    assert len(warnings) == 3, warnings
    for warning, what, builtin in zip(warnings, ["op 'mul'", "op 'tanh'", "optimizer 'adam'"],
                                      ["arithmetic", "activations", "optimizers"]):
        assert warning.startswith(f"{what} of {_where('fake_builtins')} was skipped: the name is the built-in")
        assert f"built-in plugin '{builtin}', which keeps working" in warning and "replace=True" in warning

    report, _ = _report(plugin_sites, "fake_builtins")
    entry = report["fake_builtins"]
    assert entry["components"] == {"ops": ["fine_op"]} and entry["error"] is None
    assert set(entry["skipped"]["ops"]) == {"tanh", "mul"} and set(entry["skipped"]["optimizers"]) == {"adam"}
    assert "tanh" in report["activations"]["components"]["ops"]
    check = run_main("plugins", "--check", sites=_sites(plugin_sites, "fake_builtins", "softsign"))
    assert check.returncode == 1
    assert "plugins check FAILED" in check.stdout and "SKIPPED op tanh" in check.stdout
    assert check.stdout.count(f"of {_where('fake_builtins')} was skipped") == 3


# -- item 5: strict mode for named plugins; the cause is kept ---------------------------------------


@pytest.mark.parametrize("strict, raises", [
    ("1", True),
    ("broken_import", True),          # by entry-point name
    ("MGX_Broken.Import", True),      # by distribution name, compared as pip does
    ("mgx-softsign", False),          # strict for another plugin only: the broken one just warns
    ("0", False),
])
def test_strict_mode_can_name_the_plugins_it_applies_to(plugin_sites, strict, raises):
    out = probe_here('out["softsign"] = attempt(lambda: Value(1.0).softsign().data)',
                _sites(plugin_sites, "softsign", "broken_import"), env={"MICROGRADX_STRICT_PLUGINS": strict})
    if raises:
        assert out["softsign"]["error"] == "PluginLoadError" and _where("broken_import") in out["softsign"]["message"]
        assert out["warnings"] == []
    else:
        assert out["softsign"] == {"ok": 0.5}
        assert [m for _, m in out["warnings"] if _where("broken_import") in m]


def test_an_import_error_deep_in_a_helper_keeps_its_cause_file_and_line(plugin_sites):
    sites = _sites(plugin_sites, "deep_error")
    out = probe_here('out["tanh"] = Value(0.0).tanh().data', sites)
    (message,) = [m for _, m in out["warnings"]]
    assert out["causes"] == ["ValueError"]  # the warning instance keeps the original exception
    assert "failed to import 'mgxt_deep.plugin': ValueError: math domain error (raised at " in message
    assert "mgxt_deep/helpers.py:8, in scale)" in message

    strict = probe_here("""
        import traceback
        from microgradx import PluginLoadError
        try:
            Value(1.0) + 1.0
        except PluginLoadError as exc:
            out["cause"] = type(exc.__cause__).__name__
            out["plugins"] = list(exc.plugins)
            out["text"] = "".join(traceback.format_exception(exc))
    """, sites, env={"MICROGRADX_STRICT_PLUGINS": "1"})
    assert strict["cause"] == "ValueError" and strict["plugins"] == ["deep_error"]
    assert "SCALE = scale(-1.0)" in strict["text"] and "return math.log(x)" in strict["text"]

    plain = run_main("plugins", sites=sites)
    assert plain.returncode == 0 and "SKIPPED: failed to import" in plain.stdout
    assert "run `microgradx plugins --traceback`" in plain.stdout and "Traceback" not in plain.stdout
    full = run_main("plugins", "--traceback", sites=sites)
    assert full.returncode == 0
    assert "Traceback (most recent call last)" in full.stdout
    assert 'mgxt_deep/helpers.py", line 11, in <module>' in full.stdout and "SCALE = scale(-1.0)" in full.stdout
    report, _ = _report(plugin_sites, "deep_error")
    assert "ValueError: math domain error" in report["deep_error"]["traceback"]


def test_plugins_lists_what_loaded_and_what_failed_in_strict_mode(plugin_sites):
    sites = _sites(plugin_sites, "softsign", "broken_import")
    env = {"MICROGRADX_STRICT_PLUGINS": "1"}
    listing = run_main("plugins", sites=sites, env=env)
    assert listing.returncode == 1  # strict: a problem with a strict plugin fails
    assert "softsign  (mgx-softsign 1.2.3)" in listing.stdout and "ops: softsign" in listing.stdout
    assert "broken_import  (mgx-broken-import 0.1.0)" in listing.stdout and "SKIPPED" in listing.stdout
    assert "strict mode" in listing.stderr
    other = run_main("plugins", sites=sites, env={"MICROGRADX_STRICT_PLUGINS": "mgx-softsign"})
    assert other.returncode == 0, other.stderr  # the broken plugin is not one of the strict ones
    command = run_main("gradcheck", "tanh", sites=sites, env=env)
    assert command.returncode == 2 and command.stdout == ""
    (line,) = command.stderr.strip().splitlines()
    assert line.startswith("microgradx gradcheck: error: ") and _where("broken_import") in line


# -- item 6: hook functions without @hookimpl ----------------------------------------------------------


def test_hook_functions_without_hookimpl_warn_naming_them(plugin_sites):
    out = probe_here('out["op"] = attempt(lambda: Value(1.0).unmarked_op().data)', _sites(plugin_sites, "unmarked"))
    assert out["op"]["error"] == "AttributeError"
    (message,) = [m for _, m in out["warnings"]]
    assert message.startswith(f"{_where('unmarked')}: function(s) microgradx_register_losess (did you mean "
                              f"microgradx_register_losses?), microgradx_register_ops are named like hooks but "
                              f"not marked @microgradx.hookimpl")
    assert "it registers nothing" in message
    report, _ = _report(plugin_sites, "unmarked")
    assert report["unmarked"]["unmarked"][1] == "microgradx_register_ops"
    assert run_main("plugins", "--check", sites=_sites(plugin_sites, "unmarked")).returncode == 1


@pytest.mark.parametrize("names, status", [
    (("softsign",), 0),
    (("softsign", "broken_import"), 1),
    (("bad_arg",), 1),
    (("misspelled",), 1),
    (("hook_raises",), 1),
    (("dup_one", "dup_two"), 1),
], ids=["good", "import", "bad-arg", "misspelled", "hook-raises", "clash"])
def test_check_exits_nonzero_when_any_plugin_failed_was_skipped_or_clashed(plugin_sites, names, status):
    proc = run_main("plugins", "--check", sites=_sites(plugin_sites, *names))
    assert proc.returncode == status, proc.stdout + proc.stderr
    last = [line for line in proc.stdout.splitlines() if line.startswith("plugins check")]
    assert last and ("ok" in last[0]) == (status == 0)
    as_json = run_main("plugins", "--check", "--json", sites=_sites(plugin_sites, *names))
    assert as_json.returncode == status
    json.loads(as_json.stdout)  # the verdict goes to stderr: stdout stays JSON
