"""attrs validators shared by the plugin's settings classes: each names the class, the setting and the value."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs


def number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
           high_open: bool = False) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A validator: the value is a finite real number in ``[low, high]`` (ends open if asked)."""
    low_open, high_open = low_open or low == -math.inf, high_open or high == math.inf
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
              and (value > low if low_open else value >= low) and (value < high if high_open else value <= high))
        if not ok:
            raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a finite number in "
                             f"{interval}, got {value!r}")

    return check
