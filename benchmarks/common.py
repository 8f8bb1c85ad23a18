"""Shared helpers for the benchmark scripts: machine and version info, timing, memory, tables.

Every benchmark prints the same header (versions and machine) and reports medians
over several repeats, so their figures can be compared and pasted into a README.
The garbage collector is left in whatever state the caller chose (its default state
unless a benchmark says otherwise): nothing here changes it; `GcTimer` only watches it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Optional


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or 'not installed'."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    """Python, platform, CPU model and CPU count of this machine."""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "nproc": str(os.cpu_count()),
    }


def print_header(title: str, packages: Sequence[str] = ("numpy", "microgradx", "micrograd")) -> None:
    """Print a title, the versions of ``packages`` and the machine, one ``key: value`` a line."""
    print(title)
    print("=" * len(title))
    info = machine_info()
    print(f"python:   {info['python']} ({sys.executable})")
    for name in packages:
        print(f"{name + ':':<10}{package_version(name)}")
    print(f"platform: {info['platform']}")
    print(f"cpu:      {info['cpu']} (nproc {info['nproc']})")
    print()


def median(xs: Iterable[float]) -> float:
    """The median of ``xs``."""
    return statistics.median(list(xs))


def time_ns(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Call ``fn()`` once; return its result and the elapsed wall time in ns."""
    t0 = time.perf_counter_ns()
    result = fn()
    return result, time.perf_counter_ns() - t0


def median_time_ns(fn: Callable[[], Any], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in ns over ``repeat`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    return median(time_ns(fn)[1] for _ in range(repeat))


class GcTimer:
    """Time spent inside CPython's cyclic garbage collector while the ``with`` block runs.

    Uses ``gc.callbacks`` (called at the start and end of every collection), so it costs
    nothing between collections and does not change when or how often the collector runs.
    ``ns`` is the total time in collections, ``collections`` their count per generation.
    """

    def __init__(self) -> None:
        self.ns = 0
        self.collections = [0, 0, 0]
        self._start = 0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.ns += time.perf_counter_ns() - self._start
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def traced_memory(fn: Callable[[], Any]) -> tuple[Any, int, int]:
    """Run ``fn()`` under tracemalloc; return (result, bytes still held after it, peak bytes during it).

    Both figures are relative to the traced memory when ``fn`` starts; "still held" counts
    what the result (and anything else ``fn`` left alive) keeps allocated.
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, current - base, peak - base


def ratio(a: Optional[float], b: Optional[float]) -> str:
    """``a / b`` formatted as '0.42x', or '-' when either is missing."""
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Optional[str] = None) -> str:
    """A plain-text table; ``align`` is one char per column ('l' or 'r'), default: first left, rest right."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Optional[str] = None) -> None:
    """Print `format_table` followed by a blank line."""
    print(format_table(headers, rows, align))
    print()


def run_and_save(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Any],
                 argv: Optional[list[str]] = None) -> int:
    """Parse ``argv`` with ``parser``, call ``run(args)`` and, with ``--json PATH``, write its result there.

    The shared end of every benchmark's ``main``; ``parser`` must define ``--json``. Returns 0.
    """
    args = parser.parse_args(argv)
    results = run(args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x == 0 or abs(x) >= 100:
            return f"{x:,.0f}"
        return f"{x:.3g}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)
