"""Shared fixtures: a clean plugin registry, random generators, and real pip-installed plugins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.plugin_env import build_sites

import microgradx

pytest_plugins = ["pytester"]

_PLUGIN_ENV = ("MICROGRADX_DISABLE_PLUGIN_AUTOLOAD", "MICROGRADX_PLUGINS", "MICROGRADX_STRICT_PLUGINS")


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch):
    """Rediscover plugins before and after the test, with no plugin environment variables set.

    For tests that register plugins at run time or patch the discovery: whatever they do
    to the registry is forgotten afterwards.
    """
    for name in _PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)
    microgradx.reset_registry()
    yield microgradx.get_registry
    microgradx.reset_registry()


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator (the seed is fixed so a failure reproduces)."""
    return np.random.default_rng(20240531)


@pytest.fixture(scope="session")
def plugin_sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every throwaway plugin distribution of ``tests/helpers/dists``, pip-installed once per session.

    Maps a folder name (``softsign``, ``broken_import`` ...) to the ``--target`` directory
    that holds it; put the ones a test wants on ``PYTHONPATH`` of a subprocess.
    """
    return build_sites(tmp_path_factory.mktemp("plugin-dists"))
