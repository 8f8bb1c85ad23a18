"""`microgradx.compile` against the eager engine: every bundled layer, loss and activation, both lane styles.

Each test builds a function of Values, runs it eagerly and compiled on the same arrays and
compares every output, every gradient of a closed-over Value and every input gradient
(`helpers.compiled`). Where the replay adds in another order than the eager graph (a fused
``b + w . x`` chain becomes a matrix product, lane gradients of a shared float are summed per
kernel) the tolerance is rtol 1e-10 (`REORDERED`), else 1e-12 (`EXACT`). Several signatures
are used in turn (a batch size, the same again, a smaller last batch) with an optimizer step
between calls, so a test also shows that parameters are read afresh at every replay.

Also here: the last partial batch and ``recordings``, ``check=True``, bad arguments, and
PyTorch as an independent reference. Third-party ops, threads, memory, `Parameter` stores and
input gradients are in ``test_compile_runtime.py``; random graphs in ``test_compile_properties.py``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers.compiled import EXACT, REORDERED, check_compiled, run_compiled, run_eager, seed_for

import microgradx
from microgradx import StaleRecordingError, TracedDataError, Value, get_registry, ops
from microgradx.nn import BCE, MSE, SGD, Hinge, SoftmaxCE
from microgradx.nn import DenseLayer as Layer  # the registered layers (micrograd's are Layer, MLP, Neuron)
from microgradx.nn import DenseMLP as MLP
from microgradx.nn import DenseNeuron as Neuron

LANE_STYLES = [pytest.param(True, id="lanes"), pytest.param(False, id="scalar")]
FUSED = [pytest.param(True, id="fused"), pytest.param(False, id="fine-grained")]
BATCHES = (6, 6, 3, 6)  # a signature, a replay of it, the smaller last batch (records again), a replay


def _outputs(model, x) -> list:
    out = model(x)
    return out if isinstance(out, list) else [out]


def model_function(model, lanes: bool):
    """lanes=True: the model's outputs (lane Values) for the batch; lanes=False: a weighted sum over examples."""
    if lanes:
        return lambda X: tuple(_outputs(model, X))

    def per_example(X):
        terms = [o * (k + 1.0) for row in X for k, o in enumerate(_outputs(model, row))]
        return ops.sum(*terms)

    return per_example


def step_with(compiled, args, opt) -> None:
    """One optimizer step on the compiled function's gradients (of its first output)."""
    opt.zero_grad()
    out = compiled(*args)
    out = out[0] if isinstance(out, tuple) else out
    out.backward(seed_for(out.data))
    opt.step()


MODELS = {
    "Neuron": lambda fused: Neuron(3, activation="tanh", seed=1, fused=fused),
    "Layer": lambda fused: Layer(3, 4, activation="relu", seed=2, fused=fused),
    "MLP": lambda fused: MLP(3, [5, 4, 2], activation="tanh", seed=3, fused=fused),
    "MLP-linear": lambda fused: MLP(3, [4, 1], activation=None, seed=4, fused=fused),
}


@pytest.mark.parametrize("lanes", LANE_STYLES)
@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_layers_compiled_equal_eager_across_signatures_and_steps(name, fused, lanes, rng):
    model = MODELS[name](fused)
    params = model.parameters()
    fn = model_function(model, lanes)
    compiled = microgradx.compile(fn, lanes=lanes)
    opt = SGD(params, lr=0.05, momentum=0.5)
    before = np.array(model.get_weights())
    for n in BATCHES:
        X = rng.normal(size=(n, 3))
        check_compiled(fn, [X], params, lanes, compiled=compiled, what=f"{name} n={n}")
        step_with(compiled, [X], opt)
    assert compiled.recordings == (1 if lanes else 2)  # lanes: one recording for any number of rows
    assert not np.allclose(model.get_weights(), before)  # the steps changed what the replays read


LOSS_CASES = {
    "mse": (lambda: MSE(), 1), "mse-3-outputs": (lambda: MSE(l2=0.01), 3), "hinge": (lambda: Hinge(), 1),
    "hinge-l2": (lambda: Hinge(l2=0.05), 1), "bce": (lambda: BCE(), 1), "bce-l2": (lambda: BCE(l2=0.05), 1),
    "softmax_ce": (lambda: SoftmaxCE(), 3), "softmax_ce-l2": (lambda: SoftmaxCE(l2=0.02), 3),
}


def _labels(loss, n: int, k: int, rng) -> np.ndarray:
    if isinstance(loss, MSE):
        return rng.normal(size=(n, k)) if k > 1 else rng.normal(size=n)
    return rng.integers(0, 2 if k == 1 else k, size=n).astype(float)


def _loss_setup(case: str):
    make, k = LOSS_CASES[case]
    loss = make()
    model = MLP(3, [4, k], activation="tanh", seed=7)
    return loss, model, model.parameters(), k


def loss_function(loss, model, params, lanes: bool, weighted: bool):
    """``fn(X, T[, W])``: ``loss.build`` on the model's outputs, targets and weights as input Values."""
    if lanes:
        def fn(X, T, *W):
            return loss.build(model(X), T, W[0] if W else None, params)
        return fn

    def per_example(X, T, *W):
        losses = [loss.build(model(x), t, W[0][i] if W else None, params) for i, (x, t) in enumerate(zip(X, T))]
        return ops.sum(*losses) * (1.0 / len(losses))

    return per_example


@pytest.mark.parametrize("lanes", LANE_STYLES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_losses_built_on_target_inputs(case, weighted, lanes, rng):
    loss, model, params, k = _loss_setup(case)
    fn = loss_function(loss, model, params, lanes, weighted)
    compiled = microgradx.compile(fn, lanes=lanes)
    opt = SGD(params, lr=0.1)
    for n in (5, 5, 2):
        X = rng.normal(size=(n, 3))
        args = [X, loss.encode_targets(_labels(loss, n, k, rng), k, n)]
        if weighted:
            args.append(rng.uniform(0.5, 2.0, size=n))
        check_compiled(fn, args, params, lanes, compiled=compiled, what=f"{case} n={n}")
        step_with(compiled, args, opt)
    assert compiled.recordings == (1 if lanes else 2)


@pytest.mark.parametrize("lanes", LANE_STYLES)
@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_losses_called_plainly_with_constant_targets(case, lanes, rng):
    """``loss(outputs, targets, params, weights=)``: targets and weights are numbers, constants of the recording."""
    loss, model, params, k = _loss_setup(case)
    n = 4
    y, w = _labels(loss, n, k, rng), rng.uniform(0.5, 2.0, size=n)
    if lanes:
        def fn(X):
            return loss(model(X), y, params, weights=w)
    else:
        def fn(X):
            return ops.sum(*[loss(model(x), y[i], params) for i, x in enumerate(X)]) * (1.0 / n)
    compiled = microgradx.compile(fn, lanes=lanes)
    for _ in range(3):  # new inputs, the same targets: replays
        check_compiled(fn, [rng.normal(size=(n, 3))], params, lanes, compiled=compiled, what=case)
    assert compiled.recordings == 1


def unary_ops() -> list:
    """Every registered op that maps each lane and takes one input: what a layer can use as its activation."""
    registry = get_registry()
    return sorted(n for n in registry.names("ops")
                  if registry.get("ops", n).arity == 1 and not registry.get("ops", n).reduces_lanes)


def test_the_activations_tested_are_every_registered_unary_op():
    assert {"tanh", "relu", "exp", "log", "sigmoid", "abs", "neg"} <= set(unary_ops())


@pytest.mark.parametrize("lanes", LANE_STYLES)
@pytest.mark.parametrize("name", unary_ops())
def test_every_activation(name, lanes, rng):
    layer = Layer(3, 4, activation=name, seed=5)
    params = layer.parameters()
    positive = name == "log"  # its domain: positive weights and inputs keep every pre-activation > 0
    if positive:
        layer.set_weights(np.abs(layer.get_weights()) + 0.1)
    fn = model_function(layer, lanes)
    compiled = microgradx.compile(fn, lanes=lanes)
    for n in (4, 4, 1):
        X = rng.uniform(0.1, 2.0, size=(n, 3)) if positive else rng.normal(size=(n, 3))
        check_compiled(fn, [X], params, lanes, compiled=compiled, what=f"{name} n={n}")
    assert compiled.recordings == (1 if lanes else 2)


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_a_function_of_several_outputs_and_arguments(lanes, rng):
    """fn returns (loss, a float, the raw outputs), from two array arguments and a pass-through setting."""
    model = MLP(2, [3, 2], seed=9)
    params = model.parameters()
    loss = SoftmaxCE(l2=0.01)

    def fn(X, T, scale):
        outs = model(X) if lanes else [o for x in X for o in model(x)]
        T = T if lanes else [t for row in T for t in row]
        if lanes:
            value = loss.build(outs, T, None, params)
        else:
            value = ops.sum(*[loss.build(outs[2 * i:2 * i + 2], T[2 * i:2 * i + 2], None, params)
                              for i in range(len(outs) // 2)])
        return (value, params[0] * scale + params[1], *outs[:2])

    compiled = microgradx.compile(fn, lanes=lanes)
    for n, scale in ((4, 2.0), (4, 3.0), (4, 2.0), (2, 2.0)):
        args = [rng.normal(size=(n, 2)), loss.encode_targets(rng.integers(0, 2, n), 2, n), scale]
        check_compiled(fn, args, params, lanes, compiled=compiled, what=f"n={n} scale={scale}")
    assert compiled.recordings == (2 if lanes else 3)  # settings 2.0 and 3.0 (and, per example, n=2 too)


# -- the last partial batch -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_a_new_signature_records_again_and_both_stay_right(lanes, rng):
    model = MLP(3, [4, 1], seed=11)
    params = model.parameters()
    calls = []

    def fn(X):
        calls.append(1)  # a side effect: only when recording
        return model_function(model, lanes)(X)

    compiled = microgradx.compile(fn, lanes=lanes)
    plain = model_function(model, lanes)
    for n, recordings in ((8, 1), (8, 1), (3, 1 if lanes else 2), (8, 1 if lanes else 2), (3, 1 if lanes else 2)):
        X = rng.normal(size=(n, 3))
        got = run_compiled(compiled, [X], params)
        want = run_eager(plain, [X], lanes, params)
        np.testing.assert_allclose(got["data"][0], want["data"][0], **REORDERED)
        np.testing.assert_allclose(np.array(got["grads"][0]), np.array(want["grads"][0]), **REORDERED)
        assert compiled.recordings == recordings
    assert len(calls) == (1 if lanes else 2)  # fn ran once per signature, never on a replay
    compiled(np.zeros((8, 3), dtype=np.float32))  # arrays are read as float64: the same signature
    assert compiled.recordings == (1 if lanes else 2)


# -- check=True -----------------------------------------------------------------------------------------------


def test_a_data_dependent_branch_is_refused_when_recording_naming_the_line():
    w = Value(0.7)

    def fn(x):
        y = x * w
        return (y.tanh() if x.data[0] > 0 else y.relu()).lane_sum()

    for check in (False, True):
        compiled = microgradx.compile(fn, check=check)
        with pytest.raises(TracedDataError, match=r"compiled function 'fn' is recording") as info:
            compiled(np.array([1.0, 2.0]))
        message = str(info.value)
        assert f'File "{__file__}"' in message and "if x.data[0] > 0" in message
        assert "indexing" in message and "relu" in message  # what it did, and what to do instead
        assert compiled.recordings == 0
    assert fn(Value(np.array([1.0, 2.0]))).data == pytest.approx(np.tanh(0.7) + np.tanh(1.4))  # eager: fine


def test_a_float_taken_out_of_a_value_is_refused_when_recording():
    w = Value(0.5)

    def fn(x):
        c = float(x.lane_sum())  # a number computed from a Value would be baked into the recording
        return (x * w * c).lane_sum()

    with pytest.raises(TracedDataError, match=r"float\(\)") as info:
        microgradx.compile(fn)(np.array([2.0, 1.0]))
    assert "c = float(x.lane_sum())" in str(info.value)


def test_check_catches_a_recording_whose_function_now_builds_another_graph():
    """check=True still compares a replay with a fresh eager run: here fn reads a Python flag that changed."""
    settings = {"activation": "tanh"}
    w = Value(0.7)

    def fn(x):
        y = x * w
        return getattr(y, settings["activation"])().lane_sum()

    compiled = microgradx.compile(fn, check=True)
    compiled(np.array([1.0, 2.0]))
    compiled(np.array([3.0, -2.0]))
    settings["activation"] = "relu"
    with pytest.raises(StaleRecordingError, match=r"node 1\b.*'tanh'.*'relu'"):
        compiled(np.array([-1.0, 2.0]))


def test_check_catches_a_closed_over_value_replaced_by_another():
    current = [Value(1.0)]
    compiled = microgradx.compile(lambda x: (x * current[0]).lane_sum(), check=True)
    compiled(np.array([1.0, 2.0]))
    current[0] = Value(3.0)  # another Value: the recording keeps reading (and giving gradients to) the one it used
    with pytest.raises(StaleRecordingError, match="keeps the Values fn used"):
        compiled(np.array([1.0, 2.0]))


def test_a_backward_after_a_value_the_call_read_changed_is_refused():
    """As PyTorch refuses a backward after an in-place change of a saved tensor: eager would take the derivatives
    at the new number, the replay has the old one."""
    w, h = Value(0.5), Value(np.array([1.0, 2.0]))
    compiled = microgradx.compile(lambda x: (x * w * h).lane_sum())
    out = compiled(np.array([1.0, 2.0]))
    w.data = 2.0
    with pytest.raises(RuntimeError, match=r"has changed since \(it held 0\.5\).*before changing parameters"):
        out.backward()
    w.data = 0.5
    out = compiled(np.array([1.0, 2.0]))
    h.data = np.array([1.0, 3.0])
    with pytest.raises(RuntimeError, match="has changed since"):
        out.backward()
    h.data = np.array([1.0, 2.0])
    out.backward()  # back as it was: the call's gradients
    assert w.grad == pytest.approx(5.0)


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_check_passes_when_the_recording_matches_also_after_optimizer_steps(lanes, rng):
    model = MLP(3, [4, 2], seed=12)
    params = model.parameters()
    fn = model_function(model, lanes)
    compiled = microgradx.compile(fn, lanes=lanes, check=True)
    opt = SGD(params, lr=0.1)
    for n in BATCHES:
        X = rng.normal(size=(n, 3))
        check_compiled(fn, [X], params, lanes, compiled=compiled)
        step_with(compiled, [X], opt)


# -- bad arguments --------------------------------------------------------------------------------------------


@pytest.fixture
def compiled_pair():
    w = Value(0.5)
    return microgradx.compile(lambda x, y: (x * w + y).lane_sum())


@pytest.mark.parametrize("bad, error, pattern", [
    (np.zeros((2, 2, 2)), ValueError, r"argument 1 is a 3-D array of shape \(2, 2, 2\)"),
    (np.array([object(), object()]), TypeError, r"argument 1 is an array of dtype object"),
    (np.array(["a", "b"]), TypeError, r"argument 1 is an array of dtype <U1"),
    (np.array([True, False]), TypeError, r"argument 1 is an array of dtype bool"),
    (np.zeros(0), ValueError, r"argument 1 is an empty array"),
    (np.zeros((2, 0)), ValueError, r"argument 1 is an empty array"),
    ([1.0, 2.0], TypeError, r"argument 1 is a list, neither a numpy array"),
    ({"a": 1}, TypeError, r"argument 1 is a dict"),
    (np.zeros(3), ValueError, r"rows are the lanes.*argument 0: 2, argument 1: 3"),
])
def test_bad_arguments_name_the_argument(compiled_pair, bad, error, pattern):
    with pytest.raises(error, match=pattern):
        compiled_pair(np.ones(2), bad)
    assert compiled_pair.recordings == 0


def test_lane_lengths_need_not_agree_without_lanes():
    w = Value(0.5)
    fn = lambda x, y: ops.sum(*[a * w for a in x], *y)
    check_compiled(fn, [np.ones(2), np.arange(3.0)], [w], lanes=False)


@pytest.mark.parametrize("result, kind", [(3.0, "float"), (None, "NoneType"), ((), "tuple"), ("x", "str")])
def test_fn_returning_no_value_is_a_clear_error(result, kind):
    compiled = microgradx.compile(lambda x: result)
    with pytest.raises(TypeError, match=f"must return a Value or a tuple or list of Values, got {kind}"):
        compiled(np.ones(2))


def test_fn_returning_a_value_among_other_things_is_a_clear_error():
    compiled = microgradx.compile(lambda x: (x * 2.0, 1.0))
    with pytest.raises(TypeError, match="must return a Value or a tuple or list of Values, got tuple"):
        compiled(np.ones(2))


def test_compile_takes_a_function():
    with pytest.raises(TypeError, match="compile\\(\\) takes a function, got int"):
        microgradx.compile(3)


def test_a_lane_output_needs_a_seed_as_eagerly():
    compiled = microgradx.compile(lambda x: x * 2.0)
    with pytest.raises(ValueError, match=re.escape("backward() on a Value of 3 lanes needs grad=")):
        compiled(np.ones(3)).backward()


# -- PyTorch as an independent reference --------------------------------------------------------------------


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_mlp_softmax_ce_gradients_match_pytorch(lanes, rng, torch):
    model = MLP(4, [6, 5, 3], activation="tanh", seed=13)
    params = model.parameters()
    loss = SoftmaxCE(l2=0.01)
    fn = loss_function(loss, model, params, lanes, weighted=False)
    compiled = microgradx.compile(fn, lanes=lanes)
    n = 7
    X, y = rng.normal(size=(n, 4)), rng.integers(0, 3, n)
    out = compiled(X, loss.encode_targets(y, 3, n))
    out.backward(inputs=True)
    grads = np.array([p.grad for p in params])

    tx = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    h, tparams = tx, []
    for layer in model.layers:  # each neuron: its weights, then its bias (the order of parameters())
        W = torch.tensor([unit.get_weights()[:-1] for unit in layer.neurons], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([unit.b.data for unit in layer.neurons], dtype=torch.float64, requires_grad=True)
        tparams.append((W, b))
        h = h @ W.T + b
        if layer.activation == "tanh":
            h = torch.tanh(h)
    flat = torch.cat([torch.cat([W, b[:, None]], dim=1).reshape(-1) for W, b in tparams])
    tloss = torch.nn.functional.cross_entropy(h, torch.tensor(y)) + 0.01 * (flat * flat).sum()
    tloss.backward()
    tgrads = torch.cat([torch.cat([W.grad, b.grad[:, None]], dim=1).reshape(-1) for W, b in tparams]).numpy()
    assert out.data == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(grads, tgrads, **REORDERED)
    np.testing.assert_allclose(out.input_grads[0], tx.grad.numpy(), **REORDERED)


def test_exact_tolerance_holds_where_nothing_is_reordered(rng):
    """An elementwise graph runs its numpy calls in the eager order: the results agree to 1e-12."""
    a, b = Value(0.3), Value(-1.2)
    fn = lambda x, y: (((x * a + b).tanh() * y).sigmoid() - (y / (x * x + 1.0)).exp()).lane_mean()
    check_compiled(fn, [rng.normal(size=9), rng.normal(size=9)], [a, b], tol=EXACT)
