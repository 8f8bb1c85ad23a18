"""Shared fixtures: a clean plugin registry, random generators, and real pip-installed plugins."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers.browser import ARGS, CHROMIUM
from helpers.plugin_env import PLUGIN_VARIABLES, build_sites
from helpers.shared import made_once

import microgradx

pytest_plugins = ["pytester"]


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch):
    """Rediscover plugins before and after the test, with no plugin environment variables set.

    For tests that register plugins at run time or patch the discovery: whatever they do
    to the registry is forgotten afterwards.
    """
    for name in PLUGIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    microgradx.reset_registry()
    yield microgradx.get_registry
    microgradx.reset_registry()


@pytest.fixture
def builtin_ops_only(fresh_registry, monkeypatch: pytest.MonkeyPatch):
    """A registry with the built-in plugins only, so the docs' ``sorted(OPS)`` is the list their pages print."""
    monkeypatch.setenv("MICROGRADX_DISABLE_PLUGIN_AUTOLOAD", "1")
    microgradx.reset_registry()
    return fresh_registry


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which runs the suite on every core
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup`` (pyproject.toml's addopts) keeps each module of `ONE_WORKER_MODULES` on one worker."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from helpers.scheduling import OneWorkerModules  # (imports pytest-xdist, only when it runs the suite)

    return OneWorkerModules(config, log)


#: Set by the second run of `.ci/run` (PyTorch installed): a PyTorch comparison that cannot run fails.
REQUIRE_TORCH = os.environ.get("MICROGRADX_REQUIRE_TORCH", "") not in ("", "0")
TORCH_MISSING = "PyTorch is not installed (optional, never a dependency: pip install torch==2.13.0 to compare with it)"


def pytest_collection_modifyitems(items: list) -> None:
    """Mark every test that uses the `torch` fixture ``torch`` and every one that uses `plugin_sites` ``pip``.

    So ``pytest -m torch`` runs exactly the PyTorch comparisons, and ``pytest -m "not pip"`` leaves
    out every test that needs pip to install something (and the install itself).
    """
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "torch" in fixtures:
            item.add_marker(pytest.mark.torch)
        if "plugin_sites" in fixtures:
            item.add_marker(pytest.mark.pip)


@pytest.fixture(scope="session")
def torch():
    """PyTorch (float64 comparisons, one thread), or a skip that says it is optional.

    With ``MICROGRADX_REQUIRE_TORCH=1`` (CI's PyTorch run) a missing PyTorch fails the test instead.
    """
    try:
        import torch
    except ImportError:
        if REQUIRE_TORCH:
            pytest.fail("MICROGRADX_REQUIRE_TORCH is set but PyTorch cannot be imported")
        pytest.skip(TORCH_MISSING)
    torch.set_num_threads(1)
    return torch


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator (the seed is fixed so a failure reproduces)."""
    return np.random.default_rng(20240531)


@pytest.fixture(scope="session")
def plugin_sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every throwaway plugin distribution of ``tests/helpers/dists``, pip-installed once per test run.

    Maps a folder name (``softsign``, ``broken_import`` ...) to the ``--target`` directory
    that holds it; put the ones a test wants on ``PYTHONPATH`` of a subprocess. Built by one
    pytest-xdist worker and shared by all (`helpers.shared.made_once`); a test must not change them.
    """
    built = made_once(tmp_path_factory, "plugin-dists", lambda folder: {
        name: str(site) for name, site in build_sites(folder).items()})
    return {name: Path(site) for name, site in built.items()}


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the test module (Debian's, through Playwright: see `helpers.browser`)."""
    from playwright.sync_api import sync_playwright  # (only where a test module asks for a browser)

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
