"""The errors the checks raise: assertion errors, so pytest reports them as test failures."""

from __future__ import annotations


class ContractError(AssertionError):
    """A component breaks its contract (`check_loss`, `check_optimizer`); the message says how."""


class GradcheckError(ContractError):
    """An analytic gradient disagrees with central finite differences (or an op breaks the op contract)."""


# Shown as microgradx.testing.GradcheckError in tracebacks: where users import them from.
ContractError.__module__ = GradcheckError.__module__ = "microgradx.testing"
