"""Optimizers: "sgd" (momentum, Nesterov, weight decay) and "adam".

An optimizer holds a model's parameters (float Values) and, on ``step()``, updates each
``p.data`` from ``p.grad``. The update is the one PyTorch's ``torch.optim.SGD`` and
``torch.optim.Adam`` make, computed for all parameters at once with numpy on the array
that holds them (see `microgradx.Parameter`). ``lr`` is an attribute that schedules set; like every setting
it is validated on assignment too (``opt.lr = -1`` raises).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, Optional

import attrs
import numpy as np

from microgradx import Value, hookimpl
from microgradx.engine.parameter import StoreLookup


def _number(instance: Any, attribute: attrs.Attribute, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a finite number, got {value!r}")
    return float(value)


def _at_least_zero(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _number(instance, attribute, value)
    if value < 0:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be >= 0, got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _number(instance, attribute, value)
    if value <= 0:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be > 0, got {value!r}")


def _unit_interval(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _number(instance, attribute, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be in [0, 1), got {value!r}")


def _as_params(value: Iterable[Value]) -> list[Value]:
    if isinstance(value, Value):
        raise TypeError("optimizer: params must be a list of Values (e.g. model.parameters()), not one Value")
    try:
        params = list(value)
    except TypeError:
        raise TypeError(f"optimizer: params must be a list of Values, got {type(value).__name__}") from None
    return params


def _check_params(instance: Any, attribute: attrs.Attribute, params: list) -> None:
    who = type(instance).__name__
    if not params:
        raise ValueError(f"{who}: params is empty; pass the model's parameters, e.g. model.parameters()")
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"{who}: params[{i}] must be a Value, got {type(p).__name__}")
        if p.data.__class__ is not float:
            raise TypeError(f"{who}: params[{i}] must hold a float (a parameter), not lanes: {p!r}")
        if id(p) in seen:
            raise ValueError(f"{who}: params[{i}] appears twice in params; each parameter must be listed once")
        seen.add(id(p))


class _Optimizer:
    """Shared behaviour: the parameters' numbers and grads as arrays, updates, ``zero_grad``.

    While the parameters live in a `ParameterStore` (a compiled training step binds them), the
    optimizer reads and updates that array in place; otherwise it gathers the numbers into
    arrays and writes the new ones back one by one.
    """

    params: list
    _lookup: StoreLookup  # (store, index) of the parameters, or None
    _STATE: tuple = ()  # the attributes that carry from one step to the next

    def state_dict(self) -> dict:
        """What the next step depends on besides the parameters (moments, step count, ``lr``), as plain
        data: copies of arrays, so a pickled estimator resumes exactly where it was."""
        state = {"lr": self.lr}
        for name in self._STATE:
            value = getattr(self, name)
            state[name.lstrip("_")] = value.copy() if isinstance(value, np.ndarray) else value
        return state

    def load_state_dict(self, state: dict) -> None:
        """Resume from `state_dict`'s output (for the same parameters)."""
        self.lr = float(state["lr"])
        for name in self._STATE:
            value = state[name.lstrip("_")]
            if isinstance(value, np.ndarray) and value.shape != (len(self.params),):
                raise ValueError(f"{type(self).__name__}.load_state_dict: {name.lstrip('_')} holds {value.shape} "
                                 f"numbers, the optimizer has {len(self.params)} parameters")
            setattr(self, name, value.copy() if isinstance(value, np.ndarray) else value)

    def _located(self) -> Optional[tuple]:
        return self._lookup()

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0.0."""
        where = self._located()
        if where is not None:
            where[0].grad[where[1]] = 0.0
        else:
            for p in self.params:
                p.grad = 0.0

    def _arrays(self) -> tuple:
        """``(values, grads)`` of the parameters as float arrays (views or copies: `_subtract` writes new values)."""
        where = self._located()
        if where is not None:
            store, index = where
            return store.data[index], store.grad[index]
        n = len(self.params)
        try:
            grads = np.fromiter([p.grad for p in self.params], dtype=np.float64, count=n)
        except (TypeError, ValueError):
            bad = next(i for i, p in enumerate(self.params) if not isinstance(p.grad, float))
            raise TypeError(f"{type(self).__name__}.step: params[{bad}].grad is not a float "
                            f"({type(self.params[bad].grad).__name__}); was it a lane leaf?") from None
        return np.fromiter([p.data for p in self.params], dtype=np.float64, count=n), grads

    def _subtract(self, values: np.ndarray, steps: np.ndarray) -> None:
        """``p.data -= step`` for each parameter: in the store's array, or one by one."""
        where = self._located()
        if where is not None:
            where[0].data[where[1]] -= steps
        else:
            for p, x in zip(self.params, (values - steps).tolist()):
                p.data = x


@attrs.define(eq=False)
class SGD(_Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD`` (dampening 0).

    Per step, with ``g = grad + weight_decay * p``: without momentum ``p -= lr * g``; with
    momentum ``buf = momentum * buf + g`` (``buf = g`` on the first step) and
    ``p -= lr * buf``, or ``p -= lr * (g + momentum * buf)`` when ``nesterov``.
    """

    params: list = attrs.field(converter=_as_params, validator=_check_params, repr=False)
    lr: float = attrs.field(default=0.1, validator=_at_least_zero)
    momentum: float = attrs.field(default=0.0, validator=_unit_interval)
    weight_decay: float = attrs.field(default=0.0, validator=_at_least_zero)
    nesterov: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    _buf: Any = attrs.field(init=False, default=None, repr=False)
    _lookup: StoreLookup = attrs.field(init=False, repr=False,
                                       default=attrs.Factory(lambda self: StoreLookup(self.params), takes_self=True))
    _STATE = ("_buf",)

    def __attrs_post_init__(self) -> None:
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")

    def step(self) -> None:
        """Update every parameter from its gradient."""
        values, g = self._arrays()  # checked before anything is written: a lane gradient raises here
        if self.weight_decay:
            g = g + self.weight_decay * values
        if self.momentum:
            self._buf = g.copy() if self._buf is None else self.momentum * self._buf + g
            g = g + self.momentum * self._buf if self.nesterov else self._buf
        self._subtract(values, self.lr * g)


@attrs.define(eq=False)
class Adam(_Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient).

    Per step t (from 1), with ``g = grad + weight_decay * p``: ``m = beta1*m + (1-beta1)*g``,
    ``v = beta2*v + (1-beta2)*g*g``, and
    ``p -= lr * (m / (1-beta1**t)) / (sqrt(v / (1-beta2**t)) + eps)``.
    """

    params: list = attrs.field(converter=_as_params, validator=_check_params, repr=False)
    lr: float = attrs.field(default=1e-3, validator=_at_least_zero)
    beta1: float = attrs.field(default=0.9, validator=_unit_interval)
    beta2: float = attrs.field(default=0.999, validator=_unit_interval)
    eps: float = attrs.field(default=1e-8, validator=_positive)
    weight_decay: float = attrs.field(default=0.0, validator=_at_least_zero)
    t: int = attrs.field(init=False, default=0)
    _m: Any = attrs.field(init=False, default=None, repr=False)
    _v: Any = attrs.field(init=False, default=None, repr=False)
    _lookup: StoreLookup = attrs.field(init=False, repr=False,
                                       default=attrs.Factory(lambda self: StoreLookup(self.params), takes_self=True))
    _STATE = ("t", "_m", "_v")

    def step(self) -> None:
        """Update every parameter from its gradient."""
        values, g = self._arrays()  # checked before anything is written: a lane gradient raises here
        if self.weight_decay:
            g = g + self.weight_decay * values
        if self._m is None:
            self._m = np.zeros_like(g)
            self._v = np.zeros_like(g)
        self.t += 1
        m, v = self._m, self._v  # updated in place: m = beta1*m + (1-beta1)*g, v = beta2*v + (1-beta2)*g*g
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        step = m / (1.0 - self.beta1 ** self.t)  # m_hat, then lr * m_hat / (sqrt(v_hat) + eps)
        denom = np.sqrt(v / (1.0 - self.beta2 ** self.t))
        denom += self.eps
        step *= self.lr
        step /= denom
        self._subtract(values, step)


@hookimpl
def microgradx_register_optimizers(register):
    """Register sgd and adam."""
    register(SGD, name="sgd")
    register(Adam, name="adam")
