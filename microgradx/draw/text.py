"""How the pictures write numbers and text: significant digits, lane summaries, DOT escaping."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

#: How many lanes of a lane Value are listed in its node.
LANES_SHOWN = 3


def format_number(x: float, precision: int = 4) -> str:
    """``x`` to ``precision`` significant digits, as the nodes show it (``-0.004023``, ``nan``)."""
    return format(float(x), f".{precision}g")


def summarize(x: Any, precision: int = 4) -> str:
    """A number as a node shows it; a lane array as ``N lanes, mean M: [x0, x1, x2, ...]``."""
    if x is None:  # the grad of a Value that takes no gradient (a model's input data)
        return "none"
    if isinstance(x, np.ndarray):
        n = x.size
        mean = float(np.mean(x)) if n else math.nan
        shown = ", ".join(format_number(v, precision) for v in x[:LANES_SHOWN])
        more = ", ..." if n > LANES_SHOWN else ""
        return f"{n} lane{'s' if n != 1 else ''}, mean {format_number(mean, precision)}: [{shown}{more}]"
    return format_number(x, precision)


_RECORD_SPECIAL = frozenset('{}|<>"\\')


def escape_record(text: str) -> str:
    """Escape ``text`` for one field of a Graphviz record label inside a double-quoted string.

    Backslash-escapes ``{ } | < > " \\``; keeps spaces that Graphviz would collapse or trim
    (leading, trailing, repeated) as escaped spaces; newlines become line breaks; other
    control characters are shown as ``\\xNN`` text. Non-ASCII text passes through (the
    DOT output declares UTF-8).
    """
    out = []
    n = len(text)
    for i, ch in enumerate(text):
        if ch in _RECORD_SPECIAL:
            out.append("\\" + ch)
        elif ch == " ":
            lone = 0 < i < n - 1 and text[i - 1] != " " and text[i + 1] != " "
            out.append(" " if lone else "\\ ")
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def escape_plain(text: str) -> str:
    """Escape ``text`` for a quoted non-record label."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\\\x{ord(m.group()):02x}", text)
