"""Eager floors: node time and memory of microgradx against micrograd 0.1.0 on the same random DAG.

    python benchmarks/bench_nodes.py            # 10,000 ops, 5 repeats (under a minute)
    python benchmarks/bench_nodes.py --quick    # 2,000 ops, 1 repeat

The DAG: a seeded random program of add, mul, pow (constant exponent 2 or 3) and relu over
64 inputs, generated once as data; every value stays within +-4 (it is simulated in floats
while generated) and every node feeds the root (leftovers are joined by a tree of adds,
counted as ops). It is turned into straight-line Python (``v105 = v12 * v87`` ...), compiled
once, so building costs what a user's code costs; the same text builds both engines' graphs
(``Value`` is micrograd's or microgradx's). Gradients of every node are checked equal first.

Time, per op node, in a **fresh interpreter per measurement** (so no engine inherits the
other's heap or the collector's counts): it imports both engines, builds a small warm-up
DAG (the registry's first load, code paths), collects, then times one graph's build,
``root.backward()`` and release (dropping the last references). Repeats run engine after
engine. Four ways, each its own processes:

* ``gc default``: the collector enabled, default thresholds, for both: the target;
* ``gc paused``: ``gc.disable()`` around the whole build, backward and release (context);
* ``steady``: five graphs in a row in one process, nothing collected between (context);
* ``anomaly``: microgradx inside ``microgradx.detect_anomaly()`` (context: what anomaly mode
  costs when on; off, it is the gc-default row).

``floor``, in the gc-default way only (``benchmarks/floor.py``): microgradx's own registered ops
through their protocol (``forward(*xs)``, ``backward(grad, out, *xs)`` returning one gradient
per input, which the compiler batches over), an iterative topological order and the same
slots per node, with every check, error message, lane path and anomaly hook taken out. It
is not a way to run microgradx: it bounds the target, since a plain engine on this op
protocol cannot cost less.

``reclaim``, after each measurement: a timed ``gc.collect()`` minus a second, baseline one
(0 when the first finds nothing unreachable). micrograd's nodes are reference cycles (each
``_backward`` closure holds its node), so its graph is freed only by a later collection: on
a clean heap that cost falls outside build + backward + release, and is shown here; in the
steady state it falls on micrograd's own later graphs. microgradx's graph has no cycles and
reference counting frees it at release, which is timed. The target ratio is the median of
the per-repeat ratios of build + backward + release.

Memory, per op node, with tracemalloc in the gc-default processes after their timing:
``graph`` is what the built graph holds while alive, ``peak`` the peak over build +
backward, both above the traced memory before building (microgradx's wrapped exponents are
included). ``--profile`` adds a cProfile of microgradx's build and backward.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001
import argparse
import contextlib
import gc
import json
import math
import random
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from typing import Any, Optional

import peers
from common import GcTimer, median, target

LIMIT = 4.0
OP_WEIGHTS = {"add": 0.35, "mul": 0.3, "pow": 0.15, "relu": 0.2}
ENGINES = ("micrograd", "microgradx")
FLOOR = "floor"  # benchmarks/floor.py: microgradx's ops and op protocol with every check taken out
MODES = {"default": "gc default (target)", "paused": "gc paused", "steady": "steady: 5 graphs in a row",
         "anomaly": "anomaly mode on, gc default"}
# The engines of each way (default: both). micrograd has no anomaly mode: that row is compared with micrograd's
# gc-default row. The floor runs in the target's way only: it is what bounds the target.
ONLY = {"default": (*ENGINES, FLOOR), "anomaly": ("microgradx",)}
TIME_LIMIT, MEMORY_LIMIT = 1.0, 0.35


# -- the program -------------------------------------------------------------------------------------------


def _apply(op: tuple, vals: list) -> float:
    x = vals[op[1]]
    if op[0] == "add":
        return x + vals[op[2]]
    if op[0] == "mul":
        return x * vals[op[2]]
    if op[0] == "pow":
        return x ** op[2]
    return x if x > 0 else 0.0


def make_program(n_ops: int, seed: int = 0, n_inputs: int = 64) -> tuple[list, list]:
    """(inputs, ops): a random DAG of about ``n_ops`` ops ("add", i, j) ... whose values stay within +-LIMIT."""
    rng = random.Random(seed)
    vals = [rng.uniform(-2.0, 2.0) for _ in range(n_inputs)]
    ops: list = []
    unused = list(range(n_inputs))  # nothing reads these yet
    names, weights = list(OP_WEIGHTS), list(OP_WEIGHTS.values())
    while len(ops) + len(unused) - 1 < n_ops:
        for _ in range(20):  # rejection sampling keeps every value within +-LIMIT
            name = rng.choices(names, weights)[0]
            i = unused[rng.randrange(len(unused))] if rng.random() < 0.5 else rng.randrange(len(vals))
            op = (name, i, rng.randrange(len(vals)) if name in ("add", "mul") else rng.choice((2, 3)))
            op = op if name != "relu" else (name, i)
            if abs(_apply(op, vals)) <= LIMIT:
                break
        else:
            op = ("relu", i)
        for a in (op[1], op[2]) if op[0] in ("add", "mul") else (op[1],):
            if a in unused:
                unused.remove(a)
        vals.append(_apply(op, vals))
        unused.append(len(vals) - 1)
        ops.append(op)
    while len(unused) > 1:  # join the leftovers with a balanced tree of adds
        nxt = []
        for a, b in zip(unused[0::2], unused[1::2]):
            ops.append(("add", a, b))
            vals.append(vals[a] + vals[b])
            nxt.append(len(vals) - 1)
        unused = nxt + ([unused[-1]] if len(unused) % 2 else [])
    return vals[:n_inputs], ops


def compile_build(inputs: list, ops: list, return_all: bool = False) -> Callable:
    """``build(xs, Value)``: straight-line code building the graph; returns (leaves, root) or every node."""
    k = len(inputs)
    lines = ["def build(xs, Value):"] + [f"    v{i} = Value(xs[{i}])" for i in range(k)]
    form = {"add": "v{1} + v{2}", "mul": "v{1} * v{2}", "pow": "v{1} ** {2}", "relu": "v{1}.relu()"}
    lines += [f"    v{k + j} = " + form[op[0]].format(*op) for j, op in enumerate(ops)]
    every = ", ".join(f"v{i}" for i in range(k + len(ops)))
    lines.append(f"    return [{every}]" if return_all else
                 f"    return [{', '.join(f'v{i}' for i in range(k))}], v{k + len(ops) - 1}")
    namespace: dict = {}
    exec(compile("\n".join(lines) + "\n", "<bench_nodes program>", "exec"), namespace)
    return namespace["build"]


def value_class(engine: str) -> Any:
    """The engine's Value class."""
    if engine == "micrograd":
        from micrograd.engine import Value
    elif engine == FLOOR:
        from floor import Value
    else:
        from microgradx import Value
    return Value


# -- one measurement, in a fresh interpreter -------------------------------------------------------------


def worker(engine: str, mode: str, n_ops: int, seed: int, memory: bool, cpu_time: bool = False) -> dict:
    """Time one graph (or five, ``steady``) after a warm-up; then reclaim; then, with ``memory``, its bytes."""
    value_class("micrograd"), value_class("microgradx")  # both engines imported in every process: alike heaps
    Value = value_class(engine)
    inputs, ops = make_program(n_ops, seed)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(ops) + 1000))  # micrograd's recursive topo sort
    build = compile_build(inputs, ops)
    warm_in, warm_ops = make_program(300, seed + 1)
    warm = compile_build(warm_in, warm_ops)
    for _ in range(2):
        warm(warm_in, Value)[1].backward()
    gc.collect()
    clock = time.process_time_ns if cpu_time else time.perf_counter_ns
    rounds = 5 if mode == "steady" else 1
    b = w = r = 0
    if mode == "paused":
        gc.disable()
    anomaly = __import__("microgradx").detect_anomaly() if mode == "anomaly" else contextlib.nullcontext()
    with GcTimer() as in_gc, anomaly:
        for _ in range(rounds):
            t0 = clock()
            leaves, root = build(inputs, Value)
            t1 = clock()
            root.backward()
            t2 = clock()
            del leaves, root
            t3 = clock()
            b, w, r = b + t1 - t0, w + t2 - t1, r + t3 - t2
    if mode == "paused":
        gc.enable()
    t4 = clock()
    found = gc.collect()
    t5 = clock()
    gc.collect()
    t6 = clock()
    out = {"build": b / rounds, "backward": w / rounds, "release": r / rounds, "gc": in_gc.ns / rounds,
           "reclaim": (max(0, (t5 - t4) - (t6 - t5)) if found else 0) / rounds}
    if memory:
        gc.collect()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        graph = build(inputs, Value)  # (the leaves and the root, alive until the peak is read)
        held, _ = tracemalloc.get_traced_memory()
        graph[1].backward()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del graph
        out.update(graph_bytes=held - base, peak_bytes=peak - base)
    return out


def spawn(engine: str, mode: str, n_ops: int, seed: int, memory: bool, cpu_time: bool) -> dict:
    """`worker` in a fresh interpreter: its one line of JSON."""
    argv = [sys.executable, os.path.abspath(__file__), "--worker", engine, "--mode", mode, "--ops", str(n_ops),
            "--seed", str(seed)] + (["--memory"] if memory else []) + (["--cpu-time"] if cpu_time else [])
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench_nodes worker {engine}/{mode} failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_gradients(inputs: list, ops: list) -> float:
    """Assert every node's data and gradient agree between the engines (relative 1e-9); the worst difference."""
    build = compile_build(inputs, ops, return_all=True)
    ref = build(inputs, value_class("micrograd"))
    ref[-1].backward()
    worst = 0.0
    for engine in ("microgradx", FLOOR):
        got = build(inputs, value_class(engine))
        got[-1].backward()
        for i, (r, g) in enumerate(zip(ref, got)):
            for what, a, b in (("data", r.data, g.data), ("grad", float(r.grad), float(g.grad))):
                if not math.isclose(a, b, rel_tol=peers.REL_TOL, abs_tol=1e-300):
                    raise AssertionError(f"node {i}: {what} differs: micrograd {a!r}, {engine} {b!r}")
                if a != b and engine == "microgradx":
                    worst = max(worst, abs(a - b) / max(abs(a), abs(b)))
        del got
    del ref
    gc.collect()
    return worst


# -- the parent -------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    """Check, spawn the measurements, print; return the results as a JSON-able dict."""
    n_ops = args.ops or (2_000 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 5)
    info = common.print_header("Node micro-benchmark: microgradx's eager engine vs micrograd 0.1.0",
                               ("numpy", "microgradx", "micrograd"))
    if not common.have("micrograd"):
        print("micrograd is not installed (pip install micrograd==0.1.0); it is the reference: nothing to compare")
        return {**info, "tables": [], "targets": [], "skipped": "micrograd is not installed"}
    inputs, ops = make_program(n_ops, args.seed)
    n = len(ops)
    counts = ", ".join(f"{k} {sum(op[0] == k for op in ops)}" for k in OP_WEIGHTS)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * n + 1000))
    print(f"DAG: {n:,} op nodes over {len(inputs)} inputs (seed {args.seed}): {counts}")
    print(f"gradients: microgradx (and the floor) == micrograd on all {len(inputs) + n:,} nodes (worst relative "
          f"difference {check_gradients(inputs, ops):.1e}, tolerance {peers.REL_TOL:g})")
    print(f"timing: {'process CPU time' if args.cpu_time else 'wall clock'}, one fresh interpreter per measurement, "
          f"{repeat} repeats x {sum(len(ONLY.get(m, ENGINES)) for m in MODES)} (engine, way) pairs; memory: "
          f"tracemalloc in the gc-default processes\n")
    res: dict = {(e, m): [] for m in MODES for e in ONLY.get(m, ENGINES)}
    for _ in range(repeat):
        for mode in MODES:
            for e in ONLY.get(mode, ENGINES):
                res[e, mode].append(spawn(e, mode, n_ops, args.seed, mode == "default", args.cpu_time))

    def per_node(runs: list, key: str) -> float:
        return median(r[key] for r in runs) / n

    def total(r: dict) -> float:
        return r["build"] + r["backward"] + r["release"]

    def vs_micrograd(engine: str, mode: str) -> float:
        return median(total(x) / total(m) for x, m in zip(res[engine, mode],
                                                          res["micrograd", "default" if mode == "anomaly" else mode]))

    ratios = {mode: vs_micrograd("microgradx", mode) for mode in MODES}
    floor_ratio = vs_micrograd(FLOOR, "default")
    with_reclaim = median((total(x) + x["reclaim"]) / (total(m) + m["reclaim"])
                          for x, m in zip(res["microgradx", "default"], res["micrograd", "default"]))
    rows = []
    for mode, title in MODES.items():
        for e in ONLY.get(mode, ENGINES):
            runs = res[e, mode]
            name = "floor: microgradx's ops, no checks" if e == FLOOR else e
            ratio = {"micrograd": 1.0, "microgradx": ratios[mode], FLOOR: floor_ratio}[e]
            rows.append([f"{name}, {title}", per_node(runs, "build"), per_node(runs, "backward"),
                         per_node(runs, "release"), median(total(r) for r in runs) / n, per_node(runs, "gc"),
                         per_node(runs, "reclaim"), f"{ratio:.2f}x"])
    tables = [common.table("Time, ns per op node, medians (total = build + backward + release; reclaim: left to "
                           "the collector; vs micrograd: median of paired repeats of total):",
                           ["engine, way", "build", "backward", "release", "total", "of which in gc", "reclaim",
                            "total vs micrograd"], rows)]
    mem = {e: {k: median(r[k] for r in res[e, "default"]) / n for k in ("graph_bytes", "peak_bytes")}
           for e in ONLY["default"]}
    mrows = [[e, mem[e]["graph_bytes"], mem[e]["peak_bytes"], common.ratio(mem[e]["graph_bytes"],
              mem["micrograd"]["graph_bytes"]), common.ratio(mem[e]["peak_bytes"], mem["micrograd"]["peak_bytes"])]
             for e in ONLY["default"]]
    tables.append(common.table("Memory, bytes per op node (graph: held while alive; peak: over build + backward):",
                               ["engine", "graph", "peak", "graph vs micrograd", "peak vs micrograd"], mrows))
    print(f"context: with what each leaves to the collector counted (total + reclaim), gc default: "
          f"{with_reclaim:.2f}x; gc paused: {ratios['paused']:.2f}x; steady state: {ratios['steady']:.2f}x; "
          f"microgradx in anomaly mode vs micrograd (gc default): {ratios['anomaly']:.2f}x (anomaly mode off is the "
          f"target row: it costs nothing there)")
    print(f"bound: the floor (microgradx's ops through their protocol, forward(*xs) and backward(grad, out, *xs), "
          f"an iterative order, with every check, error message and hook taken out; benchmarks/floor.py) takes "
          f"{floor_ratio:.2f}x micrograd's time: a plain engine on this op protocol pays at least that\n")
    targets = [target("eager node time vs micrograd, clean heap, gc default", ratios["default"], "<=", TIME_LIMIT),
               target("eager node memory vs micrograd, graph alive", mem["microgradx"]["graph_bytes"] /
                      mem["micrograd"]["graph_bytes"], "<=", MEMORY_LIMIT),
               target("eager node memory vs micrograd, peak", mem["microgradx"]["peak_bytes"] /
                      mem["micrograd"]["peak_bytes"], "<=", MEMORY_LIMIT)]
    if args.profile:
        profile(inputs, ops)
    return {**info, "quick": args.quick, "ops": n, "tables": tables, "targets": targets,
            "ratios": {**ratios, "default_with_reclaim": with_reclaim, "floor": floor_ratio}, "memory_per_node": mem,
            "runs": {f"{e}/{m}": v for (e, m), v in res.items()}}


def profile(inputs: list, ops: list, rounds: int = 5, top: int = 14) -> None:
    """cProfile of microgradx building and back-propagating the DAG ``rounds`` times, by own time."""
    import cProfile
    import pstats

    build, Value = compile_build(inputs, ops), value_class("microgradx")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        leaves, root = build(inputs, Value)
        root.backward()
        del leaves, root
    profiler.disable()
    print(f"cProfile of microgradx: {rounds} x (build + backward + release), by own time (cProfile inflates "
          f"call-heavy code: read the shares)")
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark, or one measurement with ``--worker`` (exit status 0)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 ops, 1 repeat (a smoke run)")
    parser.add_argument("--ops", type=int, default=None, help="ops in the DAG (default 10,000)")
    parser.add_argument("--repeat", type=int, default=None, help="repeats (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random DAG (default 0)")
    parser.add_argument("--cpu-time", action="store_true", help="time with the process CPU clock (the collector: wall)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of microgradx")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--worker", choices=[*ENGINES, FLOOR], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=list(MODES), default="default", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.mode, args.ops or 10_000, args.seed, args.memory, args.cpu_time)))
        return 0
    return common.run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
