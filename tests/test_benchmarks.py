"""The benchmark scripts keep running: ``python benchmarks/run_all.py --quick`` exits 0 and prints its tables.

This guards the scripts against rot (an API they use renamed or gone), not the library's
speed: timings on a shared machine are not pass/fail material, so nothing here looks at a
number, only at the shape of the output. It needs PyTorch and micrograd 0.1.0 (the peers the
tables compare with) and skips, saying so, without them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RATIO = re.compile(r"\d[\d,]*\.?\d*x\b")  # a ratio cell: 0.66x, 1,589.60x, 30x


@pytest.mark.slow
def test_run_all_quick_prints_its_tables(torch, tmp_path):
    try:
        import micrograd.engine  # noqa: F401
    except ImportError:
        pytest.skip("micrograd 0.1.0 is not installed: it is the benchmarks' reference (pip install -e '.[test]')")
    results = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--json", str(results)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout
    summary = out[out.index("Summary"):]
    for heading in ("vs PyTorch", "vs micrograd", "time ratio", "peak MB", "recording vs eager", "Targets:",
                    "measure", "verdict"):
        assert heading in summary, f"{heading!r} missing from the summary:\n{summary}"
    assert len(RATIO.findall(summary)) > 40, summary

    data = json.loads(results.read_text())
    assert set(data["results"]) == {"epoch", "scalar", "nodes", "memory", "sklearn", "example", "data", "predict",
                                    "hvp"}
    for name, res in data["results"].items():
        assert res["tables"], f"{name} printed no table"
        for table in res["tables"]:
            assert table["rows"] and all(len(row) == len(table["headers"]) for row in table["rows"]), table
    targets = data["targets"]
    assert all(t["verdict"] == "met" or t["verdict"].startswith("MISSED") for t in targets)
    wanted = ("compiled, fused epoch vs PyTorch", "compiled, fine-grained epoch vs PyTorch",
              "eager lanes, fused epoch vs PyTorch", "eager scalar mode vs micrograd", "scalar recording",
              "scalar compiled epoch vs PyTorch", "eager node time vs micrograd", "eager node memory",
              "scalar-mode epoch peak memory", "fit time vs scikit-learn", "test score", "CSV read time vs pandas",
              "CSV read peak memory vs pandas", "predict row counts 1..199 vs scikit-learn",
              "rows, time vs scikit-learn", "rows, extra memory vs scikit-learn",
              "compiled HVP vs PyTorch's double backward")
    for what in wanted:
        assert any(what in t["what"] for t in targets), f"no target {what!r} in {[t['what'] for t in targets]}"


@pytest.mark.slow
def test_the_playground_benchmark_prints_its_table_and_target(tmp_path):
    """bench_playground.py is not part of run_all.py (it needs a server, and Chromium where there is one)."""
    pytest.importorskip("sklearn")
    results = tmp_path / "playground.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_playground.py"), "--quick", "--seconds",
                           "0.3", "--json", str(results)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "playground, frames over HTTP" in proc.stdout and "Targets:" in proc.stdout
    data = json.loads(results.read_text())
    assert data["tables"][0]["rows"] and data["rows"]["http"][0]["eps"] > 0
    assert any(t["what"] == "playground, frames over HTTP: epochs/s" for t in data["targets"])
