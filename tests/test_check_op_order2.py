"""``check_op(op, order=2)``, ``gradgradcheck`` and ``microgradx gradcheck --order 2`` (issue 23, point 5).

They must pass every bundled op, and catch what a second-derivative check is for: a backward whose
numbers are right but whose own derivative is wrong (it leans on a helper whose derivative is
wrong, or on a constant copy of its input), a backward that gives other numbers on Values than
on numbers, and a backward for numbers only (a clear failure naming the op, not a crash).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import microgradx
from microgradx import Op, Value, hookimpl
from microgradx.cli import main
from microgradx.engine.value import apply
from microgradx.testing import GradcheckError, Mismatch, check_op, gradgradcheck

REGISTRY = microgradx.get_registry()
BUNDLED_OPS = sorted(name for name in REGISTRY.names("ops") if REGISTRY.component("ops", name).plugin.builtin)

# x * x whose own backward is wrong (g * x, not 2 g x): right numbers, wrong derivative.
_bad_square = Op(name="bad_square", forward=lambda x: x * x, backward=lambda g, out, x: (g * x,))


def _square(x):
    """x * x: plain arithmetic on numbers, the op with the wrong derivative on Values."""
    return apply(_bad_square, x) if isinstance(x, Value) else x * x


#: cube's first derivative is right (3 x**2) and its second wrong (3x, not 6x): order 1 passes, order 2 fails
WRONG_SECOND = Op(name="cube", forward=lambda x: x * x * x, backward=lambda g, out, x: (3.0 * g * _square(x),))

#: a backward that copies its input's number into a new leaf: a constant of the gradient's graph, d2 = 0
DETACHED = Op(name="detached_cube", forward=lambda x: x * x * x,
              backward=lambda g, out, x: (3.0 * g * (Value(x.data) if isinstance(x, Value) else x) ** 2,))

#: x * y**2 whose d/dx = g y**2 goes through the wrong square: only the mixed partial d2/dxdy is wrong
WRONG_MIXED = Op(name="x_y2", arity=2, forward=lambda x, y: x * y * y,
                 backward=lambda g, out, x, y: (g * _square(y), 2.0 * g * x * y))

#: numpy on its input: a backward for numbers only
NUMPY_ONLY = Op(name="np_cube", forward=lambda x: x * x * x, backward=lambda g, out, x: (3.0 * g * np.square(x),))

#: a separate path for Values that computes another derivative (1.5 x instead of x)
TWO_PATHS = Op(name="two_paths", forward=lambda x: 0.5 * x * x,
               backward=lambda g, out, x: (g * x * (1.5 if isinstance(x, Value) else 1.0),))


# -- check_op(order=2) --------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED_OPS)
def test_every_bundled_op_passes_order_2(name):
    result = check_op(name, order=2)
    assert result.ok and result.max_error < 1e-6


def test_order_2_catches_a_wrong_second_derivative():
    assert check_op(WRONG_SECOND).ok  # its first derivative is right
    with pytest.raises(GradcheckError) as info:
        check_op(WRONG_SECOND, order=2)
    message = str(info.value)
    assert message.startswith("op 'cube': scalar-mode second derivatives")
    assert "d2/dx0dx0" in message and "analytic" in message and "numeric" in message
    point = re.search(r"at \((-?[\d.]+)\)", message)  # the point, and the numbers at it: 3x against 6x
    x = float(point.group(1))
    analytic, numeric = (float(v) for v in re.search(r"analytic (\S+), numeric (\S+),", message).groups())
    assert analytic == pytest.approx(3 * x, rel=1e-4) and numeric == pytest.approx(6 * x, rel=1e-4)


def test_order_2_catches_a_constant_copy_of_the_input():
    assert check_op(DETACHED).ok
    with pytest.raises(GradcheckError, match=r"(?s)op 'detached_cube': .*d2/dx0dx0.*analytic 0, numeric"):
        check_op(DETACHED, order=2)


def test_order_2_names_the_pair_of_inputs_of_a_wrong_mixed_partial():
    assert check_op(WRONG_MIXED).ok
    with pytest.raises(GradcheckError) as info:
        check_op(WRONG_MIXED, order=2)
    message = str(info.value)
    assert "op 'x_y2'" in message and "d2/dx0dx1 (input 0's gradient, differentiated in input 1)" in message
    assert "d2/dx0dx0" not in message and "d2/dx1dx0" not in message  # the others are right


def test_order_2_on_lanes_names_the_lane():
    x = np.array([0.5, -1.25, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda v: apply(WRONG_SECOND, v), [x])
    for lane in range(3):
        assert f"d2/dx0dx0 lane {lane}" in str(info.value)
    result = gradgradcheck(lambda v: apply(WRONG_SECOND, v), [x], raise_on_failure=False)
    assert not result.ok and [m.lane for m in result.mismatches] == [0, 1, 2]
    assert all(m.of == 0 and m.input == 0 for m in result.mismatches)
    np.testing.assert_allclose([m.analytic for m in result.mismatches], 3 * x, rtol=1e-9)
    np.testing.assert_allclose([m.numeric for m in result.mismatches], 6 * x, rtol=1e-5)


def test_order_2_fails_a_backward_for_numbers_only_with_the_engines_message():
    assert check_op(NUMPY_ONLY).ok
    with pytest.raises(GradcheckError) as info:
        check_op(NUMPY_ONLY, order=2)
    message = str(info.value)
    assert message.startswith("op 'np_cube': scalar-mode second derivatives at (")
    assert "backward(create_graph=True) raised TypeError: in backward of op 'np_cube'" in message
    assert "docs/plugins.md, 'A backward that is differentiable'" in message
    assert isinstance(info.value.__cause__, TypeError)


def test_order_2_fails_a_backward_whose_path_for_values_gives_other_numbers():
    assert check_op(TWO_PATHS).ok
    with pytest.raises(GradcheckError, match=r"op 'two_paths': scalar-mode at \(.*\): with create_graph=True the "
                                             r"gradient of input 0 is .* without it .*another derivative"):
        check_op(TWO_PATHS, order=2)


@pytest.mark.parametrize("order", [0, 3, True, 2.0, "2"])
def test_order_must_be_1_or_2(order):
    with pytest.raises(ValueError, match=r"check_op: order must be 1 \(gradients\) or 2"):
        check_op("tanh", order=order)


def test_gradgradcheck_of_a_composition_with_a_shared_parameter():
    """A lane input and a float parameter every lane shares: the parameter's entries add up the lanes."""
    x = np.array([-1.2, 0.4, 0.9, 2.0])
    result = gradgradcheck(lambda v, w: (v * w).tanh() * v + (w ** 3).log() * v.sigmoid(), [x, 0.8])
    assert result.ok and result.max_error < 1e-6 and result.mismatches == ()


def test_a_mismatch_of_a_second_derivative_reads_as_one():
    first = Mismatch(1, 2, 0.5, 0.25)
    second = Mismatch(1, 2, 0.5, 0.25, of=0)
    assert str(first) == "input 1 lane 2: analytic 0.5, numeric 0.25, off by 0.25"
    assert str(second).startswith("d2/dx0dx1 lane 2 (input 0's gradient, differentiated in input 1): analytic 0.5")


# -- microgradx gradcheck --order 2 --------------------------------------------------------------


def _result_lines(stdout):
    return {m.group(2): m.group(1) for m in re.finditer(r"^(ok|FAIL)\s+(\w+)", stdout, re.MULTILINE)}


def test_gradcheck_order_2_passes_every_registered_op(builtin_ops_only, capsys):
    assert main(["gradcheck", "--order", "2"]) == 0
    out = capsys.readouterr().out
    results = _result_lines(out)
    assert set(results) == set(BUNDLED_OPS) and set(results.values()) == {"ok"}
    assert out.count("second derivatives too") == len(BUNDLED_OPS)
    assert f"{len(BUNDLED_OPS)} passed, 0 failed" in out


def test_gradcheck_order_2_catches_plugin_ops(fresh_registry, capsys):
    class Plugin:
        @hookimpl
        def microgradx_register_ops(self, register):
            register(WRONG_SECOND)
            register(NUMPY_ONLY)

    with microgradx.plugin_registered(Plugin(), name="rt-second"):
        assert main(["gradcheck", "cube", "np_cube", "tanh"]) == 0  # first order: all right
        capsys.readouterr()
        code = main(["gradcheck", "--order", "2", "cube", "np_cube", "tanh"])
    out = capsys.readouterr().out
    assert code == 1
    assert _result_lines(out) == {"cube": "FAIL", "np_cube": "FAIL", "tanh": "ok"}
    assert "FAIL  cube from plugin 'rt-second' (registered at run time): op 'cube': scalar-mode second derivatives" \
        in out
    assert "A backward that is differentiable" in out.split("FAIL  np_cube")[1]
    assert "1 passed, 2 failed" in out


def test_gradcheck_order_must_be_1_or_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["gradcheck", "--order", "3", "tanh"])
    assert info.value.code == 2 and "invalid choice: 3" in capsys.readouterr().err


def test_the_fixtures_check_second_derivatives(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import math
        import numpy as np
        from microgradx import Op
        from microgradx.engine.lanes import lanewise

        def test_passes(check_op, gradgradcheck):
            assert check_op("sigmoid", order=2).ok
            assert gradgradcheck(lambda v: v.tanh() * v, [0.3]).ok

        def test_fails(check_op):
            sine = Op(name="sine", forward=lanewise(math.sin, np.sin),
                      backward=lambda g, out, x: (g * lanewise(math.cos, np.cos)(x),))
            assert check_op(sine).ok
            check_op(sine, order=2)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*GradcheckError*op 'sine'*took a float out of a Value*"])
