"""The playground's web server: the standard library's ThreadingHTTPServer on 127.0.0.1, and its runs.

`PlaygroundServer` owns the listening socket, the runs (one per page session) and the uploaded
files; `microgradx.playground.handler` answers each request (the routes and the checks on where
a request comes from are documented there); `serve` is what ``microgradx playground`` runs.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from importlib import resources
from typing import Any, Optional

from microgradx.playground.handler import HOST, Handler
from microgradx.playground.model import CSV, load_dataset, playground_datasets
from microgradx.playground.run import Run
from microgradx.playground.settings import LABELS, MAX_LAYERS, MAX_NEURONS, Settings, parse_partial, unary_ops
from microgradx.registry.core import get_registry
from microgradx.train import DivergenceWarning

#: Files the server sends: URL path -> (file in microgradx/playground/static, content type).
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
    "/static/playground.css": ("playground.css", "text/css; charset=utf-8"),
}
#: Runs kept at once; the least recently seen goes first. A run unseen this long is closed.
MAX_RUNS = 16
RUN_TTL = 30 * 60.0


class _QuietServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that lets a page close its connection without a traceback in the terminal."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection the browser reset or closed is routine; anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class PlaygroundServer:
    """The playground on 127.0.0.1: ``port`` 0 picks a free port; ``data``: a CSV file offered as ``csv``.

    ``defaults`` are the settings of a page whose URL sets nothing. Use `serve_forever` (the
    command line) or `start` (a background thread, for tests and notebooks), and `close`.
    Raises ``OSError`` when the port is taken and ``ValueError`` when ``data`` is not a CSV
    file the playground can draw (two numeric feature columns and a label).
    """

    def __init__(self, port: int = 0, data: Optional[str] = None, defaults: Optional[Settings] = None) -> None:
        self.datasets = playground_datasets() + ((CSV,) if data is not None else ())
        self.csv_path = None if data is None else str(data)
        base = defaults or Settings()
        if data is not None:
            load_dataset(Settings(dataset=CSV), self.csv_path, self.csv_path)  # refuse a bad file now, not per page
            base = defaults or Settings(dataset=CSV)
        self.defaults = base
        self.runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._uploads = tempfile.mkdtemp(prefix="microgradx-playground-")
        #: URL path -> (bytes, content type): the files the server sends, read once from the package.
        self.files = {path: (resources.files("microgradx.playground").joinpath("static", name).read_bytes(), kind)
                      for path, (name, kind) in STATIC.items()}
        self.httpd = _QuietServer((HOST, port), Handler)
        self.httpd.playground = self  # type: ignore[attr-defined]
        self._serving = False

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """The page's address: ``http://127.0.0.1:PORT/``."""
        return f"http://{HOST}:{self.port}/"

    def serve_forever(self) -> None:
        """Answer requests until `close` (from another thread) or Ctrl-C (``KeyboardInterrupt`` propagates)."""

        self._serving = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DivergenceWarning)  # the page shows it; the terminal stays quiet
            self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> PlaygroundServer:
        """Serve from a background thread; returns self."""
        self._serving = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         name="microgradx-playground", daemon=True).start()
        return self

    def close(self) -> None:
        """Stop serving, stop every run's training, remove uploaded files, release the port."""
        if self._serving:  # (shutdown() waits for a serve_forever that ran: never call it otherwise)
            self.httpd.shutdown()
            self._serving = False
        with self._lock:
            for run in self.runs.values():
                run.close()
            self.runs.clear()
        self.httpd.server_close()
        shutil.rmtree(self._uploads, ignore_errors=True)

    def __enter__(self) -> PlaygroundServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------------------------

    def options(self) -> dict:
        """What the page may choose from: every registered unary op, loss and optimizer, the datasets."""

        registry = get_registry()
        losses = [{"name": n, "task": getattr(registry.get("losses", n), "task", "")} for n in registry.names("losses")]
        return {"datasets": list(self.datasets), "activations": ["linear", *unary_ops()], "losses": losses,
                "optimizers": registry.names("optimizers"), "defaults": self.defaults.query(), "labels": LABELS,
                "limits": {"layers": MAX_LAYERS, "neurons": MAX_NEURONS}}

    def new_run(self, values: Mapping[str, Any]) -> tuple[str, Run, dict]:
        """A run for a new page session: ``(id, run, problems)``. Bad settings in ``values`` (from the
        page's URL) are left at their defaults and listed in ``problems``."""
        settings, problems = parse_partial(values, self.defaults, self.datasets)
        try:
            run = Run(settings, self.datasets, self.csv_path)
        except ValueError as exc:  # e.g. a loss that does not fit the dataset: the defaults, and why
            problems["settings"] = str(exc)
            run = Run(self.defaults, self.datasets, self.csv_path)
        ident = secrets.token_urlsafe(12)
        with self._lock:
            self._sweep()
            self.runs[ident] = run
        return ident, run, problems

    def run(self, ident: str) -> Optional[Run]:
        """The run with this id (None when there is none, or it expired)."""
        with self._lock:
            return self.runs.get(ident)

    def close_run(self, ident: str) -> None:
        """Close and forget a run (its page went away)."""
        with self._lock:
            run = self.runs.pop(ident, None)
        if run is not None:
            run.close()

    def upload_path(self, ident: str) -> str:
        """Where this run's uploaded CSV file is kept (one per run)."""
        return f"{self._uploads}/{ident}.csv"

    def _sweep(self) -> None:
        now = time.monotonic()
        stale = [k for k, r in self.runs.items() if now - r.last_seen > RUN_TTL]
        by_age = sorted(self.runs, key=lambda k: self.runs[k].last_seen)
        stale += by_age[:max(0, len(self.runs) - MAX_RUNS + 1)]
        for k in dict.fromkeys(stale):
            self.runs.pop(k).close()

def serve(port: int = 0, data: Optional[str] = None, open_browser: bool = True, out: Any = None) -> int:
    """Run the playground until Ctrl-C: print its URL, open the browser (unless ``open_browser=False``).

    Returns 0 after a clean stop. ``port`` 0 picks a free one. Raises ``OSError`` when the port
    is taken and ``ValueError`` for a ``data`` file the playground cannot use.
    """
    out = out or sys.stdout
    server = PlaygroundServer(port=port, data=data)
    try:
        print(f"microgradx playground: serving on {server.url} (Ctrl-C stops it)", file=out, flush=True)
        if open_browser:
            import webbrowser

            if not webbrowser.open(server.url):
                print("microgradx playground: could not open a browser; open the address above", file=out, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("microgradx playground: stopped", file=out, flush=True)
    finally:
        server.close()
    return 0
