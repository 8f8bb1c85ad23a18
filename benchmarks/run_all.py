"""Every comparison in one run: the epoch, the compiled scalar loop, node floors, memory, scikit-learn, the example.

    python benchmarks/run_all.py              # the full run (about 5 minutes on the 2-core test machine)
    python benchmarks/run_all.py --quick      # a smoke run (well under a minute): subsets, few repeats
    python benchmarks/run_all.py --skip sklearn --json results.json

Each benchmark runs in its own fresh interpreter, one after the other (so one's heap and
collector state cannot change another's figures), with its full output shown and its figures
read back from ``--json``. The end is a summary: the versions and the machine, each
benchmark's table of medians and ratios, and every target with its value and verdict.

1. ``bench_epoch.py``: the breast-cancer full-batch epoch: compiled and eager microgradx,
   PyTorch float64 (one thread), numpy by hand, micrograd 0.1.0;
2. ``bench_scalar.py``: micrograd's per-example loop compiled with ``lanes=False``;
3. ``bench_nodes.py``: the eager engine's node time and memory against micrograd's;
4. ``bench_memory.py``: a scalar-mode epoch's peak memory; a recording's memory;
5. ``bench_sklearn.py --config issue11``: fit time and score against scikit-learn's MLP;
6. ``bench_example.py``: ``examples/breast_cancer.py`` from process start to its final accuracy;
7. ``bench_data.py``: a million-row CSV read, ``train --data`` and ``predict`` against pandas and
   scikit-learn (time and peak memory);
8. ``bench_predict.py``: ``predict`` on row counts 1..199 and on 400,000 rows against scikit-learn's
   MLP, and ``microgradx predict``'s peak memory on a million-row CSV;
9. ``bench_hvp.py``: a Hessian-vector product of the breast-cancer MLP's loss, compiled and eager,
   against PyTorch's double backward.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
BENCHMARKS = {  # name -> (script, extra arguments, takes --cpu-time)
    "epoch": ("bench_epoch.py", [], True),
    "scalar": ("bench_scalar.py", [], True),
    "nodes": ("bench_nodes.py", [], True),
    "memory": ("bench_memory.py", [], False),
    "sklearn": ("bench_sklearn.py", ["--config", "issue11"], False),
    "example": ("bench_example.py", [], False),
    "data": ("bench_data.py", [], False),
    "predict": ("bench_predict.py", [], False),
    "hvp": ("bench_hvp.py", [], True),
}


def run_bench(script: str, args: list[str], json_path: str) -> tuple[dict, float]:
    """Run ``python benchmarks/SCRIPT ARGS --json PATH`` in a fresh interpreter, echoing it; (its JSON, seconds)."""
    argv = [sys.executable, str(HERE / script), *args, "--json", json_path]
    print(f"\n$ python benchmarks/{script} {' '.join(args)}".rstrip(), flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # (common pinned the BLAS thread variables: inherited)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
    code = proc.wait()
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"benchmarks/{script} failed with exit status {code}")
    with open(json_path, encoding="utf-8") as f:
        return json.load(f), seconds


def main(argv: Optional[list[str]] = None) -> int:
    """Run every benchmark, then print the summary (exit status 0; a benchmark that fails stops the run)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: subsets and few repeats")
    parser.add_argument("--skip", action="append", default=[], choices=list(BENCHMARKS),
                        help="leave a benchmark out (repeatable)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process CPU clock (epoch, scalar, nodes)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    common.print_header("microgradx benchmarks: every comparison" + (" (--quick)" if args.quick else ""),
                        (*common.PACKAGES, "pluggy"))
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (script, extra, cpu) in BENCHMARKS.items():
            if name in args.skip:
                continue
            flags = extra + (["--quick"] if args.quick else []) + (["--cpu-time"] if cpu and args.cpu_time else [])
            results[name], seconds[name] = run_bench(script, flags, os.path.join(tmp, f"{name}.json"))

    print("\n" + "=" * 100)
    info = common.print_header("Summary" + (" (--quick: a smoke run on subsets, not figures for the record)"
                                            if args.quick else ""))
    targets = []
    for name, res in results.items():
        for t in res.get("tables", []):
            print(f"[{name}] {t['title']}")
            common.print_table(t["headers"], t["rows"], t.get("align"))
        if res.get("skipped"):
            print(f"[{name}] skipped: {res['skipped']}\n")
        targets += [dict(t, what=f"[{name}] {t['what']}") for t in res.get("targets", [])]
    common.print_targets(targets)
    missed = sum(t["verdict"] != "met" for t in targets)
    total = time.perf_counter() - started
    print(f"targets: {len(targets) - missed} met, {missed} missed")
    print("run time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + f"; total {total:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({**info, "results": results, "seconds": seconds, "targets": targets}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
