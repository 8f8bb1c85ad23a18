"""Peak memory of one scalar-mode epoch: microgradx vs micrograd, traced with tracemalloc.

    python benchmarks/bench_memory.py            # every row on the full epoch (455 examples)
    python benchmarks/bench_memory.py --quick    # micrograd rows on the first 100 examples

What is measured
----------------
The epoch of ``bench_epoch.py`` (``MLP(30, [16, 16, 1])``, 455 breast-cancer examples, mean
hinge loss, one SGD step), run once under ``tracemalloc``: the peak of traced memory while it
runs, relative to the traced memory when it starts (so the model, the data and the imported
modules are not counted; numpy's array buffers are traced too). The garbage collector is in
its default state for every row, and ``gc.collect()`` runs (untimed, untraced) before each.

* ``microgradx, scalar``: `Trainer.train_step` in scalar mode: one graph per example, built,
  back-propagated and dropped (reference counting frees it: a Value graph has no cycles);
* ``micrograd 0.1.0, per example``: micrograd doing the same work, one graph per example;
  its nodes are reference cycles (each ``_backward`` closure refers to its node), so each
  graph stays allocated until the cyclic collector runs: this is the like-for-like row used
  for the target;
* ``micrograd 0.1.0, one graph per batch``: micrograd as its demo trains, the whole batch in
  one graph, context; by default on the first 100 examples (its peak grows linearly with the
  batch: 144 MB for 100 examples, 649 MB for all 455, measured with
  ``--batch-graph-examples 0``, which takes about 45 s under tracemalloc);
* ``microgradx, lanes``: lane mode, one graph for the batch, context.

tracemalloc slows allocation-heavy code several times over; these runs are not timed.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Optional  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_epoch import Impl, MicrogradImpl, MicrogradxImpl, Problem, load_problem  # noqa: E402
from common import print_header, print_table, run_and_save, traced_memory  # noqa: E402

MB = 1e6


def _ratio(a: float, b: float) -> str:
    """``a / b`` as '0.00496x' (three significant digits: these ratios span five orders of magnitude)."""
    return f"{a / b:.3g}x" if b else "-"


def peak_of_epoch(impl: Impl) -> tuple[int, float]:
    """(peak traced bytes above the start, seconds) of one ``impl.epoch()``, from a collected heap."""
    gc.collect()
    t0 = time.perf_counter()
    _, _, peak = traced_memory(impl.epoch)
    seconds = time.perf_counter() - t0
    gc.collect()
    return peak, seconds


def run(args: argparse.Namespace) -> dict:
    """Measure and print; return the results as a JSON-able dict."""
    print_header("Peak memory of one scalar-mode epoch (tracemalloc)", ("numpy", "microgradx", "micrograd"))
    prob = load_problem()
    n = len(prob.y)
    mg_examples = args.micrograd_examples or (100 if args.quick else None)
    print(f"epoch: {n} examples, MLP(30, [16, 16, 1]), hinge loss, one SGD step; gc "
          f"{'enabled' if gc.isenabled() else 'DISABLED'}, thresholds {gc.get_threshold()}")
    try:
        import micrograd.engine  # noqa: F401
        have_micrograd = True
    except ImportError:
        have_micrograd = False
        print("micrograd is not installed (pip install micrograd==0.1.0): its rows are skipped")

    rows: list[tuple[str, int, int, float, bool]] = []  # name, examples, peak bytes, seconds, context

    def measure(name: str, impl: Impl, examples: int, context: bool = False) -> None:
        impl.epoch()  # warm: first-use allocations (caches, code objects) are not an epoch's
        peak, seconds = peak_of_epoch(impl)
        rows.append((name, examples, peak, seconds, context))

    sub: Problem = prob if mg_examples is None else prob.subset(mg_examples)
    measure("microgradx, scalar", MicrogradxImpl(prob, "scalar"), n)
    if mg_examples is not None:
        measure("microgradx, scalar, micrograd's subset", MicrogradxImpl(sub, "scalar"), len(sub.y))
    if have_micrograd:
        measure("micrograd 0.1.0, per example", MicrogradImpl(sub, per_example=True), len(sub.y))
        if not args.skip_batch_graph:
            k = args.batch_graph_examples if args.batch_graph_examples > 0 else len(sub.y)
            batch_prob = sub.subset(min(k, len(sub.y)))
            measure("micrograd 0.1.0, one graph per batch", MicrogradImpl(batch_prob), len(batch_prob.y), context=True)
    measure("microgradx, lanes", MicrogradxImpl(prob, "lanes"), n, context=True)

    ref = next((r for r in rows if r[0] == "micrograd 0.1.0, per example"), None)
    batch = next((r for r in rows if r[0] == "micrograd 0.1.0, one graph per batch"), None)
    table = [[("* " if ctx else "") + name, examples, peak / MB, peak / examples / 1e3, seconds,
              _ratio(peak, ref[2]) if ref else "-", _ratio(peak, batch[2]) if batch else "-"]
             for name, examples, peak, seconds, ctx in rows]
    print("\nPeak traced memory during one epoch, above the memory at its start:")
    print_table(["implementation", "examples", "peak MB", "kB/example", "s (traced)", "vs micrograd per ex.",
                 "vs micrograd batch"], table)
    print("* context row, not used for the target.")
    if mg_examples is not None:
        print(f"micrograd rows (and the matching microgradx row) ran on the first {mg_examples} examples "
              f"(--quick); micrograd's peaks grow with the number of examples, so its full-epoch peak is larger.")
    results: dict = {"rows": {name: {"examples": ex, "peak_bytes": peak, "seconds": s}
                              for name, ex, peak, s, _ in rows}, "verdicts": []}
    if ref is not None:
        same = next(r for r in rows if r[0].startswith("microgradx, scalar") and r[1] == ref[1])
        r = same[2] / ref[2]
        ok = r <= 0.25
        print(f"\nscalar-mode peak vs micrograd's (per example, {ref[1]} examples): {r:.3f}x "
              f"(target <= 0.25x: {'met' if ok else f'MISSED by {r / 0.25:.2f}x'})")
        results["verdicts"].append({"what": "scalar-mode peak memory vs micrograd (per example)", "value": r,
                                    "op": "<=", "limit": 0.25})
        if batch is not None:
            rb = same[2] / batch[2]
            print(f"scalar-mode peak vs micrograd's one graph per batch ({batch[1]} examples): {rb:.4f}x")
            what = "one graph per batch" + ("" if batch[1] == n else f" of its first {batch[1]} examples")
            results["verdicts"].append({"what": f"scalar-mode peak memory vs micrograd ({what}, context)",
                                        "value": rb, "op": "<=", "limit": 0.25})
    return results


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark (exit status 0)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="micrograd rows on the first 100 examples")
    parser.add_argument("--micrograd-examples", type=int, default=None,
                        help="run the micrograd rows on the first N examples (default: all; 100 with --quick)")
    parser.add_argument("--skip-batch-graph", action="store_true",
                        help="skip micrograd's one-graph-per-batch row (context)")
    parser.add_argument("--batch-graph-examples", type=int, default=100,
                        help="examples in micrograd's one-graph-per-batch row (default 100: its graph grows "
                             "linearly, 455 take ~45 s traced and ~650 MB; 0 for the whole epoch)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
