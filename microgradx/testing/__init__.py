"""Testing helpers for plugin authors: `gradcheck`, `gradgradcheck`, `check_op`, `check_loss`, `check_optimizer`.

    def test_my_op(check_op):
        check_op("softsign")        # finite differences, scalar and lane mode, edge cases
        check_op("softsign", order=2)   # and its second derivatives (backward(create_graph=True))

    def test_my_loss(check_loss):
        check_loss("huber_regression", settings={"delta": 0.5})

    def test_my_optimizer(check_optimizer):
        check_optimizer("rmsprop", settings={"alpha": 0.9}, invalid=[{"alpha": 1.5}])

The fixtures come from `microgradx.testing.pytest_plugin`, registered with pytest through
the ``pytest11`` entry point, so a plugin's tests need no conftest. Every check raises an
``AssertionError`` subclass (`ContractError`, `GradcheckError`) naming the component and the
problem, with the checker's own frames hidden from pytest's traceback.
"""

from microgradx.testing.checks import GradcheckResult, Mismatch, check_op, gradcheck, gradgradcheck
from microgradx.testing.contracts import OptimizerCheckResult, check_loss, check_optimizer
from microgradx.testing.errors import ContractError, GradcheckError
from microgradx.testing.points import edge_grid, sample_points

__all__ = ["ContractError", "GradcheckError", "GradcheckResult", "Mismatch", "OptimizerCheckResult", "check_loss",
           "check_op", "check_optimizer", "edge_grid", "gradcheck", "gradgradcheck", "sample_points"]
