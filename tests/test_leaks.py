"""No leaks: steady memory over a long training loop; ``backward(retain_graph=False)`` frees the graph."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from microgradx import GraphReleasedError, Value, ops, topological_order
from microgradx.datasets import Dataset
from microgradx.engine.autograd import RELEASED
from microgradx.train import Trainer

BATCH = 16


def _dataset(n=192, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) + y[:, None]
    cut = 3 * n // 4
    return Dataset(name="blobs", X_train=X[:cut], y_train=y[:cut], X_test=X[cut:], y_test=y[cut:], task="binary",
                   n_classes=2)


def _trainer() -> Trainer:
    return Trainer(dataset=_dataset(), hidden=(8, 8), batch_size=BATCH, epochs=1, schedule=None, seed=0)


def _batch(trainer: Trainer, step: int) -> tuple:
    X, y = trainer.dataset.X_train, trainer.dataset.y_train
    start = (step * BATCH) % (len(y) - BATCH + 1)
    return X[start:start + BATCH], y[start:start + BATCH]


def _one_graph_bytes(trainer: Trainer) -> int:
    """What one batch's graph holds after backward (kept alive by its root): the size of one leaked graph."""
    X, y = _batch(trainer, 0)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    loss = trainer.loss(trainer.model(X), y, trainer.params)
    loss.backward()
    held = tracemalloc.get_traced_memory()[0] - before
    del loss
    trainer.optimizer.zero_grad()
    return held


def _traced_growth(step_fn, start: int, stop: int) -> tuple[int, int]:
    """Run ``step_fn(step)`` for steps 1..stop; return (traced bytes at ``start``, at ``stop``), each after gc."""
    tracemalloc.start()
    try:
        marks = {}
        for step in range(1, stop + 1):
            step_fn(step)
            if step in (start, stop):
                gc.collect()
                marks[step] = tracemalloc.get_traced_memory()[0]
        return marks[start], marks[stop]
    finally:
        tracemalloc.stop()


def test_a_thousand_training_steps_hold_steady_memory():
    """Between step 100 and step 1000 the traced memory may not grow by more than two graphs' worth.

    A loop that leaked one graph per step would grow by 900 graphs; the bound is computed from the
    measured size of one graph, and `test_the_leak_check_catches_a_loop_that_keeps_its_graphs` shows
    the same check failing on such a loop.
    """
    trainer = _trainer()
    tracemalloc.start()
    try:
        graph = _one_graph_bytes(trainer)
    finally:
        tracemalloc.stop()
    assert graph > 5_000  # a real graph: dozens of nodes holding lane arrays
    losses = []

    def step(k):
        losses.append(trainer.train_step(*_batch(trainer, k)))

    at_100, at_1000 = _traced_growth(step, 100, 1000)
    growth = at_1000 - at_100
    assert growth < 2 * graph, f"memory grew by {growth:,} bytes over 900 steps; one graph is {graph:,} bytes"
    assert np.isfinite(losses).all() and np.mean(losses[-50:]) < np.mean(losses[:50])  # it did train


def test_the_leak_check_catches_a_loop_that_keeps_its_graphs():
    """The same measurement on a loop that keeps every step's graph (a classic bug) exceeds the bound."""
    trainer = _trainer()
    tracemalloc.start()
    try:
        graph = _one_graph_bytes(trainer)
    finally:
        tracemalloc.stop()
    kept = []

    def leaky_step(k):
        X, y = _batch(trainer, k)
        trainer.optimizer.zero_grad()
        loss = trainer.loss(trainer.model(X), y, trainer.params)
        loss.backward()  # the default keeps the graph...
        trainer.optimizer.step()
        kept.append(loss)  # ...and this keeps the root, so every graph stays alive

    at_20, at_120 = _traced_growth(leaky_step, 20, 120)
    assert at_120 - at_20 > 2 * graph * 10  # 100 graphs kept: far past the bound of the test above


# -- releasing the graph --------------------------------------------------------------------------------


def _lane_graph(n_lanes=1000, depth=30):
    """A chain over lane Values, and weak references to the intermediate nodes' data arrays."""
    x, w = Value(np.linspace(-1.0, 1.0, n_lanes)), Value(0.5)
    h, refs = x, []
    for _ in range(depth):
        h = (h * w).tanh() + x
        refs.append(weakref.ref(h.data))
    return x, w, ops.lane_sum(h), refs


def test_release_frees_the_intermediates_while_the_root_is_still_held():
    x, w, root, refs = _lane_graph()
    root.backward(retain_graph=False)
    gc.collect()
    assert all(r() is None for r in refs)  # every intermediate's arrays are gone...
    assert root.op is RELEASED and root.parents == ()  # ...the root remembers only its number
    assert isinstance(root.data, float) and root.grad == 1.0
    assert x.grad.shape == (1000,) and np.isfinite(x.grad).all() and w.grad != 0.0  # leaves keep their gradients


def test_retain_is_the_default_and_keeps_the_graph():
    _, w, root, refs = _lane_graph()
    root.backward()
    gc.collect()
    assert all(r() is not None for r in refs)
    assert len(topological_order(root)) > 60  # still a graph: it can be inspected and drawn
    first = w.grad
    root.backward()  # and back-propagated again (leaf gradients accumulate)
    assert w.grad == pytest.approx(2 * first)


@pytest.mark.parametrize("lanes", [False, True], ids=["scalar", "lanes"])
def test_release_gives_the_same_gradients(lanes):
    def run(retain):
        x = Value(np.array([0.3, -1.2, 2.0])) if lanes else Value(0.3)
        w = Value(0.7)
        h = (x * w).tanh() ** 2 + (x * x + 1.0).log() / w
        root = ops.lane_mean(h * h.sigmoid() + h.exp() * w)
        root.backward(retain_graph=retain)
        return root.data, np.copy(x.grad), w.grad

    kept, released = run(True), run(False)
    assert kept[0] == released[0] and kept[2] == released[2]
    np.testing.assert_array_equal(kept[1], released[1])


def test_backward_through_a_released_graph_raises_a_clear_error():
    a, b = Value(2.0), Value(3.0)
    h = a * b
    root = h.tanh() + a
    root.backward(retain_graph=False)
    grads = (a.grad, b.grad)
    with pytest.raises(GraphReleasedError, match=r"released.*retain_graph=True") as info:
        root.backward()
    assert isinstance(info.value, RuntimeError)
    assert (a.grad, b.grad) == grads  # nothing was added
    # a released intermediate still holds its number, so it can be used forward...
    again = h * 2.0
    assert again.data == 12.0
    # ...but back-propagating through it raises too, rather than silently stopping there
    with pytest.raises(GraphReleasedError, match=r"Value\(data=6.0\)"):
        again.backward()
    fresh = Value(h.data)  # the documented way to use it as a new input
    (fresh * 2.0).backward()
    assert fresh.grad == 2.0


def test_release_lowers_the_peak_memory_of_a_lane_backward():
    """Each node's arrays are freed as soon as its gradient has been passed on, not after the whole pass."""
    peaks = {}
    for retain in (True, False):
        x, w, root, _ = _lane_graph(n_lanes=20_000, depth=20)
        gc.collect()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            root.backward(retain_graph=retain)
            peaks[retain] = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        del x, w, root
    assert peaks[False] < 0.6 * peaks[True], peaks


def test_backward_reaching_a_released_node_changes_no_leaf_gradient() -> None:
    """The released node is found while ordering, before any leaf gradient is added."""
    x = Value(0.5)
    h = (x * 3.0).tanh()
    h.backward(retain_graph=False)
    before = x.grad
    two = Value(2.0)
    again = h * two
    with pytest.raises(GraphReleasedError):
        again.backward()
    assert two.grad == 0.0 and x.grad == before
