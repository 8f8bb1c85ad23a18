"""``microgradx new-plugin NAME``: write a working plugin distribution in ``./NAME/``.

The distribution has a ``pyproject.toml`` with the ``microgradx`` entry point, a package with
one op and its registration hook (typed), tests that use microgradx's pytest fixtures, and a
README. ``pip install -e ".[test]" && pytest`` in the new folder passes as written.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from pathlib import Path
from typing import Any

from microgradx.registry.core import get_registry

_DIST_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
dynamic = ["version"]
description = "A microgradx plugin: the op {op}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["{requirement}"]  # the microgradx versions with this plugin API (see PLUGIN_API_VERSION)

[project.optional-dependencies]
test = ["pytest>=7.4"]

# The one line that makes this a microgradx plugin: entry-point name = the module with the @hookimpl functions.
[project.entry-points.microgradx]
{package} = "{package}.plugin"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
{package} = ["py.typed"]

[tool.setuptools.dynamic]
version = {{ attr = "{package}.__version__" }}

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra"
'''

INIT = '''\
"""{dist}: a microgradx plugin adding the op ``{op}``.

Once the distribution is installed, microgradx finds it through its entry point ``{package}``
(the module `{package}.plugin`): ``ops.{op}(v)`` and ``v.{op}()`` work everywhere, with no import.
"""

__version__ = "0.1.0"
'''

PLUGIN = '''\
"""The hooks of {dist}: the module that its ``microgradx`` entry point names.

microgradx calls each hook once, when it first needs its registry, with a ``register``
callback; ``microgradx plugins`` then lists what was registered as coming from this plugin.
"""

from __future__ import annotations

from typing import Any

from microgradx import Op, hookimpl
from microgradx.types import Register

# The example op computes x / (1 + |x|). Replace forward and backward with your function:
# each x is a float (one example) or a 1-D numpy array of lanes (a batch), so write it with
# operators, abs() and microgradx.engine.lanes.lanewise(math_fn, numpy_fn); never modify x in place.


def _forward(x: Any) -> Any:
    """The op's value for a float or an array of lanes."""
    return x / (1.0 + abs(x))


def _backward(g: Any, out: Any, x: Any) -> tuple[Any]:
    """One gradient per input, as a tuple: ``g * d(out)/dx``."""
    d = 1.0 + abs(x)
    return (g / (d * d),)


{op} = Op(name="{op}", arity=1, forward=_forward, backward=_backward, doc="x / (1 + |x|)")


@hookimpl
def microgradx_register_ops(register: Register) -> None:
    """Register the op {op}."""
    register({op})
'''

TESTS = '''\
"""Tests of {dist}, written with microgradx's pytest fixtures ``check_op`` and ``gradcheck``.

The fixtures come with microgradx (its ``pytest11`` entry point): no import or conftest needed.
The tests need the distribution installed (``pip install -e ".[test]"``): they check that
microgradx finds it through its entry point, as users will.
"""

from __future__ import annotations

import numpy as np
import pytest
from microgradx import Value, get_registry, ops

from {package} import __version__


def test_microgradx_finds_the_plugin_through_its_entry_point():
    info = next((p for p in get_registry().plugins if p.name == "{package}"), None)
    assert info is not None, "entry point {package} not found: install the distribution (pip install -e .)"
    assert info.error is None, info.error
    assert info.distribution == "{dist}" and info.version == __version__
    assert {{(c.kind, c.name) for c in info.components}} == {{("ops", "{op}")}}


def test_{op}_keeps_the_op_contract(check_op):
    # arity, float/lane shapes and agreement, no input modified, large and tiny inputs,
    # and gradients against finite differences, in scalar and lane mode
    assert check_op("{op}").ok


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.25, 2.0])
def test_{op}_gradients_through_a_composition(gradcheck, x):
    assert gradcheck(lambda v: v.{op}() * v, [x]).ok
    assert gradcheck(lambda v: ops.{op}(v).tanh(), [np.array([x, -x, 2.0 * x])]).ok


def test_{op}_values():
    assert Value(1.0).{op}().data == 0.5
    assert Value(np.array([-3.0, 0.0])).{op}().data.tolist() == [-0.75, 0.0]
'''

README = '''\
# {dist}

A [microgradx](https://pypi.org/project/microgradx/) plugin that adds the op `{op}`.

```sh
pip install -e ".[test]"      # microgradx finds the plugin through its entry point
microgradx plugins            # {package}  ({dist} 0.1.0)  ops: {op}
microgradx gradcheck {op}
pytest                        # the tests use microgradx's fixtures check_op and gradcheck
```

Then `ops.{op}(v)` and `v.{op}()` work in any program, with no import of `{package}`.

* **Try a change without installing**: `PYTHONPATH=src microgradx -p {package}.plugin plugins`
  (`-p` loads a plugin module for one command; `MICROGRADX_PLUGIN_MODULES` does it for every process).
* **In CI**: `microgradx plugins --check` exits 1 when a plugin failed to load, was skipped or
  clashes; `MICROGRADX_STRICT_PLUGINS={dist} pytest` turns problems with this plugin (and only
  this one) into errors.
* **Publish**: `python -m build && twine upload dist/*`.

Layout: `pyproject.toml` (the entry point `[project.entry-points.microgradx]`),
`src/{package}/plugin.py` (the op and its `@hookimpl` registration hook), `tests/`.
microgradx's plugin guide (docs/plugins.md) shows losses, optimizers, layers, datasets and callbacks.
'''


def requirement(version: str) -> str:
    """The microgradx versions a new plugin supports: from ``version`` to the next API-breaking release.

    While microgradx is 0.x a minor release may change the plugin API (``>=0.1.0,<0.2``);
    from 1.0 on, only a major release (``>=1.2.0,<2``).
    """
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()] + [0, 0]
    major, minor = parts[0], parts[1]
    upper = f"0.{minor + 1}" if major == 0 else str(major + 1)
    return f"microgradx>={version},<{upper}"


class TemplateError(ValueError):
    """A bad name for a new plugin, or a folder that already exists."""


#: Longest distribution name accepted: it names a folder, a package and files, and a file name has at most 255 bytes.
MAX_NAME = 100


def names_for(name: str, op: str | None = None) -> dict[str, str]:
    """The names a new plugin distribution uses: ``dist``, ``package`` (import name) and ``op``.

    ``name`` is the distribution name (``mgx-swish``); the package is its normalised form
    (``mgx_swish``); the op defaults to the package name without a ``microgradx_`` or
    ``mgx_`` prefix (``swish``). Raises `TemplateError` for a name that cannot be used.
    """
    if len(name) > MAX_NAME:
        raise TemplateError(f"the name {name[:40]!r}... is {len(name)} characters long; a distribution name here may "
                            f"have at most {MAX_NAME} (it names a folder and a package)")
    if not _DIST_NAME.match(name):
        raise TemplateError(f"{name!r} is not a valid distribution name (letters, digits, '-', '_' and '.', "
                            f"starting and ending with a letter or digit)")
    package = re.sub(r"[-_.]+", "_", name).lower()
    if not package.isidentifier() or keyword.iskeyword(package) or package in ("microgradx", "microgradx_plugins"):
        raise TemplateError(f"{name!r} gives the import package name {package!r}, which cannot be used; "
                            f"choose another name, such as mgx-{package.strip('_')}")
    if op is None:
        op = re.sub(r"^(microgradx|mgx)_", "", package) or package
    if not op.isidentifier() or op.startswith("_") or keyword.iskeyword(op):
        raise TemplateError(f"{op!r} cannot be an op name (a Python identifier not starting with '_'); "
                            f"pass --op NAME")

    taken = get_registry().names("ops")
    if op in taken:
        raise TemplateError(f"an op named {op!r} is already registered (by "
                            f"{get_registry().component('ops', op).plugin.where}); pass --op with another name")
    return {"dist": name, "package": package, "op": op}


def write_plugin(name: str, directory: Path | str = ".", op: str | None = None) -> Path:
    """Write the distribution ``name`` into ``directory/name``; return that folder.

    Raises `TemplateError` for a bad name or when the folder exists and is not empty.
    """
    from microgradx import __version__

    names = names_for(name, op)
    root = Path(directory) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise TemplateError(f"{root} already exists and is not an empty folder")
    values = {**names, "requirement": requirement(__version__)}
    package = root / "src" / names["package"]
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / "README.md": README,
        package / "__init__.py": INIT,
        package / "plugin.py": PLUGIN,
        package / "py.typed": "",
        root / "tests" / "test_plugin.py": TESTS,
    }
    try:
        for path, template in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(**values), encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot write {exc.filename or root}: {exc.strerror or exc}") from None
    return root


def cmd_new_plugin(args: argparse.Namespace) -> int:
    """Write the distribution and say what to do next."""
    try:
        root = write_plugin(args.name, args.directory, args.op)
    except TemplateError as exc:
        print(f"microgradx new-plugin: error: {exc}", file=sys.stderr)
        return 2
    names = names_for(args.name, args.op)
    print(f"wrote {root}/ (distribution {names['dist']}, package {names['package']}, op {names['op']})")
    print(f"next: cd {root} && pip install -e \".[test]\" && pytest")
    return 0


def add_newplugin_command(sub: Any) -> None:
    """Add the ``new-plugin`` subcommand to the subparsers ``sub``."""
    p = sub.add_parser("new-plugin", help="write a working plugin distribution (one op, tests, README) in ./NAME/",
                       description="Write a plugin distribution in ./NAME/: pyproject.toml with the entry point, "
                                   "a package with one op, tests using microgradx's fixtures, and a README.")
    p.add_argument("name", metavar="NAME", help="the distribution name, such as mgx-swish")
    p.add_argument("--op", default=None, help="the op's name (default: NAME without a mgx-/microgradx- prefix)")
    p.add_argument("--directory", default=".", help="where to create the NAME folder (default: the current one)")
    p.set_defaults(func=cmd_new_plugin)
