"""Shared by the benchmark scripts: one thread, the header, timing, memory, targets and tables.

Importing this module limits every BLAS library to one thread (it sets the environment
variables before numpy is imported, so import it first). The breast-cancer problem and the
peers every script compares with are in `peers`. Nothing here changes the garbage
collector's state; `GcTimer` only watches it.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported: one core for every implementation

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from typing import Any, Optional  # noqa: E402

PACKAGES = ("numpy", "microgradx", "micrograd", "torch", "scikit-learn")

# -- the machine, the header ---------------------------------------------------------------------------


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or 'not installed'."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def have(module: str) -> bool:
    """True when ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def machine_info() -> dict[str, str]:
    """Python, platform, CPU model, CPU count and load average of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.lower().startswith("model name")), cpu)
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return {"python": f"{platform.python_implementation()} {platform.python_version()}",
            "platform": platform.platform(), "cpu": cpu, "nproc": str(os.cpu_count()), "load": load}


def print_header(title: str, packages: Sequence[str] = PACKAGES) -> dict:
    """Print a title, the versions of ``packages`` and the machine; return them as a dict."""
    print(title)
    print("=" * len(title))
    info = machine_info()
    print(f"python:   {info['python']} ({sys.executable})")
    versions = {name: package_version(name) for name in packages}
    for name, v in versions.items():
        print(f"{name + ':':<14}{v}")
    print(f"platform: {info['platform']}")
    print(f"cpu:      {info['cpu']} (nproc {info['nproc']}; load average {info['load']})")
    print(f"threads:  OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, torch.set_num_threads(1); "
          f"gc {'enabled' if gc.isenabled() else 'DISABLED'}, thresholds {gc.get_threshold()}")
    print()
    return {"versions": versions, "machine": info}


# -- timing ---------------------------------------------------------------------------------------------


def median(xs: Iterable[float]) -> float:
    """The median of ``xs``."""
    return statistics.median(list(xs))


def clock_of(cpu_time: bool) -> Callable[[], float]:
    """The clock (seconds): process CPU time, or the wall clock."""
    return time.process_time if cpu_time else time.perf_counter


@dataclass
class Timed:
    """One row of an interleaved timing: ``fn()`` is one epoch (or one step) of an implementation."""

    name: str
    fn: Callable[[], Any]
    block: int = 1  # timed calls per round, after one untimed warm call
    times: list = field(default_factory=list)  # seconds, every timed call
    blocks: list = field(default_factory=list)  # the median of each round's block

    @property
    def ms(self) -> float:
        return median(self.times) * 1e3


def interleave(rows: Sequence[Timed], rounds: int, clock: Callable[[], float], block_seconds: float = 0.01) -> None:
    """Time every row in ``rounds`` rounds, the rows one after the other within a round.

    Each row's block is one untimed call (so it runs warm, not after another row trashed the
    caches), then ``block`` timed calls, ``block`` chosen so a block lasts about
    ``block_seconds`` (1 to 20 calls), from the fastest of a row's second to fourth calls (its
    first may be a compiled function's recording; one call may be slowed by the machine).
    Drift in the machine's load hits every row alike; `paired` compares two rows round by round.
    """
    for row in rows:
        row.fn()
        once = []
        for _ in range(3):
            t0 = clock()
            row.fn()
            once.append(clock() - t0)
        row.block = max(1, min(20, int(block_seconds / max(min(once), 1e-9))))
    for _ in range(rounds):
        for row in rows:
            row.fn()
            times = []
            for _ in range(row.block):
                t0 = clock()
                row.fn()
                times.append(clock() - t0)
            row.times += times
            row.blocks.append(median(times))


def paired(a: Timed, b: Timed) -> float:
    """The median over the rounds of ``a``'s block median over ``b``'s: load that changes between rounds cancels."""
    return median(x / y for x, y in zip(a.blocks, b.blocks))


def time_once(fn: Callable[[], Any], clock: Callable[[], float]) -> tuple[Any, float]:
    """(result, seconds) of one call of ``fn``, from a collected heap (the collection untimed)."""
    gc.collect()
    t0 = clock()
    result = fn()
    return result, clock() - t0


class GcTimer:
    """Time (ns) spent inside CPython's cyclic collector while the ``with`` block runs (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.ns = 0
        self._start = 0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.ns += time.perf_counter_ns() - self._start

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def traced_memory(fn: Callable[[], Any]) -> tuple[Any, int, int]:
    """``fn()`` under tracemalloc: (result, bytes still held after it, peak bytes during it), above the start."""
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


# -- targets and tables ------------------------------------------------------------------------------------


def target(what: str, value: float, op: str, limit: float, unit: str = "x", ok: bool = True,
           note: str = "") -> dict:
    """A target as a JSON-able dict, with its verdict ('met', or 'MISSED by 1.23x'); ``ok=False`` forces a miss."""
    met = ok and (value <= limit if op == "<=" else value >= limit if op == ">=" else value < limit)
    if met:
        verdict = "met"
    elif not ok:
        verdict = f"MISSED ({note})" if note else "MISSED"
    elif op == ">=":
        verdict = f"MISSED by {limit / value:.2f}x" if value > 0 else "MISSED"
    else:
        verdict = f"MISSED by {value / limit:.2f}x" if limit > 0 else "MISSED"
    return {"what": what, "value": value, "op": op, "limit": limit, "unit": unit, "verdict": verdict, "note": note}


def target_rows(targets: Sequence[dict]) -> list[list[str]]:
    """The rows of a targets table: measure, value, target, verdict."""
    return [[t["what"], f"{t['value']:.3g}{t['unit']}", f"{t['op']} {t['limit']:g}{t['unit']}", t["verdict"]]
            for t in targets]


def print_targets(targets: Sequence[dict]) -> None:
    """Print the targets table."""
    if targets:
        print("Targets:")
        print_table(["measure", "value", "target", "verdict"], target_rows(targets), align="lrrl")


def ratio(a: Optional[float], b: Optional[float], digits: int = 2) -> str:
    """``a / b`` formatted as '0.42x', or '-' when either is missing."""
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.{digits}f}x"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Optional[str] = None) -> str:
    """A plain-text table; ``align`` is one char per column ('l' or 'r'), default: first left, rest right."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *[line(r) for r in cells[1:]]])


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Optional[str] = None) -> None:
    """Print `format_table` followed by a blank line."""
    print(format_table(headers, rows, align))
    print()


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Optional[str] = None) -> dict:
    """Print a titled table and return it as a JSON-able dict (run_all.py prints it again in its summary)."""
    print(title)
    print_table(headers, rows, align)
    return {"title": title, "headers": list(headers), "rows": [[_fmt(c) for c in r] for r in rows], "align": align}


def run_and_save(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], dict],
                 argv: Optional[list[str]] = None) -> int:
    """Parse ``argv``, call ``run(args)``, print its targets and, with ``--json PATH``, write its result there."""
    args = parser.parse_args(argv)
    results = run(args)
    print_targets(results.get("targets", []))
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
