"""docs/plugins.md stays true: its hook reference is what the generator makes from the
hookspecs now, every hook and argument is documented, its excerpts match the example
plugin, and its run-time example runs."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest
from helpers.plugin_env import PLUGIN_VARIABLES

import microgradx
from microgradx.registry import KINDS, hookspecs
from microgradx.registry.discovery import new_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
SCRIPT = ROOT / "docs" / "gen_hook_reference.py"
EXCERPT = re.compile(r"<!-- excerpt: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)\n```", re.S)


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    """docs/gen_hook_reference.py, imported from its path."""
    spec = importlib.util.spec_from_file_location("gen_hook_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(doc: str, heading: str) -> str:
    """The text of the ``## heading`` section, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    assert match, f"docs/plugins.md has no section '## {heading}'"
    return match.group(1)


# -- the generated hook reference -----------------------------------------------------------


def test_hook_reference_is_what_the_generator_makes_from_the_hookspecs_now(gen, doc):
    assert gen.current(doc) == gen.render(), (
        "docs/plugins.md's hook reference is out of date: run `python docs/gen_hook_reference.py`")


def test_generator_finds_every_hook_the_plugin_manager_knows(gen):
    known = {name for name in dir(new_plugin_manager().hook) if name.startswith("microgradx_")}
    assert {fn.__name__ for fn in gen.hookspecs()} == known


def test_every_hook_has_a_docstring_that_names_each_of_its_arguments(gen):
    for fn in gen.hookspecs():
        doc = inspect.getdoc(fn) or ""
        assert doc.strip(), f"hookspec {fn.__name__} has no docstring"
        for arg in inspect.signature(fn).parameters:
            assert re.search(rf"``{arg}\b", doc), f"the docstring of {fn.__name__} does not describe ``{arg}``"


def test_every_hook_appears_in_the_reference_with_its_signature(gen, doc):
    reference = gen.current(doc)
    for fn in gen.hookspecs():
        assert f"#### `{fn.__name__}`" in reference
        assert gen.signature(fn) in reference
    assert gen.signature(hookspecs.microgradx_batch_end) == (
        "microgradx_batch_end(trainer: Any, epoch: int, batch: int, loss: float)")


def test_check_mode_reports_a_stale_file_and_the_script_repairs_it(gen, tmp_path, doc, capsys):
    stale = tmp_path / "plugins.md"
    stale.write_text(doc.replace("Register differentiable ops.", "Register ops (an old description)."))
    assert gen.main(["--check", "--file", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert gen.main(["--file", str(stale)]) == 0
    assert stale.read_text() == doc
    assert gen.main(["--check", "--file", str(stale)]) == 0


def test_the_generator_refuses_a_file_without_markers(gen):
    with pytest.raises(ValueError, match="markers"):
        gen.update("# no reference here\n", gen.render())


# -- the tutorial ---------------------------------------------------------------------------


def test_every_excerpt_is_copied_verbatim_from_the_example_plugin(doc):
    excerpts = list(EXCERPT.finditer(doc))
    assert len(excerpts) >= 8
    for m in excerpts:
        path = ROOT / m["path"]
        assert path.is_file(), f"docs/plugins.md quotes {m['path']}, which does not exist"
        source = "\n" + path.read_text(encoding="utf-8") + "\n"
        assert "\n" + m["code"] + "\n" in source, (
            f"an excerpt of {m['path']} in docs/plugins.md no longer matches the file:\n{m['code']}")


def test_the_tutorial_covers_every_kind_of_component(doc):
    tutorial = _section(doc, "Tutorial: from an empty folder to a published plugin")
    for kind in ("ops", "losses", "optimizers", "layers", "datasets", "callbacks"):
        assert kind in KINDS
        assert f"def microgradx_register_{kind}(register)" in tutorial, kind
    for hook in ("microgradx_batch_end", "microgradx_epoch_end"):
        assert f"def {hook}(" in tutorial
    assert "[project.entry-points.microgradx]" in tutorial


def test_the_tutorials_folder_tree_lists_the_example_plugins_files(doc):
    tree = re.search(r"^### 1\. The folder\n.*?```text\n(.*?)```", doc, re.S | re.M).group(1)
    listed, folders = set(), []
    for line in tree.splitlines()[1:]:
        match = re.match(r"^([│ ]*)[├└]── (\S+)", line)
        depth, name = len(match.group(1)) // 4, match.group(2)
        folders[depth:] = [name.rstrip("/")] if name.endswith("/") else []
        if not name.endswith("/"):
            listed.add("/".join([*folders[:depth], name]))
    plugin = ROOT / "examples" / "custom_op_plugin"
    skip = ("build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache")
    files = {str(p.relative_to(plugin)) for p in plugin.rglob("*") if p.is_file()
             and not any(part in skip or part.endswith(".egg-info") for part in p.relative_to(plugin).parts)}
    assert listed == files, "docs/plugins.md's folder tree differs from examples/custom_op_plugin/"


def _prose(doc: str) -> str:
    """The document without its fenced code blocks (where ``x[0](y)`` is code, not a link)."""
    return re.sub(r"^```.*?^```", "", doc, flags=re.S | re.M)


def test_relative_links_point_to_files_that_exist(doc):
    for target in re.findall(r"\]\((?!https?:|#)([^)]+)\)", _prose(doc)):
        assert (DOC.parent / target.split("#")[0]).exists(), f"docs/plugins.md links to missing {target}"


def test_anchors_point_to_headings(doc):
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", _prose(doc), re.M)}
    for anchor in re.findall(r"\]\(#([^)]+)\)", _prose(doc)):
        assert anchor in slugs, f"docs/plugins.md links to #{anchor}, which no heading makes"


# -- discovery and selection ----------------------------------------------------------------


def test_the_documented_environment_variables_are_the_ones_the_code_reads(doc):
    section = _section(doc, "Disabling and selecting plugins")
    documented = set(re.findall(r"`(MICROGRADX_[A-Z_]+)=", section))
    code = "".join(p.read_text() for p in (ROOT / "microgradx" / "registry").glob("*.py"))
    read = set(re.findall(r'"(MICROGRADX_[A-Z_]+)"', code))
    assert documented == read == {"MICROGRADX_DISABLE_PLUGIN_AUTOLOAD", "MICROGRADX_PLUGINS",
                                  "MICROGRADX_STRICT_PLUGINS", "MICROGRADX_PLUGIN_MODULES"}
    assert read == set(PLUGIN_VARIABLES), "the tests' list of variables to clear misses one the code reads"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert read <= set(re.findall(r"`(MICROGRADX_[A-Z_]+)=", readme)), "README.md's table misses a variable"


def test_the_run_time_registration_example_runs(doc, fresh_registry):
    section = _section(doc, "Registering a plugin at run time")
    code = re.search(r"```python\n(.*?)\n```", section, re.S).group(1)
    for name in ("register_plugin", "plugin_registered", "unregister_plugin"):
        assert f"microgradx.{name}(" in code and callable(getattr(microgradx, name))
    namespace: dict = {}
    exec(compile(code, "docs/plugins.md", "exec"), namespace)
    assert "cube" not in fresh_registry().names("ops")  # the example unregisters what it registered
    with microgradx.plugin_registered(namespace["CubePlugin"](), name="cube-again"):
        x = microgradx.Value(2.0)
        y = x.cube()
        y.backward()
        assert (y.data, x.grad) == (8.0, 12.0)


def test_the_plugins_command_has_the_options_the_guide_uses_and_shows_each_ops_doc(doc, capsys, fresh_registry):
    from microgradx.cli import build_parser, main

    used = set(re.findall(r"microgradx plugins((?: --?[a-z]+)+)", doc))
    options = {o for group in used for o in group.split()}
    assert {"--check", "--traceback", "-v"} <= options
    parser = build_parser()
    for option in options:
        parser.parse_args(["plugins", option])  # exits (SystemExit) on an unknown option
    assert main(["plugins", "-v"]) == 0
    out = capsys.readouterr().out
    for name in ("tanh", "mul"):
        line = next(line for line in out.splitlines() if line.startswith(f"    op {name} "))
        assert line.endswith(fresh_registry().get("ops", name).doc), line
