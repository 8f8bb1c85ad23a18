"""Debian's Chromium, headless, for the tests that drive a page with Playwright (never a downloaded build).

``.ci/run`` installs Debian's ``chromium``; without it, or without the ``playwright`` package,
the tests marked `NEEDS_A_BROWSER` skip and say what to install. The ``browser`` fixture
(tests/conftest.py) starts one for a test module.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
#: flags that run it headless and quiet: no GPU, no sandbox (containers), no network of its own
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

NEEDS_A_BROWSER = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's package (apt-get install chromium); "
                                                ".ci/run does"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason='Playwright for Python is not installed: pip install -e ".[test]"'),
]
