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
from importlib import resources
from pathlib import Path
from typing import Any

from microgradx.registry.core import get_registry

_DIST_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)

#: The plugin distribution's files, as templates (``str.format`` with ``dist``, ``package``, ``op`` and
#: ``requirement``; a ``.tmpl`` suffix is dropped, and ``{package}`` in a path is the package's name).
TEMPLATE = "plugin_template"


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
    template = resources.files("microgradx.cli") / TEMPLATE
    try:
        for source, parts in _template_files(template):
            path = root.joinpath(*[part.format(**values) for part in parts])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source.read_text(encoding="utf-8").format(**values), encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot write {exc.filename or root}: {exc.strerror or exc}") from None
    return root


def _template_files(folder: Any, parts: tuple = ()) -> list:
    """``(template file, path parts of the file it makes)`` for every file under ``folder``."""
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found += _template_files(entry, (*parts, entry.name))
        else:
            found.append((entry, (*parts, entry.name.removesuffix(".tmpl"))))
    return found


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
