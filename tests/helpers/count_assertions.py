"""Count the checks in the test suite that can fail, so a change to the suite can be compared before and after.

Run from the repository's root::

    python tests/helpers/count_assertions.py            # totals
    python tests/helpers/count_assertions.py --files    # per file as well
    python tests/helpers/count_assertions.py --json > before.json   # then: --compare before.json

Counted, statically, in every ``.py`` file under ``tests/`` (helpers included, ``tests/lecture``'s
published notebooks aside), by reading each file's syntax tree:

- ``assert`` statements;
- ``pytest.raises``, ``pytest.warns``, ``pytest.deprecated_call`` (as ``with`` blocks or calls) and
  ``pytest.fail``;
- calls of any function or method whose name starts with ``assert`` (``np.testing.assert_allclose``,
  ``assert_runs_match``, ``self.assertEqual`` ...) or is ``check_returncode``;
- ``check=True`` passed to a call (``subprocess.run(..., check=True)`` fails the test on a nonzero exit).

A check written once counts once, however many parameters or loop turns run it: the number compares
two versions of the source, it does not say how many times checks ran (``pytest --collect-only -q``
counts the tests).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
KINDS = ("assert", "pytest.raises", "pytest.warns", "pytest.deprecated_call", "pytest.fail", "assert_*() call",
         "check=True")
PYTEST_CHECKS = {"raises", "warns", "deprecated_call", "fail"}


def _name(func: ast.expr) -> str:
    """The last part of a called name: ``np.testing.assert_allclose`` -> ``assert_allclose``."""
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _is_pytest(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "pytest"


def count_source(source: str, filename: str = "<source>") -> Counter:
    """The checks in one file's source, by kind (see the module docstring)."""
    found: Counter = Counter()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Assert):
            found["assert"] += 1
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            if _is_pytest(node.func) and name in PYTEST_CHECKS:
                found[f"pytest.{name}"] += 1
            elif name.startswith("assert") or name == "check_returncode":
                found["assert_*() call"] += 1
            if any(k.arg == "check" and isinstance(k.value, ast.Constant) and k.value.value is True
                   for k in node.keywords):
                found["check=True"] += 1
    return found


def count_tree(root: Path = TESTS) -> dict[str, Counter]:
    """Path (relative to ``root``) -> the checks in that file, for every test and helper module."""
    counts = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] == "lecture" or "__pycache__" in relative.parts:
            continue
        counts[relative.as_posix()] = count_source(path.read_text(encoding="utf-8"), str(path))
    return counts


def totals(counts: dict[str, Counter]) -> Counter:
    """The checks of every file added up, by kind, with ``total`` the sum of the kinds."""
    summed: Counter = Counter()
    for found in counts.values():
        summed.update(found)
    summed["total"] = sum(summed[k] for k in KINDS)
    return summed


def main(argv: list[str] | None = None) -> int:
    """Print the counts (or compare them with a saved ``--json`` output); 1 when ``--compare`` finds fewer."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", action="store_true", help="also print each file's total")
    parser.add_argument("--json", action="store_true", help="print the per-file counts as JSON")
    parser.add_argument("--compare", metavar="BEFORE.json", help="compare with counts saved by --json")
    args = parser.parse_args(argv)
    counts = count_tree()
    if args.json:
        print(json.dumps({path: dict(found) for path, found in counts.items()}, indent=1, sort_keys=True))
        return 0
    now = totals(counts)
    for kind in (*KINDS, "total"):
        print(f"{kind:>24}  {now[kind]}")
    if args.files:
        for path, found in counts.items():
            print(f"{sum(found.values()):6}  {path}")
    if args.compare:
        saved = json.loads(Path(args.compare).read_text(encoding="utf-8"))
        before = totals({path: Counter(found) for path, found in saved.items()})
        print(f"before {before['total']}, now {now['total']} ({now['total'] - before['total']:+d})")
        for path in sorted(set(saved) | set(counts)):
            old, new = sum(saved.get(path, {}).values()), sum(counts.get(path, Counter()).values())
            if old != new:
                print(f"{new - old:+6}  {path} ({old} -> {new})")
        return 1 if now["total"] < before["total"] else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
