"""How pytest-xdist hands this suite's tests to its workers (``--dist loadgroup``, set in pyproject.toml).

Tests go to the workers one at a time, each to whichever worker is free, except that every
test of a module in `ONE_WORKER_MODULES` goes to the same worker: those modules share an
expensive module fixture (a Dask cluster, a browser, the lecture's notebook runs, a pip install
and a mypy cache) that each worker running one of their tests would otherwise make again.
Such a module is handed out before the single tests, so its long run starts first.

pytest-xdist's own ``xdist_group`` mark does the same, but with pytest 9.2 it has no effect
(pytest-dev/pytest-xdist#1386: the group travels as a suffix of the node id, which pytest no
longer lets a plugin change); a group suffix that does arrive is still honoured.
"""

from __future__ import annotations

from xdist.scheduler import LoadGroupScheduling

#: test modules (paths from the repository's root) whose tests all run on one worker
ONE_WORKER_MODULES = frozenset({
    "tests/test_lecture.py",            # `runs`: the four notebooks run in lockstep (about 10 s)
    "tests/test_dask.py",               # `client`: a LocalCluster of two worker processes
    "tests/test_typing.py",             # `site` and `cache`: microgradx pip-installed, mypy's cache warm
    "tests/test_explorer_browser.py",   # `browser`: one Chromium
    "tests/test_playground_browser.py",  # `server` and `browser`
    "tests/test_benchmarks.py",         # `quick_results`: every benchmark's --quick run
})


class OneWorkerModules(LoadGroupScheduling):
    """``--dist loadgroup`` with the modules of `ONE_WORKER_MODULES` as groups (see the module docstring)."""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        if module in ONE_WORKER_MODULES:
            return module
        return super()._split_scope(nodeid)
