"""Memory: a scalar-mode epoch's peak against micrograd's, and a compiled recording against the eager graph.

    python benchmarks/bench_memory.py            # micrograd on its first 100 examples
    python benchmarks/bench_memory.py --quick    # a smoke run: micrograd on 10 examples, smaller recordings

Everything is traced with tracemalloc (numpy's buffers included), relative to the traced
memory when the measured call starts, from a collected heap, the collector in its default
state. tracemalloc slows allocation-heavy code several times over: nothing here is timed.

1. **One scalar-mode epoch** (``bench_epoch.py``'s rows: ``MLP(30, [16, 16, 1])``, mean hinge
   loss, one SGD step), its peak:

   * ``microgradx eager scalar mode``: one graph per example, built, back-propagated with
     ``backward(retain_graph=False)`` and dropped (reference counting frees it: a Value graph
     has no cycles), inside ``gc_paused()`` as the Trainer's eager step;
   * ``micrograd 0.1.0, one graph per example``: the same work; each node is a reference cycle
     (its ``_backward`` closure holds it), so each graph waits for the cyclic collector. The
     like-for-like row for the target (microgradx's peak at most 0.25x), on its first
     ``--micrograd-examples`` examples (100) with microgradx on the same examples;
   * context: micrograd's demo (one graph per batch), microgradx's eager lane epoch and a
     compiled epoch (a replay).

2. **A compiled recording against the eager graph of the same function**: the eager graph
   alive (its input Values included), and after ``out = f(...)`` of a new ``compile``: what
   the recording holds (``out`` dropped), what one call's arrays add while ``out`` lives, and
   the peak while recording (which builds the eager graph once). For the lane step of
   ``bench_epoch.py`` (fused and fine-grained) and the per-example scalar step of
   ``bench_scalar.py`` (``lanes=False``, 701,156 eager nodes on 455 examples).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001
import argparse
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any, Optional

from bench_epoch import MicrogradxImpl
from bench_scalar import ScalarImpl
import peers
from common import target
from peers import Impl, Problem

MB = 1e6
PEAK_LIMIT = 0.25


def epoch_peak(impl: Impl) -> int:
    """Peak traced bytes of one ``impl.epoch()`` (microgradx's after an untraced warm epoch), from a collected heap."""
    if not isinstance(impl, peers.MicrogradImpl):  # (micrograd has no caches to warm)
        impl.epoch()
    gc.collect()
    return common.traced_memory(impl.epoch)[2]


def epoch_rows(prob: Problem, mg_n: int, quick: bool) -> tuple[list, list]:
    """Part 1: [name, examples, peak bytes] rows, and the targets (--quick: no full-epoch scalar row)."""
    sub = prob.subset(mg_n)
    n, m = len(prob.y), len(sub.y)
    rows = [] if quick else [["microgradx eager scalar mode, fused", n, epoch_peak(MicrogradxImpl(prob, "scalar"))]]
    if m != n or not rows:
        rows.append([f"microgradx eager scalar mode, fused (first {m})", m, epoch_peak(MicrogradxImpl(sub, "scalar"))])
    mine = rows[-1][2]  # microgradx's fused scalar mode on micrograd's examples
    rows.append([f"microgradx eager scalar mode, fine-grained (first {m})", m,
                 epoch_peak(MicrogradxImpl(sub, "scalar", False))])
    targets = []
    if common.have("micrograd"):
        ref = epoch_peak(peers.MicrogradImpl(sub, per_example=True))
        rows.append([f"micrograd 0.1.0, one graph per example (first {m})", m, ref])
        rows.append([f"* micrograd 0.1.0, one graph per batch (first {m})", m, epoch_peak(peers.MicrogradImpl(sub))])
        targets.append(target(f"scalar-mode epoch peak memory vs micrograd per example ({m} ex.)", mine / ref, "<=",
                              PEAK_LIMIT))
    rows.append(["* microgradx eager lanes, fused", n, epoch_peak(MicrogradxImpl(prob, "eager"))])
    rows.append(["* microgradx compiled, fused (a replay)", n, epoch_peak(MicrogradxImpl(prob, "compiled"))])
    return rows, targets


def lane_step(prob: Problem, fused: bool) -> tuple[Callable, Callable, tuple]:
    """(fn, eager inputs maker, compiled arguments) of bench_epoch's compiled lane step."""
    from microgradx import Value

    impl = MicrogradxImpl(prob, "compiled", fused)
    loss_fn, model, params = impl.loss_fn, impl.model, impl.params

    def fn(xs: Any, ts: Any) -> Any:
        return loss_fn.build(model(xs), ts, None, params)

    return fn, lambda: ([Value(c) for c in prob.X.T], [Value(c) for c in impl.ts.T]), (prob.X, impl.ts)


def scalar_step(prob: Problem) -> tuple[Callable, Callable, tuple]:
    """The same for bench_scalar's per-example step (``lanes=False``)."""
    from microgradx import Value

    impl = ScalarImpl(prob, compiled=False)
    return (impl.fn, lambda: ([[Value(x) for x in row] for row in prob.X.tolist()],
                              [Value(v) for v in impl.Y.tolist()]), (prob.X, impl.Y))


def recording_row(name: str, step: tuple, lanes: bool) -> list:
    """[name, eager graph bytes, recording bytes, one call's arrays, recording peak, recording / eager]."""
    import microgradx

    fn, make_inputs, arrays = step
    gc.collect()
    with microgradx.gc_paused():
        graph, eager_bytes, _ = common.traced_memory(lambda: fn(*make_inputs()))
        del graph
    gc.collect()
    f = microgradx.compile(fn, lanes=lanes)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        out = f(*arrays)
        with_out, peak = tracemalloc.get_traced_memory()
        del out
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return [name, eager_bytes / MB, (held - base) / MB, (with_out - held) / MB, (peak - base) / MB,
            f"{(held - base) / eager_bytes:.3f}x"]


def run(args: argparse.Namespace) -> dict:
    """Measure and print; return the results as a JSON-able dict."""
    quick = args.quick
    mg_n = args.micrograd_examples if args.micrograd_examples is not None else (10 if quick else 100)
    scalar_n = args.scalar_examples if args.scalar_examples is not None else (20 if quick else 0)
    info = common.print_header("Memory (tracemalloc): scalar-mode epoch vs micrograd; compiled recording vs eager "
                               "graph")
    prob = peers.load_problem()
    rows, targets = epoch_rows(prob, mg_n or len(prob.y), quick)
    ref = next((r[2] for r in rows if r[0].startswith("micrograd 0.1.0, one graph per example")), None)
    table_rows = [[name, ex, peak / MB, peak / ex / 1e3, common.ratio(peak, ref, 3) if ref else "-"]
                  for name, ex, peak in rows]
    tables = [common.table("1. Peak traced memory of one epoch, above its start (* context):",
                           ["implementation", "examples", "peak MB", "kB/example", "vs micrograd per example"],
                           table_rows)]
    print("micrograd's peaks depend on when its collector runs (its graphs are cycles); they grow with the\n"
          "examples of a batch graph (144 MB per 100 examples, 649 MB for all 455 when last measured).\n")

    sp = prob.subset(scalar_n or None)
    rec = [recording_row("lanes, fused (bench_epoch)", lane_step(prob, True), True),
           recording_row("lanes, fine-grained (bench_epoch)", lane_step(prob, False), True),
           recording_row(f"scalar, lanes=False, {len(sp.y)} ex. (bench_scalar)", scalar_step(sp), False)]
    tables.append(common.table("2. A compiled recording vs the eager graph of the same function, MB:",
                               ["step", "eager graph", "recording", "+ one call's arrays", "peak while recording",
                                "recording vs eager"], rec))
    return {**info, "quick": quick, "tables": tables, "targets": targets,
            "epoch_peaks": {r[0]: {"examples": r[1], "peak_bytes": r[2]} for r in rows},
            "recordings": {r[0]: {"eager_mb": r[1], "recording_mb": r[2], "call_mb": r[3], "peak_mb": r[4]}
                           for r in rec}}


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark (exit status 0)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: micrograd on 10 examples")
    parser.add_argument("--micrograd-examples", type=int, default=None,
                        help="micrograd's rows on the first N examples (default 100, --quick 10; 0 for all 455)")
    parser.add_argument("--scalar-examples", type=int, default=None,
                        help="the scalar recording on the first N examples (default all, --quick 20)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return common.run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
