"""A Hessian-vector product of the breast-cancer MLP's loss: microgradx compiled and eager against PyTorch.

    python benchmarks/bench_hvp.py              # 15 interleaved rounds
    python benchmarks/bench_hvp.py --quick      # a smoke run: 3 rounds
    python benchmarks/bench_hvp.py --profile    # also a cProfile of the compiled replays

The work (issue 23): H v, the Hessian of the training loss with respect to the model's 785
parameters times a direction v, without forming H: the parameters' gradient with its graph
(``create_graph=True``), then the gradient of the directional derivative g . v. The loss is
the one the Trainer trains by default on the bundled breast_cancer split (seed 0, 455
examples x 30 standardised features): ``MLP(30, [16, 16, 1])`` with ReLU hidden layers
(`microgradx.nn.DenseMLP`, the registry's "MLP") and the mean binary cross-entropy on the
logit (the "bce" loss), built as the Trainer's compiled step builds it, on the whole batch. v
is a seeded standard normal vector.

* **microgradx compiled**: ``f = microgradx.compile(directional)``, where ``directional(xs, ts)``
  builds the loss, takes ``microgradx.gradients(loss, params, create_graph=True)`` and returns
  ``sum(g_i * v_i)`` with the v_i closed-over Values (read afresh at every call, taking no
  gradient); one HVP is ``zero_grad(); f(X, ts).backward()``, which leaves H v in ``p.grad``;
* **microgradx eager**: the same, building the graphs every time: the loss, its gradient as
  Values, the directional derivative, ``gradients`` of it;
* **PyTorch** (float64, one thread): ``torch.autograd.grad(loss, params, create_graph=True)``,
  then ``torch.autograd.grad(sum((g * v).sum()), params)``: its double backward;
* context: one first-order gradient (the Trainer's compiled step without the optimizer; PyTorch's
  ``loss.backward()``), so the HVP's cost can be read against the gradient's.

Checked before timing: H v of the three agree to a relative 1e-8 (and the compiled one for a
second direction, with no new recording), and the gradients of the context rows too.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001  (first: it pins BLAS to one thread before numpy is imported)
import argparse
import time
from typing import Any, Optional

import numpy as np

import peers
from common import Timed, paired, target
from peers import SEED, SIZES, Problem, flatten, rel_diff

HVP_LIMIT = 2.0  # x PyTorch's double backward
REL_TOL = 1e-8


class MicrogradxHVP:
    """H v of the bce loss through microgradx: compiled (a recording of the directional derivative) or eager."""

    def __init__(self, prob: Problem, v: np.ndarray, compiled: bool) -> None:
        import microgradx
        from microgradx import Value, get_registry, gradients, ops
        from microgradx.nn import DenseMLP

        self.model = model = DenseMLP(prob.X.shape[1], SIZES, seed=SEED)  # ReLU hidden layers: the Trainer's
        model.set_weights(prob.weights)
        self.params = params = model.parameters()
        self.loss = loss = get_registry().get("losses", "bce")()
        self.X, self.y = prob.X, prob.y
        self.targets = loss.encode_targets(prob.y, 1, len(prob.y))
        self.direction = [Value(float(x)) for x in v]  # closed over: read afresh at every call
        for d in self.direction:
            d.grad = None  # (they take no gradient: only the parameters' H v is wanted)
        self.gradients, self.sum, self.compiled = gradients, ops.sum, compiled
        self.name = "microgradx compiled" if compiled else "microgradx eager"
        self.note = "compile(directional): f(X, ts).backward()" if compiled else "builds the three graphs each time"

        def directional(xs: Any, ts: Any) -> Any:
            value = loss.build(list(model(xs)), ts, None, params)  # as the Trainer's compiled step builds it
            first = gradients(value, params, create_graph=True)
            return ops.sum(*[g * d for g, d in zip(first, self.direction)])

        self.directional = directional
        self.f = microgradx.compile(directional) if compiled else None
        self.step = microgradx.compile(lambda xs, ts: loss.build(list(model(xs)), ts, None, params))

    def set_direction(self, v: np.ndarray) -> None:
        """Point v elsewhere (the closed-over Values' data: a compiled call reads them afresh)."""
        for d, x in zip(self.direction, v):
            d.data = float(x)

    def hvp(self) -> np.ndarray:
        """H v, as a flat array in the parameters' order."""
        if self.compiled:
            self.model.zero_grad()
            self.f(self.X, self.targets).backward()
            return np.array([p.grad for p in self.params])
        value = self.loss(self.model(self.X), self.y, self.params)
        first = self.gradients(value, self.params, create_graph=True)
        out = self.sum(*[g * d for g, d in zip(first, self.direction)])
        return np.array(self.gradients(out, self.params))

    def gradient(self) -> np.ndarray:
        """The loss's gradient (context): the compiled step's backward."""
        self.model.zero_grad()
        self.step(self.X, self.targets).backward()
        return np.array([p.grad for p in self.params])


class TorchHVP:
    """H v by PyTorch's double backward, float64, one thread, with nn.Linear and nn.ReLU."""

    name, note = "PyTorch float64, 1 thread", "autograd.grad twice (create_graph=True)"

    def __init__(self, prob: Problem, v: np.ndarray) -> None:
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        self.model = peers.TorchImpl(prob).model  # the same weights, nn.Linear/nn.ReLU
        self.params = list(self.model.parameters())
        self.X, self.y = torch.from_numpy(np.array(prob.X)), torch.from_numpy(np.array(prob.y))
        self.set_direction(v)

    def set_direction(self, v: np.ndarray) -> None:
        """v in PyTorch's layout: (W, b) per layer."""
        layers, k, nin = [], 0, self.X.shape[1]
        for nout in SIZES:
            block = np.asarray(v[k:k + nout * (nin + 1)]).reshape(nout, nin + 1)
            layers += [self.torch.from_numpy(block[:, :nin].copy()), self.torch.from_numpy(block[:, nin].copy())]
            k, nin = k + nout * (nin + 1), nout
        self.direction = layers

    def _loss(self) -> Any:
        logits = self.model(self.X)[:, 0]
        return self.torch.nn.functional.binary_cross_entropy_with_logits(logits, self.y)

    def hvp(self) -> np.ndarray:
        grad = self.torch.autograd.grad
        first = grad(self._loss(), self.params, create_graph=True)
        hv = grad(sum((g * d).sum() for g, d in zip(first, self.direction)), self.params)
        return self._flat(hv)

    def gradient(self) -> np.ndarray:
        return self._flat(self.torch.autograd.grad(self._loss(), self.params))

    @staticmethod
    def _flat(tensors: Any) -> np.ndarray:
        return flatten([(tensors[i].numpy(), tensors[i + 1].numpy()) for i in range(0, len(tensors), 2)])


def check(rows: list, v: np.ndarray, other_v: np.ndarray) -> list[str]:
    """H v and the gradient of every row against the first row's (eager microgradx), then H v for ``other_v``
    (the rows are left pointing at ``v``); raises AssertionError naming a row that differs."""
    reference = rows[0]
    lines = []
    for what in ("hvp", "gradient"):
        ref = getattr(reference, what)()
        if not np.abs(ref).max() > 0:
            raise AssertionError(f"the reference {what} is zero: the check would compare nothing")
        for row in rows[1:]:
            d = rel_diff(getattr(row, what)(), ref)
            if not d <= REL_TOL:
                raise AssertionError(f"{row.name}: {what} differs from {reference.name}'s by {d:.2e} (relative; "
                                     f"tolerance {REL_TOL:g})")
            lines.append(f"  {row.name:<28} {what:<8} == {reference.name}'s: {d:.0e}")
    for row in rows:
        row.set_direction(other_v)
    ref = reference.hvp()
    for row in rows[1:]:
        d = rel_diff(row.hvp(), ref)
        if not d <= REL_TOL:
            raise AssertionError(f"{row.name}: H v for a second direction differs by {d:.2e} (relative)")
        lines.append(f"  {row.name:<28} H v for a second direction: {d:.0e}")
    for row in rows:
        row.set_direction(v)
    return lines


def run(args: argparse.Namespace) -> dict:
    """Check, time, print; return the results as a JSON-able dict."""
    quick = args.quick
    rounds = args.rounds or (3 if quick else 15)
    clock = common.clock_of(args.cpu_time)
    info = common.print_header("Hessian-vector product of the breast-cancer MLP's loss (issue 23)")
    prob = peers.load_problem()
    v = np.random.default_rng(1).standard_normal(len(prob.weights))
    other_v = np.random.default_rng(2).standard_normal(len(prob.weights))
    print(f"data: {len(prob.y)} breast_cancer training examples; MLP(30, [16, 16, 1]) ReLU, mean bce on the logit; "
          f"H v w.r.t. the {len(prob.weights)} parameters; clock: {'process CPU time' if args.cpu_time else 'wall'}; "
          f"{rounds} interleaved rounds")

    eager, compiled = MicrogradxHVP(prob, v, compiled=False), MicrogradxHVP(prob, v, compiled=True)
    t0 = time.perf_counter()
    compiled.hvp()  # the first call records (the loss, its gradient graph, the directional derivative)
    record_ms = (time.perf_counter() - t0) * 1e3
    torch_row = TorchHVP(prob, v) if common.have("torch") else None
    rows = [eager, compiled] + ([torch_row] if torch_row else [])
    print(f"checked before timing: H v (and the gradient) from the same weights (relative tolerance {REL_TOL:g}):")
    for line in check(rows, v, other_v):
        print(line)
    if compiled.f.recordings != 1:
        raise AssertionError(f"the compiled HVP recorded {compiled.f.recordings} times; a new direction must not "
                             f"record again")

    timed = [Timed(f"{compiled.name}: H v", compiled.hvp), Timed(f"{eager.name}: H v", eager.hvp)]
    timed.append(Timed(f"{compiled.name}: gradient (context)", compiled.gradient))
    if torch_row:
        timed += [Timed(f"{torch_row.name}: H v", torch_row.hvp),
                  Timed(f"{torch_row.name}: gradient (context)", torch_row.gradient)]
    common.interleave(timed, rounds, clock)
    by = {t.name: t for t in timed}
    torch_hvp = by.get(f"{TorchHVP.name}: H v")

    def vs(t: Timed) -> Optional[str]:
        return f"{paired(t, torch_hvp):.2f}x" if torch_hvp else "-"

    notes = {timed[0].name: compiled.note, timed[1].name: eager.note,
             timed[2].name: "the Trainer's compiled step, without the update"}
    if torch_row:
        notes[timed[3].name], notes[timed[4].name] = torch_row.note, "loss.backward's work, autograd.grad"
    table_rows = [[t.name, len(t.times), t.ms, vs(t), notes[t.name]] for t in timed]
    table_rows.append([f"{compiled.name}: recording (the first call)", 1, record_ms, "-", "fn run eagerly, planned"])
    print()
    tables = [common.table(f"ms per Hessian-vector product, {len(prob.y)} examples, 785 parameters, medians (vs "
                           f"PyTorch's H v: median of the paired rounds):",
                           ["what", "runs", "ms", "vs PyTorch H v", "note"], table_rows, "lrrrl")]
    targets = []
    if torch_hvp:
        targets.append(target("compiled HVP vs PyTorch's double backward", paired(timed[0], torch_hvp), "<=",
                              HVP_LIMIT))
        print(f"H v / gradient: microgradx compiled {paired(timed[0], timed[2]):.1f}x, PyTorch "
              f"{paired(torch_hvp, by[f'{TorchHVP.name}: gradient (context)']):.1f}x; compiled vs eager H v: "
              f"{paired(timed[1], timed[0]):.1f}x faster")
    if args.profile:
        profile(compiled)
    return {**info, "quick": quick, "tables": tables, "targets": targets, "record_ms": record_ms,
            "ms": {t.name: t.ms for t in timed}}


def profile(row: MicrogradxHVP, calls: int = 30, top: int = 14) -> None:
    """cProfile of ``calls`` compiled HVPs (replays): the forward and backward replay, then by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        row.hvp()
    profiler.disable()
    stats = pstats.Stats(profiler)
    phases = {"__call__": "the call (forward replay)", "backward": "backward replay"}
    found = dict.fromkeys(phases.values(), 0.0)
    for (path, _, name), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name in phases and path.endswith(("function.py", "replay.py")) and "compiler" in path:
            found[phases[name]] = max(found[phases[name]], cum)
    print(f"\ncProfile of {calls} compiled HVPs, ms per HVP under cProfile: "
          + ", ".join(f"{k} {v / calls * 1e3:.2f}" for k, v in found.items()))
    stats.strip_dirs().sort_stats("tottime").print_stats(top)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark (exit status 0; a failed check raises AssertionError)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 15; --quick 3)")
    parser.add_argument("--cpu-time", action="store_true", help="time with the process CPU clock")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the compiled replays")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return common.run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
