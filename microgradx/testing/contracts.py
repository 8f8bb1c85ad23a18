"""Contracts of losses and optimizers: `check_loss` and `check_optimizer` (also pytest fixtures).

    def test_huber(check_loss):
        check_loss("huber_regression", settings={"delta": 0.5})

    def test_rmsprop(check_optimizer):
        check_optimizer("rmsprop", settings={"alpha": 0.9}, invalid=[{"alpha": 1.0}, {"eps": 0.0}])

Both take a registered name or the class itself (`check_loss` also an instance), and raise
`ContractError` (or `GradcheckError`) naming the component and what is wrong.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.compiler import compile
from microgradx.engine.value import Value
from microgradx.registry.core import get_registry
from microgradx.testing.checks import GradcheckResult, gradcheck
from microgradx.testing.errors import ContractError, GradcheckError
from microgradx.types import CompiledLoss, FastPathWarning, missing

__all__ = ["OptimizerCheckResult", "check_loss", "check_optimizer"]

TASKS = ("binary", "multiclass", "regression")


def _resolve(kind: str, component: Any) -> Any:
    if isinstance(component, str):

        return get_registry().get(kind, component)
    return component


def _accepts(cls: Any, setting: str) -> bool:
    fields = attrs.fields_dict(cls) if attrs.has(cls) else None
    if fields is not None:
        return setting in fields and fields[setting].init
    try:
        return setting in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _close(a: float, b: float, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


def _targets(task: str, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    if task == "binary":
        return np.resize(np.array([0, 1]), n)[rng.permutation(n)].astype(np.int64)
    if task == "multiclass":
        return (np.arange(n) % k)[rng.permutation(n)].astype(np.int64)
    return rng.normal(size=n) if k == 1 else rng.normal(size=(n, k))


def check_loss(loss: Any, *, settings: Optional[Mapping[str, Any]] = None, n: int = 6,
               n_outputs: Optional[int] = None, targets: Optional[np.ndarray] = None, seed: int = 0,
               eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4) -> GradcheckResult:
    """Check that a loss keeps the loss contract; return the largest gradient error.

    ``loss`` is a registered name, a loss class (built with ``settings``) or an instance. It
    is called as ``loss(outputs, targets, params=None)`` with ``n_outputs`` output Values
    (default 3 for a multiclass loss, else 1) holding ``n`` lanes, or one float each in
    scalar mode, and ``targets`` (default: labels or numbers to suit its ``task``):

    * ``task`` is ``"binary"``, ``"multiclass"`` or ``"regression"``;
    * the result is a Value holding a finite float, in lane and in scalar mode, and the
      lane-mode value is the mean of the scalar-mode values of the examples;
    * neither the outputs' data nor the targets are modified; targets of the wrong length raise;
    * the gradient with respect to the outputs matches central finite differences, in lane
      mode and in scalar mode;
    * ``params`` adds ``l2 * sum(p * p)`` (with ``l2=0.25`` when the class takes ``l2``), with
      the right gradient;
    * ``predict(outputs)`` gives one entry per example;
    * the Trainer's fast path (`microgradx.types.CompiledLoss`: ``encode_targets``, ``build``,
      ``per_example``, ``penalised``) is there whole, and ``build`` on the encoded targets, eagerly
      and compiled, computes what calling the loss computes; a loss without any of it warns
      (`microgradx.types.FastPathWarning`): the Trainer runs it on a slower path.
    """
    __tracebackhide__ = True
    obj = _resolve("losses", loss)
    cls: Any = obj if inspect.isclass(obj) else None
    settings = dict(settings or {})
    try:
        fn = cls(**settings) if cls is not None else obj
    except Exception as exc:
        raise ContractError(f"loss {loss!r}: could not be built with settings {settings}: "
                            f"{type(exc).__name__}: {exc}") from exc
    who = f"loss {getattr(fn, 'name', None) or getattr(cls, '__name__', None) or loss!r}"
    task = getattr(fn, "task", None)
    if task not in TASKS:
        raise ContractError(f"{who}: task must be one of {', '.join(TASKS)}, got {task!r}")
    rng = np.random.default_rng(seed)
    k = n_outputs or (3 if task == "multiclass" else 1)
    t = _targets(task, n, k, rng) if targets is None else np.asarray(targets)
    n = len(t)
    data = rng.normal(size=(k, n)) * 1.5

    def call(f: Any, outputs: list, targets: Any, **kwargs: Any) -> Value:
        __tracebackhide__ = True
        kept = np.array(targets, copy=True)
        value = f(outputs, targets, **kwargs)
        if not np.array_equal(kept, targets):
            raise ContractError(f"{who}: modified the targets array in place")
        if not isinstance(value, Value) or not isinstance(value.data, float) or not math.isfinite(value.data):
            got = f"a Value holding {value.data!r}" if isinstance(value, Value) else type(value).__name__
            raise ContractError(f"{who}: must return a Value holding a finite float, got {got}")
        return value

    outputs = [Value(row) for row in data]
    lane = call(fn, outputs, t)
    if not all(np.array_equal(o.data, row) for o, row in zip(outputs, data)):
        raise ContractError(f"{who}: modified the outputs' data")
    scalar = [call(fn, [Value(float(row[i])) for row in data], t[i:i + 1]).data for i in range(n)]
    if not _close(lane.data, float(np.mean(scalar))):
        raise ContractError(f"{who}: the lane-mode value {lane.data!r} for {n} examples is not the mean "
                            f"{float(np.mean(scalar))!r} of their scalar-mode values: a loss is the mean over examples")
    try:
        fn([Value(row) for row in data], t[:-1])
    except (ValueError, TypeError):
        pass
    else:
        raise ContractError(f"{who}: accepted {n - 1} targets for {n} examples; targets of the wrong length "
                            f"must raise ValueError")
    worst = 0.0
    for mode, inputs, tt in (("lane", list(data), t), ("scalar", [float(row[0]) for row in data], t[:1])):
        try:
            result = gradcheck(lambda *o, tt=tt: fn(list(o), tt), inputs, eps=eps, atol=atol, rtol=rtol)
        except GradcheckError as exc:
            raise GradcheckError(f"{who}: {mode}-mode gradient with respect to the outputs: {exc}") from None
        worst = max(worst, result.max_error)
    penalised = fn
    if cls is not None and "l2" not in settings and _accepts(cls, "l2"):
        penalised = cls(**settings, l2=0.25)
    l2 = getattr(penalised, "l2", None)
    if isinstance(l2, (int, float)):
        worst = max(worst, _check_l2(who, penalised, float(l2), data, t, call, eps, atol, rtol))
    if hasattr(fn, "predict"):
        predicted = np.asarray(fn.predict([Value(row) for row in data]))
        if predicted.ndim == 0 or predicted.shape[0] != n:
            raise ContractError(f"{who}: predict() of {n} examples must give {n} entries, got shape {predicted.shape}")
    _check_fast_path(who, fn, data, t, lane.data)
    return GradcheckResult(ok=True, max_error=worst)


def _check_fast_path(who: str, fn: Any, data: np.ndarray, t: np.ndarray, value: float) -> None:
    """The Trainer's fast path (`microgradx.types.CompiledLoss`): all of it or none (then a warning), and what
    ``build`` computes, eagerly and compiled, is what calling the loss computes."""
    __tracebackhide__ = True
    fast = ("encode_targets", "build", "per_example", "penalised")
    lacking = [name for name in missing(fn, CompiledLoss) if name in fast]
    if len(lacking) == len(fast):
        warnings.warn(f"{who} lacks {', '.join(lacking)} (microgradx.types.CompiledLoss): the Trainer runs it "
                      f"eagerly on the compiled model's outputs, more slowly", FastPathWarning, stacklevel=3)
        return
    if lacking:
        raise ContractError(f"{who}: has part of the Trainer's fast path (microgradx.types.CompiledLoss) but lacks "
                            f"{', '.join(lacking)}; give it all four, or none")
    encoded = np.asarray(fn.encode_targets(t, len(data), len(t)), dtype=np.float64)
    if encoded.ndim != 2 or encoded.shape[0] != len(t):
        raise ContractError(f"{who}: encode_targets must give an (n, m) array for n = {len(t)} examples, got shape "
                            f"{encoded.shape}")
    built = fn.build([Value(row) for row in data], [Value(column) for column in encoded.T], None, None)
    compiled = compile(lambda xs, ts: fn.build(list(xs), list(ts), None, None))(data.T, encoded).data
    for how, got in (("build", built.data if isinstance(built, Value) else built), ("build, compiled", compiled)):
        if not _close(got, value):
            raise ContractError(f"{who}: {how} gives {got!r} where calling the loss gives {value!r}; the fast path "
                                f"must compute what the loss computes")


def _check_l2(who: str, fn: Any, l2: float, data: np.ndarray, t: np.ndarray, call: Any, eps: float, atol: float,
              rtol: float) -> float:
    __tracebackhide__ = True
    outputs = [Value(row) for row in data]
    start = [0.5, -1.5]
    base = call(fn, outputs, t).data
    empty: list[Value] = []
    for params in (None, empty):
        if not _close(call(fn, outputs, t, params=params).data, base):
            raise ContractError(f"{who}: params={params!r} changed the value")
    value = call(fn, outputs, t, params=[Value(p) for p in start]).data
    want = base + l2 * sum(p * p for p in start)
    if not _close(value, want):
        raise ContractError(f"{who}: with l2={l2:g} and params {start}, the value is {value!r}; expected the loss "
                            f"plus l2 * sum(p * p) = {want!r}")
    try:
        result = gradcheck(lambda *ps: fn(outputs, t, params=list(ps)), start, eps=eps, atol=atol, rtol=rtol)
    except GradcheckError as exc:
        raise GradcheckError(f"{who}: gradient of the l2 penalty with respect to params: {exc}") from None
    return result.max_error


@attrs.frozen
class OptimizerCheckResult:
    """What `check_optimizer` found: ``ok``, and how far the first step moved each parameter."""

    ok: bool
    first_step: tuple[float, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


def check_optimizer(optimizer: Any, *, settings: Optional[Mapping[str, Any]] = None,
                    invalid: Sequence[Mapping[str, Any]] = (), lr: float = 0.05, n: int = 5,
                    seed: int = 0) -> OptimizerCheckResult:
    """Check that an optimizer class (or registered name) keeps the optimizer contract.

    It is built as ``cls(params, lr=lr, **settings)`` with ``n`` float parameters in
    ``+-[0.5, 1.5]`` whose gradients are in ``+-[0.5, 2]`` (keep settings such as weight decay
    moderate, so that the gradient decides the direction), and:

    * it keeps ``lr`` and each setting as attributes of those names (a setting is not ignored);
    * ``step()`` moves every parameter against its gradient, and keeps its data a float;
    * ``zero_grad()`` sets every grad to 0;
    * the first step is proportional to ``lr`` (twice the lr, twice the step);
    * ``lr=0``, given at construction or set later as schedules do, moves nothing;
    * invalid settings raise ``ValueError`` or ``TypeError`` at construction: a negative and a
      NaN ``lr``, and each dict of ``invalid`` (merged into ``settings``).
    """
    __tracebackhide__ = True
    cls = _resolve("optimizers", optimizer)
    who = f"optimizer {getattr(cls, '__name__', optimizer)!r}"
    settings = dict(settings or {})
    rng = np.random.default_rng(seed)
    data = (rng.uniform(0.5, 1.5, n) * rng.choice([-1.0, 1.0], n)).tolist()
    grads = (rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)).tolist()

    def build(rate: float, **extra: Any) -> tuple[Any, list[Value]]:
        __tracebackhide__ = True
        params = [Value(float(x)) for x in data]
        for p, g in zip(params, grads):
            p.grad = float(g)
        try:
            return cls(params, lr=rate, **{**settings, **extra}), params
        except Exception as exc:
            raise ContractError(f"{who}: could not be built with lr={rate!r} and settings {settings}: "
                                f"{type(exc).__name__}: {exc}") from exc

    opt, params = build(lr)
    for key, value in {"lr": lr, **settings}.items():
        if getattr(opt, key, _MISSING) != value:
            raise ContractError(f"{who}: the setting {key}={value!r} is not kept as the attribute {key!r} "
                                f"(got {getattr(opt, key, 'no such attribute')!r}); is it ignored?")
    opt.step()
    moved = [p.data - x for p, x in zip(params, data)]
    for i, (p, d, g) in enumerate(zip(params, moved, grads)):
        if not isinstance(p.data, float):
            raise ContractError(f"{who}: step() made parameter {i}'s data a {type(p.data).__name__}, not a float")
        if not (math.isfinite(d) and d != 0.0 and (d > 0.0) == (g < 0.0)):
            raise ContractError(f"{who}: a step moved parameter {i} from {data[i]!r} to {p.data!r} with gradient "
                                f"{g!r}; it must move against the gradient")
    opt.zero_grad()
    if any(p.grad != 0.0 for p in params):
        raise ContractError(f"{who}: zero_grad() left grads {[p.grad for p in params]}; it must set them to 0")
    double, params2 = build(2 * lr)
    double.step()
    for i, (p, d) in enumerate(zip(params2, moved)):
        if not _close(p.data - data[i], 2 * d, rtol=1e-9, atol=1e-15):
            raise ContractError(f"{who}: with lr={2 * lr:g} the first step moved parameter {i} by "
                                f"{p.data - data[i]!r}, not twice {d!r} (its step with lr={lr:g}): a step must "
                                f"be proportional to lr, which schedules set")
    still, params0 = build(0.0)
    still.step()
    opt.lr = 0.0  # as a schedule does: the optimizer that already stepped, with momentum or averages
    for p, g in zip(params, grads):
        p.grad = float(g)
    before = [p.data for p in params]
    opt.step()
    if [p.data for p in params0] != data or [p.data for p in params] != before:
        raise ContractError(f"{who}: a step with lr=0 moved the parameters; lr=0 (where a cosine schedule "
                            f"ends) must move nothing")
    for bad in ({"lr": -1.0}, {"lr": float("nan")}, *invalid):
        try:
            params = [Value(float(x)) for x in data]
            cls(params, **{"lr": lr, **settings, **bad})
        except (ValueError, TypeError):
            continue
        except Exception as exc:
            raise ContractError(f"{who}: invalid settings {bad} raised {type(exc).__name__}: {exc}; raise "
                                f"ValueError or TypeError") from exc
        raise ContractError(f"{who}: accepted the invalid settings {bad}; bad settings must raise at construction")
    return OptimizerCheckResult(ok=True, first_step=tuple(float(d) for d in moved))


_MISSING = object()
