"""Thread safety: the registry is built once under a first-use race; parallel graphs stay independent."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from microgradx import Value, gc_paused, ops
from microgradx.registry import get_registry

N_THREADS = 8

#: Run in a fresh interpreter: nothing has built the registry yet. Every registration hook of the
#: bundled plugins is wrapped to count its calls, and the ops hook sleeps, so the other threads
#: arrive while the first one is still building. Each thread's first use goes through a different
#: door into the registry (an operator, a method, ``ops.NAME``, ``get_registry()`` directly, a layer).
RACE = textwrap.dedent("""
    import json, sys, threading, time
    import microgradx
    from microgradx import Value, ops, hookimpl
    from microgradx.registry import core as registry_module
    from microgradx.registry.discovery import BUILTIN_PLUGINS
    from importlib import import_module

    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    calls = {}
    for modname in BUILTIN_PLUGINS:
        module = import_module(modname)
        for attr in dir(module):
            if not attr.startswith("microgradx_register_"):
                continue
            original, key = getattr(module, attr), f"{modname}.{attr}"
            calls[key] = 0

            def counted(register, original=original, key=key):
                calls[key] += 1
                if key.endswith("arithmetic.microgradx_register_ops"):
                    time.sleep(0.3)  # keep the build in progress while the other threads start
                return original(register)

            setattr(module, attr, hookimpl(counted))
    loads = []
    original_load = registry_module.Registry.load
    registry_module.Registry.load = lambda self: (loads.append(1), original_load(self))[1]

    FIRST_USES = [
        lambda: (Value(1.5) + 2.0).data,
        lambda: Value(0.5).tanh().data,
        lambda: ops.sigmoid(Value(0.0)).data,
        lambda: sorted(microgradx.get_registry().names("ops")),
        lambda: microgradx.get_registry().get("layers", "MLP").__name__,
        lambda: len(microgradx.get_registry().get("layers", "MLP")(2, [3, 1], seed=0).parameters()),
        lambda: ops.dot(Value(1.0), Value(2.0), Value(3.0)).data,
        lambda: (lambda a: ((a * a).exp().backward(), a.grad)[1])(Value(1.0)),
    ]
    barrier = threading.Barrier(len(FIRST_USES))
    results, errors = [None] * len(FIRST_USES), []

    def run(i):
        barrier.wait()
        try:
            results[i] = FIRST_USES[i]()
        except Exception as exc:
            errors.append(f"thread {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(FIRST_USES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"results": results, "errors": errors, "calls": calls, "loads": len(loads)}))
""")


def test_registry_is_built_once_when_threads_race_to_first_use():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROGRADX_")}
    env["MICROGRADX_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only the counted built-ins
    proc = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["errors"] == []
    assert out["loads"] == 1
    assert out["calls"] and all(n == 1 for n in out["calls"].values()), out["calls"]
    r = out["results"]
    assert r[0] == 3.5
    assert r[1] == pytest.approx(np.tanh(0.5))
    assert r[2] == 0.5
    assert {"add", "tanh", "dot", "logsumexp"} <= set(r[3])
    assert r[4] == "MLP"
    assert r[5] == 2 * 3 + 3 + 3 * 1 + 1
    assert r[6] == 7.0
    assert r[7] == pytest.approx(2 * np.e)


# -- separate graphs in parallel threads --------------------------------------------------------


def _scalar_job(seed: int) -> tuple:
    """A scalar-mode expression with every kind of op; its value and input gradients."""
    rng = np.random.default_rng(seed)
    a, b, c = (Value(float(x)) for x in rng.uniform(0.5, 1.5, 3))
    out = a
    for _ in range(60):
        out = ((out * b + c).tanh() + a / (b + 1.0)) ** 2 - (c * 0.1).exp() + (a + 1.0).log() * out.sigmoid()
        out = out.relu() * 0.5 + ops.logsumexp(out, a) * 0.1
    out.backward()
    return out.data, a.grad, b.grad, c.grad


def _lane_job(seed: int) -> tuple:
    """A lane-mode MLP step (fused dot, layer cache, loss): the loss and the parameter gradients."""
    registry = get_registry()
    mlp = registry.get("layers", "MLP")(4, [8, 8, 1], seed=seed)
    loss_fn = registry.get("losses", "bce")()
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(32, 4)), rng.integers(0, 2, 32)
    total = 0.0
    for _ in range(5):
        mlp.zero_grad()
        loss = loss_fn(mlp(X), y, mlp.parameters())
        loss.backward()
        total += float(loss.data)
    return (total, *[p.grad for p in mlp.parameters()])


@pytest.mark.parametrize("job", [_scalar_job, _lane_job], ids=["scalar", "lanes"])
def test_parallel_graphs_give_the_same_results_as_serial(job):
    seeds = list(range(N_THREADS))
    expected = [job(s) for s in seeds]  # serially, one after the other
    barrier = threading.Barrier(N_THREADS)
    got: list = [None] * N_THREADS
    errors: list = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            for _ in range(3):  # several rounds, so the threads' graphs interleave
                got[i] = job(seeds[i])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(f"thread {i}: {type(exc).__name__}: {exc}")

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between a few bytecodes, not every 5 ms
    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(N_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert gc.isenabled()  # every thread's backward paused the collector; the last one restored it
    for i in range(N_THREADS):
        assert got[i] == pytest.approx(expected[i], rel=1e-12), f"thread {i}"
    assert len({round(e[0], 9) for e in expected}) == N_THREADS  # the jobs really differ


def test_gc_paused_in_many_threads_leaves_the_collector_as_it_found_it():
    """Pausing is counted across threads: interleaved blocks never leave the collector off for good.

    The race (one thread reads "disabled" just before another re-enables) is most likely when
    threads start together, so the threads are started together many times.
    """
    assert gc.isenabled()

    def run(barrier: threading.Barrier) -> None:
        barrier.wait()
        for _ in range(500):
            with gc_paused():
                with gc_paused():  # nested too
                    pass

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_ in range(20):
            barrier = threading.Barrier(N_THREADS)
            threads = [threading.Thread(target=run, args=(barrier,)) for _ in range(N_THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert gc.isenabled(), f"the collector was left off after round {round_}"
    finally:
        sys.setswitchinterval(old)
        gc.enable()
    gc.disable()  # and a collector the user turned off stays off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
