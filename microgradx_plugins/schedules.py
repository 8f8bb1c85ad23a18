"""Learning-rate schedules: "constant", "linear" (decay), "cosine" and "invscaling".

A schedule is an attrs class of its settings, called as
``schedule(base_lr, step, total_steps) -> lr`` with ``0 <= step``; past ``total_steps`` the
rate stays at its final value. micrograd's demo uses ``LinearDecay()`` with base 1.0 and
100 steps: ``1.0 - 0.9 * k / 100``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import attrs

from microgradx import hookimpl


def _fraction(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a number in [0, 1], got {value!r}")


def _progress(who: str, base_lr: float, step: int, total_steps: int) -> float:
    """Validate the call and return ``min(step / total_steps, 1)``."""
    if isinstance(base_lr, bool) or not isinstance(base_lr, numbers.Real) or not base_lr >= 0:
        raise ValueError(f"{who}: base_lr must be a number >= 0, got {base_lr!r}")
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
        raise ValueError(f"{who}: total_steps must be a positive int, got {total_steps!r}")
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"{who}: step must be an int >= 0, got {step!r}")
    return min(step / total_steps, 1.0)


@attrs.define
class Constant:
    """The same rate at every step: ``base_lr``."""

    def __call__(self, base_lr: float, step: int, total_steps: int) -> float:
        """``base_lr``."""
        _progress("Constant", base_lr, step, total_steps)
        return float(base_lr)


@attrs.define
class LinearDecay:
    """Straight line from ``base_lr`` at step 0 to ``end_factor * base_lr`` at ``total_steps``.

    ``lr = base_lr * (1 - (1 - end_factor) * step / total_steps)``.
    """

    end_factor: float = attrs.field(default=0.1, validator=_fraction)

    def __call__(self, base_lr: float, step: int, total_steps: int) -> float:
        """The rate at ``step``."""
        return float(base_lr) * (1.0 - (1.0 - self.end_factor) * _progress("LinearDecay", base_lr, step, total_steps))


@attrs.define
class Cosine:
    """Half a cosine from ``base_lr`` at step 0 down to ``min_factor * base_lr`` at ``total_steps``.

    ``lr = base_lr * (min_factor + (1 - min_factor) * (1 + cos(pi * step / total_steps)) / 2)``.
    """

    min_factor: float = attrs.field(default=0.0, validator=_fraction)

    def __call__(self, base_lr: float, step: int, total_steps: int) -> float:
        """The rate at ``step``."""
        progress = _progress("Cosine", base_lr, step, total_steps)
        return float(base_lr) * (self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < math.inf:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.define
class InvScaling:
    """Inverse scaling, as scikit-learn's ``learning_rate="invscaling"``: the rate falls as examples are seen.

    ``lr = base_lr / (1 + step * examples_per_step) ** power_t``: with ``examples_per_step``
    the batch size, ``1 + step * examples_per_step`` counts the examples seen so far, as
    scikit-learn's ``t_`` does (which it updates once per epoch; here every step).
    """

    power_t: float = attrs.field(default=0.5, validator=_non_negative)
    examples_per_step: float = attrs.field(default=1.0, validator=_non_negative)

    def __call__(self, base_lr: float, step: int, total_steps: int) -> float:
        """The rate at ``step`` (``total_steps`` is checked, not used: the rate keeps falling)."""
        _progress("InvScaling", base_lr, step, total_steps)
        return float(base_lr) / (1.0 + step * self.examples_per_step) ** self.power_t


@hookimpl
def microgradx_register_schedules(register):
    """Register constant, linear, cosine and invscaling."""
    register(Constant, name="constant")
    register(LinearDecay, name="linear")
    register(Cosine, name="cosine")
    register(InvScaling, name="invscaling")
