"""One IEEE edge-case policy in scalar and lane mode (docs/edge_cases.md), for every bundled op.

The bundled ops are read from the registry, so a new bundled op is covered without
editing this file. "Same" means: the same exception type, or the same value and the same
gradients (NaN equals NaN, infinities and zeros exactly, other numbers to 1e-12 relative,
the last-bit differences between Python's ``math`` and numpy).
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from microgradx import Value, get_registry
from microgradx.engine.value import apply

DOC = Path(__file__).resolve().parents[1] / "docs" / "edge_cases.md"
inf, nan = math.inf, math.nan
#: The awkward numbers (the issue's list) and a few ordinary ones so that ops see both together.
SPECIAL = (0.0, -0.0, 1e308, -1e308, inf, -inf, nan, 1000.0, -1000.0, 1.5, -0.5, 2.0)


def _bundled_ops() -> list[str]:
    registry = get_registry()
    return sorted(name for name, c in registry.tables["ops"].items() if c.plugin.builtin)


def _arities(op) -> list[int]:
    return [op.arity] if op.arity is not None else [1, 2, 3]


def _run(op, xs, lanes):
    """Apply ``op`` to leaves made from ``xs`` (input i a one-lane array where ``lanes[i]``), then backward.

    Returns ``("error", ExceptionType, "forward"|"backward")`` or ``("ok", value, grads)``, after
    checking that the output has the kind it must have (a float, or one lane).
    """
    leaves = [Value(np.array([x])) if lane else Value(x) for x, lane in zip(xs, lanes)]
    with np.errstate(all="ignore"):  # lane mode's numpy warnings are not the subject here
        try:
            out = apply(op, *leaves)
        except Exception as exc:
            return ("error", type(exc), "forward")
        if any(lanes) and not op.reduces_lanes:
            assert isinstance(out.data, np.ndarray) and out.data.shape == (1,), (op.name, xs, lanes)
        else:
            assert type(out.data) is float, (op.name, xs, lanes, type(out.data))
        try:
            out.backward()
        except Exception as exc:
            return ("error", type(exc), "backward")
    value = float(np.asarray(out.data).reshape(-1)[0])
    grads = tuple(float(np.asarray(v.grad).reshape(-1)[0]) for v in leaves)
    return ("ok", value, grads)


def _same_number(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b) or a == 0.0 or b == 0.0:
        return a == b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def _same(r1: tuple, r2: tuple) -> bool:
    if r1[0] != r2[0]:
        return False
    if r1[0] == "error":
        return r1[1] is r2[1] and r1[2] == r2[2]
    return _same_number(r1[1], r2[1]) and all(_same_number(a, b) for a, b in zip(r1[2], r2[2]))


@pytest.mark.parametrize("name", _bundled_ops())
def test_a_float_and_a_one_lane_array_agree_for_every_bundled_op(name):
    """Every combination of awkward inputs, each input a float or a one-lane array."""
    op = get_registry().get("ops", name)
    mismatches = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for arity in _arities(op):
            for xs in itertools.product(SPECIAL, repeat=arity):
                want = _run(op, xs, (False,) * arity)
                for lanes in itertools.product((False, True), repeat=arity):
                    if any(lanes):
                        got = _run(op, xs, lanes)
                        if not _same(want, got):
                            mismatches.append(f"{name}{xs} lanes={lanes}: scalar {want[1:]}, lanes {got[1:]}")
    assert not mismatches, f"{len(mismatches)} disagreements, e.g.\n" + "\n".join(mismatches[:10])


def test_the_bundled_ops_are_all_covered():
    """The registry walk above sees the ops the policy was written for (and any added later)."""
    assert {"add", "sub", "neg", "mul", "div", "pow", "tanh", "relu", "exp", "log", "sigmoid",
            "lane_sum", "lane_mean", "dot", "sum", "logsumexp"} <= set(_bundled_ops())


# -- the documented table -----------------------------------------------------------------------


ROW = re.compile(r"^\|[^|]*\|\s*`(\w+)\(([^)]*)\)`\s*\|\s*`([^`]+)`\s*\|\s*([^|]*)\|")


def _doc_rows() -> list[tuple]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            name, args, value, grads = m.groups()
            rows.append((name, tuple(float(a) for a in args.split(",")), value.strip(), grads.strip()))
    return rows


def _expected(value: str, grads: str) -> tuple:
    if value.endswith("Error"):
        return ("error", value)
    numbers = [g for g in grads.strip("`() ").split(",") if g.strip()]
    return ("ok", float(value), tuple(float(g) for g in numbers))


def test_the_doc_has_a_table_row_for_each_policy_case():
    rows = _doc_rows()
    assert len(rows) >= 50
    named = {name for name, *_ in rows}
    assert {"div", "exp", "pow", "log", "relu", "logsumexp"} <= named
    errors = {value for *_, value, _ in rows if value.endswith("Error")}
    assert errors == {"ZeroDivisionError", "ValueError"}


@pytest.mark.parametrize("row", _doc_rows(), ids=lambda r: f"{r[0]}{r[1]}")
@pytest.mark.parametrize("lanes", [False, True], ids=["scalar", "lanes"])
def test_every_example_in_the_doc_table_holds(row, lanes):
    name, xs, value, grads = row
    op = get_registry().get("ops", name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = _run(op, xs, (lanes,) * len(xs))
    want = _expected(value, grads)
    if want[0] == "error":
        assert got[0] == "error" and got[1].__name__ == want[1] and got[2] == "forward", got
        return
    assert got[0] == "ok", got
    assert _same_number(got[1], want[1]), f"value {got[1]!r}, documented {want[1]!r}"
    assert len(got[2]) == len(want[2])
    for i, (g, w) in enumerate(zip(got[2], want[2])):
        assert _same_number(g, w), f"gradient {i}: {g!r}, documented {w!r}"


# -- errors and warnings ---------------------------------------------------------------------------


@pytest.mark.parametrize("expr, error, words", [
    (lambda x: Value(1.0) / x, ZeroDivisionError, ["'div'", "divis"]),
    (lambda x: x ** -1.0, ZeroDivisionError, ["'pow'", "-1.0"]),
    (lambda x: x.log(), ValueError, ["'log'", "0.0"]),
    (lambda x: (x - 2.0) ** 0.5, ValueError, ["'pow'", "-2.0", "0.5"]),
])
@pytest.mark.parametrize("lanes", [False, True], ids=["scalar", "lanes"])
def test_domain_errors_name_the_op_and_the_value_in_both_modes(expr, error, words, lanes):
    x = Value(np.array([3.0, 0.0])) if lanes else Value(0.0)
    with pytest.raises(error) as info:
        expr(x)
    msg = str(info.value)
    assert all(w in msg for w in words), msg
    assert ("lane 1" in msg) == lanes, msg


def test_scalar_mode_never_warns_or_raises_on_awkward_inputs_outside_the_domain_errors():
    registry = get_registry()
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for name in _bundled_ops():
            op = registry.get("ops", name)
            for arity in _arities(op):
                for xs in itertools.product(SPECIAL[:9], repeat=arity):
                    result = _run(op, xs, (False,) * arity)
                    if result[0] == "error":
                        assert result[1] in (ZeroDivisionError, ValueError) and result[2] == "forward", (name, xs)


QUIET = ("exp", "tanh", "sigmoid", "log", "relu", "logsumexp", "lane_sum", "lane_mean")


@pytest.mark.parametrize("name", QUIET)
def test_the_special_functions_do_not_warn_in_lane_mode(name):
    """Their non-finite results are the policy, not an accident: numpy must not warn (or raise) about them."""
    op = get_registry().get("ops", name)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        for arity in _arities(op):
            for xs in itertools.product(SPECIAL[:9], repeat=arity):
                result = _run(op, xs, (True,) * arity)
                assert result[0] == "ok" or result[1] is ValueError, (name, xs, result)
