"""The distribution ships every package of the source tree (a missing one only shows in a non-editable install)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("microgradx", "microgradx_plugins")
             for p in (ROOT / top).rglob("__init__.py")}
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert "microgradx_plugins" in listed  # the bundled plugins, imported under their folder's name
    assert listed - found == set(), "pyproject.toml lists packages that do not exist"
