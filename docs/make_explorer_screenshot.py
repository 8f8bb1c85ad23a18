"""Make docs/explorer.png: the explorer page of tanh(a*b + c) at its last backward step.

Run from the repository's root with the test extras installed and Debian's Chromium:
``python docs/make_explorer_screenshot.py``. Playwright drives the system's browser; nothing is
downloaded.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from microgradx.cli.graph import evaluate
from microgradx.draw import explore

OUT = Path(__file__).resolve().parent / "explorer.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def main() -> int:
    """Write the page to a temporary folder, go to "done", step back once, and screenshot it."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    out, _ = evaluate("tanh(a*b + c)", {"a": 2.0, "b": -3.0, "c": 10.0})
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        page_path = explore(out, Path(folder) / "expr.html", title="tanh(a*b + c)")
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1140, "height": 470}, device_scale_factor=1)
        page.goto(page_path.as_uri())  # it opens at the start, the graph fitted to the window
        page.keyboard.press("End")
        page.keyboard.press("ArrowLeft")  # the last backward step: the mul passes the grad to a and b
        page.screenshot(path=str(OUT), full_page=True)
        browser.close()
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
