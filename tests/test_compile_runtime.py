"""The compiler beyond the bundled components: third-party ops, threads, memory, parameter stores, input gradients.

* A third-party op declared ``elementwise`` runs as one `ElementwiseKernel`, the kernel a bundled
  elementwise op gets (as fast); one that declares nothing runs node by node (`NodeKernel`); one
  with its own ``batch=`` rule gets its own kernel; all give eager's numbers.
* Two threads calling one compiled function (one signature, or several being recorded at once).
* A recording holds no Value per node and fewer bytes than the eager graph's data.
* `microgradx.Parameter` s in a `ParameterStore` (made by a replay or by hand) that an optimizer shares; plain Values.
* ``backward(inputs=True)``: each output's own input gradients, in both lane styles.

Regression tests for the other bugs these tests found are in ``test_compile_regressions.py``.
"""

from __future__ import annotations

import contextlib
import gc
import threading

import numpy as np
import pytest
from helpers.compiled import REORDERED, check_compiled, run_compiled, run_eager

import microgradx
from microgradx import Op, Parameter, Value, hookimpl, ops
from microgradx.compiler.kernels import ElementwiseKernel, NodeKernel
from microgradx.compiler.replay import backward_many
from microgradx.engine.autograd import topological_order
from microgradx.engine.parameter import BoundParameter, ParameterStore
from microgradx.engine.value import apply
from microgradx.nn import SGD, Adam
from microgradx.nn import DenseMLP as MLP  # the registered MLP (microgradx.nn.MLP is micrograd's)

LANE_STYLES = [pytest.param(True, id="lanes"), pytest.param(False, id="scalar")]


def plans(compiled) -> list:
    return [recorded.plan for recorded in compiled._recordings.values()]


def kernels_for(compiled, name: str) -> list:
    """The kernels of every recording that run op ``name``."""
    return [k for plan in plans(compiled) for k in plan.kernels if getattr(getattr(k, "op", None), "name", "") == name]


def _softsign_backward(g, out, x):
    d = 1.0 + abs(x)
    return (g / (d * d),)


SOFTSIGN = Op(name="softsign", elementwise=True, doc="x / (1 + |x|)", forward=lambda x: x / (1.0 + abs(x)),
              backward=_softsign_backward)
SLOW_SOFTSIGN = Op(name="slow_softsign", doc="softsign, declaring no batching",
                   forward=lambda x: x / (1.0 + abs(x)), backward=_softsign_backward)


class OpsPlugin:
    def __init__(self, *ops_):
        self.ops = ops_

    @hookimpl
    def microgradx_register_ops(self, register):
        for op in self.ops:
            register(op)


def unary_graph(name: str, weights: list, lanes: bool):
    """Many independent nodes of op ``name`` (one per weight and input), summed."""
    def fn(X):
        columns = X if lanes else [x for row in X for x in row]
        return ops.sum(*[apply(name, w * x) for w in weights for x in columns])
    return fn


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_a_runtime_elementwise_op_runs_as_one_kernel_exactly_like_a_bundled_one(lanes, rng, fresh_registry):
    weights = [Value(float(w)) for w in rng.normal(size=4)]
    X = rng.normal(size=(5, 3))
    with microgradx.plugin_registered(OpsPlugin(SOFTSIGN, SLOW_SOFTSIGN), name="rt-softsign"):
        fast = check_compiled(unary_graph("softsign", weights, lanes), [X], weights, lanes)
        bundled = check_compiled(unary_graph("tanh", weights, lanes), [X], weights, lanes)
        slow = check_compiled(unary_graph("slow_softsign", weights, lanes), [X], weights, lanes)
        check_compiled(unary_graph("softsign", weights, lanes), [2 * X], weights, lanes, compiled=fast)
    nodes = len(weights) * (3 if lanes else 15)
    [kernel] = kernels_for(fast, "softsign")
    [tanh_kernel] = kernels_for(bundled, "tanh")
    assert type(kernel) is type(tanh_kernel) is ElementwiseKernel
    assert len(kernel.gathers[0].rows) == nodes  # every softsign node in the one call
    node_kernels = kernels_for(slow, "slow_softsign")
    assert [type(k) for k in node_kernels] == [NodeKernel] and len(node_kernels[0].nodes) == nodes


def test_an_op_applied_directly_without_registering(rng):
    w = Value(0.8)
    for op, kind in ((SOFTSIGN, ElementwiseKernel), (SLOW_SOFTSIGN, NodeKernel)):
        fn = lambda x, op=op: (apply(op, x * w) + apply(op, x - w)).lane_mean()
        compiled = check_compiled(fn, [rng.normal(size=6)], [w])
        assert {type(k) for k in kernels_for(compiled, op.name)} == {kind}


class CountingKernel:
    """A batching rule's kernel for k nodes of ``scale(x, s) = s * x``: one numpy call each way."""

    calls = 0

    def __init__(self, batch):
        self.x, self.s = batch.gather(0), batch.gather(1)
        self.out_space, self.rows = batch.out_space, batch.rows

    def forward(self, env):
        CountingKernel.calls += 1
        env.data[self.out_space][self.rows] = self.s.take(env) * self.x.take(env)

    def backward(self, env, variant):
        g = env.grad.get(self.out_space)
        if g is not None:
            g = g[self.rows]
            self.x.add(env, g * self.s.take(env))
            self.s.add(env, g * self.x.take(env))


SCALE = Op(name="scale", arity=2, doc="s * x", batch=CountingKernel, forward=lambda x, s: s * x,
           backward=lambda g, out, x, s: (g * s, g * x))
UNBATCHED_SCALE = Op(name="unbatched_scale", arity=2, doc="s * x", batch=lambda batch: None,
                     forward=lambda x, s: s * x, backward=lambda g, out, x, s: (g * s, g * x))


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_a_third_party_batching_rule_is_used(lanes, rng, fresh_registry):
    weights = [Value(float(w)) for w in rng.normal(size=3)]

    def graph(name):
        def fn(X):
            columns = X if lanes else [x for row in X for x in row]
            return ops.sum(*[apply(name, x.tanh(), w) for w in weights for x in columns])
        return fn

    with microgradx.plugin_registered(OpsPlugin(SCALE, UNBATCHED_SCALE), name="rt-scale"):
        compiled = check_compiled(graph("scale"), [rng.normal(size=(4, 2))], weights, lanes)
        [plan] = plans(compiled)
        assert sum(isinstance(k, CountingKernel) for k in plan.kernels) == 1
        CountingKernel.calls = 0
        check_compiled(graph("scale"), [rng.normal(size=(4, 2))], weights, lanes, compiled=compiled)
        assert CountingKernel.calls == 1  # every scale node of the replay in one call
        for _ in range(3):  # on reused arrays: a kernel with no bind() of its own, whose writes are not known
            check_compiled(graph("scale"), [rng.normal(size=(4, 2))], weights, lanes, compiled=compiled)
        declined = check_compiled(graph("unbatched_scale"), [rng.normal(size=(4, 2))], weights, lanes)
        for _ in range(3):
            check_compiled(graph("unbatched_scale"), [rng.normal(size=(4, 2))], weights, lanes, compiled=declined)
        assert {type(k) for k in kernels_for(declined, "unbatched_scale")} == {NodeKernel}  # the rule said None


@pytest.mark.parametrize("lanes", LANE_STYLES)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "fine-grained"])
def test_nodes_doing_the_same_thing_run_as_one_call_whatever_the_batch(fused, lanes):
    """The replay's number of numpy calls depends on the model, not on the batch size or on fused=."""
    model = MLP(3, [8, 8, 1], seed=25, fused=fused)
    if lanes:
        fn = lambda X: model(X)[0].lane_mean()
    else:
        fn = lambda X: ops.sum(*[model(x)[0] for x in X])
    compiled = microgradx.compile(fn, lanes=lanes)
    for n in (4, 32):
        compiled(np.ones((n, 3)))
    for plan in plans(compiled):  # per layer one matrix product and one activation call, then the sum or mean
        assert [type(k).__name__ for k in plan.kernels] == ["SharedDot", "ElementwiseKernel"] * 2 + [
            "SharedDot", "LaneReduction" if lanes else "BlockSum"]


# -- threads -------------------------------------------------------------------------------------------------


def _mlp_step(model):
    params = model.parameters()
    return lambda X: ops.lane_mean(ops.sum(*[o * o for o in model(X)])) + 0.1 * ops.dot(*params, *params)


@pytest.mark.parametrize("sizes", [pytest.param((5, 5, 5, 5), id="one-signature"),
                                   pytest.param((3, 4, 5, 6), id="signatures-recorded-at-once")])
def test_threads_calling_one_compiled_function(sizes, rng):
    model = MLP(3, [6, 2], seed=21)
    params = model.parameters()
    ParameterStore.bind(params)  # gradients are added to the store's array (an optimizer makes none)
    fn = _mlp_step(model)
    compiled = microgradx.compile(fn)
    batches = [[rng.normal(size=(n, 3)) for _ in range(15)] for n in sizes]
    barrier, errors, values = threading.Barrier(len(sizes)), [], {}

    def work(t):
        try:
            barrier.wait()
            for i, X in enumerate(batches[t]):
                out = compiled(X)
                out.backward()
                values[t, i] = out.data
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(len(sizes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert compiled.recordings == 1  # one recording for any number of rows, also when threads record at once
    got = np.array([p.grad for p in params])
    for p in params:
        p.grad = 0.0
    for t, batch in enumerate(batches):
        for i, X in enumerate(batch):
            out = fn([Value(c) for c in X.T])
            out.backward()
            assert values[t, i] == pytest.approx(out.data, rel=1e-12)
    np.testing.assert_allclose(got, [p.grad for p in params], rtol=1e-10, atol=1e-12)  # every call's share, once


# -- memory --------------------------------------------------------------------------------------------------


def _live_values() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), Value))  # (isinstance may run __class__ code)


def _recording_bytes(compiled) -> int:
    """The bytes of the numpy arrays a recording holds (its own containers only: not Values, ops, stores)."""
    from microgradx.engine.parameter import ParameterStore

    seen, total, todo = set(), 0, [compiled._recordings]
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            base = o if o.base is None else o.base
            if base is o or id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
        elif isinstance(o, (list, tuple, dict, set)) or type(o).__module__.startswith("microgradx.compiler"):
            if not isinstance(o, (Value, ParameterStore)):
                todo.extend(gc.get_referents(o))
    return total


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_a_recording_holds_no_value_per_node_and_fewer_bytes_than_the_eager_graph(lanes, rng):
    model = MLP(8, [16, 16, 1], seed=22, fused=False)
    n = 256 if lanes else 24
    fn = (lambda X: model(X)[0].lane_mean()) if lanes else (lambda X: ops.sum(*[model(x)[0] for x in X]))
    compiled = microgradx.compile(fn, lanes=lanes)
    X = rng.normal(size=(n, 8))
    before = _live_values()
    out = compiled(X)
    assert _live_values() == before  # the eager graph is gone; the recording made no Value per node
    replayed = compiled(2 * X)
    replayed.backward(inputs=True)
    assert _live_values() == before  # nor does a replay, forward or backward
    eager = fn([Value(c) for c in X.T] if lanes else [[Value(x) for x in row] for row in X.tolist()])
    nodes = topological_order(eager)
    assert len(nodes) > 1000
    if lanes:
        data = sum(v.data.nbytes if isinstance(v.data, np.ndarray) else 8 for v in nodes)
        assert _recording_bytes(compiled) < 0.05 * data  # indices and constants, no node's numbers
    else:
        data = 8 * len(nodes)  # one float64 per node, the least the eager graph's numbers can take
        assert _recording_bytes(compiled) < data
    assert sum(a.nbytes for a in out._call.env.data.values()) <= data  # one call's arrays


# -- parameters ----------------------------------------------------------------------------------------------


def _train(model, steps, compiled=None, optimizer=SGD, store=False, **settings):
    """Train on fixed batches, eagerly or with ``compiled``; the weights after each step.

    ``store``: keep the parameters in one flat array for the loop (``with ParameterStore(params):``)."""
    rng = np.random.default_rng(5)
    opt = optimizer(model.parameters(), **settings)
    fn = _mlp_step(model)
    history = []
    with ParameterStore(model.parameters()) if store else contextlib.nullcontext():
        for n in steps:
            X = rng.normal(size=(n, 3))
            opt.zero_grad()
            (compiled(X) if compiled is not None else fn([Value(c) for c in X.T])).backward()
            opt.step()
            history.append(model.get_weights())
    return opt, np.array(history)


@pytest.mark.parametrize("store", [pytest.param(False, id="one-by-one"), pytest.param(True, id="flat-store")])
@pytest.mark.parametrize("optimizer, settings", [(SGD, {"lr": 0.1, "momentum": 0.9}), (Adam, {"lr": 0.01})])
def test_training_a_hand_written_loop_with_or_without_a_flat_store(optimizer, settings, store):
    steps = (8, 8, 8, 3, 8)
    model = MLP(3, [5, 2], seed=23)
    compiled = microgradx.compile(_mlp_step(model))
    seen = []
    real = compiled.fn

    def spy(X):  # the parameters' classes when fn records (inside the loop's block, if there is one)
        seen.append({type(p) for p in model.parameters()})
        return real(X)

    compiled.fn = spy
    opt, got = _train(model, steps, compiled, optimizer, store=store, **settings)
    _, want = _train(MLP(3, [5, 2], seed=23), steps, None, optimizer, **settings)
    np.testing.assert_allclose(got, want, **REORDERED)  # p.data right after every step
    assert seen == [{BoundParameter if store else Parameter}]  # recorded once; bound only inside the loop's block
    assert {type(p) for p in model.parameters()} == {Parameter}  # compiling changes no class; the block undid its own
    assert opt._located() is None
    check_compiled(_mlp_step(model), [np.ones((8, 3))], model.parameters(), compiled=compiled)


def test_a_store_made_after_recording_or_in_another_order_is_used(rng):
    model = MLP(3, [4, 1], seed=24)
    params = model.parameters()
    fn = _mlp_step(model)
    compiled = check_compiled(fn, [rng.normal(size=(5, 3))], params)  # recorded while no store binds them
    [recorded] = compiled._recordings.values()
    closed = recorded.closed
    assert closed._lookup() is None and all(type(p) is Parameter for p in params)  # a replay binds nothing
    store = ParameterStore(list(reversed(params)))  # a new store, its indices not the recording's order
    check_compiled(fn, [rng.normal(size=(5, 3))], params, compiled=compiled)
    assert closed._lookup()[0] is store  # read through the new store's indices
    reordered = SGD(list(reversed(params)), lr=0.5)  # the store's own order: one slice of its arrays
    assert reordered._located() == (store, slice(0, len(params)))
    X = rng.normal(size=(5, 3))
    before = np.array(model.get_weights())
    reordered.zero_grad()
    compiled(X).backward()
    grads = np.array([p.grad for p in params])
    reordered.step()
    np.testing.assert_allclose(model.get_weights(), before - 0.5 * grads, rtol=1e-15)
    check_compiled(fn, [X], params, compiled=compiled)  # the stepped weights are read
    store.release()


def test_plain_values_and_a_mix_as_parameters(rng):
    weights = [Value(float(w)) for w in rng.normal(size=3)] + [Parameter(float(w)) for w in rng.normal(size=3)]
    bias = Value(0.1)
    fn = lambda X: ops.lane_mean((ops.dot(bias, *weights[:3], *X) * ops.dot(*weights[3:], *X)).tanh())
    compiled = microgradx.compile(fn)
    opt = SGD([*weights, bias], lr=0.2)
    assert opt._located() is None  # some are plain Values: read and written one by one
    for n in (6, 6, 2):
        X = rng.normal(size=(n, 3))
        check_compiled(fn, [X], [*weights, bias], compiled=compiled)
        opt.zero_grad()
        compiled(X).backward()
        opt.step()


# -- input gradients -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_each_output_has_its_own_input_gradients(lanes, rng):
    """Regression: input_grads lived on the call shared by all outputs, so an output showed the last one's."""
    w = Value(0.6)

    def fn(X, y, setting):
        xs = X if lanes else [x for row in X for x in row]
        ys = [y] if lanes else y
        first = ops.sum(*[(x * w).tanh() for x in xs], *ys)
        second = ops.sum(*[x * x for x in xs]) * setting
        return (first.lane_sum(), second.lane_sum()) if lanes else (first, second)

    X, y = rng.normal(size=(4, 2)), rng.normal(size=4)
    a, b = microgradx.compile(fn, lanes=lanes)(X, y, 3.0)
    a.backward(inputs=True)
    b.backward(inputs=True)
    np.testing.assert_allclose(a.input_grads[0], w.data * (1 - np.tanh(X * w.data) ** 2), rtol=1e-12)
    np.testing.assert_allclose(a.input_grads[1], np.ones(4))
    np.testing.assert_allclose(b.input_grads[0], 6.0 * X, rtol=1e-12)
    np.testing.assert_array_equal(b.input_grads[1], np.zeros(4))  # an argument this output does not read
    assert a.input_grads[2] is None and b.input_grads[2] is None  # not an array argument
    check_compiled(fn, [X, y, 3.0], [w], lanes)


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_outputs_that_are_leaves(lanes, rng):
    """fn may return an input, a closed-over Value or a constant as they are: eager's gradients still."""
    w = Value(1.5)
    fn = lambda x: (x if lanes else x[0], w, Value(2.0), (x if lanes else x[0]) * w)
    compiled = check_compiled(fn, [rng.normal(size=3)], [w], lanes)
    assert compiled(np.ones(3))[2].data == 2.0


def test_backward_twice_adds_twice_as_eagerly(rng):
    w = Value(0.3)
    fn = lambda x: (x * w).tanh().lane_sum()
    x = rng.normal(size=5)
    eager = run_eager(fn, [x], True, [w])
    out = microgradx.compile(fn)(x)
    out.backward()
    out.backward()
    assert w.grad == pytest.approx(2 * eager["grads"][0][0], rel=1e-12)
    assert run_compiled(microgradx.compile(fn), [x], [w])["data"][0] == pytest.approx(eager["data"][0])


# -- a layer's biases in its matrix product ------------------------------------------------------------------


def _two_heads(model, head):
    """The model's output and a second output from its first hidden layer (a backward may seed either)."""
    def fn(X, y):
        hidden = xs = model.layers[0](X)
        for layer in model.layers[1:]:
            xs = layer(xs)
        out = (1.0 - y * xs[0]).relu().lane_mean()
        late = model.parameters()[0] * xs[0]  # a first-layer weight also used last: its gradient is added to
        return out, ops.lane_sum(ops.sum(late, *[h * w for h, w in zip(hidden, head)]))
    return fn


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "fine-grained"])
def test_layers_with_their_biases_in_one_product_equal_eager(fused, rng):
    """A layer whose parameters live in a store (each neuron's weights, then its bias) and whose inputs are one
    block is one ``[W | b] @ [X; 1]`` (`AffineDot`); the replays equal eager, recorded or on reused arrays, for
    either output or both, input gradients or not, new batch sizes, non-finite inputs."""
    from microgradx.compiler.products import AffineDot

    model = MLP(5, [6, 4, 1], seed=8, fused=fused)
    params = model.parameters()
    head = [Parameter(float(w)) for w in rng.normal(size=6)]
    fn = _two_heads(model, head)
    closed = params + head
    with ParameterStore(closed):
        compiled = microgradx.compile(fn)
        for i, rows in enumerate([9, 9, 9, 9, 4, 4, 4, 9]):
            X, y = rng.normal(size=(rows, 5)), np.sign(rng.normal(size=rows))
            if i == 6:
                X[1, 2], X[2, 0] = np.inf, np.nan
            with np.errstate(all="ignore"):
                check_compiled(fn, [X, y], closed, compiled=compiled, tol=REORDERED, what=f"call {i}")
                out, side = compiled(X, y)
                eager_out, eager_side = fn([Value(c) for c in X.T], Value(y))
                for p in closed:
                    p.grad = 0.0
                backward_many([out, side], [1.0, 2.0])  # both seeds, the closed-over Values' gradients only
                got = [p.grad for p in closed]
                for p in closed:
                    p.grad = 0.0
                (eager_out + eager_side * 2.0).backward()  # one eager pass from both (inf * 0 as one pass has it)
                np.testing.assert_allclose(got, [p.grad for p in closed], rtol=1e-10, atol=1e-12, err_msg=f"call {i}")
        (plan,) = plans(compiled)
        assert sum(isinstance(k, AffineDot) for k in plan.kernels) == 3  # the three layers


# -- the arrays of ended calls, reused ------------------------------------------------------------------------


def _hinge_step(model):
    params = model.parameters()
    return lambda X, y: (1.0 - y * model(X)[0]).relu().lane_mean() + 0.01 * ops.dot(*params, *params)


def _eager_step(fn, params, X, y):
    for p in params:
        p.grad = 0.0
    out = fn([Value(c) for c in X.T], Value(y))
    out.backward()
    return out.data, np.array([p.grad for p in params])


def test_a_function_called_again_and_again_reuses_an_ended_calls_arrays_never_a_live_ones(rng):
    """From the third call on, a call takes the arrays of an ended call of the same rows, kernels bound to them;
    the arrays of a call whose output lives are never reused, and its backward stays its own."""
    model = MLP(4, [5, 1], seed=3)
    params = model.parameters()
    fn, compiled = _hinge_step(model), microgradx.compile(_hinge_step(model))
    batches = [(rng.normal(size=(9, 4)), np.sign(rng.normal(size=9))) for _ in range(6)]
    for X, y in batches[:2]:
        compiled(X, y).backward()
    out = compiled(*batches[2])
    ws = out._call.ws
    assert ws.steps is not None  # the second call's arrays, bound
    del out
    kept = compiled(*batches[3])
    assert kept._call.ws is ws  # reused again
    other = compiled(*batches[4])  # while `kept` lives: other arrays
    assert other._call.ws is not ws and other._call.env.data[9] is not ws.env.data[9]
    for out, (X, y) in ((other, batches[4]), (kept, batches[3])):  # backward of the older call last
        for p in params:
            p.grad = 0.0
        out.backward()
        data, grads = _eager_step(fn, params, X, y)
        assert out.data == pytest.approx(data, rel=1e-12)
        np.testing.assert_allclose([p.grad for p in params], grads, rtol=1e-10, atol=1e-14)
    for p in params:  # backward twice on reused arrays adds twice, as eagerly
        p.grad = 0.0
    kept.backward()
    kept.backward()
    np.testing.assert_allclose([p.grad for p in params], 2 * _eager_step(fn, params, *batches[3])[1], rtol=1e-10)
    del kept, other
    out = compiled(batches[5][0][:4], batches[5][1][:4])  # another number of rows: arrays of its own
    assert out._call.ws.rows == 4 and out._call.ws.steps is None


def test_a_backward_while_another_uses_the_reused_gradient_arrays_takes_its_own(rng):
    """Two passes at once on one call (threads): the second adds into gradient arrays of its own."""
    model = MLP(4, [5, 1], seed=4)
    params = model.parameters()
    fn, compiled = _hinge_step(model), microgradx.compile(_hinge_step(model))
    X, y = rng.normal(size=(7, 4)), np.sign(rng.normal(size=7))
    for _ in range(2):
        compiled(X, y)
    out = compiled(X, y)
    ws = out._call.ws
    assert ws.steps is not None
    ws.env.grad[0].fill(np.nan)  # what another pass's half-done gradients could hold
    with ws.busy:  # another pass holds them
        for p in params:
            p.grad = 0.0
        out.backward()
    np.testing.assert_allclose([p.grad for p in params], _eager_step(fn, params, X, y)[1], rtol=1e-10, atol=1e-14)


STOP_FIRST = Op(name="stop_first", arity=2, elementwise=True, doc="x * y, no gradient for x",
                forward=lambda x, y: x * y, backward=lambda g, out, x, y: (None, g * x))


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_an_op_giving_no_gradient_for_an_input_on_reused_arrays(lanes, rng):
    """An op whose backward gives None for an input: on reused arrays the rows it would have written first read
    as zero, as eagerly (where nothing is added), never as what an earlier pass left there."""
    w, v = Value(0.7), Value(-0.4)

    def fn(X):
        xs = [X[0]] if lanes else [row[0] for row in X]
        return ops.sum(*[apply(STOP_FIRST, (x * w).tanh(), x * v) + (x * v).tanh() for x in xs]).lane_sum()

    compiled = microgradx.compile(fn, lanes=lanes)
    for i in range(5):
        X = rng.normal(size=(6, 1))
        check_compiled(fn, [X], [w, v], lanes, compiled=compiled, tol=REORDERED, what=f"call {i}")  # input grads
        eager = run_eager(fn, [X], lanes, [w, v])["grads"][0]
        w.grad = v.grad = 0.0
        compiled(X).backward()  # the closed-over Values' gradients only: another pass
        assert w.grad == 0.0 == eager[0]
        assert v.grad == pytest.approx(float(eager[1]), rel=1e-10)


def test_big_calls_arrays_are_not_kept(rng, monkeypatch):
    from microgradx.compiler import workspace

    monkeypatch.setattr(workspace, "SPARE_BYTES", 10_000)
    w = Value(0.5)
    compiled = microgradx.compile(lambda x: (x * w).tanh().lane_sum())
    for n in (100, 100, 100, 1000, 1000, 1000):  # 100 rows: kept; 1000 rows: more than 10,000 bytes
        compiled(rng.normal(size=n)).backward()
    (recorded,) = compiled._recordings.values()
    assert [ws.rows for ws in recorded.workspaces.spare] == [100]


# -- recordings ----------------------------------------------------------------------------------------------


def test_recordings_are_kept_for_the_most_recent_signatures_and_a_failed_one_is_not_kept():
    from microgradx.compiler.function import MAX_RECORDINGS

    w = Value(0.5)
    compiled = microgradx.compile(lambda x, k: (x * w * float(k)).lane_sum())
    for k in range(MAX_RECORDINGS + 8):
        assert compiled(np.ones(2), k).data == k
    assert compiled.recordings == MAX_RECORDINGS
    assert compiled(np.ones(2), 0).data == 0.0  # evicted: recorded again, still right
    failing = microgradx.compile(lambda x: x.log())
    with pytest.raises(ValueError, match="log of a non-positive"):  # the op's own error, raised while recording
        failing(np.array([1.0, -1.0]))
    assert failing.recordings == 0
    assert failing(np.ones(2)).data.tolist() == [0.0, 0.0]
    deciding = microgradx.compile(lambda x: (x.log() if x.data[0] > 0 else 1.0))
    with pytest.raises(microgradx.TracedDataError):  # refused while recording: nothing kept
        deciding(np.ones(2))
    assert deciding.recordings == 0


def test_inside_anomaly_mode_a_compiled_function_runs_eagerly_and_is_checked():
    w = microgradx.Value(1000.0)
    compiled = microgradx.compile(lambda x: (x * w).exp().lane_sum())
    assert np.isinf(compiled(np.array([1.0, 2.0])).data)  # compiled: inf, silently (IEEE)
    with microgradx.detect_anomaly(), pytest.raises(FloatingPointError, match=r"op 'exp'.*produced inf"):
        compiled(np.array([1.0, 2.0]))
    with microgradx.detect_anomaly():
        out = compiled(np.array([-1.0, -2.0]))
    assert isinstance(out, microgradx.Value) and out.data == pytest.approx(np.exp(-1000.0) + np.exp(-2000.0))
