"""Testing helpers for op authors: `gradcheck` and `check_op`, also as pytest fixtures.

    def test_my_op(check_op):
        check_op("softsign")        # finite differences, scalar and lane mode

The fixtures come from `microgradx.testing.pytest_plugin`, registered with pytest through
the ``pytest11`` entry point, so a plugin's tests need no conftest.
"""

from microgradx.testing.checks import GradcheckError, GradcheckResult, Mismatch, check_op, gradcheck, sample_points

__all__ = ["GradcheckError", "GradcheckResult", "Mismatch", "check_op", "gradcheck", "sample_points"]
