"""Expensive test fixtures made once per test run, however many pytest-xdist workers need them.

Under pytest-xdist every worker is its own process with its own session fixtures, so a
session fixture that pip-installs distributions would run once per worker. `made_once` makes
the thing once, in a folder every worker of the run shares (the parent of the workers' temp
folders), under a file lock: the first worker to ask makes it while any other that asks waits,
then all of them read what was made. Without xdist it is an ordinary once-per-session step.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp folder shared by every worker of this test run (the session's own one without xdist)."""
    base = tmp_path_factory.getbasetemp()
    # xdist gives each worker <run's basetemp>/popen-gwN; the run's basetemp is shared by them all
    return base.parent if base.name.startswith("popen-gw") else base


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], Any]) -> Any:
    """``make(folder)``'s result (JSON-able), computed by one worker of the run into ``folder``, read by all.

    ``folder`` is new and empty when ``make`` is called. If ``make`` raises, the error is
    raised in that worker and the next worker to ask tries again (nothing half-made is reused).
    """
    root = run_folder(tmp_path_factory)
    folder, done = root / name, root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if done.exists():
            return json.loads(done.read_text(encoding="utf-8"))
        if folder.exists():  # a worker that failed to make it left this behind
            shutil.rmtree(folder)
        folder.mkdir()
        result = make(folder)
        done.write_text(json.dumps(result), encoding="utf-8")
        return result
