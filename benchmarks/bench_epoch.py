"""Breast-cancer epoch: one full-batch SGD epoch, compiled and eager microgradx against PyTorch, numpy, micrograd.

    python benchmarks/bench_epoch.py            # 21 interleaved rounds; micrograd on its first 100 examples
    python benchmarks/bench_epoch.py --quick    # a smoke run: 3 rounds, micrograd on 10 examples

The work, the same in every row: ``MLP(30, [16, 16, 1])`` (ReLU hidden layers, linear
output) on the 455 training examples of the bundled ``breast_cancer`` dataset (seed 0),
the mean hinge loss ``relu(1 - y * score)`` with ``y = 2 * label - 1`` (micrograd has no
``exp`` or ``log``, so it cannot build binary cross-entropy; hinge is its demo's loss), and
one plain SGD step (lr 0.05) on the whole batch: one epoch is one step. Every row starts
from microgradx's seeded weights.

Rows:

* ``compiled, fused`` / ``compiled, fine-grained``: ``f = microgradx.compile(lambda xs, ts:
  loss.build(model(xs), ts, None, params))`` with ``ts = loss.encode_targets(y, 1, n)``, then
  per epoch ``opt.zero_grad(); out = f(X, ts); out.backward(); opt.step()`` with
  ``microgradx.nn.SGD`` (which keeps the parameters in one flat array). ``fine-grained`` is
  ``MLP(..., fused=False)``: the recording reads micrograd's ``b + w1*x1 + ...`` chains as
  ``dot`` nodes, so both replay the same program; the "first call" column is the recording;
* ``eager lanes``: the graph built anew every epoch, each input a lane Value of 455 lanes,
  ``loss(model(X), y, params).backward(retain_graph=False)`` inside ``microgradx.gc_paused()``
  (what the Trainer's eager step does), fused or fine-grained;
* two bounds of the eager fused lane target (``benchmarks/floor.py``): ``backward checks off``,
  the eager lane row with its backward step swapped for one with no checks (the checks are not
  what bounds it), and ``numpy per neuron``, the numpy calls that graph makes, neuron by neuron,
  with no graph around them (what is left is the Python of one node per neuron, one gradient
  per input);
* ``eager scalar mode``: one graph per example, as micrograd: ``loss(model(x), y_i)``,
  ``backward(1/n, retain_graph=False)``, gradients accumulated, one step (the Trainer's
  eager scalar step); fused, and fine-grained (micrograd's very graph) as context;
* PyTorch float64 (``torch.set_num_threads(1)``), numpy by hand, micrograd 0.1.0 one graph
  per batch (its demo) and one graph per example (what eager scalar mode does).

Checked before timing: one step from the same weights in every row; loss, all 785 gradients
and all updated weights equal the eager fused row's to a relative 1e-9 (and so each other's:
PyTorch included). micrograd and the scalar rows are checked on the first 50 examples (10
with --quick), the others on all 455.

Timing (wall clock; ``--cpu-time`` for process CPU time): the lane rows and the peers run in
interleaved rounds, each row a warm call then a block of timed epochs; the ratios to PyTorch
are the medians of the per-round ratios. micrograd takes ~15 s an epoch, so it runs on its
first ``--micrograd-examples`` examples (100; 0 for all) and its ms/epoch is scaled to 455
(``us/example x 455``; its batch graph is superlinear, so this flatters micrograd); the scalar
rows run on the same examples, interleaved with it, so the speed-up is on equal work.
The scalar fused row runs on all 455 too (its own epoch time). ``--profile`` adds cProfiles.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001  (first: it pins BLAS to one thread before numpy is imported)
import argparse
import time
from typing import Optional

import numpy as np
from microgradx.engine.optable import OPS

import floor
import peers
from common import Timed, median, paired, ratio, target
from peers import LR, SEED, SIZES, Impl, Problem

CHECK_EXAMPLES = 50
COMPILED_VS_TORCH = 0.8  # issue 20: the compiled epochs at most 0.8x PyTorch's ...
COMPILED_VS_NUMPY = 1.3  # ... and at most 1.3x the same epoch written by hand in numpy


class MicrogradxImpl(Impl):
    """microgradx: ``how`` is "compiled", "eager" (lanes) or "scalar" (one eager graph per example)."""

    def __init__(self, prob: Problem, how: str, fused: bool = True, checks: bool = True) -> None:
        import microgradx
        from microgradx.nn import SGD, DenseMLP, Hinge

        self.how, self.fused, self.checks = how, fused, checks
        kind = {"compiled": "compiled", "eager": "eager lanes", "scalar": "eager scalar mode"}[how]
        self.name = f"microgradx {kind}, {'fused' if fused else 'fine-grained'}"
        if not checks:  # a bound, not a way to run microgradx: see benchmarks/floor.py
            self.name += ", backward checks off (bound)"
        self.model = DenseMLP(prob.X.shape[1], SIZES, seed=SEED, fused=fused)
        self.model.set_weights(prob.weights)
        self.params = self.model.parameters()
        self.loss_fn, self.opt = Hinge(), SGD(self.params, lr=LR)
        self.X, self.y, self.n = prob.X, prob.y, len(prob.y)
        self.loss = 0.0
        self.record_seconds: Optional[float] = None
        self.gc_paused = microgradx.gc_paused
        if how == "compiled":
            loss_fn, model, params = self.loss_fn, self.model, self.params
            self.ts = loss_fn.encode_targets(prob.y, 1, self.n)
            self.f = microgradx.compile(lambda xs, ts: loss_fn.build(model(xs), ts, None, params))
            self.store = microgradx.ParameterStore(params)  # the loop's parameters in one array (the Trainer's way)
            self.note = "records once, then replays"
        elif how == "eager":
            self.note = "a lane graph per epoch" if checks else "floor.visit_without_checks"
        else:
            self.note = "a graph per example"

    def epoch(self) -> None:
        opt = self.opt
        if self.how == "compiled":
            opt.zero_grad()
            if self.f.recordings == 0:
                t0 = time.perf_counter()
                out = self.f(self.X, self.ts)
                self.record_seconds = time.perf_counter() - t0
            else:
                out = self.f(self.X, self.ts)
            out.backward()
            opt.step()
            self.loss = out.data
        elif self.how == "eager":
            with self.gc_paused():
                opt.zero_grad()
                out = self.loss_fn(self.model(self.X), self.y, self.params)
                if self.checks:
                    out.backward(retain_graph=False)
                else:
                    OPS.visit = floor.visit_without_checks  # (the slot anomaly mode uses: picked once per call)
                    try:
                        out.backward(retain_graph=False)
                    finally:
                        OPS.visit = None
                opt.step()
                self.loss = out.data
        else:
            with self.gc_paused():
                opt.zero_grad()
                total, share, model, loss_fn, X, y = 0.0, 1.0 / self.n, self.model, self.loss_fn, self.X, self.y
                for i in range(self.n):
                    loss = loss_fn(model(X[i].tolist()), y[i:i + 1])
                    loss.backward(share, retain_graph=False)
                    total += share * loss.data
                opt.step()
                self.loss = total

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        return (float(self.loss), np.array([p.grad for p in self.params]),
                np.array([p.data for p in self.params]))


def lane_rows(prob: Problem) -> list[Impl]:
    """The rows timed in interleaved rounds (PyTorch last, if installed)."""
    rows: list[Impl] = [MicrogradxImpl(prob, "compiled", True), MicrogradxImpl(prob, "compiled", False),
                        MicrogradxImpl(prob, "eager", True), MicrogradxImpl(prob, "eager", False),
                        MicrogradxImpl(prob, "eager", True, checks=False), floor.PerNeuronNumpy(prob),
                        peers.NumpyImpl(prob)]
    if common.have("torch"):
        rows.append(peers.TorchImpl(prob))
    return rows


def slow_rows(prob: Problem) -> list[Impl]:
    """The per-example rows: microgradx's eager scalar mode (fused, fine-grained) and micrograd's two ways."""
    rows: list[Impl] = [MicrogradxImpl(prob, "scalar", True), MicrogradxImpl(prob, "scalar", False)]
    if common.have("micrograd"):
        rows += [peers.MicrogradImpl(prob, per_example=True), peers.MicrogradImpl(prob)]
    return rows


def run(args: argparse.Namespace) -> dict:
    """Check, time, print; return the results as a JSON-able dict."""
    quick = args.quick
    rounds = args.rounds or (3 if quick else 21)
    slow_repeat = args.slow_repeat or (1 if quick else 2)
    mg_n = args.micrograd_examples if args.micrograd_examples is not None else (10 if quick else 100)
    clock = common.clock_of(args.cpu_time)
    info = common.print_header("Breast-cancer epoch: full-batch SGD on MLP(30, [16, 16, 1]), hinge loss")
    prob = peers.load_problem()
    n = len(prob.y)
    sub = prob.subset(mg_n or None)
    m = len(sub.y)
    print(f"data: {n} training examples x {prob.X.shape[1]} features; SGD lr {LR}; clock: "
          f"{'process CPU time' if args.cpu_time else 'wall'}; {rounds} interleaved rounds; per-example rows on "
          f"the first {m} examples, {slow_repeat} run(s) each{'' if common.have('micrograd') else ' (no micrograd)'}")

    print("\nchecked before timing: one SGD step from the same weights (relative tolerance 1e-9):")
    check_n = min(CHECK_EXAMPLES if not quick else 10, m)
    rows = lane_rows(prob)
    for line in peers.check_same_step(rows, rows[2], f" (all {n})"):
        print(line)
    small = prob.subset(check_n)
    rows = [MicrogradxImpl(small, "eager", True), *slow_rows(small)]
    for line in peers.check_same_step(rows, rows[0], f" (first {check_n})"):
        print(line)

    lanes = [Timed(impl.name, impl.epoch) for impl in lane_rows(prob)]
    impls = {t.name: t.fn.__self__ for t in lanes}
    common.interleave(lanes, rounds, clock)
    by = {t.name: t for t in lanes}
    torch_row = by.get(peers.TorchImpl.name)

    # the per-example rows: interleaved run by run, each from a collected heap; scalar fused also on all 455
    slow = {impl.name: (impl, []) for impl in slow_rows(sub)}
    full_scalar = MicrogradxImpl(prob, "scalar", True)
    full_times: list = []
    if not quick:
        full_scalar.epoch()
    for impl, _ in slow.values():
        if impl.name.startswith("microgradx"):  # warm (micrograd has no caches to warm)
            impl.epoch()
    for _ in range(slow_repeat):
        for impl, times in slow.values():
            times.append(common.time_once(impl.epoch, clock)[1])
        if not quick:  # (--quick: the per-example rows on the subset only)
            full_times.append(common.time_once(full_scalar.epoch, clock)[1])
    slow_ms = {name: median(times) * 1e3 * n / m for name, (_, times) in slow.items()}
    if full_times:
        slow_ms[full_scalar.name + f" (all {n})"] = median(full_times) * 1e3

    mg_batch = slow_ms.get("micrograd 0.1.0, one graph per batch")
    mg_each = slow_ms.get("micrograd 0.1.0, one graph per example")
    torch_ms = torch_row.ms if torch_row else None
    out_rows = []
    for t in lanes:
        impl = impls[t.name]
        first = getattr(impl, "record_seconds", None)
        out_rows.append([t.name, f"{len(t.times)}", t.ms, paired(t, torch_row) if torch_row else None,
                         ratio(mg_batch, t.ms, 0), first * 1e3 if first else "-", impl.note])
    scaled = f" [{m} ex., x{n / m:.2f}]" if m != n else ""
    for name, ms in slow_ms.items():
        impl = slow[name][0] if name in slow else full_scalar
        part = scaled if name in slow else ""
        out_rows.append([name + part, f"{slow_repeat}", ms, ms / torch_ms if torch_ms else None,
                         ratio(mg_batch, ms, 1), "-", impl.note])
    for r in out_rows:
        r[3] = "-" if r[3] is None else f"{r[3]:.2f}x"
    print()
    tables = [common.table(f"ms per epoch of {n} examples, medians (vs PyTorch: median of the paired rounds for "
                           f"the lane rows, ratio of medians for the rest):",
                           ["implementation", "epochs", "ms/epoch", "vs PyTorch", "micrograd batch / this",
                            "first call ms", "what"], out_rows, "lrrrrrl")]
    if m != n:
        print(f"[{m} ex., x{n / m:.2f}]: timed on the first {m} examples, scaled to {n} (us/example x {n}); the "
              f"speed-ups below compare those rows with each other, on the same {m} examples.\n")

    targets = []
    if torch_row:
        for name, limit in (("microgradx compiled, fused", COMPILED_VS_TORCH),
                            ("microgradx compiled, fine-grained", COMPILED_VS_TORCH),
                            ("microgradx eager lanes, fused", 4.0)):
            targets.append(target(f"{name.replace('microgradx ', '')} epoch vs PyTorch", paired(by[name], torch_row),
                                  "<=", limit))
    numpy_row = by[peers.NumpyImpl.name]
    for name in ("microgradx compiled, fused", "microgradx compiled, fine-grained"):
        targets.append(target(f"{name.replace('microgradx ', '')} epoch vs numpy by hand", paired(by[name], numpy_row),
                              "<=", COMPILED_VS_NUMPY))
    if torch_row:
        bare = by["microgradx eager lanes, fused, backward checks off (bound)"]
        numpy_floor = by[floor.PerNeuronNumpy.name]
        print(f"bound of the eager fused lane target: with no checks in backward {paired(bare, torch_row):.2f}x "
              f"PyTorch; its numpy calls alone, neuron by neuron, {paired(numpy_floor, torch_row):.2f}x")
    scalar = slow_ms["microgradx eager scalar mode, fused"]
    if mg_each:
        targets.append(target(f"eager scalar mode vs micrograd per example ({m} ex.): speed-up", mg_each / scalar,
                              ">=", 30.0))
        print(f"context: eager scalar mode (fused) vs micrograd's batch graph: {mg_batch / scalar:.1f}x faster; "
              f"the fine-grained scalar row (micrograd's own graph) vs micrograd per example: "
              f"{mg_each / slow_ms['microgradx eager scalar mode, fine-grained']:.1f}x faster.")
    if args.profile:
        profile(prob)
    return {**info, "quick": quick, "examples": n, "tables": tables, "targets": targets,
            "ms_per_epoch": {**{t.name: t.ms for t in lanes}, **slow_ms},
            "record_ms": {t.name: impls[t.name].record_seconds * 1e3 for t in lanes
                          if getattr(impls[t.name], "record_seconds", None)}}


def profile(prob: Problem, top: int = 14) -> None:
    """cProfile (by own time) of the compiled fused epoch, the eager fused lane epoch and 50 eager scalar examples."""
    import cProfile
    import pstats

    for how, epochs, sub in (("compiled", 300, prob), ("eager", 30, prob), ("scalar", 1, prob.subset(50))):
        impl = MicrogradxImpl(sub, how, True)
        impl.epoch()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(epochs):
            impl.epoch()
        profiler.disable()
        print(f"\ncProfile: {epochs} epoch(s) of {impl.name} on {len(sub.y)} examples, by own time "
              f"(cProfile inflates call-heavy code: read the shares)")
        pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark (exit status 0; a failed check raises AssertionError)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds, micrograd on 10 examples")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 21; --quick 3)")
    parser.add_argument("--slow-repeat", type=int, default=None, help="runs of each per-example row (default 2)")
    parser.add_argument("--micrograd-examples", type=int, default=None,
                        help="per-example rows on the first N examples (default 100, --quick 10; 0 for all 455)")
    parser.add_argument("--cpu-time", action="store_true", help="time with the process CPU clock")
    parser.add_argument("--profile", action="store_true", help="also print cProfiles of the microgradx rows")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return common.run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
