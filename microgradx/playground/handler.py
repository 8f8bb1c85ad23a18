"""The playground's HTTP requests: routing, the checks on where a request comes from, the answers.

Routes (everything else is 404; the server maps no URL to a path on disk):

* ``GET /``, ``GET /static/playground.js``, ``GET /static/playground.css``: the page, shipped in
  the package (no CDN: the page makes no request that leaves the server);
* ``GET /api/options``: what the page offers (datasets, every registered unary op, losses,
  optimizers, defaults, limits);
* ``POST /api/runs``: a new run for a page session (its settings from the page's URL);
* ``POST /api/runs/ID/settings``, ``/control``, ``/upload`` (a CSV file), ``/close``;
* ``GET /api/runs/ID/frame``: what the page draws; ``GET /api/runs/ID/explore``: the explorer
  page of a neuron or a weight (shown in a frame of the page).

Requests must name this server in ``Host`` (127.0.0.1 or localhost and the port), and a POST
must carry ``Content-Type: application/json`` (``text/csv`` for an upload) and no foreign
``Origin``: a web page elsewhere cannot drive a run. Bad settings are answered 400 with a
message for the page, and change nothing.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from microgradx.playground.explore import explore_page
from microgradx.playground.run import Run
from microgradx.playground.settings import LABELS

HOST = "127.0.0.1"
#: Content security policies: the page may load and ask nothing but its own server; the explorer
#: page (inline script and style, as `microgradx.draw.explore` writes it) nothing at all.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
               "frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
EXPLORER_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
                   "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
#: The largest request bodies read: settings, an uploaded CSV file.
MAX_JSON = 64 * 1024
MAX_CSV = 10 * 1024 * 1024
_RUN_PATH = re.compile(r"^/api/runs/([A-Za-z0-9_-]{8,64})/(settings|control|upload|close|frame|explore)$")


class Handler(BaseHTTPRequestHandler):
    """One request: check where it comes from, route it, answer JSON (or the page, or the explorer)."""

    server_version = "microgradx-playground"
    protocol_version = "HTTP/1.1"

    @property
    def playground(self) -> Any:
        """The `PlaygroundServer` this request came to."""
        return self.server.playground  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a page polls several times a second (errors are still printed by `_fail`)."""

    # -- answering --------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, kind: str, policy: Optional[str] = None) -> None:
        unread = self.command == "POST" and not self._body_read
        self.send_response(status)
        if unread:  # a refused request's body is still in the connection: it must not be read as a request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if policy:
            self.send_header("Content-Security-Policy", policy)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, json.dumps(obj, allow_nan=False, separators=(",", ":")).encode(), "application/json")

    def _error(self, status: int, message: str, **extra: Any) -> None:
        self._json({"error": message, **extra}, status)

    def _allowed(self) -> bool:
        """The request names this server (no DNS rebinding) and, for a POST, is not sent by a foreign page."""
        port = self.playground.port
        host = self.headers.get("Host", "")
        if host not in (f"{HOST}:{port}", f"localhost:{port}"):
            self._error(HTTPStatus.FORBIDDEN, f"this server answers requests for {HOST}:{port} only")
            return False
        origin = self.headers.get("Origin")
        if self.command == "POST" and origin not in (None, f"http://{HOST}:{port}", f"http://localhost:{port}"):
            self._error(HTTPStatus.FORBIDDEN, "requests from other sites are refused")
            return False
        return True

    def _body(self, kind: str, limit: int) -> Optional[bytes]:
        got = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if got != kind:
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"send {kind}, not {got or 'no content type'}")
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0:
            self._error(HTTPStatus.LENGTH_REQUIRED, "a Content-Length (a number of bytes) is needed")
            return None
        if length > limit:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {limit // 1024} kB, got {length // 1024} kB")
            return None
        body = self.rfile.read(length)
        self._body_read = True
        return body

    def _json_body(self) -> Optional[dict]:
        body = self._body("application/json", MAX_JSON)
        if body is None:
            return None
        try:
            obj = json.loads(body or b"{}")
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            self._error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
            return None
        return obj

    # -- routing ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        """The page, its two files, the options, a frame, an explorer page."""
        self._route()

    def do_HEAD(self) -> None:
        """As GET, without the body."""
        self._route()

    def do_POST(self) -> None:
        """New runs, settings, controls, uploads, closing a run."""
        self._route()

    def _route(self) -> None:
        self._body_read = False
        try:
            if not self._allowed():
                return
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            get = self.command in ("GET", "HEAD")
            if get and url.path in self.playground.files:
                body, kind = self.playground.files[url.path]
                self._send(200, body, kind, PAGE_POLICY if url.path == "/" else None)
            elif get and url.path == "/api/options":
                self._json(self.playground.options())
            elif not get and url.path == "/api/runs":
                self._create()
            elif (match := _RUN_PATH.match(url.path)) is not None:
                self._run_request(match.group(1), match.group(2), query, get)
            else:
                self._error(HTTPStatus.NOT_FOUND, f"nothing at {url.path}")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away mid-answer
        except Exception as exc:  # a bug: say it on the page and in the terminal, keep serving
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
        try:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"the server failed: {type(exc).__name__}: {exc}")
        except OSError:
            pass

    def _create(self) -> None:
        body = self._json_body()
        if body is None:
            return
        values = body.get("settings", {})
        if not isinstance(values, dict):
            return self._error(HTTPStatus.BAD_REQUEST, "settings must be a JSON object")
        ident, run, problems = self.playground.new_run(values)
        message = "; ".join(f"{LABELS.get(k, k)}: {m}" for k, m in problems.items()) if problems else None
        self._json({"run": ident, "problems": problems, "message": message, "frame": run.frame(generation=-1)})

    def _run_request(self, ident: str, action: str, query: dict, get: bool) -> None:
        run = self.playground.run(ident)
        if run is None:
            return self._error(HTTPStatus.NOT_FOUND, "this run is gone (the server restarted or it expired): "
                                                     "reload the page")
        if get and action == "frame":
            since, generation = _int(query.get("since"), 0), _int(query.get("generation"), -1)
            return self._json(run.frame(since=since, generation=generation, version=_int(query.get("version"), -1)))
        if get and action == "explore":
            return self._explore(run, query)
        if get or action in ("frame", "explore"):
            return self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{action} takes a {'POST' if get else 'GET'}")
        if action == "upload":
            return self._upload(ident, run, query)
        body = self._json_body()
        if body is None:
            return
        if action == "close":
            self.playground.close_run(ident)
            return self._json({"closed": ident})
        try:
            if action == "settings":
                values = body.get("settings")
                if not isinstance(values, dict):
                    return self._error(HTTPStatus.BAD_REQUEST, "settings must be a JSON object")
                run.apply(values)
            else:
                run.control(str(body.get("action")))
        except (ValueError, TypeError, LookupError) as exc:  # SettingsError, RunError, a component's refusal
            return self._error(HTTPStatus.BAD_REQUEST, _one_line(exc), settings=run.settings.query())
        self._json(run.frame(generation=-1))

    def _upload(self, ident: str, run: Run, query: dict) -> None:
        body = self._body("text/csv", MAX_CSV)
        if body is None:
            return
        name = re.sub(r"[^\w.\- ]", "_", query.get("name", "") or "upload.csv")[:80]
        path = self.playground.upload_path(ident)
        spare = f"{path}.new"
        with open(spare, "wb") as f:
            f.write(body)
        try:
            run.use_csv(spare, name)
        except (ValueError, TypeError, LookupError, UnicodeDecodeError) as exc:
            return self._error(HTTPStatus.BAD_REQUEST, _one_line(exc), settings=run.settings.query())
        with run.lock:  # keep the file where the run looks for it (its earlier upload, if any, is replaced)
            shutil.move(spare, path)
            run.csv_path = path
        self._json(run.frame(generation=-1))

    def _explore(self, run: Run, query: dict) -> None:
        network, data, loss = run.weights_snapshot()
        try:
            page = explore_page(network, data, loss, query.get("layer"), query.get("neuron"), query.get("weight"),
                                example=query.get("example", "1"), split=query.get("split", "train"),
                                root=query.get("root", "output"))
        except (ValueError, TypeError, ArithmeticError) as exc:
            text = f"<!DOCTYPE html><meta charset='utf-8'><title>cannot open</title><p>{html.escape(str(exc))}</p>"
            return self._send(HTTPStatus.BAD_REQUEST, text.encode(), "text/html; charset=utf-8", EXPLORER_POLICY)
        self._send(200, page.encode("utf-8"), "text/html; charset=utf-8", EXPLORER_POLICY)


def _int(text: Optional[str], default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _one_line(exc: BaseException) -> str:
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(message.split()) or type(exc).__name__
