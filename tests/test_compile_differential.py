"""Differential tests of `microgradx.compile`: compiled against eager over thousands of random programs.

The contract (issue 20) these tests hold the compiler to:

1. ``f = microgradx.compile(fn, lanes=...)``; ``f(*arrays)`` returns what ``fn`` returns eagerly on the
   same arrays (to float rounding; NaN equal to NaN, inf to inf), and ``out.backward()`` adds to every
   Value ``fn`` closes over what eager ``out.backward()`` adds; ``backward(inputs=True)`` gives the eager
   inputs' gradients; ``backward_many(outputs, grads)`` is the eager backward of each seeded output, summed.
2. Backward from the seeded outputs runs only what they reach: an unseeded output that overflows in some
   lane does not make the seeded outputs' gradients NaN.
3. One recording serves any batch size (lanes=True): ``f.recordings`` stays 1.
4. Numbers in ``fn`` are constants of the recording; every leaf Value ``fn`` uses (closed-over Values and
   Parameters, made before or during the first call) is read at every call and receives gradients; a
   debug list holding intermediate Values changes no result; compiling never changes a Value's class.
5. Settings that differ only in sign or type do not share a recording; a replaced op is never replayed stale.
6. Python decisions on traced data (``bool``, ``float``, ``int``, comparisons, ``.item()``, ``sorted``/``max``
   by data, numpy on ``.data``) raise `TracedDataError` naming the file and line; printing stays allowed.

The random programs are written by `helpers.programs` (see its docstring); a failure's message holds
the seed and the program's source (``python tests/helpers/programs.py SEED [scalar] [monitors]
[specials]`` prints it again). Parts of the contract today's compiler does not meet are marked
``xfail(strict=True)``: each mark goes when its fix lands (a strict xfail that passes fails the run).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from helpers.compiled import check_compiled
from helpers.programs import (
    MAX_ROWS,
    Program,
    as_outputs,
    eager_arguments,
    grads_of,
    input_grads,
    make_program,
    mismatch,
    zero_grads,
)

import microgradx
from microgradx import Op, Parameter, Value, hookimpl, ops
from microgradx.compiler.replay import backward_many

try:
    from microgradx import TracedDataError
except ImportError:  # until the compiler refuses Python decisions on traced data (issue 20)

    class TracedDataError(TypeError):  # type: ignore[no-redef]
        """Stands in for ``microgradx.TracedDataError`` until it exists: nothing raises it."""


LANE_STYLES = [pytest.param(True, id="lanes"), pytest.param(False, id="scalar")]
#: Batch sizes a lane-mode program is replayed with after its first two calls (two of them, drawn).
BATCH_SIZES = (1, 2, 7, MAX_ROWS)


# -- running one program ------------------------------------------------------------------------------------


def compare_call(program: Program, instance, compiled, args: list, rng: np.random.Generator, what: str) -> list:
    """Call ``compiled`` and ``fn`` eagerly on ``args``; every difference, as text (empty: none).

    Compared: every output; per output (monitors aside), the closed-over Values' gradients and the
    input gradients after ``backward(seed, inputs=True)``; and ``backward_many`` on a random subset of
    the outputs, added to gradients that already hold something.
    """
    lanes = program.lanes
    refused = {}
    with np.errstate(all="ignore"):
        try:
            got = as_outputs(compiled(*args))
        except (ArithmeticError, ValueError, TypeError) as exc:
            refused["compiled"] = exc
        closed = instance.closed()  # (after the call: a Parameter fn makes on its first call is one of them)
        seen, values = eager_arguments(args, lanes)
        try:
            want = as_outputs(instance.fn(*seen))
        except (ArithmeticError, ValueError, TypeError) as exc:
            refused["eager"] = exc
    if refused:  # an op refusing a special input (program.specials): the replay must refuse it as eager does
        kinds = {side: type(exc) for side, exc in refused.items()}
        if program.specials and len(kinds) == 2 and kinds["compiled"] is kinds["eager"]:
            return []
        return [f"{what}: " + "; ".join(f"{side} raised {type(exc).__name__}: {exc}" for side, exc in refused.items())
                + ("" if len(refused) == 2 else f"; {'eager' if 'compiled' in refused else 'compiled'} did not")]
    if len(got) != len(want):
        return [f"{what}: {len(got)} outputs, eagerly {len(want)}"]
    problems = []
    for k, (g, w) in enumerate(zip(got, want)):
        diff = mismatch(g.data, w.data)
        if diff:
            problems.append(f"{what}: output {k} is {diff}")
    seeded = [k for k in range(len(want)) if k not in program.monitors]
    seeds = {}
    for k in seeded:
        data = want[k].data
        if isinstance(data, np.ndarray):
            seeds[k] = rng.uniform(0.5, 1.5, size=data.shape)
        else:
            seeds[k] = None if rng.random() < 0.3 else float(rng.uniform(0.5, 1.5))
    eager = {}
    with np.errstate(all="ignore"):
        for k in seeded:
            zero_grads(closed)
            zero_grads(values)
            want[k].backward(seeds[k])
            eager[k] = (grads_of(closed), input_grads(values, lanes))
        for k in seeded:
            zero_grads(closed)
            got[k].backward(seeds[k], inputs=True)
            for i, (g, w) in enumerate(zip(grads_of(closed), eager[k][0])):
                diff = mismatch(g, w)
                if diff:
                    problems.append(f"{what}: d output {k} / closed-over Value {i} is {diff}")
            for i, (g, w) in enumerate(zip(got[k].input_grads, eager[k][1])):
                diff = ("an input gradient for a setting" if w is None and g is not None else
                        None if w is None else mismatch(g, w))
                if diff:
                    problems.append(f"{what}: d output {k} / argument {i} is {diff}")
        if len(got) > 1 and seeded:
            chosen = [k for k in seeded if rng.random() < 0.6] or seeded[:1]
            offsets = [rng.normal(size=np.shape(v.data)) if isinstance(v.data, np.ndarray) else float(rng.normal())
                       for v in closed]
            for v, o in zip(closed, offsets):
                v.grad = o
            grads = [None] * len(got)
            for k in chosen:
                grads[k] = 1.0 if seeds[k] is None else seeds[k]
            backward_many(got, grads)
            for i, (v, o) in enumerate(zip(closed, offsets)):
                expected = o + sum(eager[k][0][i] for k in chosen)
                diff = mismatch(v.grad, expected)
                if diff:
                    problems.append(f"{what}: backward_many of outputs {chosen}, closed-over Value {i} is {diff}")
    zero_grads(closed)
    return problems


def calls_of(program: Program, batch_sizes: tuple = (), new_setting: bool = True) -> list:
    """The calls ``(rows, setting)`` of a program: recorded, replayed, at ``batch_sizes`` rows, with a new setting."""
    calls = [(program.rows, None), (program.rows, None), *[(n, None) for n in batch_sizes]]
    if program.setting is not None and new_setting:
        calls.append((program.rows, round(2.0 - program.setting, 3)))  # another number in [0.5, 1.5]
    return calls


def run_program(program: Program, calls: list) -> tuple:
    """Call ``program`` compiled and eagerly as ``calls`` says, moving its closed-over Values between calls.

    Returns (every difference found, as text; the compiled function).
    """
    rng = np.random.default_rng(program.seed)
    instance = program.instantiate()
    compiled = microgradx.compile(instance.fn, lanes=program.lanes)
    problems: list = []
    for i, (rows, setting) in enumerate(calls):
        args = program.arguments(rng, rows, setting)
        what = f"call {i} ({rows} rows{'' if setting is None else f', s={setting}'}{', recording' if i == 0 else ''})"
        try:
            problems += compare_call(program, instance, compiled, args, rng, what)
        except Exception as exc:  # an error eager does not raise is a difference too
            problems.append(f"{what}: {type(exc).__name__}: {exc}")
        if problems:
            break
        instance.step(rng)  # an optimizer's step: the next call must read the moved Values
    return problems, compiled


def batch_sizes(program: Program) -> tuple:
    """The row counts a program is replayed with after its first two calls (none when it closes over lanes)."""
    rng = np.random.default_rng(program.seed + 1)
    if program.lanes:
        return () if program.fixed_rows else tuple(rng.choice(BATCH_SIZES, size=2, replace=False).tolist())
    return (int(rng.integers(1, 6)),)  # lanes=False: every row count is a recording of its own


def report(failures: list) -> str:
    """A failing group's message: how many programs differ, then the first one in full."""
    program, problems = failures[0]
    seeds = ", ".join(str(p.seed) for p, _ in failures[:30])
    return (f"{len(failures)} program(s) break the contract (seeds {seeds}); the first:\n"
            + "\n".join(problems[:8]) + "\n" + program.describe())


def run_group(seeds: range, lanes: bool, monitors: bool = False, check=None) -> list:
    """Every program of ``seeds`` run as `run_program` runs it: (program, its differences) for those that differ.

    ``check(program, compiled)`` may add differences of its own (text).
    """
    failures = []
    for seed in seeds:
        program = make_program(seed, lanes, monitors=monitors)
        problems, compiled = run_program(program, calls_of(program, batch_sizes(program), new_setting=check is None))
        if check is not None and not problems:
            problems = check(program, compiled)
        if problems:
            failures.append((program, problems))
    return failures


# -- 1, 3, 4: random programs, compiled against eager -------------------------------------------------------

PROGRAMS_PER_CHUNK = 100
CHUNKS = {True: 10, False: 7}


def _chunks(lanes: bool) -> list:
    return [pytest.param(lanes, c, id=f"{'lanes' if lanes else 'scalar'}-{c}") for c in range(CHUNKS[lanes])]


@pytest.mark.parametrize(("lanes", "chunk"), _chunks(True) + _chunks(False))
def test_random_programs_compiled_equal_eager(lanes, chunk):
    """Outputs, closed-over and input gradients, ``backward_many``: recorded, replayed after a step, new batches.

    Programs close over Values, Parameters, lane Values and computed Values, make Parameters on their
    first call, may hold every intermediate in a debug list; each is called on new data after an
    optimizer-like step, at other batch sizes (lanes=True: 1, 2, 7 or 300 rows) and with a new setting.
    """
    failures = run_group(range(chunk * PROGRAMS_PER_CHUNK, (chunk + 1) * PROGRAMS_PER_CHUNK), lanes)
    assert not failures, report(failures)


def _one_recording(program: Program, compiled) -> list:
    if compiled.recordings != 1:
        return [f"{compiled.recordings} recordings for the calls at {program.rows} rows, then "
                f"{batch_sizes(program)} rows (one signature)"]
    return []


def test_random_programs_keep_one_recording_across_batch_sizes():
    """Contract 3: a lane-mode recording does not depend on the number of rows."""
    failures = run_group(range(0, 60), True, check=_one_recording)
    assert not failures, report(failures)


# -- 2: unseeded outputs that overflow ----------------------------------------------------------------------


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_random_programs_with_overflowing_monitors(lanes):
    """Contract 2: a monitor output that is inf or nan in some lanes leaves the seeded outputs' gradients eager's.

    The monitors (``exp(1000 x0) * h``, ``2 ** (1500 x0 + h)``, ``inf - inf`` ...) are never seeded; every
    output, the monitors' inf and nan included, must still equal eager's.
    """
    failures = run_group(range(10_000, 10_100), lanes, monitors=True)
    assert not failures, report(failures)


# -- 1: NaN, inf and zeros in the inputs ----------------------------------------------------------------------



@pytest.mark.parametrize("lanes", [pytest.param(True, id="lanes"), pytest.param(False, id="scalar")])
def test_random_programs_on_inputs_holding_nan_inf_and_zeros(lanes):
    """Contract 1 with non-finite inputs: NaN where eager has NaN, inf where eager has inf, the same gradients.

    One output per program (unseeded outputs are contract 2's). Where an op refuses a special input
    (log of 0.0) the replay must refuse it with the eager error's type.
    """
    failures = []
    for seed in range(30_000, 30_150):
        program = make_program(seed, lanes, specials=True)
        problems, _ = run_program(program, calls_of(program, batch_sizes(program)))
        if problems:
            failures.append((program, problems))
    assert not failures, report(failures)


# -- 1 on reused arrays: a function called again and again -------------------------------------------------

#: Calls of a program in `test_random_programs_called_again_and_again`: four at its rows, then three at another
#: row count (lanes=True) or its rows again (lanes=False: each row count is a recording of its own).
REPEATS = 4


@pytest.mark.parametrize(("lanes", "specials", "monitors"), [
    pytest.param(True, False, False, id="lanes"), pytest.param(False, False, False, id="scalar"),
    pytest.param(True, True, False, id="lanes-specials"), pytest.param(False, True, False, id="scalar-specials"),
    pytest.param(True, False, True, id="lanes-monitors"), pytest.param(False, False, True, id="scalar-monitors"),
])
def test_random_programs_called_again_and_again(lanes, specials, monitors):
    """Contract 1 on the arrays of ended calls: from a recording's third call on, a call reuses an ended call's
    arrays with every kernel bound to them (`microgradx.compiler.workspace.Workspace`), and its backward passes
    add into the workspace's own gradient arrays. Each call must still be eager's, outputs and gradients."""
    failures = []
    start = {(True, False): 40_000, (False, False): 41_000}.get((lanes, specials), 42_000 + 1000 * lanes)
    count, bound = (60 if specials or monitors else 150), 0
    for seed in range(start, start + count):
        program = make_program(seed, lanes, monitors=monitors, specials=specials)
        other = batch_sizes(program)[:1] or (program.rows,)
        calls = [(program.rows, None)] * REPEATS + [(other[0] if lanes else program.rows, None)] * 3
        problems, compiled = run_program(program, calls)
        if problems:
            failures.append((program, problems))
        bound += any(ws.steps is not None for rec in compiled._recordings.values() for ws in rec.workspaces.spare)
    assert not failures, report(failures)
    assert bound >= count // 2, f"only {bound} of {count} programs ran on bound kernels: the test tests too little"


# -- 4: a debug list holding intermediate Values changes nothing ---------------------------------------------


def _bits(program: Program, calls: list) -> list:
    """Every number the compiled program gives over ``calls``: outputs, then each output's gradients."""
    rng = np.random.default_rng(program.seed)
    instance = program.instantiate()
    compiled = microgradx.compile(instance.fn, lanes=program.lanes)
    numbers = []
    for rows, setting in calls:
        outputs = as_outputs(compiled(*program.arguments(rng, rows, setting)))
        for out in outputs:
            zero_grads(instance.closed())
            out.backward(np.linspace(0.5, 1.5, out.data.size) if isinstance(out.data, np.ndarray) else None,
                         inputs=True)
            numbers += [np.array(out.data), *grads_of(instance.closed()),
                        *[g for g in out.input_grads if g is not None]]
        instance.step(rng)
    return numbers


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_a_debug_list_of_intermediates_changes_no_bit(lanes):
    """Contract 4: the same program with and without ``DEBUG.append(v)`` after each line gives the same bits."""
    differ = []
    for seed in range(20_000, 20_050):
        plain, kept = make_program(seed, lanes, debug=False), make_program(seed, lanes, debug=True)
        calls = calls_of(plain, batch_sizes(plain))
        for k, (a, b) in enumerate(zip(_bits(plain, calls), _bits(kept, calls))):
            if not np.array_equal(a, b, equal_nan=True):
                differ.append(f"seed {seed}, number {k}: {b!r} with the debug list, {a!r} without\n{kept.describe()}")
                break
    assert not differ, f"{len(differ)} of 50 programs change when a debug list holds their Values; the first:\n" + (
        differ[0])


# -- 4: what is read afresh; Parameters stay the user's objects ----------------------------------------------


def _arrays(rows: int = 5, seed: int = 0) -> np.ndarray:
    """Two features of ``rows`` examples in [-2, 2]: two lane Values (lanes=True) or ``rows`` pairs of floats."""
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(rows, 2))


def _check(fn, compiled, args: list, closed: list, lanes: bool, what: str = "") -> None:
    """``compiled(*args)`` equals ``fn`` run eagerly: outputs and the ``closed`` Values' gradients."""
    check_compiled(fn, args, closed, lanes, compiled=compiled, tol={"rtol": 1e-9, "atol": 1e-12}, what=what)


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_compiling_never_changes_a_parameters_class(lanes):
    w, b = Parameter(0.5), Parameter(-0.25)
    fn = (lambda X: ((X[0] * w + X[1] * w + b).tanh()).lane_sum()) if lanes else (
        lambda X: ops.sum(*[(x[0] * w + x[1] * w + b).tanh() for x in X]))
    compiled = microgradx.compile(fn, lanes=lanes)
    compiled(_arrays()).backward()
    w.data -= 0.1 * w.grad
    _check(fn, compiled, [_arrays(seed=1)], [w, b], lanes)
    assert type(w) is Parameter and type(b) is Parameter


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_numbers_are_constants_of_the_recording(lanes):
    """A number ``fn`` reads from elsewhere when recorded stays that number (jax.jit's rule); Values are read."""
    settings = {"scale": 2.0}
    w = Value(0.5)

    def fn(X):
        xs = [X[0]] if lanes else [row[0] for row in X]
        return ops.sum(*[(x * w).tanh() * settings["scale"] for x in xs]).lane_sum()

    compiled = microgradx.compile(fn, lanes=lanes)
    X = _arrays()
    compiled(X)
    settings["scale"], w.data = 3.0, 0.75
    got = compiled(X).data
    settings["scale"] = 2.0
    want = fn(eager_arguments([X], lanes)[0][0]).data  # the recorded number, the Value's new one
    assert got == pytest.approx(want, rel=1e-12)


def test_a_closed_over_computed_value_is_what_eager_reads_or_an_error():
    """A Value computed before the call, whose leaf then moves: eager reads its (old) number.

    The compiled function must give eager's result or refuse with an error; not a third number.
    """
    w = Parameter(0.5)
    h = (w * 3.0).tanh()  # made before the call: eagerly its number stays tanh(1.5)
    fn = lambda X: (X[0] * h).lane_sum()
    compiled = microgradx.compile(fn)
    X = _arrays()
    _check(fn, compiled, [X], [w], True, "recording")
    w.data = -1.0
    try:
        compiled(X)
    except (TypeError, ValueError, RuntimeError) as exc:  # refused: fine, if it says why
        assert "closed" in str(exc) or Path(__file__).name in str(exc), str(exc)
        return
    _check(fn, compiled, [X], [w], True, "after its leaf moved")


def test_a_closed_over_lane_value_of_a_new_length_records_again_or_raises():
    """Issue 20: a closed-over lane Value whose lane count changed is never replayed stale."""
    w, c = Value(0.5), Value(np.linspace(-1.0, 1.0, 5))
    fn = lambda X: ((X[0] * w + c).tanh()).lane_sum()
    compiled = microgradx.compile(fn)
    _check(fn, compiled, [_arrays()], [w, c], True)
    c.data, c.grad = np.linspace(-1.0, 1.0, 7), np.zeros(7)
    try:
        _check(fn, compiled, [_arrays(rows=7)], [w, c], True)
    except (TypeError, ValueError) as exc:
        assert "lane" in str(exc)
    with pytest.raises(ValueError):  # 7 lanes against 5 rows: eagerly numpy refuses, and so must the replay
        fn(eager_arguments([_arrays()], True)[0][0])
    with pytest.raises(ValueError):
        compiled(_arrays())


def test_check_true_accepts_a_function_that_keeps_its_values_in_a_list():
    kept = []

    def fn(X):
        c = Value(2.0)
        kept.append(c)
        return (X[0] * c).tanh().lane_sum()

    compiled = microgradx.compile(fn, check=True)
    for seed in range(3):
        _check(fn, compiled, [_arrays(seed=seed)], [], True)


# -- 5: settings and replaced ops ----------------------------------------------------------------------------


def _first_number(s):
    return s[0] if isinstance(s, tuple) else s


def _setting_fn(lanes: bool, w: Value):
    """A function whose result depends on its setting's sign and type (a setting is static: Python may read it)."""
    def fn(X, s):
        number = _first_number(s)
        factor = math.copysign(1.0, number) * (2.0 if isinstance(number, float) else 1.0)
        xs = [X[0]] if lanes else [row[0] for row in X]
        return ops.sum(*[(x * w).tanh() for x in xs]).lane_sum() * factor

    return fn




@pytest.mark.parametrize("lanes", LANE_STYLES)
@pytest.mark.parametrize(("first", "second"), [
    pytest.param(0.0, -0.0, id="0.0,-0.0"),
    pytest.param(-0.0, 0.0, id="-0.0,0.0"),
    pytest.param((0.0, 1), (-0.0, 1), id="tuple-sign"),
    pytest.param((1, 2), (1.0, 2), id="tuple-type"),
    pytest.param(1, 1.0, id="1,1.0"),
    pytest.param(1.0, 1, id="1.0,1"),
    pytest.param(True, 1, id="True,1"),
])
def test_settings_that_differ_only_in_sign_or_type_do_not_share_a_recording(first, second, lanes):
    w = Value(0.7)
    fn = _setting_fn(lanes, w)
    compiled = microgradx.compile(fn, lanes=lanes)
    X = _arrays()
    _check(fn, compiled, [X, first], [w], lanes, f"s={first!r}")
    _check(fn, compiled, [X, second], [w], lanes, f"s={second!r} after s={first!r}")


class _Replacing:
    """A plugin registering ops with ``replace=True``."""

    def __init__(self, *ops_):
        self.ops = ops_

    @hookimpl
    def microgradx_register_ops(self, register):
        for op in self.ops:
            register(op, replace=True)


def _softsign(x):
    return x / (1.0 + abs(x))


_REPLACEMENTS = {
    "tanh": Op(name="tanh", elementwise=True, forward=_softsign,
               backward=lambda g, out, x: (g / (1.0 + abs(x)) ** 2,)),
    "mul": Op(name="mul", arity=2, elementwise=True, forward=lambda x, y: 2.0 * x * y,
              backward=lambda g, out, x, y: (2.0 * g * y, 2.0 * g * x)),
    "add": Op(name="add", arity=2, elementwise=True, forward=lambda x, y: x + y + 0.5,
              backward=lambda g, out, x, y: (g, g)),
    "dot": Op(name="dot", arity=None, forward=lambda *a: 2.0 * _plain_dot(*a),
              backward=lambda g, out, *a: tuple(2.0 * d for d in _plain_dot_grads(g, *a))),
    # a pow without a constant-exponent form: x ** 2 was one node of the built-in pow's op for 2
    "pow": Op(name="pow", arity=2, elementwise=True, forward=lambda x, y: 2.0 * x ** y,
              backward=lambda g, out, x, y: (2.0 * g * y * x ** (y - 1.0), None)),
}


def _plain_dot(*args):
    nb, m = len(args) & 1, len(args) >> 1
    return sum([args[nb + i] * args[nb + m + i] for i in range(m)], args[0] if nb else 0.0)


def _plain_dot_grads(g, *args):
    nb, m = len(args) & 1, len(args) >> 1
    ws, xs = args[nb:nb + m], args[nb + m:]
    return (*([g] if nb else []), *[g * x for x in xs], *[g * w for w in ws])


def _uses(op: str, lanes: bool, w: list):
    """A function using ``op``: as a method or operator, in a neuron chain (fused by the recorder), or explicitly."""
    def one(x):  # x: the features of the lanes (lanes=True) or of one example
        neuron = w[0] + w[1] * x[0] + w[2] * x[1]  # fused into dot when recorded
        if op == "tanh":
            return neuron.tanh() * x[0]
        if op == "dot":
            return ops.dot(w[0], w[1], w[2], x[0], x[1]).relu() + neuron
        if op == "pow":
            return neuron ** 2 * x[0]
        return neuron * x[1] + x[0] * w[1]

    return (lambda X: one(X).lane_sum()) if lanes else (lambda X: ops.sum(*[one(row) for row in X]))


@pytest.mark.parametrize("lanes", LANE_STYLES)
@pytest.mark.parametrize("op", [
    name for name in ("tanh", "mul", "add", "dot", "pow")])
def test_a_replaced_op_is_never_replayed_stale(op, lanes, fresh_registry):
    """Recorded with the built-in op, called while a plugin replaces it, then after: eager's results each time."""
    w = [Parameter(0.3), Parameter(-0.8), Parameter(0.6)]
    fn = _uses(op, lanes, w)
    compiled = microgradx.compile(fn, lanes=lanes)
    X = _arrays()
    _check(fn, compiled, [X], w, lanes, "built-in op")
    with pytest.warns(microgradx.PluginWarning, match="replaces"):
        context = microgradx.plugin_registered(_Replacing(_REPLACEMENTS[op]), name="difftest-replacement")
        context.__enter__()
    try:
        _check(fn, compiled, [X], w, lanes, f"{op} replaced")
    finally:
        context.__exit__(None, None, None)
    _check(fn, compiled, [X], w, lanes, f"{op} back to the built-in")


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_replacing_dot_leaves_a_fused_neuron_chain_alone(lanes, fresh_registry):
    """The recorder fuses ``b + w1*x1 + ...`` into the built-in dot; a plugin's dot never computes it."""
    w = [Parameter(0.3), Parameter(-0.8), Parameter(0.6)]
    fn = (lambda X: (w[0] + w[1] * X[0] + w[2] * X[1]).tanh().lane_sum()) if lanes else (
        lambda X: ops.sum(*[(w[0] + w[1] * x[0] + w[2] * x[1]).tanh() for x in X]))
    with pytest.warns(microgradx.PluginWarning, match="replaces"):
        context = microgradx.plugin_registered(_Replacing(_REPLACEMENTS["dot"]), name="difftest-dot")
        context.__enter__()
    try:
        compiled = microgradx.compile(fn, lanes=lanes)
        _check(fn, compiled, [_arrays()], w, lanes, "recorded while dot is replaced")
        _check(fn, compiled, [_arrays(seed=1)], w, lanes, "replayed while dot is replaced")
    finally:
        context.__exit__(None, None, None)


# -- 6: Python decisions on traced data ----------------------------------------------------------------------
#
# Each case is a function whose Python code decides something from the data of a Value computed from the
# array argument, on the line marked ``# decision: NAME``. Recording it must raise TracedDataError naming
# this file and that line (today the recording keeps the branch taken and replays it on any data).

DECISIONS: dict = {}  # name -> (lanes, builder(wa, wb) -> fn)


def decision(name: str, lanes: bool):
    def register(builder):
        DECISIONS[name] = (lanes, builder)
        return builder

    return register


@decision("if-float-of-mean", lanes=True)
def _if_float_of_mean(wa, wb):
    def fn(X):
        out = (X[0] * wa + X[1]).tanh()
        if float(out.data.mean()) > 0:  # decision: if-float-of-mean
            return (out * wb).lane_mean()
        return (out * wa).lane_mean()

    return fn


@decision("if-pred-data", lanes=False)
def _if_pred_data(wa, wb):
    def fn(X):
        losses = []
        for x in X:
            pred = (x[0] * wa + x[1] * wb).tanh()
            if pred.data > 0:  # decision: if-pred-data
                losses.append((1.0 - pred) ** 2)
            else:
                losses.append(pred * 0.5)
        return ops.sum(*losses)

    return fn


@decision("if-picks-a-parameter-lanes", lanes=True)
def _if_picks_a_parameter_lanes(wa, wb):
    def fn(X):
        h = (X[0] * wa).tanh()
        w = wa if h.data.sum() > 0 else wb  # decision: if-picks-a-parameter-lanes
        return (h * w + X[1]).lane_sum()

    return fn


@decision("if-picks-a-parameter", lanes=False)
def _if_picks_a_parameter(wa, wb):
    def fn(X):
        terms = []
        for x in X:
            h = (x[0] * wa).tanh()
            w = wa if h.data >= 0.0 else wb  # decision: if-picks-a-parameter
            terms.append(h * w + x[1])
        return ops.sum(*terms)

    return fn


@decision("numpy-mask", lanes=True)
def _numpy_mask(wa, wb):
    def fn(X):
        h = X[0] * wa + X[1] * wb
        mask = (h.data > 0).astype(float)  # decision: numpy-mask
        return (h * mask).lane_sum()

    return fn


@decision("numpy-where", lanes=True)
def _numpy_where(wa, wb):
    def fn(X):
        h = X[0] * wa + X[1] * wb
        clipped = np.where(h.data > 1.0, 1.0, h.data)  # decision: numpy-where
        return (h * 0.0 + clipped).lane_sum()

    return fn


@decision("numpy-function", lanes=True)
def _numpy_function(wa, wb):
    def fn(X):
        h = X[0] * wa
        return (h + np.tanh(h.data)).lane_mean()  # decision: numpy-function

    return fn


@decision("bool", lanes=False)
def _bool(wa, wb):
    def fn(X):
        out = []
        for x in X:
            h = (x[0] * wa).relu()
            out.append(h * wb if h.data else h + wb)  # decision: bool
        return ops.sum(*out)

    return fn


@decision("float-of-value", lanes=False)
def _float_of_value(wa, wb):
    def fn(X):
        out = []
        for x in X:
            h = (x[0] * wa).tanh()
            scale = float(h)  # decision: float-of-value
            out.append(h * scale + x[1] * wb)
        return ops.sum(*out)

    return fn


@decision("math-on-data", lanes=False)
def _math_on_data(wa, wb):
    def fn(X):
        out = []
        for x in X:
            h = x[0] * wa
            out.append(h * math.exp(h.data) + wb)  # decision: math-on-data
        return ops.sum(*out)

    return fn


@decision("int", lanes=False)
def _int(wa, wb):
    def fn(X):
        out = []
        for x in X:
            h = (x[0] * wa).sigmoid()
            for _ in range(int(h.data * 3) + 1):  # decision: int
                h = (h * wb).tanh()
            out.append(h)
        return ops.sum(*out)

    return fn


@decision("item", lanes=True)
def _item(wa, wb):
    def fn(X):
        loss = ((X[0] * wa).tanh() - X[1]).lane_mean()
        if loss.item() > 0.5:  # decision: item
            return loss * wb
        return loss

    return fn


@decision("comparison-eq", lanes=False)
def _comparison_eq(wa, wb):
    def fn(X):
        out = []
        for x in X:
            h = (x[0] * wa).relu()
            out.append(wb if h.data == 0.0 else h)  # decision: comparison-eq
        return ops.sum(*out)

    return fn


@decision("sorted-by-data", lanes=False)
def _sorted_by_data(wa, wb):
    def fn(X):
        hs = [(x[0] * wa + x[1] * wb).tanh() for x in X]
        top = sorted(hs, key=lambda v: v.data)[-2:]  # decision: sorted-by-data
        return ops.sum(*top)

    return fn


@decision("max-by-data", lanes=False)
def _max_by_data(wa, wb):
    def fn(X):
        hs = [(x[0] * wa + x[1] * wb).tanh() for x in X]
        return max(hs, key=lambda v: v.data) * 2.0  # decision: max-by-data

    return fn


def line_of(marker: str) -> int:
    """The line of this file that ends with ``# decision: marker``."""
    lines = Path(__file__).read_text().splitlines()
    found = [i + 1 for i, line in enumerate(lines) if line.rstrip().endswith(f"# decision: {marker}")]
    assert len(found) == 1, f"one line must be marked '# decision: {marker}'"
    return found[0]


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_the_decision_cases_are_valid_eager_code(name):
    """Each case runs eagerly on any data (so the tests below fail for the compiler's reasons only)."""
    lanes, builder = DECISIONS[name]
    fn = builder(Parameter(0.8), Parameter(-0.6))
    results = set()
    for seed in range(12):
        out = fn(eager_arguments([_arrays(rows=4, seed=seed)], lanes)[0][0])
        out.backward()
        results.add(round(float(out.data), 12))
    assert len(results) > 1
    line_of(name)


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_a_python_decision_on_traced_data_is_never_replayed_stale(name):
    """On data where the decision goes the other way, the compiled function gives eager's result or refuses.

    (Today it replays the recorded branch: these fail, which also shows each case's decision does flip.)
    """
    lanes, builder = DECISIONS[name]
    wa, wb = Parameter(0.8), Parameter(-0.6)
    fn = builder(wa, wb)
    compiled = microgradx.compile(fn, lanes=lanes)
    for seed in range(12):
        try:
            _check(fn, compiled, [_arrays(rows=4, seed=seed)], [wa, wb], lanes, f"data seed {seed}")
        except TracedDataError:
            return


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_a_python_decision_on_traced_data_raises_naming_its_line(name):
    """Contract 6: ``bool``, ``float``, ``int``, comparisons, ``item()``, sorted/max by data, numpy and math on
    ``.data`` of a Value computed from the arguments raise `TracedDataError` (a TypeError) at recording, naming
    the file and the line of the decision; nothing is recorded."""
    lanes, builder = DECISIONS[name]
    compiled = microgradx.compile(builder(Parameter(0.8), Parameter(-0.6)), lanes=lanes)
    with pytest.raises(TracedDataError) as caught:
        compiled(_arrays(rows=4))
    assert issubclass(TracedDataError, TypeError)
    message, line = str(caught.value), line_of(name)
    assert Path(__file__).name in message, message
    assert re.search(rf"(line {line}\b|:{line}\b)", message), f"line {line} not named in: {message}"
    assert compiled.recordings == 0


@pytest.mark.parametrize("lanes", LANE_STYLES)
def test_printing_traced_data_is_allowed_and_prints_the_numbers(lanes, capsys):
    """Contract 6: ``repr``, ``str`` and f-strings of ``.data`` (and ``print``) work while recording, as eagerly."""
    w = Parameter(0.8)
    printed: list = []

    def fn(X):
        hs = [(X[0] * w).tanh()] if lanes else [(x[0] * w).tanh() for x in X]
        for h in hs:
            printed.append(repr(h))
            printed.append(str(h.data))
            printed.append(f"h={h.data}")
            if not lanes:
                printed.append(f"{h.data:.4f}")
        loss = ops.sum(*hs).lane_sum()
        print("loss", loss.data)
        return loss

    X = _arrays()
    compiled = microgradx.compile(fn, lanes=lanes)
    compiled(X)
    recorded, printed[:] = list(printed), []
    out_recorded = capsys.readouterr().out
    _check(fn, compiled, [X], [w], lanes)
    eager_printed = printed[-len(recorded):]
    assert recorded == eager_printed
    assert out_recorded == capsys.readouterr().out.splitlines(keepends=True)[-1]


def test_a_function_of_the_row_count_is_right_at_every_batch_size_or_refused():
    """Issue 20: a function that reads the number of rows is detected (recorded again or refused), never stale."""
    w = Parameter(0.4)

    def fn(X):
        h = (X[0] * w).tanh()
        rows = len(h.data)
        return h.lane_sum() * (1.0 / rows)

    compiled = microgradx.compile(fn)
    for rows in (3, 5, 3, 8):
        try:
            _check(fn, compiled, [_arrays(rows=rows)], [w], True, f"{rows} rows")
        except (TypeError, ValueError) as exc:  # refused (TracedDataError is a TypeError): naming the line
            assert Path(__file__).name in str(exc), str(exc)
            return
