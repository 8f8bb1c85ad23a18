"""The seed's loop compiled: per-example scalar graphs, micrograd's demo, recorded once with ``lanes=False``.

    python benchmarks/bench_scalar.py            # 3 recordings, 15 interleaved rounds of epochs
    python benchmarks/bench_scalar.py --quick    # a smoke run on the first 50 examples: 1 recording, 5 rounds

The step is micrograd's demo, written for microgradx and compiled as a whole:

    model = MLP(30, [16, 16, 1], fused=False)           # micrograd's graph: single mul and add nodes
    def fn(xs, ys):                                     # xs: 455 rows of 30 float Values; ys: 455 Values
        losses = [(1 + -yi * model(row)[0]).relu() for row, yi in zip(xs, ys)]
        return sum(losses) * (1.0 / n)
    f = microgradx.compile(fn, lanes=False)
    opt.zero_grad(); out = f(X, Y); out.backward(); opt.step()     # each epoch; Y = 2 * label - 1

The eager graph of that function has 701,156 nodes (455 examples x 1,541, and the mean). The first
call records it (runs ``fn`` eagerly, reads the graph, plans the replay) and the later ones
replay the plan on arrays. Measured:

* **recording**: the first call ``f(X, Y)`` of a new ``compile`` (recording and the first
  forward replay), median of ``--record-repeat`` (3) fresh compiles, each from a collected
  heap, wall clock and process CPU time; the first ``backward()`` shown apart; and its floor:
  ``fn``'s eager build alone (the graph built once, no tracing, no backward), which every
  recording runs;
* **later epochs**: ``zero_grad``, ``f(X, Y)``, ``backward()``, ``step()``, in interleaved
  rounds with PyTorch's epoch of the same work (``bench_epoch.py``'s PyTorch row) and numpy's;
  the ratio is the median of the per-round ratios;
* context: the same ``fn`` run eagerly (build and back-propagate the 700,000-node graph:
  what recording saves every later epoch), and micrograd 0.1.0 running the same loop, on
  its first ``--micrograd-examples`` (50) examples, scaled to 455.

Checked first: one compiled step gives the loss, gradients and new weights of the eager
``fn`` step, of PyTorch and of numpy, to a relative 1e-9. ``--profile`` profiles a recording.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001  (first: it pins BLAS to one thread before numpy is imported)
import argparse
import gc
import itertools
import time
from typing import Any, Optional

import numpy as np

import peers
from common import Timed, median, paired, target
from peers import LR, SEED, SIZES, Impl, Problem

RECORD_LIMIT_S = 2.0
EPOCH_LIMIT = 5.0  # x PyTorch's epoch


class ScalarImpl(Impl):
    """micrograd's loop in microgradx: compiled (``lanes=False``) or eager."""

    def __init__(self, prob: Problem, compiled: bool = True) -> None:
        import microgradx
        from microgradx.nn import SGD, DenseMLP

        self.model = model = DenseMLP(prob.X.shape[1], SIZES, seed=SEED, fused=False)
        model.set_weights(prob.weights)
        self.params = model.parameters()
        self.opt = SGD(self.params, lr=LR)
        self.X, self.Y, n = prob.X, prob.signs, len(prob.y)
        self.compiled, self.gc_paused = compiled, microgradx.gc_paused
        self.name = "microgradx compiled (lanes=False), replay" if compiled else "microgradx eager, the same fn"
        self.note = f"replays the {n_nodes(prob)}-node graph" if compiled else "builds and frees it every epoch"

        def fn(xs: Any, ys: Any) -> Any:
            losses = [(1 + -yi * model(row)[0]).relu() for row, yi in zip(xs, ys)]
            return sum(losses) * (1.0 / n)

        self.fn = fn
        self.f = microgradx.compile(fn, lanes=False) if compiled else None
        self.store = microgradx.ParameterStore(self.params) if compiled else None  # one array, as the Trainer does
        self.loss = 0.0

    def epoch(self) -> None:
        self.opt.zero_grad()
        if self.compiled:
            out = self.f(self.X, self.Y)
            out.backward()
        else:
            with self.gc_paused():
                out = self.fn(self.X.tolist(), self.Y.tolist())
                out.backward(retain_graph=False)
        self.opt.step()
        self.loss = out.data

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        return float(self.loss), np.array([p.grad for p in self.params]), np.array([p.data for p in self.params])


def record_once(prob: Problem) -> dict:
    """One fresh compile's first call and first backward, and the build of the same graph eagerly (what a recording
    cannot go below: it runs fn once): wall and CPU seconds, each from a collected heap."""
    impl = ScalarImpl(prob)
    impl.opt.zero_grad()
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    out = impl.f(impl.X, impl.Y)
    w1, c1 = time.perf_counter(), time.process_time()
    out.backward()
    w2 = time.perf_counter()
    xs, ys = impl.X.tolist(), impl.Y.tolist()
    gc.collect()
    w3, c3 = time.perf_counter(), time.process_time()
    with impl.gc_paused():
        graph = impl.fn(xs, ys)
        w4, c4 = time.perf_counter(), time.process_time()
        del graph
    return {"wall": w1 - w0, "cpu": c1 - c0, "backward": w2 - w1, "build_wall": w4 - w3, "build_cpu": c4 - c3}


def run(args: argparse.Namespace) -> dict:
    """Check, time, print; return the results as a JSON-able dict."""
    quick = args.quick
    examples = args.examples if args.examples is not None else (50 if quick else 0)
    record_repeat = args.record_repeat or (1 if quick else 3)
    rounds = args.rounds or (5 if quick else 15)
    mg_n = args.micrograd_examples if args.micrograd_examples is not None else (5 if quick else 50)
    clock = common.clock_of(args.cpu_time)
    info = common.print_header("micrograd's loop compiled: per-example scalar graphs, compile(fn, lanes=False)")
    prob = peers.load_problem().subset(examples or None)
    n = len(prob.y)
    print(f"data: the first {n} breast_cancer training examples; MLP(30, [16, 16, 1], fused=False), mean hinge, "
          f"SGD lr {LR}; clock: {'process CPU time' if args.cpu_time else 'wall'}")

    others: list[Impl] = [peers.NumpyImpl(prob)] + ([peers.TorchImpl(prob)] if common.have("torch") else [])
    eager = ScalarImpl(prob, compiled=False)
    print("checked before timing: one SGD step from the same weights (relative tolerance 1e-9):")
    for line in peers.check_same_step([eager, ScalarImpl(prob), *others], eager, f" (all {n})"):
        print(line)

    records = [record_once(prob) for _ in range(record_repeat)]
    rec = {k: median(r[k] for r in records) for k in ("wall", "cpu", "backward", "build_wall", "build_cpu")}
    compiled = ScalarImpl(prob)
    rows = [Timed(compiled.name, compiled.epoch)] + [Timed(p.name, p.epoch) for p in others]
    common.interleave(rows, rounds, clock)
    replay, torch_row = rows[0], (rows[-1] if common.have("torch") else None)
    eager_ms = median(common.time_once(eager.epoch, clock)[1] for _ in range(1 if quick else 2)) * 1e3

    mg_ms = None
    if common.have("micrograd") and mg_n:
        mg = peers.MicrogradImpl(prob.subset(mg_n))
        mg_ms = common.time_once(mg.epoch, clock)[1] * 1e3 * n / len(mg.s)
    torch_ms = torch_row.ms if torch_row else None

    def vs(ms: float, timed: Optional[Timed] = None) -> str:
        if torch_row is None:
            return "-"
        return f"{paired(timed, torch_row) if timed else ms / torch_ms:.2f}x"

    table_rows = [["recording: the first call f(X, Y)", 1, rec["wall"] * 1e3, vs(rec["wall"] * 1e3),
                   f"{rec['cpu'] * 1e3:,.0f} CPU ms", f"median of {record_repeat} fresh compiles"],
                  ["  ... then its first backward()", 1, rec["backward"] * 1e3, vs(rec["backward"] * 1e3), "-", ""],
                  ["  ... floor: fn's eager build alone", 1, rec["build_wall"] * 1e3, vs(rec["build_wall"] * 1e3),
                   f"{rec['build_cpu'] * 1e3:,.0f} CPU ms", "what any recording runs once (no trace, no backward)"]]
    table_rows += [[t.name, len(t.times), t.ms, vs(t.ms, t), "-", getattr(t.fn.__self__, "note", "")] for t in rows]
    table_rows.append([eager.name, 1 if quick else 2, eager_ms, vs(eager_ms), "-", eager.note])
    if mg_ms is not None:
        scaled = f" [{mg_n} ex., x{n / mg_n:.1f}]" if mg_n < n else ""
        table_rows.append([f"micrograd 0.1.0, the same loop{scaled}", 1, mg_ms, vs(mg_ms), "-", "its demo"])
    print()
    tables = [common.table(f"ms, {n} examples, medians (vs PyTorch: median of paired rounds for the timed "
                           f"epochs, ratio of medians otherwise):",
                           ["what", "runs", "ms", "vs PyTorch epoch", "CPU", "note"], table_rows, "lrrrrl")]
    print(f"replay vs eager epoch of the same fn: {eager_ms / replay.ms:,.0f}x faster; recording vs one eager "
          f"epoch: {rec['wall'] * 1e3 / eager_ms:.2f}x; recording vs fn's eager build alone: "
          f"{rec['cpu'] / rec['build_cpu']:.2f}x (CPU)" + (f"; replay vs micrograd: {mg_ms / replay.ms:,.0f}x faster"
                                                           if mg_ms else ""))
    tag = "" if n == 455 else f" ({n} ex.)"
    clock_name = "CPU" if args.cpu_time else "wall"  # (--cpu-time: the time this process ran, not the wall's)
    targets = [target(f"scalar recording, first call, {clock_name}{tag}", rec["cpu" if args.cpu_time else "wall"], "<=",
                      RECORD_LIMIT_S, " s")]
    if torch_row:
        targets.append(target(f"scalar compiled epoch vs PyTorch's epoch{tag}", paired(replay, torch_row), "<=",
                              EPOCH_LIMIT))
    if args.profile:
        profile(prob)
    return {**info, "quick": quick, "examples": n, "tables": tables, "targets": targets,
            "record": rec, "replay_ms": replay.ms, "torch_ms": torch_ms, "eager_ms": eager_ms, "micrograd_ms": mg_ms}


def profile(prob: Problem, top: int = 16) -> None:
    """cProfile of one recording: the phases (by cumulative time of their functions), then by own time."""
    import cProfile
    import pstats

    impl = ScalarImpl(prob)
    gc.collect()
    profiler = cProfile.Profile()
    profiler.enable()
    impl.f(impl.X, impl.Y)
    profiler.disable()
    stats = pstats.Stats(profiler)
    phases = {"fn": "fn (the eager build)", "read_graph": "read_graph", "classify_leaves": "classify_leaves",
              "make_plan": "make_plan", "forward": "forward (the first replay)"}
    found = dict.fromkeys(phases.values(), 0.0)
    for (path, _, name), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name in phases and ("compiler" in path or name == "fn"):
            found[phases[name]] += cum
    total = sum(v[3] for k, v in stats.stats.items() if k[2] == "__call__" and "compiler" in k[0])  # type: ignore
    print(f"\ncProfile of one recording ({n_nodes(prob)} eager nodes), cumulative seconds under cProfile "
          f"(which inflates call-heavy code; the call: {total:.2f} s):")
    print("  " + ", ".join(f"{k} {v:.2f}" for k, v in found.items()))
    stats.strip_dirs().sort_stats("tottime").print_stats(top)


def n_nodes(prob: Problem) -> str:
    """The eager graph's node count: per example a mul and an add per weight, a relu per hidden unit, 5 for the loss."""
    sizes = [prob.X.shape[1], *SIZES]
    per_example = sum(2 * a * b for a, b in itertools.pairwise(sizes)) + sum(SIZES[:-1]) + 5
    return f"{len(prob.y) * per_example + 1:,}"


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark (exit status 0; a failed check raises AssertionError)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on the first 50 examples")
    parser.add_argument("--examples", type=int, default=None, help="the first N examples (default all; --quick 50)")
    parser.add_argument("--record-repeat", type=int, default=None, help="fresh compiles timed (default 3; --quick 1)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds of epochs (default 15)")
    parser.add_argument("--micrograd-examples", type=int, default=None,
                        help="micrograd's context row on the first N examples (default 50, --quick 5; 0: none)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time the epochs, and judge the recording, with the process CPU clock")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one recording")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return common.run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
