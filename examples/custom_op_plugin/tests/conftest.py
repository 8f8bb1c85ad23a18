"""The tests check the plugin as users get it: installed, and found through its entry point."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution

import pytest


def pytest_configure(config: pytest.Config) -> None:
    try:
        distribution("microgradx-softplus")
    except PackageNotFoundError:
        raise pytest.UsageError(
            "microgradx-softplus is not installed: run `pip install .` (or `pip install -e .`) in "
            "examples/custom_op_plugin first; these tests check that microgradx finds it by its entry point"
        ) from None
