"""RMSprop: divide each step by a running root-mean-square of that parameter's gradients.

The update is PyTorch's ``torch.optim.RMSprop`` (same settings, same formula), so the
plugin's tests compare the two step for step.
"""

from __future__ import annotations

import attrs
import numpy as np
from microgradx import Value, zero_grad

from ._validators import number


@attrs.define(eq=False)
class RMSprop:
    """RMSprop over ``params`` (a list of Values whose data are floats).

    For each parameter, with ``g = grad + weight_decay * data``::

        v = alpha * v + (1 - alpha) * g**2                 # running mean of g**2
        m = alpha * m + (1 - alpha) * g   (centered only)  # running mean of g
        step = g / (sqrt(v - m**2 if centered else v) + eps)
        b = momentum * b + step; step = b  (momentum > 0 only)
        data -= lr * step

    Settings (validated at construction and when assigned; ``lr`` is what schedules set,
    down to 0 at the end of a cosine schedule): ``lr`` >= 0, ``alpha`` in [0, 1), ``eps`` > 0, ``momentum`` in [0, 1),
    ``weight_decay`` >= 0, ``centered`` a bool.
    """

    params: list = attrs.field(converter=list)
    lr: float = attrs.field(default=0.01, validator=number(0.0))
    alpha: float = attrs.field(default=0.99, validator=number(0.0, 1.0, high_open=True))
    eps: float = attrs.field(default=1e-8, validator=number(0.0, low_open=True))
    momentum: float = attrs.field(default=0.0, validator=number(0.0, 1.0, high_open=True))
    weight_decay: float = attrs.field(default=0.0, validator=number(0.0))
    centered: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    _square_avg: np.ndarray = attrs.field(init=False, repr=False)
    _grad_avg: np.ndarray = attrs.field(init=False, repr=False)
    _buf: np.ndarray = attrs.field(init=False, repr=False)

    @params.validator
    def _check_params(self, attribute: attrs.Attribute, value: list) -> None:
        if not value:
            raise ValueError("RMSprop: params is empty; pass the model's parameters, e.g. model.parameters()")
        seen = set()
        for i, p in enumerate(value):
            if not isinstance(p, Value) or p.is_lanes:
                raise TypeError(f"RMSprop: params[{i}] must be a Value holding a float, got {p!r}")
            if id(p) in seen:
                raise ValueError(f"RMSprop: params[{i}] is listed twice; list each parameter once")
            seen.add(id(p))

    def __attrs_post_init__(self) -> None:
        n = len(self.params)
        self._square_avg, self._grad_avg, self._buf = np.zeros(n), np.zeros(n), np.zeros(n)

    def step(self) -> None:
        """Update every parameter's data from its grad (call after ``backward()``)."""
        n = len(self.params)
        g = np.fromiter((p.grad for p in self.params), dtype=np.float64, count=n)
        if self.weight_decay:
            g = g + self.weight_decay * np.fromiter((p.data for p in self.params), dtype=np.float64, count=n)
        a = self.alpha
        self._square_avg = a * self._square_avg + (1.0 - a) * g * g
        v = self._square_avg
        if self.centered:
            self._grad_avg = a * self._grad_avg + (1.0 - a) * g
            v = v - self._grad_avg * self._grad_avg
        step = g / (np.sqrt(v) + self.eps)
        if self.momentum:
            self._buf = self.momentum * self._buf + step
            step = self._buf
        for p, d in zip(self.params, (self.lr * step).tolist(), strict=True):
            p.data -= d

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0."""
        zero_grad(self.params)

