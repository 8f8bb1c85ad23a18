"""microgradx.testing: gradcheck and check_op must catch broken ops, and work as pytest fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from microgradx import Op, Value
from microgradx.engine.lanes import lanewise
from microgradx.engine.value import apply
from microgradx.testing import GradcheckError, check_op, edge_grid, gradcheck

# f(x, y) = x * y, but d/dy is wrong wherever y > 1 (adds 1): only input 1, only those lanes
wrong_mul = Op(name="wrong_mul", arity=2, forward=lambda x, y: x * y,
               backward=lambda g, out, x, y: (g * y, g * x + g * (y > 1.0)))

square = Op(name="square", forward=lambda x: x * x, backward=lambda g, out, x: (2.0 * g * x,))


def test_gradcheck_passes_a_correct_function():
    result = gradcheck(lambda x, y: apply(square, x) * y, [0.7, np.array([0.5, 2.0])])
    assert result.ok and result.max_error < 1e-6 and not result.mismatches


def test_gradcheck_catches_a_wrong_derivative_naming_input_and_lane():
    x = np.array([0.5, 0.7, 0.9, 0.4])
    y = np.array([0.3, 0.8, 1.5, 3.0])  # lanes 2 and 3 have y > 1
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: apply(wrong_mul, a, b), [x, y])
    msg = str(info.value)
    assert "input 1 lane 2" in msg and "input 1 lane 3" in msg
    assert "input 0" not in msg and "lane 0" not in msg and "lane 1" not in msg
    assert "off by 1" in msg  # by how much


def test_gradcheck_result_lists_the_mismatches_without_raising():
    result = gradcheck(lambda a, b: apply(wrong_mul, a, b), [0.5, 2.0], raise_on_failure=False)
    assert not result.ok and not bool(result)
    (m,) = result.mismatches
    assert (m.input, m.lane) == (1, None)
    assert m.analytic == pytest.approx(1.5) and m.numeric == pytest.approx(0.5)
    assert result.max_error == pytest.approx(1.0)


def test_gradcheck_catches_a_wrong_derivative_in_scalar_mode():
    with pytest.raises(GradcheckError, match="input 1: analytic"):
        gradcheck(lambda a, b: apply(wrong_mul, a, b), [0.5, 2.0])


def test_gradcheck_rejects_a_function_that_does_not_return_a_value():
    with pytest.raises(GradcheckError, match="must return a Value"):
        gradcheck(lambda a: 3.0, [1.0])


def test_check_op_passes_a_correct_op():
    assert check_op(square).ok
    assert check_op(square, points=[[np.array([0.5, -1.5])], [np.array([2.0])]]).ok


def test_check_op_catches_a_wrong_gradient():
    with pytest.raises(GradcheckError, match="wrong_mul"):
        check_op(wrong_mul, points=[[np.array([0.5, 0.7]), np.array([0.3, 2.0])]])


def test_check_op_catches_the_wrong_number_of_gradients():
    op = Op(name="one_grad", arity=2, forward=lambda x, y: x + y, backward=lambda g, out, x, y: (g,))
    with pytest.raises(GradcheckError, match=r"one_grad.*tuple of 2 gradient.*got 1"):
        check_op(op)


def test_check_op_catches_a_backward_that_does_not_return_a_tuple():
    op = Op(name="bare_grad", forward=lambda x: 3 * x, backward=lambda g, out, x: 3 * g)
    with pytest.raises(GradcheckError, match=r"bare_grad.*tuple"):
        check_op(op)


def _doubling_forward(x):
    out = x * x
    if isinstance(x, np.ndarray):
        x *= 2.0  # the bug: modifies its input in place
    return out


def _doubling_backward(g, out, x):
    grad = 2.0 * g * x
    if isinstance(x, np.ndarray):
        x += 1.0  # the bug: modifies its input in place
    return (grad,)


@pytest.mark.parametrize("where, op", [
    ("forward", Op(name="mutating_forward", forward=_doubling_forward, backward=lambda g, out, x: (2.0 * g * x,))),
    ("backward", Op(name="mutating_backward", forward=lambda x: x * x, backward=_doubling_backward)),
])
def test_check_op_catches_mutation_of_an_input_array(where, op):
    with pytest.raises(GradcheckError, match=rf"{op.name}.*{where}.*modified its input"):
        check_op(op)


def test_check_op_catches_lane_scalar_disagreement():
    op = Op(name="two_faced", forward=lanewise(math.tanh, np.sin), backward=lambda g, out, x: (g * np.cos(x),))
    with pytest.raises(GradcheckError, match=r"two_faced.*lane 0.*differs from scalar"):
        check_op(op)


def test_check_op_catches_a_lane_op_returning_the_wrong_shape():
    op = Op(name="collapses", forward=lambda x: float(np.sum(x)), backward=lambda g, out, x: (g + 0 * x,))
    with pytest.raises(GradcheckError, match=r"collapses.*shape"):
        check_op(op)


def test_check_op_by_registered_name_and_unknown_name():
    assert check_op("tanh").ok
    with pytest.raises(LookupError, match="no_such_op"):
        check_op("no_such_op")


# -- edge cases (issue 14, item 6): large magnitudes and points near zero, by default -------------------

# The example: x / (1 + math.exp(-x)) overflows for x < -709.78 in scalar mode.
naive_swish = Op(name="naive_swish",
                 forward=lanewise(lambda x: x / (1.0 + math.exp(-x)), lambda x: x / (1.0 + np.exp(-x))),
                 backward=lambda g, out, x: (g * (out / x + out * (1.0 - out / x)),))


def test_check_op_catches_a_forward_that_overflows_for_large_inputs():
    with pytest.raises(GradcheckError, match=r"op 'naive_swish': forward raised OverflowError: math range error at "
                                             r"\(-1000.0\): overflow must give inf, not an error") as info:
        check_op(naive_swish)
    assert isinstance(info.value.__cause__, OverflowError)
    assert check_op(naive_swish, edge_cases=False).ok  # what the default points alone used to say


def test_check_op_catches_nan_from_an_intermediate_overflow():
    naive_tanh = Op(name="naive_tanh",
                    forward=lanewise(lambda x: (math.e ** x - math.e ** -x) / (math.e ** x + math.e ** -x)
                                     if abs(x) < 709 else math.nan,
                                     lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))),
                    backward=lambda g, out, x: (g * (1.0 - out * out),))
    with pytest.raises(GradcheckError, match=r"forward gives nan at \(1000.0\): an intermediate result overflowed"):
        check_op(naive_tanh)


def test_check_op_catches_a_gradient_that_is_wrong_only_near_zero():
    op = Op(name="wrong_near_zero", forward=lambda x: x * x,
            backward=lambda g, out, x: (g * (2.0 * x + (abs(x) < 0.01) * 0.5),))
    assert check_op(op, edge_cases=False).ok
    with pytest.raises(GradcheckError, match=r"input 0: analytic .* at \(0.001\) \(an edge case"):
        check_op(op)


def test_check_op_catches_lane_scalar_disagreement_at_large_inputs():
    op = Op(name="clipped_lanes", forward=lanewise(lambda x: x, lambda x: np.clip(x, -100.0, 100.0)),
            backward=lambda g, out, x: (g * (abs(x) <= 100.0) if isinstance(x, np.ndarray) else g,))
    with pytest.raises(GradcheckError, match=r"lane-mode forward 100.0 differs from scalar-mode 1000.0 at \(1000.0\)"):
        check_op(op)


def test_edge_cases_respect_the_domain_and_avoid_equal_magnitudes():
    def check_positive(x):
        if np.any(np.asarray(x) <= 0):
            raise ValueError("op 'log_plus': needs x > 0")

    log_plus = Op(name="log_plus", forward=lanewise(math.log, np.log), backward=lambda g, out, x: (g / x,),
                  check=check_positive)
    assert check_op(log_plus).ok
    maximum = Op(name="maximum", arity=2, forward=lambda x, y: np.maximum(x, y) if isinstance(x, np.ndarray)
                 else max(x, y), backward=lambda g, out, x, y: (g * (x >= y), g * (x < y)))
    assert check_op(maximum).ok  # no edge point has x == y, where the maximum has a kink
    grid = edge_grid(2)
    assert len(grid) == 36 and all(abs(x) != abs(y) for x, y in grid)
    assert {abs(x) for x, _ in grid} == {1e-3, 30.0, 1000.0}


def test_the_bundled_ops_pass_the_edge_cases():
    from microgradx import get_registry

    for name in get_registry().names("ops"):
        assert check_op(name).ok, name


# -- the pytest plugin (entry point pytest11) ------------------------------------------------------


def test_pytest_plugin_fixtures(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import numpy as np
        import pytest
        from microgradx import Op
        from microgradx.testing import GradcheckError

        cube = Op(name="cube", forward=lambda x: x * x * x, backward=lambda g, out, x: (3.0 * g * x * x,))
        bad_cube = Op(name="bad_cube", forward=lambda x: x * x * x, backward=lambda g, out, x: (g * x * x,))

        def test_fixtures_pass(gradcheck, check_op):
            assert check_op(cube).ok
            assert check_op("sigmoid").ok
            assert gradcheck(lambda x: x.tanh() * x, [np.array([0.3, -0.8])]).ok

        def test_fixtures_catch(gradcheck, check_op):
            with pytest.raises(GradcheckError):
                check_op(bad_cube)

        def test_fixture_fails_a_test(check_op):
            check_op(bad_cube)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_fixture_fails_a_test*", "*GradcheckError*bad_cube*"])


def test_the_helpers_hide_their_own_frames_from_pytest_tracebacks(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        from microgradx import Op

        bad_cube = Op(name="bad_cube", forward=lambda x: x * x * x, backward=lambda g, out, x: (g * x * x,))

        class Upward:
            def __init__(self, params, lr=0.1):
                self.params, self.lr = list(params), lr

            def step(self):
                for p in self.params:
                    p.data += self.lr * p.grad

            def zero_grad(self):
                pass

        def test_op(check_op):
            check_op(bad_cube)

        def test_gradcheck(gradcheck):
            from microgradx.engine.value import apply
            gradcheck(lambda x: apply(bad_cube, x).tanh(), [0.3])

        def test_optimizer(check_optimizer):
            check_optimizer(Upward)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert "microgradx/testing/" not in out  # no frame of the checkers themselves
    result.stdout.fnmatch_lines(["*check_op(bad_cube)*", "*GradcheckError: op 'bad_cube'*",
                                 "*gradcheck(lambda x: apply(bad_cube, x).tanh(), [[]0.3[]])*",
                                 "*GradcheckError: gradcheck failed*",
                                 "*check_optimizer(Upward)*", "*ContractError: optimizer 'Upward'*"])


def test_check_loss_and_check_optimizer_fixtures(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        def test_fixtures(check_loss, check_optimizer):
            assert check_loss("mse", settings={"l2": 0.1}).ok
            assert check_optimizer("sgd", settings={"momentum": 0.9}, invalid=[{"momentum": 2.0}]).ok
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_pytest_plugin_is_registered_through_the_pytest11_entry_point():
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="pytest11") if ep.value == "microgradx.testing.pytest_plugin"]
    module = ep.load()
    assert all(hasattr(module, name) for name in ("gradcheck", "check_op", "check_loss", "check_optimizer"))


def test_value_inputs_to_gradcheck():
    """gradcheck also takes Values as inputs (their data is used; they are not modified)."""
    v = Value(np.array([0.2, 0.4]))
    assert gradcheck(lambda x: x.exp() * x, [v]).ok
    np.testing.assert_array_equal(v.data, [0.2, 0.4])
