"""Every comparison in one run: epoch, node micro-benchmark, memory, the example end to end.

    python benchmarks/run_all.py            # the full run (about 2.5 minutes on a 2-core machine)
    python benchmarks/run_all.py --quick    # a smoke run (under a minute): fewer repeats, micrograd on subsets

Each benchmark runs in its own fresh interpreter, one after the other (so one's heap and
garbage-collector state cannot change another's figures), with its full output shown; the
end is a summary table of the medians and the ratios against the issue's targets, with the
versions and the machine. ``--json PATH`` also writes every figure as JSON.

The benchmarks (each also runs alone; see its docstring for what exactly is measured):

1. ``bench_epoch.py``: one full-batch SGD epoch of the breast-cancer MLP in microgradx (lanes
   and scalar mode), micrograd 0.1.0, PyTorch float64 (one thread) and numpy, gradients
   checked equal first;
2. ``bench_nodes.py``: the fine-grained node micro-benchmark against micrograd;
3. ``bench_memory.py``: peak memory of one scalar-mode epoch against micrograd;
4. ``bench_example.py``: ``examples/breast_cancer.py`` from process start to its final accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import print_header, print_table  # noqa: E402

#: A verdict line of bench_nodes.py: "  time, steady state        : total 0.71x (target <= 0.50x: ..."
NODES_VERDICT = re.compile(r"^\s+(time|memory), ([^:]+?)\s*:\s+(?:total )?([\d.]+)x \(target (<=|>=) ([\d.]+)x",
                           re.MULTILINE)


def run_bench(script: str, args: list[str], json_path: Optional[str]) -> tuple[str, float]:
    """Run ``python benchmarks/SCRIPT ARGS`` in a fresh interpreter, echoing its output; return (output, seconds)."""
    argv = [sys.executable, str(HERE / script), *args]
    if json_path:
        argv += ["--json", json_path]
    print(f"\n$ python benchmarks/{script} {' '.join(args)}".rstrip(), flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")  # one thread for every implementation (bench_example runs the example as is)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        out.append(line)
    code = proc.wait()
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"benchmarks/{script} failed with exit status {code}")
    return "".join(out), seconds


def verdict(value: float, op: str, limit: float) -> str:
    """'met' or 'MISSED by 1.23x' for ``value op limit``."""
    ok = value <= limit if op == "<=" else value >= limit if op == ">=" else value < limit
    if ok:
        return "met"
    return f"MISSED by {value / limit:.2f}x" if op in ("<=", "<") else f"MISSED by {limit / value:.2f}x"


def main(argv: Optional[list[str]] = None) -> int:
    """Run every benchmark, then print the summary (exit status 0)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats, micrograd on subsets")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    parser.add_argument("--skip", action="append", default=[], choices=["epoch", "nodes", "memory", "example"],
                        help="leave a benchmark out (repeatable)")
    args = parser.parse_args(argv)
    quick = ["--quick"] if args.quick else []
    started = time.perf_counter()
    print_header("microgradx benchmarks: every comparison" + (" (--quick)" if args.quick else ""),
                 ("numpy", "microgradx", "micrograd", "torch", "scikit-learn", "pluggy"))

    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, extra in (("epoch", "bench_epoch.py", []), ("nodes", "bench_nodes.py", []),
                                    ("memory", "bench_memory.py", []), ("example", "bench_example.py", [])):
            if name in args.skip:
                continue
            json_path = None if name == "nodes" else os.path.join(tmp, f"{name}.json")
            out, seconds[name] = run_bench(script, quick + extra, json_path)
            if json_path:
                with open(json_path, encoding="utf-8") as f:
                    results[name] = json.load(f)
            else:
                results[name] = {"verdicts": [
                    {"what": f"node micro-benchmark, {kind}, {what}", "value": float(v), "op": op,
                     "limit": float(lim)}
                    for kind, what, v, op, lim in NODES_VERDICT.findall(out)
                    if not what.startswith("*")]}

    # -- the summary ---------------------------------------------------------------------------------
    print("\n" + "=" * 100)
    print_header("Summary" + (" (--quick: fewer repeats, micrograd on subsets)" if args.quick else ""),
                 ("numpy", "microgradx", "micrograd", "torch"))
    if "epoch" in results:
        rows = results["epoch"]["rows"]
        torch_ms = rows.get("PyTorch float64, 1 thread", {}).get("ms_per_epoch")
        mg_ms = rows.get("micrograd 0.1.0", {}).get("ms_per_epoch")
        table = []
        for name, r in rows.items():
            ms = r["ms_per_epoch"]
            partial = "" if r["examples"] == results["epoch"]["examples"] else f" [on {r['examples']} ex., scaled]"
            table.append([name + partial, ms, f"{ms / torch_ms:.2f}x" if torch_ms else "-",
                          f"{mg_ms / ms:.1f}x" if mg_ms else "-"])
        print(f"Breast-cancer epoch ({results['epoch']['examples']} examples, full batch), median ms:")
        print_table(["implementation", "ms/epoch", "vs PyTorch", "micrograd / this"], table)
    if "memory" in results:
        table = [[name, r["examples"], r["peak_bytes"] / 1e6] for name, r in results["memory"]["rows"].items()]
        print("Peak memory of one epoch (tracemalloc), MB:")
        print_table(["implementation", "examples", "peak MB"], table)
    if "example" in results:
        ex = results["example"]
        run = ex["runs"]
        print(f"examples/breast_cancer.py: final test accuracy {run[0]['test']:.1f}% (train {run[0]['train']:.1f}%), "
              f"median {sorted(r['to_accuracy'] for r in run)[len(run) // 2]:.2f} s from process start "
              f"({len(run)} runs)\n")

    table = []
    for name in ("epoch", "nodes", "memory", "example"):
        for v in results.get(name, {}).get("verdicts", []):
            ok = verdict(v["value"], v["op"], v["limit"])
            if v.get("accuracy_reached") is False:
                ok = "MISSED (accuracy not reached)"
            unit = " s" if name == "example" else "x"
            table.append([v["what"], f"{v['value']:.3g}{unit}", f"{v['op']} {v['limit']:g}{unit}", ok])
    print("Targets:")
    print_table(["measure", "value", "target", "verdict"], table, align="lrrl")
    total = time.perf_counter() - started
    print("run time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + f"; total {total:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"results": results, "seconds": seconds}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
