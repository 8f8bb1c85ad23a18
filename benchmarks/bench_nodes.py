"""Node micro-benchmark: the same random DAG of ~10,000 scalar ops in microgradx and micrograd.

    python benchmarks/bench_nodes.py            # 10,000 ops, 7 repeats
    python benchmarks/bench_nodes.py --quick    # 2,000 ops, 3 repeats

What is measured
----------------
A seeded random program of scalar ops (add, mul, pow with a constant integer exponent,
relu, tanh) over a few leaf inputs is generated once, as plain data. Each op's inputs are
picked so that every intermediate value stays within +-4 (the program is simulated in
plain floats while it is generated), so nothing overflows. Every node feeds the root:
leftover unused nodes are joined by a balanced tree of adds, which is part of the
program and counted in its op total.

The program is then turned into straight-line Python source (``v105 = v12 * v87`` ...),
compiled once per engine, so building the graph costs exactly what a user's code would
and no interpreter loop is timed. The same text serves both engines except tanh:
micrograd 0.1.0 has no tanh, so its program calls `micrograd_tanh`, a function that
builds the node the micrograd way (a closure ``_backward`` that does
``x.grad += (1 - t**2) * out.grad``), without subclassing or patching micrograd.

Each engine is timed in two ways, engine after engine, repeat after repeat:

* one graph on a clean heap: ``gc.collect()`` (untimed), then build, ``root.backward()``
  and release (dropping the last reference), each timed;
* steady state: ``gc.collect()`` (untimed), then 5 such rounds in a row with nothing
  collected in between, as in a training loop.

micrograd's nodes are reference cycles (each ``_backward`` closure refers to its own
node), so its graphs are freed only by the cyclic collector, later: on a clean heap that
cost falls outside the timed block (the conservative reading for microgradx), in the
steady state it falls on micrograd's own later rounds. microgradx's graphs have no cycles
and are freed by reference counting at release, which is timed. ``total`` is build +
backward + release; ``build+backward`` (the issue's literal total) is shown as a ratio
too. "of which in gc" is the time spent inside the cyclic collector (``gc.callbacks``)
during the timed rounds. The collector is in its default state (enabled, default
thresholds) for every row used for the targets; rows marked ``*`` are context only:
they pause the collector for each whole timed block (all its rounds).

"Per node" means per op node of the program (the leaf inputs and microgradx's wrapped
exponent constants are not counted as nodes, but their cost and memory are included).
Memory is measured in separate runs with tracemalloc: ``graph`` is what the built graph
keeps allocated after building, ``peak`` the peak during build + backward, both relative
to the traced memory before building.

Gradients of every node and every input are checked equal between the engines
(relative tolerance 1e-9) before anything is timed.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import GcTimer, median, print_header, print_table, ratio

try:
    from micrograd.engine import Value as MicrogradValue
except ImportError:  # main() says how to install it
    MicrogradValue = None

LIMIT = 4.0  # every value of the program stays within +-LIMIT
OP_WEIGHTS = {"add": 0.25, "mul": 0.25, "pow": 0.15, "relu": 0.15, "tanh": 0.20}
EXPONENTS = (2, 3)
REL_TOL = 1e-9


# -- the program: generated once, as data ---------------------------------------------------------


@dataclass
class Program:
    """A straight-line program of scalar ops: node i < n_inputs is input i, node n_inputs+k is op k."""

    inputs: list[float]
    ops: list[tuple]  # ("add", i, j), ("mul", i, j), ("pow", i, k), ("relu", i), ("tanh", i)
    depth: int = 0

    @property
    def n_ops(self) -> int:
        return len(self.ops)


def _apply(op: tuple, vals: list[float]) -> float:
    name = op[0]
    x = vals[op[1]]
    if name == "add":
        return x + vals[op[2]]
    if name == "mul":
        return x * vals[op[2]]
    if name == "pow":
        return x ** op[2]
    if name == "relu":
        return x if x > 0 else 0.0
    return math.tanh(x)


def make_program(n_ops: int, n_inputs: int = 64, seed: int = 0) -> Program:
    """A random DAG of about ``n_ops`` ops whose values all stay within +-LIMIT."""
    rng = random.Random(seed)
    vals = [rng.uniform(-2.0, 2.0) for _ in range(n_inputs)]
    depth = [0] * n_inputs
    ops: list[tuple] = []
    unused = list(range(n_inputs))  # nodes nothing reads yet; one of them is each op's first input
    names, weights = list(OP_WEIGHTS), list(OP_WEIGHTS.values())

    def take(k: int) -> int:
        unused[k], unused[-1] = unused[-1], unused[k]
        return unused.pop()

    while len(ops) + len(unused) - 1 < n_ops:
        for _ in range(20):  # rejection sampling: keep every value within +-LIMIT
            name = rng.choices(names, weights)[0]
            k = rng.randrange(len(unused))
            i = unused[k] if rng.random() < 0.5 else rng.randrange(len(vals))
            if name in ("add", "mul"):
                op = (name, i, rng.randrange(len(vals)))
            elif name == "pow":
                op = (name, i, rng.choice(EXPONENTS))
            else:
                op = (name, i)
            y = _apply(op, vals)
            if abs(y) <= LIMIT:
                break
        else:
            op = ("tanh", i)
            y = math.tanh(vals[i])
        ins = [op[1], op[2]] if op[0] in ("add", "mul") else [op[1]]
        for a in ins:
            if a in unused:
                take(unused.index(a))
        depth.append(1 + max(depth[a] for a in ins))
        vals.append(y)
        unused.append(len(vals) - 1)
        ops.append(op)
    while len(unused) > 1:  # join the leftovers with a balanced tree of adds
        nxt = []
        for a, b in zip(unused[0::2], unused[1::2]):
            ops.append(("add", a, b))
            depth.append(1 + max(depth[a], depth[b]))
            vals.append(vals[a] + vals[b])
            nxt.append(len(vals) - 1)
        if len(unused) % 2:
            nxt.append(unused[-1])
        unused = nxt
    return Program(inputs=vals[:n_inputs], ops=ops, depth=depth[-1])


def program_source(prog: Program, tanh_call: str, return_all: bool = False) -> str:
    """Python source of ``build(xs, Value, tanh)``: straight-line code that builds the graph."""
    n_in = len(prog.inputs)
    lines = ["def build(xs, Value, tanh):"]
    lines += [f"    v{i} = Value(xs[{i}])" for i in range(n_in)]
    for k, op in enumerate(prog.ops):
        name, a = op[0], op[1]
        out = f"v{n_in + k}"
        if name == "add":
            lines.append(f"    {out} = v{a} + v{op[2]}")
        elif name == "mul":
            lines.append(f"    {out} = v{a} * v{op[2]}")
        elif name == "pow":
            lines.append(f"    {out} = v{a} ** {op[2]}")
        elif name == "relu":
            lines.append(f"    {out} = v{a}.relu()")
        else:
            lines.append(f"    {out} = " + tanh_call.format(f"v{a}"))
    root = f"v{n_in + prog.n_ops - 1}"
    leaves = ", ".join(f"v{i}" for i in range(n_in))
    if return_all:
        every = ", ".join(f"v{i}" for i in range(n_in + prog.n_ops))
        lines.append(f"    return [{every}]")
    else:
        lines.append(f"    return [{leaves}], {root}")
    return "\n".join(lines) + "\n"


def compile_build(source: str) -> Callable:
    """Compile `program_source` output and return its ``build`` function."""
    namespace: dict = {}
    exec(compile(source, "<bench_nodes program>", "exec"), namespace)
    return namespace["build"]


# -- the engines ---------------------------------------------------------------------------------------


def micrograd_tanh(x: Any) -> Any:
    """tanh for micrograd 0.1.0 (which has none), built the micrograd way: a node and a closure."""
    t = math.tanh(x.data)
    out = MicrogradValue(t, (x,), "tanh")

    def _backward():
        x.grad += (1 - t**2) * out.grad

    out._backward = _backward
    return out


@dataclass
class Engine:
    """One row of the table: how to build the program's graph and run backward."""

    name: str
    value_cls: Any
    tanh: Any  # passed to build() as ``tanh``; used only when tanh_call calls it
    tanh_call: str  # "{}.tanh()" or "tanh({})"
    gc_paused: bool = False  # context rows: the collector paused for each whole timed block
    anomaly: bool = False  # build and back-propagate inside microgradx.detect_anomaly()
    counts_for_targets: bool = True
    build: Callable = field(default=None, repr=False)
    build_all: Callable = field(default=None, repr=False)

    def prepare(self, prog: Program) -> None:
        """Compile this engine's build functions for ``prog``."""
        self.build = compile_build(program_source(prog, self.tanh_call))
        self.build_all = compile_build(program_source(prog, self.tanh_call, return_all=True))

    def run_build(self, xs: list[float]) -> tuple:
        """Build the graph: returns (the leaf inputs, the root)."""
        return self.build(xs, self.value_cls, self.tanh)

    @contextmanager
    def gc_policy(self) -> Iterator[None]:
        """The collector as this row wants it around a timed block: as it is, or paused."""
        if not self.gc_paused:
            yield
            return
        was = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if was:
                gc.enable()

    @contextmanager
    def mode(self) -> Iterator[None]:
        """Everything this row runs in: its collector policy, and anomaly mode if it asks for it."""
        if not self.anomaly:
            with self.gc_policy():
                yield
            return
        import microgradx

        with self.gc_policy(), microgradx.detect_anomaly():
            yield


def engines(include_context: bool = True) -> tuple[Engine, list[Engine]]:
    """The reference engine (micrograd) and the rows compared to it.

    Hook for later rows: append an `Engine` here; `main` times, checks and prints every
    row it returns the same way. The anomaly-mode row builds and back-propagates inside
    ``microgradx.detect_anomaly()``; the default row next to it is the plain engine, so the
    two show what anomaly mode costs when on, and that off it costs nothing.
    """
    import microgradx

    reference = Engine("micrograd 0.1.0", MicrogradValue, micrograd_tanh, "tanh({})")
    rows = [
        Engine("microgradx (defaults: anomaly mode off)", microgradx.Value, None, "{}.tanh()"),
    ]
    if include_context:
        rows += [
            Engine("* microgradx, anomaly mode on", microgradx.Value, None, "{}.tanh()",
                   anomaly=True, counts_for_targets=False),
            Engine("* micrograd, gc paused", MicrogradValue, micrograd_tanh, "tanh({})",
                   gc_paused=True, counts_for_targets=False),
            Engine("* microgradx, gc paused", microgradx.Value, None, "{}.tanh()",
                   gc_paused=True, counts_for_targets=False),
        ]
    return reference, rows


# -- checking, timing, memory ----------------------------------------------------------------------------


def check_gradients(prog: Program, reference: Engine, other: Engine) -> float:
    """Assert every node's and input's gradient agrees to REL_TOL; return the worst relative error."""
    ref_nodes = reference.build_all(prog.inputs, reference.value_cls, reference.tanh)
    ref_nodes[-1].backward()
    with other.mode():
        got_nodes = other.build_all(prog.inputs, other.value_cls, other.tanh)
        got_nodes[-1].backward()
    worst = 0.0
    for i, (r, g) in enumerate(zip(ref_nodes, got_nodes)):
        assert math.isclose(r.data, g.data, rel_tol=REL_TOL, abs_tol=1e-300), (
            f"node {i}: data differs: {reference.name} {r.data!r}, {other.name} {g.data!r}")
        rg, gg = float(r.grad), float(g.grad)
        assert math.isclose(rg, gg, rel_tol=REL_TOL, abs_tol=1e-300), (
            f"node {i} ({_describe(prog, i)}): gradient differs: {reference.name} {rg!r}, {other.name} {gg!r}")
        if rg != gg:
            worst = max(worst, abs(rg - gg) / max(abs(rg), abs(gg)))
    return worst


def _describe(prog: Program, i: int) -> str:
    n_in = len(prog.inputs)
    return f"input {i}" if i < n_in else f"op {prog.ops[i - n_in]}"


def time_block(engine: Engine, prog: Program, rounds: int,
               clock: Callable[[], int]) -> tuple[float, float, float, float, float]:
    """Mean ns of (build, backward, release, time in the collector, reclaim) over ``rounds`` rounds in a row.

    The heap is cleaned once, untimed, before the block (``gc.collect()``), never between
    its rounds: with ``rounds == 1`` that is one graph on a clean heap; with more, the
    steady state of a loop that builds, back-propagates and drops one graph after
    another, where whatever an engine leaves to the cyclic collector is collected
    during its own later rounds, as it would be in a training loop. The time spent in
    collections is part of the three phases; it is also reported on its own.

    After the block, ``reclaim`` is what freeing the block's leftovers costs: a timed
    ``gc.collect()`` minus a second, baseline one (which scans the same heap and finds
    nothing); 0 when the first finds nothing unreachable either. micrograd's nodes are
    reference cycles that only the collector frees, so on a clean heap this is the part of
    its graph's cost that the rounds themselves do not see; microgradx's graphs are freed
    at release and leave nothing here.
    """
    gc.collect()
    build = back = release = 0
    with engine.mode(), GcTimer() as in_gc:  # a paused collector's catch-up after the block is not counted
        for _ in range(rounds):
            t0 = clock()
            leaves, root = engine.run_build(prog.inputs)
            t1 = clock()
            root.backward()
            t2 = clock()
            del leaves, root  # the last references: what reference counting frees is freed here
            t3 = clock()
            build, back, release = build + t1 - t0, back + t2 - t1, release + t3 - t2
    t4 = clock()
    found = gc.collect()
    t5 = clock()
    gc.collect()
    t6 = clock()
    # A collection that finds nothing to free reclaims nothing: its extra time over the baseline
    # is the cold cache after a large allocate-and-free workload, not the engine's garbage.
    reclaim = max(0, (t5 - t4) - (t6 - t5)) if found else 0
    return build / rounds, back / rounds, release / rounds, in_gc.ns / rounds, reclaim / rounds


def memory_once(engine: Engine, prog: Program) -> tuple[int, int]:
    """(bytes the built graph keeps, peak bytes over build + backward), traced by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        with engine.mode():
            base, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            leaves, root = engine.run_build(prog.inputs)
            graph, _ = tracemalloc.get_traced_memory()
            root.backward()
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del leaves, root
    gc.collect()
    return graph - base, peak - base


@dataclass
class Result:
    """Every measurement of one engine (raw ns or bytes per run; per node on request)."""

    engine: Engine
    times: dict[str, list[tuple[float, ...]]] = field(default_factory=dict)  # mode -> [(b, w, r, gc)]
    graph_bytes: list[int] = field(default_factory=list)
    peak_bytes: list[int] = field(default_factory=list)

    def time_per_node(self, mode: str, n: int) -> dict[str, float]:
        """Median ns per node in ``mode``: each phase, the total (their sum, per run), time in gc."""
        runs = self.times[mode]
        return {
            "build": median(r[0] for r in runs) / n,
            "backward": median(r[1] for r in runs) / n,
            "release": median(r[2] for r in runs) / n,
            "total": median(r[0] + r[1] + r[2] for r in runs) / n,
            "reclaim": median(r[4] for r in runs) / n,
            "lifetime": median(r[0] + r[1] + r[2] + r[4] for r in runs) / n,
            "build+backward": median(r[0] + r[1] for r in runs) / n,
            "gc": median(r[3] for r in runs) / n,
        }

    def memory_per_node(self, n: int) -> dict[str, float]:
        """Median bytes per node: the built graph, and the peak over build + backward."""
        return {"graph": median(self.graph_bytes) / n, "peak": median(self.peak_bytes) / n}


MODES = {  # name -> (rounds per timed block, title)
    "clean": (1, "one graph on a clean heap"),
    "steady": (5, "steady state: {rounds} graphs in a row, nothing collected in between"),
}


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark and print the tables (exit status 0; 2 without micrograd; a failed gradient check raises)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 ops, 3 repeats (a smoke run)")
    parser.add_argument("--ops", type=int, default=None, help="ops in the DAG (default 10,000)")
    parser.add_argument("--repeat", type=int, default=None, help="timed repeats per engine and mode (default 7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random DAG (default 0)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process CPU clock instead of the wall clock (steadier on a busy machine)")
    parser.add_argument("--no-context", action="store_true", help="skip the gc-paused context rows")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of microgradx building and back-propagating the DAG")
    args = parser.parse_args(argv)
    n_ops = args.ops or (2_000 if args.quick else 10_000)
    repeat = args.repeat or (3 if args.quick else 7)
    mem_repeat = 1 if args.quick else 3
    clock = time.process_time_ns if args.cpu_time else time.perf_counter_ns

    if MicrogradValue is None:
        print("micrograd is not installed; it is the reference: pip install micrograd==0.1.0", file=sys.stderr)
        return 2
    print_header("microgradx node micro-benchmark", ("numpy", "microgradx", "micrograd"))
    prog = make_program(n_ops, seed=args.seed)
    counts = {name: sum(op[0] == name for op in prog.ops) for name in OP_WEIGHTS}
    print(f"DAG: {prog.n_ops:,} op nodes over {len(prog.inputs)} inputs (seed {args.seed}), depth {prog.depth}; "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    # micrograd's backward orders the graph recursively: give it room for this DAG's depth.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 2 * prog.depth + 1000))
    print(f"gc: {'enabled' if gc.isenabled() else 'DISABLED'}, thresholds {gc.get_threshold()} (the default state); "
          f"clock: {'process CPU time' if args.cpu_time else 'wall'}; medians of {repeat} repeats, "
          f"memory of {mem_repeat} traced runs")

    reference, rows = engines(include_context=not args.no_context)
    every = [reference, *rows]
    for e in every:
        e.prepare(prog)
    for e in rows:
        worst = check_gradients(prog, reference, e)
        print(f"gradients: {e.name} == {reference.name} on all {len(prog.inputs) + prog.n_ops:,} nodes "
              f"(worst relative difference {worst:.1e}, tolerance {REL_TOL:g})")
    print()

    results = {id(e): Result(e) for e in every}
    for e in every:  # warm-up: the registry's first build, caches, code objects
        time_block(e, prog, 1, clock)
    for _ in range(repeat):  # engine after engine, repeat after repeat: drift affects all alike
        for mode, (rounds, _title) in MODES.items():
            for e in every:
                results[id(e)].times.setdefault(mode, []).append(time_block(e, prog, rounds, clock))
    for _ in range(mem_repeat):
        for e in every:
            if e.gc_paused:
                continue  # a paused collector changes no allocation: these rows would repeat the others
            g, p = memory_once(e, prog)
            results[id(e)].graph_bytes.append(g)
            results[id(e)].peak_bytes.append(p)

    n = prog.n_ops
    for mode, (rounds, title) in MODES.items():
        print(f"Time, ns per node, {title.format(rounds=rounds)} (total = build + backward + release;\n"
              f"  reclaim = a gc.collect() after the block minus a baseline one: left to the collector):")
        ref = results[id(reference)].time_per_node(mode, n)
        table = []
        for e in every:
            r = results[id(e)].time_per_node(mode, n)
            table.append([e.name, r["build"], r["backward"], r["release"], r["total"], r["gc"],
                          ratio(r["total"], ref["total"]), ratio(r["build+backward"], ref["build+backward"]),
                          r["reclaim"], ratio(r["lifetime"], ref["lifetime"])])
        print_table(["engine", "build", "backward", "release", "total", "of which in gc", "total vs micrograd",
                     "build+backward vs micrograd", "reclaim", "total+reclaim vs micrograd"], table)

    print("Memory, bytes per node (graph: held by the built graph; peak: over build + backward):")
    ref_mem = results[id(reference)].memory_per_node(n)
    table = []
    for e in every:
        if not results[id(e)].graph_bytes:
            continue
        m = results[id(e)].memory_per_node(n)
        table.append([e.name, m["graph"], m["peak"],
                      ratio(m["graph"], ref_mem["graph"]), ratio(m["peak"], ref_mem["peak"])])
    print_table(["engine", "graph", "peak", "graph vs micrograd", "peak vs micrograd"], table)
    if not args.no_context:
        print("* context rows (not used for targets): anomaly mode on (microgradx.detect_anomaly() around build and\n"
              "  backward: every node checked and its creation site recorded); or the collector paused for each whole\n"
              "  timed block (every round's build, backward, release), what it leaves behind (micrograd's cycles)\n"
              "  collected, untimed, after the block.\n")

    def verdict(x: float, limit: float) -> str:
        return f"{x:.2f}x (target <= {limit:.2f}x: " + ("met)" if x <= limit else f"MISSED by {x / limit:.2f}x)")

    for e in rows:
        if not e.counts_for_targets:
            continue
        mine, ref_res = results[id(e)], results[id(reference)]
        print(f"{e.name} vs {reference.name}:")
        for mode, label in (("clean", "one graph, clean heap"), ("steady", "steady state        ")):
            t, r = mine.time_per_node(mode, n), ref_res.time_per_node(mode, n)
            print(f"  time, {label}: total {verdict(t['total'] / r['total'], 0.5)}; "
                  f"build+backward {t['build+backward'] / r['build+backward']:.2f}x")
            if mode == "clean":  # the same graph with what its cycles leave to the collector counted too
                print(f"  time, one graph + reclaim : total {verdict(t['lifetime'] / r['lifetime'], 0.5)}")
        m = mine.memory_per_node(n)
        print(f"  memory, graph:               {verdict(m['graph'] / ref_mem['graph'], 0.35)}")
        print(f"  memory, peak:                {verdict(m['peak'] / ref_mem['peak'], 0.35)}")
    if args.profile:
        profile_rows(rows, prog)
    return 0


def profile_rows(rows: list[Engine], prog: Program, rounds: int = 5, top: int = 18) -> None:
    """Print where each target row's time goes: cProfile of ``rounds`` build + backward rounds.

    cProfile adds a fixed cost to every Python call, so it inflates call-heavy code: read the
    shares, not the absolute times.
    """
    import cProfile
    import pstats

    for e in rows:
        if not e.counts_for_targets:
            continue
        print(f"\nProfile of {e.name}: {rounds} rounds of build + backward + release, by own time")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(rounds):
            leaves, root = e.run_build(prog.inputs)
            root.backward()
            del leaves, root
        profiler.disable()
        pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    sys.exit(main())
