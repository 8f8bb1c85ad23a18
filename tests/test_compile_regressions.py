"""Regression tests for compiler bugs the compile tests found, each named after what went wrong.

(Two more live with the tests that found them: ``check=True`` naming the node and catching a
replaced Value in ``test_compile.py``; each output's own input gradients and a recording's
bytes in ``test_compile_runtime.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.compiled import check_compiled

import microgradx
from microgradx import Value, ops


def plans(compiled) -> list:
    return [recorded.plan for recorded in compiled._recordings.values()]


def test_shared_partial_sums_are_read_in_linear_size():
    """Regression: every partial sum of a running sum used again made the program quadratic (57 s at 6000 nodes)."""
    ws = [Value(0.01 * i) for i in range(300)]

    def fn(x):
        s, outs = ws[0] * x, []
        for w in ws[1:]:
            s = s + w * x
            outs.append(s.tanh())
        return ops.sum(*outs).lane_sum()

    compiled = check_compiled(fn, [np.linspace(-1.0, 1.0, 4)], ws)
    [plan] = plans(compiled)
    assert sum(len(ins) for ins in plan.program.inputs) < 10 * len(ws)  # quadratic: 45000


def test_lane_biases_with_float_products_regression(rng):
    """Regression: dot nodes with a lane bias and float products (x + w1*c1 + w2*c2) gave wrong lanes."""
    ws = [Value(float(w)) for w in rng.normal(size=4)]
    fn = lambda X: ops.sum(*[X[0] + ws[i] * 2.0 + ws[(i + 1) % 4] * 3.0 for i in range(3)])
    compiled = check_compiled(fn, [rng.normal(size=(3, 1))], ws)  # three nodes on three lanes
    check_compiled(fn, [rng.normal(size=(3, 1))], ws, compiled=compiled)
    check_compiled(fn, [rng.normal(size=(5, 1))], ws, compiled=compiled)


def test_a_recording_made_in_anomaly_mode_replays_plain_ops_after_it(rng):
    """Regression: a recording kept anomaly mode's checked ops, whose every replay noted its outputs for good."""
    from microgradx.engine import anomaly

    w = Value(0.5)
    fn = lambda X: ops.lane_mean(ops.sum(*[(x * w).tanh() * 2.0 + x * w - x for x in X]))
    compiled = microgradx.compile(fn)
    with microgradx.detect_anomaly():
        assert isinstance(compiled(rng.normal(size=(4, 3))), Value)  # in anomaly mode it runs eagerly, checked
        assert compiled.recordings == 0
        with microgradx.detect_anomaly():  # and a recording made from a graph of checked ops reads the plain ones
            from microgradx.compiler.record import read_graph
            from microgradx.compiler.trace import recording

            with recording("fn", 4) as rec:
                xs = [Value(rng.normal(size=4)) for _ in range(3)]
                rec.trace_inputs(xs)
                program = read_graph([fn(xs)], True, rec, {id(x): (0, i) for i, x in enumerate(xs)})
        assert all(getattr(op.forward, "plain_op", None) is None for op in program.ops)
    made = len(anomaly._made)
    for _ in range(5):
        check_compiled(fn, [rng.normal(size=(4, 3))], [w], compiled=compiled)
    assert len(anomaly._made) == made
    plain = microgradx.compile(fn)
    plain(np.ones((4, 3)))
    [recorded], [unchecked] = plans(compiled), plans(plain)
    assert recorded.program.ops == unchecked.program.ops  # the same ops, fused the same way


@pytest.mark.parametrize("lanes", [pytest.param(True, id="lanes"), pytest.param(False, id="scalar")])
def test_a_domain_error_in_a_batched_kernel_is_the_eager_one(lanes):
    """Regression: a batched op's domain check counted the bad lane in the stacked (k, n) block ("lane 5" of 3)."""
    fn = lambda X: ops.sum(*[x.log() for x in (X if lanes else [x for row in X for x in row])])
    compiled = microgradx.compile(fn, lanes=lanes)
    compiled(np.ones((3, 2)))
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, -6.0]])
    with pytest.raises(ValueError) as eager:
        fn([Value(c) for c in X.T] if lanes else [[Value(x) for x in row] for row in X.tolist()])
    with pytest.raises(ValueError) as replayed:
        compiled(X)
    assert str(replayed.value) == str(eager.value)
    assert str(eager.value) == "op 'log': log of a non-positive number -6.0" + (" (lane 2)" if lanes else "")


def test_a_recording_evicted_by_another_thread_between_lookup_and_use():
    """Regression: a replay whose recording another thread evicted (past MAX_RECORDINGS) raised KeyError.

    The interleaving is forced: the lookup returns the recording, then it is evicted, as when
    another thread records a new signature in between.
    """
    from collections import OrderedDict

    class EvictedAfterLookup(OrderedDict):
        def get(self, key, default=None):
            found = super().get(key, default)
            self.pop(key, None)
            return found

    w = Value(0.5)
    compiled = microgradx.compile(lambda x: (x * w).lane_sum())
    assert compiled(np.ones(2)).data == 1.0
    compiled._recordings = EvictedAfterLookup(compiled._recordings)
    assert compiled(np.array([1.0, 3.0])).data == 2.0


@pytest.mark.parametrize("kind", ["Parameter", "Value"])
def test_a_closed_over_leaf_whose_grad_is_none_takes_no_gradient_when_replayed(kind):
    """Regression: a Parameter with grad None was bound to a store by the replay and its grad became nan."""
    from microgradx import Parameter
    from microgradx.engine.parameter import BoundParameter, ParameterStore

    make = Parameter if kind == "Parameter" else Value
    frozen, w = make(2.0), make(0.5)
    frozen.grad = None
    compiled = microgradx.compile(lambda x: (frozen * w * x).lane_sum())
    out = compiled(np.array([1.0, 2.0, 3.0]))
    out.backward()
    assert frozen.grad is None and type(frozen) is make  # not bound: a store's array holds numbers only
    assert w.grad == pytest.approx(12.0)
    assert ParameterStore.bind([frozen, w]) is None
    if kind == "Parameter":
        with pytest.raises(TypeError, match="grad None"):
            ParameterStore([frozen, w])
        store = ParameterStore([w])
        assert type(w) is BoundParameter
        with pytest.raises(TypeError, match="grad None"):
            w.grad = None  # the store's array would have held nan
        store.release()


def test_a_released_graph_in_a_recording_is_the_eager_error():
    """Regression: a closed-over node whose graph backward(retain_graph=False) released failed recording with
    "max() arg is an empty sequence"; eager backward names the released graph (GraphReleasedError).

    A Value made before the call is read as it stands, so the forward replays; its backward passes
    through the node's own graph, as eager's does, and raises the same error."""
    w = Value(2.0)
    h = w * 3.0
    h.backward(retain_graph=False)
    fn = lambda x: (h * x).lane_sum()
    out = fn(Value(np.ones(3)))
    with pytest.raises(microgradx.GraphReleasedError) as eager:
        out.backward()
    compiled = microgradx.compile(fn)
    replayed = compiled(np.ones(3))
    assert replayed.data == out.data == 18.0
    with pytest.raises(microgradx.GraphReleasedError) as recorded:
        replayed.backward()
    assert str(recorded.value) == str(eager.value)


def test_what_is_read_afresh_does_not_depend_on_who_else_holds_a_value(rng):
    """Regression: leaves and fusion were decided by sys.getrefcount. Whether a parameter was re-read or baked in
    as a constant depended on how many references it had, and appending an intermediate Value to a debug list
    changed the recording. The rule is the recording's own: numbers are constants, every Value is read afresh,
    and a chain is fused by its use counts inside the graph."""
    from microgradx.nn import DenseMLP as MLP  # the registered MLP

    model = MLP(3, [4, 1], seed=3, fused=False)
    debug: list = []

    def fn(X, keep):
        out = model(X)[0]
        if keep:
            debug.append(out)  # held elsewhere too
            debug.extend(model.parameters())
        return (1.0 - out).relu().lane_mean()

    programs = []
    for keep in (False, True):
        compiled = microgradx.compile(lambda X, keep=keep: fn(X, keep))
        compiled(rng.normal(size=(6, 3)))
        [plan] = plans(compiled)
        kinds = [leaf[0] for leaf in plan.program.leaves]
        assert kinds.count("closed") == model.num_parameters() and kinds.count("const") == 1  # the 1.0 of 1.0 - out
        assert [op.name for op in plan.program.ops].count("dot") == 5  # each neuron's b + w1*x1 + ... is one dot
        check_compiled(lambda X, keep=keep: fn(X, keep), [rng.normal(size=(6, 3))], model.parameters(),
                       compiled=compiled)
        programs.append(plan.program)
    assert programs[0].ops == programs[1].ops and programs[0].inputs == programs[1].inputs
    assert all(type(v.data) in (float, np.ndarray) for v in debug)  # plain numbers again after the recording
    test_shared_partial_sums_are_read_in_linear_size()


def test_gradients_go_to_the_store_bound_while_a_backward_waits_for_the_lock(monkeypatch):
    """Regression: a replay's backward looked the parameters' store up, then took the gradient lock and read the
    indices again. When another thread bound the parameters to a new store in between (and its replay looked
    them up), the gradients went to the old store, which no parameter reads any more, at the new store's indices.

    The interleaving is forced: entering the lock rebinds the parameters, as the other thread would."""
    from microgradx import Parameter
    from microgradx.compiler import replay
    from microgradx.engine.parameter import ParameterStore

    a, b = Parameter(1.0), Parameter(2.0)
    compiled = microgradx.compile(lambda x: (a * x + b * x * x).lane_sum())
    ParameterStore([a, b])  # a training loop keeps a and b in one array
    out = compiled(np.array([1.0, 2.0]))
    real_lock = replay._GRAD_LOCK

    class RebindingLock:
        def __enter__(self):
            ParameterStore([b, a])  # another thread: a new store, in another order
            compiled(np.array([1.0, 2.0]))  # and its replay, which looks the new store up
            return real_lock.__enter__()

        def __exit__(self, *exc):
            return real_lock.__exit__(*exc)

    monkeypatch.setattr(replay, "_GRAD_LOCK", RebindingLock())
    out.backward()
    assert (a.grad, b.grad) == (3.0, 5.0)  # d/da = 1 + 2, d/db = 1 + 4


@pytest.mark.parametrize("lanes", [True, False], ids=["lanes", "scalar"])
def test_values_kept_past_a_recording_hold_plain_numbers_also_when_fn_assigned_one(lanes):
    """The end of a recording gives every Value it traced its plain data back in one pass; a Value whose data ``fn``
    assigned keeps what was assigned, and the others still get theirs back."""
    w = Value(0.5)
    kept: list = []

    def fn(X):
        xs = [X[0], X[1]] if lanes else [row[0] for row in X]
        hs = [(x * w).tanh() for x in xs]
        kept.extend(hs)
        if assign:
            hs[0].data = np.full(3, 7.0) if lanes else 7.0  # (eager code may do this; the recording reads it as is)
        return ops.sum(*hs).lane_sum()

    for assign in (False, True):
        kept.clear()
        X = np.arange(6.0).reshape(3, 2)
        microgradx.compile(fn, lanes=lanes)(X)
        assert all(type(v.data) in (float, np.ndarray) for v in kept)
        if assign:
            assert np.all(kept[0].data == 7.0)
        assert np.allclose(kept[-1].data, np.tanh((X[:, 1] if lanes else X[2, 0]) * 0.5))


def test_distinct_rows_are_numpys_in_order_of_first_appearance_also_when_hashes_collide(rng):
    """The dot batching rule finds shared weight and input rows by hashing each row to one integer; rows whose
    hashes collide are told apart by sorting them, as np.unique(axis=0) does."""
    from microgradx.compiler.batching import _distinct_rows

    A = rng.integers(0, 5, size=(200, 3))
    for weights in (None, np.zeros(3, dtype=np.uint64)):  # zeros: every row hashes alike
        U, inverse = _distinct_rows(A, weights)
        assert np.array_equal(U[inverse], A)
        assert len(U) == len(np.unique(A, axis=0))
        if weights is None:  # in order of first appearance (a layer's neurons stay in order: a view, not a gather)
            firsts = sorted(np.unique(inverse, return_index=True)[1])
            assert np.array_equal(U, A[firsts])
