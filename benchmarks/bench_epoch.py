"""Breast-cancer epoch: the same full-batch SGD epoch in microgradx, micrograd, PyTorch and numpy.

    python benchmarks/bench_epoch.py            # every implementation, micrograd on the full epoch
    python benchmarks/bench_epoch.py --quick    # fewer repeats, micrograd on a subset of the examples

What is measured
----------------
One epoch of full-batch training of ``MLP(30, [16, 16, 1])`` (ReLU hidden layers, a linear
output) on the 455 training examples of scikit-learn's breast-cancer data (the bundled
``breast_cancer`` dataset: seed 0, stratified 80/20 split, standardised): ``zero_grad``,
forward, loss, backward and one plain SGD step (``p -= lr * grad``, lr 0.05, no momentum).

* every implementation starts from the same weights: microgradx's ``MLP(..., seed=0)``,
  copied into each peer;
* the loss is the mean hinge loss ``relu(1 - y * score)`` with ``y = 2 * label - 1``
  (micrograd's demo loss). micrograd 0.1.0 has neither ``exp`` nor ``log``, so binary
  cross-entropy cannot be built in it; hinge is built from the ops every implementation has;
* before anything is timed, one step is taken in every implementation from the same
  weights, and the loss, every gradient and every updated weight are checked equal to the
  numpy reference (relative tolerance 1e-9; see `check`): on all 455 examples, and on the
  first 50 for every row including micrograd's (its code is the same for any number of
  examples; a full check would add half a minute).

Implementations (rows):

* ``microgradx, lanes``: `microgradx.train.Trainer` (``mode="lanes"``, ``batch_size=None``),
  timed through ``Trainer.train_step``: one graph over the whole batch, each input a lane Value;
* ``microgradx, scalar``: the same Trainer with ``mode="scalar"``: one graph per example,
  gradients accumulated example by example (the teaching mode);
* ``micrograd 0.1.0``: karpathy's micrograd the way its demo trains: one graph over the
  whole batch (``sum(losses) * (1 / n)``), ``backward()``, the SGD loop over ``parameters()``;
* ``micrograd, per example`` (context): micrograd building one graph per example as
  microgradx's scalar mode does (each loss scaled by 1/n, backward per example);
* ``PyTorch float64``: ``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU`` in float64,
  ``torch.optim.SGD``, ``torch.set_num_threads(1)``;
* ``numpy``: a hand-written forward and backward (the reference for the checks).

Every BLAS library is limited to one thread (``OPENBLAS_NUM_THREADS=1`` ... set before numpy
is imported), so every row uses one core. The garbage collector is in its default state
(enabled, default thresholds) for every row: microgradx pauses it itself around each step
(`microgradx.gc_paused`), micrograd leaves it on.

Timing: wall clock (``--cpu-time``: process CPU time), medians. The fast rows (numpy, PyTorch,
microgradx lanes) run in blocks: one untimed epoch, then 20 timed ones; the blocks of the
implementations are interleaved, 15 rounds, so drift on a busy machine affects all alike while
each block runs warm (an implementation started right after a slow one runs its first epoch with
cold caches; PyTorch's dispatch suffers most: about 1 ms instead of 0.4 ms here). The target
ratio (lane mode / PyTorch) is the median over the rounds of each round's ratio (its two block
medians), so load that changes between rounds cancels out. microgradx's
scalar mode runs 7 timed epochs after a warm one. micrograd takes seconds per epoch: it gets one
run by default (``--micrograd-repeat``) from a collected heap (``gc.collect()``, untimed, before
each run: the cycles of its previous graph are not charged to it, in its favour). With
``--quick`` it (and a microgradx scalar run on the same examples, for a ratio on equal work)
runs on the first ``--micrograd-examples`` (100) examples only; the table says so.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported: one thread for every implementation

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Optional  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import median, print_header, print_table, ratio, run_and_save  # noqa: E402

SIZES = [16, 16, 1]
LR = 0.05
SEED = 0
REL_TOL = 1e-9
CHECK_EXAMPLES = 50  # micrograd's rows are checked on this many examples


# -- the data and the starting weights ---------------------------------------------------------------


@dataclass
class Problem:
    """The training split, the labels as +-1, and the starting weights in microgradx's order."""

    X: np.ndarray
    y: np.ndarray  # 0/1 labels
    dataset: Any
    weights: list  # flat, microgradx MLP order: layer by layer, neuron by neuron, weights then bias

    @property
    def signs(self) -> np.ndarray:
        """The labels as -1/+1."""
        return 2.0 * self.y - 1.0

    def layer_arrays(self, weights: Optional[list] = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """The flat weights as [(W of shape (nout, nin), b of shape (nout,)), ...] per layer."""
        flat = np.asarray(self.weights if weights is None else weights, dtype=np.float64)
        out, k, nin = [], 0, self.X.shape[1]
        for nout in SIZES:
            block = flat[k:k + nout * (nin + 1)].reshape(nout, nin + 1)
            out.append((block[:, :nin].copy(), block[:, nin].copy()))
            k += nout * (nin + 1)
            nin = nout
        return out

    def subset(self, n: int) -> Problem:
        """The first ``n`` examples (the same weights)."""
        return Problem(self.X[:n], self.y[:n], self.dataset, self.weights)


def load_problem() -> Problem:
    """The bundled breast-cancer split and microgradx's seeded initial weights."""
    from microgradx import get_registry

    registry = get_registry()
    ds = registry.get("datasets", "breast_cancer")(seed=SEED)
    model = registry.get("layers", "MLP")(ds.X_train.shape[1], SIZES, activation="relu", seed=SEED)
    return Problem(np.asarray(ds.X_train, dtype=np.float64), np.asarray(ds.y_train, dtype=np.float64), ds,
                   model.get_weights())


def flatten(layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """[(W, b), ...] per layer back to microgradx's flat order."""
    return np.concatenate([np.concatenate([W, b[:, None]], axis=1).ravel() for W, b in layers])


# -- the implementations --------------------------------------------------------------------------------


class Impl:
    """One row: ``epoch()`` runs one full-batch SGD epoch; ``state()`` is (loss, grads, weights) after it."""

    name = ""
    note = ""
    context = False  # context rows are not used for the targets

    def epoch(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:  # pragma: no cover - overridden
        raise NotImplementedError


class NumpyImpl(Impl):
    """Hand-written forward and backward with numpy: the reference."""

    name = "numpy (hand-written)"

    def __init__(self, prob: Problem) -> None:
        self.X, self.s = prob.X, prob.signs
        self.layers = prob.layer_arrays()
        self.loss = 0.0
        self.grads: list = []

    def epoch(self) -> None:
        X, s, layers = self.X, self.s, self.layers
        n = len(s)
        acts, pre = [X], []
        h = X
        for i, (W, b) in enumerate(layers):
            z = h @ W.T + b
            pre.append(z)
            h = np.maximum(z, 0.0) if i < len(layers) - 1 else z
            acts.append(h)
        score = h[:, 0]
        margin = 1.0 - s * score
        self.loss = float(np.maximum(margin, 0.0).mean())
        dz = (-(s * (margin > 0.0)) / n)[:, None]  # d loss / d score
        grads = []
        for i in range(len(layers) - 1, -1, -1):
            W, b = layers[i]
            grads.append((dz.T @ acts[i], dz.sum(axis=0)))
            if i:
                dz = (dz @ W) * (pre[i - 1] > 0.0)
        self.grads = grads[::-1]
        for (W, b), (gW, gb) in zip(layers, self.grads):
            W -= LR * gW
            b -= LR * gb

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        return self.loss, flatten(self.grads), flatten(self.layers)


class MicrogradxImpl(Impl):
    """microgradx's Trainer, one ``train_step`` on the whole batch per epoch."""

    def __init__(self, prob: Problem, mode: str) -> None:
        from microgradx import get_registry
        from microgradx.train import Trainer

        self.name = f"microgradx, {mode}"
        self.note = ("one graph per batch (lane Values)" if mode == "lanes"
                     else "one graph per example, gradients accumulated")
        model = get_registry().get("layers", "MLP")(prob.X.shape[1], SIZES, activation="relu", seed=SEED)
        model.set_weights(prob.weights)
        self.trainer = Trainer(model=model, dataset=prob.dataset, loss="hinge", optimizer="sgd", lr=LR,
                               optimizer_options={"momentum": 0.0}, schedule=None, batch_size=None, mode=mode,
                               epochs=1, seed=SEED)
        self.X, self.y = prob.X, prob.y
        self.loss = 0.0

    def epoch(self) -> None:
        self.loss = self.trainer.train_step(self.X, self.y)

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        params = self.trainer.params
        return self.loss, np.array([p.grad for p in params]), np.array([p.data for p in params])


def _micrograd_model(prob: Problem) -> Any:
    from micrograd.nn import MLP

    model = MLP(prob.X.shape[1], list(SIZES))
    params = model.parameters()
    assert len(params) == len(prob.weights)  # the same order as microgradx: per neuron, weights then bias
    for p, w in zip(params, prob.weights):
        p.data = w
    return model


class MicrogradImpl(Impl):
    """micrograd 0.1.0 as its demo trains: one graph over the batch, then the SGD loop."""

    def __init__(self, prob: Problem, per_example: bool = False) -> None:
        self.model = _micrograd_model(prob)
        self.X, self.s = prob.X.tolist(), prob.signs.tolist()
        self.per_example = per_example
        self.name = "micrograd 0.1.0, per example" if per_example else "micrograd 0.1.0"
        self.note = ("one graph per example, as microgradx's scalar mode (context)" if per_example
                     else "one graph per batch, as its demo")
        self.context = per_example
        self.loss = 0.0

    def epoch(self) -> None:
        model, X, s = self.model, self.X, self.s
        n = len(s)
        model.zero_grad()
        if self.per_example:
            total = 0.0
            for x, si in zip(X, s):
                loss = (1 + -si * model(x)).relu() * (1.0 / n)
                loss.backward()
                total += loss.data
            self.loss = total
        else:
            scores = [model(x) for x in X]
            losses = [(1 + -si * score).relu() for si, score in zip(s, scores)]
            loss = sum(losses) * (1.0 / n)
            loss.backward()
            self.loss = loss.data
        for p in model.parameters():
            p.data -= LR * p.grad

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        params = self.model.parameters()
        return float(self.loss), np.array([float(p.grad) for p in params]), np.array([p.data for p in params])


class TorchImpl(Impl):
    """PyTorch, float64, one thread: nn.Linear layers, torch.optim.SGD."""

    def __init__(self, prob: Problem) -> None:
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        self.name = "PyTorch float64, 1 thread"
        layers = []
        nin = prob.X.shape[1]
        for i, (W, b) in enumerate(prob.layer_arrays()):
            lin = torch.nn.Linear(nin, W.shape[0]).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(SIZES) - 1:
                layers.append(torch.nn.ReLU())
            nin = W.shape[0]
        self.model = torch.nn.Sequential(*layers)
        self.linears = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.X = torch.from_numpy(np.array(prob.X))  # a writable copy
        self.s = torch.from_numpy(prob.signs)
        self.loss = 0.0

    def epoch(self) -> None:
        torch = self.torch
        self.opt.zero_grad()
        score = self.model(self.X)[:, 0]
        loss = torch.relu(1.0 - self.s * score).mean()
        loss.backward()
        self.opt.step()
        self.loss = loss.item()

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        grads = [(m.weight.grad.numpy(), m.bias.grad.numpy()) for m in self.linears]
        weights = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in self.linears]
        return self.loss, flatten(grads), flatten(weights)


# -- checking and timing --------------------------------------------------------------------------------


def rel_diff(a: np.ndarray, ref: np.ndarray) -> float:
    """The worst elementwise relative difference of ``a`` from ``ref``.

    Relative to each element's magnitude, but at least 1e-12 of the largest one, so an element
    that is exactly 0 in one and 1e-20 in the other does not count as a difference.
    """
    a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        raise AssertionError(f"shape {a.shape} != reference shape {ref.shape}")
    scale = np.maximum(np.abs(ref), 1e-12 * max(float(np.abs(ref).max()), 1e-300))
    return float((np.abs(a - ref) / scale).max())


def check(impls: list[Impl], reference: Impl) -> list[str]:
    """One epoch in each (from the same weights): loss, gradients and new weights must agree to REL_TOL.

    Raises AssertionError naming the implementation and the quantity that differs.
    """
    reference.epoch()
    ref = reference.state()
    if not np.abs(ref[1]).max() > 0:
        raise AssertionError("the reference gradient is zero: the check would compare nothing")
    lines = []
    for impl in impls:
        if impl is reference:
            continue
        impl.epoch()
        got = impl.state()
        worst = []
        for what, a, r in (("loss", [got[0]], [ref[0]]), ("gradients", got[1], ref[1]), ("weights", got[2], ref[2])):
            d = rel_diff(a, r)
            if not d <= REL_TOL:
                raise AssertionError(f"{impl.name}: {what} differ from {reference.name} by {d:.2e} "
                                     f"(relative; tolerance {REL_TOL:g})")
            worst.append(f"{what} {d:.0e}")
        lines.append(f"  {impl.name:<34} == {reference.name}: " + ", ".join(worst))
    return lines


@dataclass
class Row:
    """Timings (seconds per epoch) of one implementation."""

    impl: Impl
    examples: int
    times: list = field(default_factory=list)
    gc_seconds: list = field(default_factory=list)
    blocks: list = field(default_factory=list)  # the median of each block of timed epochs (fast rows)

    @property
    def ms(self) -> float:
        return median(self.times) * 1e3

    def per_example_us(self) -> float:
        return median(self.times) * 1e6 / self.examples


def timed(fn: Callable[[], None], clock: Callable[[], float]) -> tuple[float, float]:
    """(seconds, seconds inside the cyclic garbage collector) of one call of ``fn``."""
    spent = [0.0, 0.0]

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            spent[1] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - spent[1]

    gc.callbacks.append(watch)
    try:
        t0 = clock()
        fn()
        elapsed = clock() - t0
    finally:
        gc.callbacks.remove(watch)
    return elapsed, spent[0]


def run(args: argparse.Namespace) -> dict:
    """Check, time and print; return the results as a JSON-able dict."""
    quick = args.quick
    repeat = args.repeat or (5 if quick else 15)
    block = 10 if quick else 20
    scalar_repeat = args.scalar_repeat or (3 if quick else 7)
    mg_repeat = args.micrograd_repeat or 1
    mg_examples = args.micrograd_examples or (100 if quick else None)
    clock = time.process_time if args.cpu_time else time.perf_counter

    packages = ["numpy", "microgradx", "micrograd", "torch"]
    print_header("Breast-cancer epoch: full-batch SGD on MLP(30, [16, 16, 1])", packages)
    prob = load_problem()
    n = len(prob.y)
    print(f"data: {n} training examples x {prob.X.shape[1]} features (bundled breast_cancer, seed {SEED}); "
          f"loss: mean hinge relu(1 - y*score); SGD lr {LR}, no momentum")
    print(f"gc: {'enabled' if gc.isenabled() else 'DISABLED'}, thresholds {gc.get_threshold()}; BLAS threads: "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}; clock: "
          f"{'process CPU time' if args.cpu_time else 'wall'}")

    try:
        import micrograd.engine  # noqa: F401
        have_micrograd = True
    except ImportError:
        have_micrograd = False
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False

    def make_all(p: Problem, with_slow: bool) -> list[Impl]:
        impls: list[Impl] = [NumpyImpl(p), MicrogradxImpl(p, "lanes"), MicrogradxImpl(p, "scalar")]
        if have_torch:
            impls.append(TorchImpl(p))
        if have_micrograd and with_slow:
            impls += [MicrogradImpl(p), MicrogradImpl(p, per_example=True)]
        return impls

    # 1. correctness: one step from the same weights everywhere. micrograd's rows (seconds per epoch) are
    #    checked on the first CHECK_EXAMPLES examples, the same code as on the full batch; the others on all.
    sub = prob.subset(min(CHECK_EXAMPLES, n, mg_examples or n))
    print(f"\nchecked before timing: one SGD step from the same weights, relative tolerance {REL_TOL:g}:")
    impls = make_all(sub, with_slow=True)
    for line in check(impls, impls[0]):
        print(line + f"  (first {len(sub.y)} examples)")
    impls = make_all(prob, with_slow=False)
    for line in check(impls, impls[0]):
        print(line + f"  (all {n} examples)")

    # 2. timing on the full batch. The fast rows run in blocks (a warm-up epoch, then `block` timed
    #    epochs), the blocks interleaved: an implementation that runs right after a slow one starts with
    #    cold caches, which is not what a training loop sees. microgradx's scalar mode runs alone, warm.
    fast = [Row(impl, n) for impl in make_all(prob, with_slow=False)]
    scalar_rows = [row for row in fast if row.impl.name == "microgradx, scalar"]
    fast_rows = [row for row in fast if row not in scalar_rows]
    for _ in range(repeat):
        for row in fast_rows:
            row.impl.epoch()
            times = []
            for _ in range(block):
                t, g = timed(row.impl.epoch, clock)
                times.append(t)
                row.gc_seconds.append(g)
            row.times += times
            row.blocks.append(median(times))
    for row in scalar_rows:
        row.impl.epoch()
        for _ in range(scalar_repeat):
            t, g = timed(row.impl.epoch, clock)
            row.times.append(t)
            row.gc_seconds.append(g)

    # 3. micrograd: few repeats; on a subset in quick mode, with microgradx scalar on the same subset
    slow: list[Row] = []
    if have_micrograd:
        sub = prob if mg_examples is None else prob.subset(mg_examples)
        slow = [Row(MicrogradImpl(sub), len(sub.y)), Row(MicrogradImpl(sub, per_example=True), len(sub.y))]
        same = Row(MicrogradxImpl(sub, "scalar"), len(sub.y)) if mg_examples is not None else None
        if same is not None:
            same.impl.name = "microgradx, scalar, micrograd's subset"
            same.impl.epoch()
        for _ in range(mg_repeat):
            for row in slow + ([same] if same else []):
                gc.collect()  # start each from a clean heap (micrograd leaves cycles behind), untimed
                t, g = timed(row.impl.epoch, clock)
                row.times.append(t)
                row.gc_seconds.append(g)
        if same is not None:
            slow.append(same)

    # 4. the table
    by_name = {row.impl.name: row for row in fast + slow}
    torch_row = by_name.get("PyTorch float64, 1 thread")
    mg_row = next((r for r in slow if r.impl.name == "micrograd 0.1.0"), None)
    mg_pe_row = next((r for r in slow if r.impl.name == "micrograd 0.1.0, per example"), None)

    def epoch_ms(row: Row) -> float:
        """ms per epoch of 455 examples (measured directly, or per example x 455 for a subset run)."""
        return row.ms if row.examples == n else row.per_example_us() * n / 1e3

    table = []
    for row in fast + slow:
        partial = row.examples != n
        table.append([
            ("* " if row.impl.context else "") + row.impl.name,
            f"{len(row.times)}" + (f" x {row.examples} ex." if partial else ""),
            epoch_ms(row),
            row.per_example_us(),
            median(row.gc_seconds) * 1e3,
            ratio(epoch_ms(row), epoch_ms(torch_row)) if torch_row else "-",
            ratio(epoch_ms(mg_row), epoch_ms(row)) if mg_row else "-",
            row.impl.note or "",
        ])
    print(f"\nms per epoch ({n} examples), medians of the repeats:")
    print_table(["implementation", "repeats", "ms/epoch", "us/example", "ms in gc", "vs PyTorch",
                 "micrograd / this", "graph"], table, align="lrrrrrrl")
    if mg_examples is not None:
        print(f"micrograd rows ran on the first {mg_examples} examples only (--quick): their ms/epoch is "
              f"us/example x {n}; the scalar-mode ratio below uses microgradx on the same {mg_examples} examples.\n")
    print("* context row, not used for the targets.\n")

    results: dict = {"examples": n, "rows": {}}
    for row in fast + slow:
        results["rows"][row.impl.name] = {"ms_per_epoch": epoch_ms(row), "us_per_example": row.per_example_us(),
                                          "repeats": len(row.times), "examples": row.examples,
                                          "ms_in_gc": median(row.gc_seconds) * 1e3}
    verdicts = []
    lanes = by_name["microgradx, lanes"]
    if torch_row:
        # paired: each round's lane block against the PyTorch block run next to it, so that load
        # changing between rounds (other processes on the machine) cancels out; then the median
        paired = median(a / b for a, b in zip(lanes.blocks, torch_row.blocks))
        print(f"lane mode / PyTorch, ratio of the medians: {epoch_ms(lanes) / epoch_ms(torch_row):.2f}x; "
              f"median of the {len(lanes.blocks)} paired rounds: {paired:.2f}x (used for the target)")
        results["lanes_vs_torch_paired"] = paired
        verdicts.append(("lane-mode epoch vs PyTorch float64 1 thread", paired, "<=", 3.0))
    if mg_row:
        scalar = by_name.get("microgradx, scalar, micrograd's subset") or by_name["microgradx, scalar"]
        speedup = mg_row.per_example_us() / scalar.per_example_us()
        verdicts.append(("scalar-mode speed-up over micrograd (one graph per batch)", speedup, ">=", 30.0))
        if mg_pe_row:
            verdicts.append(("scalar-mode speed-up over micrograd, per example (context)",
                             mg_pe_row.per_example_us() / scalar.per_example_us(), ">=", 30.0))
    for what, value, op, limit in verdicts:
        ok = value <= limit if op == "<=" else value >= limit
        by = value / limit if op == "<=" else limit / value
        print(f"{what}: {value:.2f}x (target {op} {limit:g}x: {'met' if ok else f'MISSED by {by:.2f}x'})")
    results["verdicts"] = [{"what": w, "value": v, "op": o, "limit": lim} for w, v, o, lim in verdicts]
    if args.profile:
        profile_lanes(prob)
    return results


def profile_lanes(prob: Problem, steps: int = 300, top: int = 22) -> None:
    """Print where the lane-mode step's time goes: manual phase timers, then a cProfile by own time."""
    import cProfile
    import pstats

    from microgradx import gc_paused

    impl = MicrogradxImpl(prob, "lanes")
    tr = impl.trainer
    X, y = prob.X, prob.y
    phases: dict[str, list] = {"zero_grad": [], "forward (model)": [], "loss": [], "backward": [], "step": []}
    for _ in range(steps):
        with gc_paused():
            t0 = time.perf_counter()
            tr.optimizer.zero_grad()
            t1 = time.perf_counter()
            out = tr.model(X)
            t2 = time.perf_counter()
            loss = tr.loss(out, y, tr.params)
            t3 = time.perf_counter()
            loss.backward()
            t4 = time.perf_counter()
            tr.optimizer.step()
            t5 = time.perf_counter()
        for name, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            phases[name].append(dt)
    print("\nLane-mode step by phase (median us of", steps, "steps):")
    print("  " + ", ".join(f"{k} {median(v) * 1e6:.0f}" for k, v in phases.items()))
    backward_by_node(tr, X, y, steps // 3)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        impl.epoch()
    profiler.disable()
    print(f"\ncProfile of {steps} lane-mode steps (Trainer.train_step), by own time (cProfile inflates "
          f"call-heavy code: read the shares):")
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)


def backward_by_node(tr: Any, X: np.ndarray, y: np.ndarray, steps: int) -> None:
    """Print the backward pass of a lane-mode step taken apart: ordering, then each node's step by op and layer.

    Replays what ``backward()`` does, timing the ordering and each node's step (its op's
    backward and the accumulation into its inputs) separately; the timers add about 0.2 us a node.
    """
    from microgradx.engine import autograd, gc_paused

    order_us: list = []
    per: dict = {}
    for _ in range(steps):
        with gc_paused():
            tr.optimizer.zero_grad()
            loss = tr.loss(tr.model(X), y, tr.params)
            t0 = time.perf_counter()
            order = autograd._op_order(loss)
            order_us.append((time.perf_counter() - t0) * 1e6)
            loss.grad = 1.0
            spent: dict = {}
            for v in reversed(order):
                if v._op is None:
                    continue
                name = v._op.name
                if name == "dot":
                    name = f"dot, {sum(p._op is None and p.data.__class__ is np.ndarray for p in v._parents)} " \
                           f"input leaves of {len(v._parents)} inputs"
                t0 = time.perf_counter()
                autograd._propagate((v,))
                key = spent.setdefault(name, [0, 0.0])
                key[0] += 1
                key[1] += time.perf_counter() - t0
            for name, (count, sec) in spent.items():
                per.setdefault(name, []).append((count, sec * 1e6))
    print(f"  backward taken apart ({len(order)} op outputs; median us of {steps} steps):")
    print(f"    ordering (op outputs only): {median(order_us):.0f}")
    for name, runs in sorted(per.items(), key=lambda kv: -median(r[1] for r in kv[1])):
        print(f"    {name}: {runs[0][0]} nodes, {median(r[1] for r in runs):.0f} "
              f"({median(r[1] for r in runs) / runs[0][0]:.1f} per node)")


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark (exit status 0; a failed check raises AssertionError)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats; micrograd on the first 100 examples (a smoke run)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="blocks of timed epochs per fast row (default 15 blocks of 20; --quick: 5 of 10)")
    parser.add_argument("--scalar-repeat", type=int, default=None,
                        help="timed epochs of microgradx's scalar mode (default 7; --quick: 3)")
    parser.add_argument("--micrograd-repeat", type=int, default=None, help="repeats of the micrograd rows (default 1)")
    parser.add_argument("--micrograd-examples", type=int, default=None,
                        help="time micrograd on the first N examples only (default: all; 100 with --quick)")
    parser.add_argument("--cpu-time", action="store_true", help="time with the process CPU clock")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--profile", action="store_true", help="also profile the lane-mode step")
    return run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
