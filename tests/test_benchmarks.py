"""The benchmark scripts keep running: each one's ``--quick`` run exits 0 and writes its tables and targets.

This guards the scripts against rot (an API they use renamed or gone), not the library's
speed: timings on a shared machine are not pass/fail material, so nothing here looks at a
number, only at the shape of the output. It needs PyTorch and micrograd 0.1.0 (the peers the
tables compare with) and skips, saying so, without them.

Each script's ``main`` runs once, in this process (a fresh interpreter for each, as
``run_all.py`` gives them, would add nine start-ups of numpy, scikit-learn and PyTorch: most of
a quick run's time); ``run_all.py`` itself runs in a subprocess on one benchmark, and its summary
is checked on all nine results.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_DIR = ROOT / "benchmarks"
RATIO = re.compile(r"\d[\d,]*\.?\d*x\b")  # a ratio cell: 0.66x, 1,589.60x, 30x
sys.path.insert(0, str(BENCHMARKS_DIR))  # (the scripts import their neighbours `common` and `peers` by name)
run_all = importlib.import_module("run_all")

#: smaller than --quick where a script allows it: the shape of the output is the same
SMALLER = {"epoch": ["--rounds", "1", "--micrograd-examples", "3"],
           "scalar": ["--examples", "10", "--rounds", "1", "--micrograd-examples", "2"],
           "nodes": ["--ops", "300"], "memory": ["--micrograd-examples", "3", "--scalar-examples", "5"],
           "data": ["--rows", "4000"], "predict": ["--rounds", "1"], "hvp": ["--rounds", "1"]}
#: each benchmark's targets, as the summary names them
WANTED = {
    "epoch": ("compiled, fused epoch vs PyTorch", "compiled, fine-grained epoch vs PyTorch",
              "eager lanes, fused epoch vs PyTorch", "eager scalar mode vs micrograd"),
    "scalar": ("scalar recording", "scalar compiled epoch vs PyTorch"),
    "nodes": ("eager node time vs micrograd", "eager node memory"),
    "memory": ("scalar-mode epoch peak memory",),
    "sklearn": ("fit time vs scikit-learn", "test score"),
    "example": ("examples/breast_cancer.py to its final accuracy",),
    "data": ("CSV read time vs pandas", "CSV read peak memory vs pandas"),
    "predict": ("predict row counts 1..199 vs scikit-learn", "rows, time vs scikit-learn",
                "rows, extra memory vs scikit-learn"),
    "hvp": ("compiled HVP vs PyTorch's double backward",),
}


def _needs_the_peers(torch) -> None:
    try:
        import micrograd.engine  # noqa: F401
    except ImportError:
        pytest.skip("micrograd 0.1.0 is not installed: it is the benchmarks' reference (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def quick_results(torch, tmp_path_factory) -> dict[str, tuple[dict, str]]:
    """name -> (the JSON its ``--quick --json`` run wrote, what it printed), every benchmark of run_all.py."""
    _needs_the_peers(torch)
    folder = tmp_path_factory.mktemp("bench")
    done = {}
    for name, (script, extra, _) in run_all.BENCHMARKS.items():
        module = importlib.import_module(Path(script).stem)
        path = folder / f"{name}.json"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = module.main([*extra, "--quick", *SMALLER.get(name, []), "--json", str(path)])
        assert code == 0, f"benchmarks/{script} --quick exited {code}:\n{out.getvalue()[-4000:]}"
        done[name] = json.loads(path.read_text(encoding="utf-8")), out.getvalue()
    return done


@pytest.mark.slow
@pytest.mark.parametrize("name", list(run_all.BENCHMARKS))
def test_each_benchmark_prints_and_writes_its_tables_and_targets(quick_results, name):
    res, printed = quick_results[name]
    assert res["tables"], f"{name} printed no table"
    for table in res["tables"]:
        assert table["rows"] and all(len(row) == len(table["headers"]) for row in table["rows"]), table
        assert table["title"] in printed
    assert all(t["verdict"] == "met" or t["verdict"].startswith("MISSED") for t in res["targets"])
    for what in WANTED[name]:
        assert any(what in t["what"] for t in res["targets"]), f"{name}: no target {what!r}"
    if res["targets"]:
        assert "Targets:" in printed


@pytest.mark.slow
def test_the_summary_shows_every_table_and_target(quick_results, capsys):
    results = {name: res for name, (res, _) in quick_results.items()}
    doc = run_all.summarise(results, {name: 1.0 for name in results}, quick=True, total=9.0)
    out = capsys.readouterr().out
    summary = out[out.index("Summary"):]
    for heading in ("vs PyTorch", "vs micrograd", "time ratio", "peak MB", "recording vs eager", "Targets:",
                    "measure", "verdict"):
        assert heading in summary, f"{heading!r} missing from the summary:\n{summary}"
    assert len(RATIO.findall(summary)) > 40, summary
    assert set(doc["results"]) == set(run_all.BENCHMARKS)
    assert len(doc["targets"]) == sum(len(res["targets"]) for res in results.values())
    for name, wanted in WANTED.items():
        for what in wanted:
            assert any(t["what"].startswith(f"[{name}] ") and what in t["what"] for t in doc["targets"]), what
    assert re.search(r"targets: \d+ met, \d+ missed", summary)


@pytest.mark.slow
def test_run_all_runs_each_benchmark_in_a_fresh_interpreter_and_writes_the_summary(torch, tmp_path):
    _needs_the_peers(torch)
    results = tmp_path / "results.json"
    others = [flag for name in run_all.BENCHMARKS if name != "sklearn" for flag in ("--skip", name)]
    proc = subprocess.run([sys.executable, str(BENCHMARKS_DIR / "run_all.py"), "--quick", *others, "--json",
                           str(results)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "$ python benchmarks/bench_sklearn.py --config issue11 --quick" in proc.stdout
    assert "Summary" in proc.stdout and "run time: sklearn" in proc.stdout
    data = json.loads(results.read_text())
    assert set(data["results"]) == {"sklearn"} and set(data["seconds"]) == {"sklearn"}
    assert any(t["what"].startswith("[sklearn] ") and "fit time vs scikit-learn" in t["what"] for t in data["targets"])


@pytest.mark.slow
def test_the_playground_benchmark_prints_its_table_and_target(tmp_path):
    """bench_playground.py is not part of run_all.py (it needs a server, and Chromium where there is one)."""
    pytest.importorskip("sklearn")
    results = tmp_path / "playground.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS_DIR / "bench_playground.py"), "--quick", "--seconds",
                           "0.3", "--json", str(results)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "playground, frames over HTTP" in proc.stdout and "Targets:" in proc.stdout
    data = json.loads(results.read_text())
    assert data["tables"][0]["rows"] and data["rows"]["http"][0]["eps"] > 0
    assert any(t["what"] == "playground, frames over HTTP: epochs/s" for t in data["targets"])
