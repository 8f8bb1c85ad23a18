"""The playground's server over real HTTP on 127.0.0.1, and the ``microgradx playground`` command."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from helpers.files import write_csv

from microgradx.cli import main
from microgradx.playground import PlaygroundServer

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def server():
    with PlaygroundServer() as s:
        yield s


def request(server, method, path, body=None, headers=None, kind="application/json"):
    """``(status, headers, body bytes)`` of one request to the server, as a page would send it."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    sent = {"Host": f"127.0.0.1:{server.port}", **(headers or {})}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent.setdefault("Content-Type", kind)
    conn.request(method, path, body=data, headers=sent)
    response = conn.getresponse()
    result = response.status, dict(response.getheaders()), response.read()
    conn.close()
    return result


def api(server, method, path, body=None, **kw):
    status, _, data = request(server, method, path, body, **kw)
    return status, json.loads(data)


def new_run(server, settings=None):
    status, created = api(server, "POST", "/api/runs", {"settings": settings or {}})
    assert status == 200
    return created["run"], created


def test_it_listens_on_127_0_0_1_only_on_a_free_port(server):
    assert server.httpd.server_address[0] == "127.0.0.1" and server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/"
    with PlaygroundServer() as other:  # a second one gets another free port
        assert other.port != server.port


def test_the_page_and_its_files_are_served_from_the_package_with_a_strict_policy(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script src="/static/playground.js"' in body and b'href="/static/playground.css"' in body
    assert not re.search(rb'(src|href)="(https?:)?//', body)  # nothing from elsewhere
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "script-src 'self'" in policy
    for path, kind in (("/static/playground.js", "text/javascript"), ("/static/playground.css", "text/css")):
        status, headers, body = request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and len(body) > 1000
        assert not re.search(rb"https?://", body.replace(b"http://www.w3.org/2000/svg", b""))  # (a name, not a fetch)


@pytest.mark.parametrize("path", [
    "/static/../__init__.py", "/static/%2e%2e/__init__.py", "/static/..%2f..%2fserver.py", "/../../etc/passwd",
    "//etc/passwd", "/static/", "/static/index.html/..", "/static/playground.js/../../run.py", "/server.py",
    "/microgradx/playground/server.py", "/static/./playground.js", "/%2fetc%2fpasswd", "/api/runs/../../etc/passwd",
])
def test_it_serves_only_its_own_files(server, path):
    status, _, body = request(server, "GET", path)
    assert status == 404, (path, body[:200])
    assert b"import" not in body and b"root:" not in body


def test_requests_for_another_host_or_from_another_site_are_refused(server):
    status, _, _ = request(server, "GET", "/", headers={"Host": "evil.example:80"})
    assert status == 403  # DNS rebinding: a name that resolves to 127.0.0.1 is not this server's name
    assert request(server, "GET", "/", headers={"Host": f"localhost:{server.port}"})[0] == 200
    status, body = api(server, "POST", "/api/runs", {"settings": {}}, headers={"Origin": "http://evil.example"})
    assert status == 403 and "other sites" in body["error"]
    status, body = api(server, "POST", "/api/runs", {"settings": {}}, kind="text/plain")  # a form can send this
    assert status == 415 and "application/json" in body["error"]


def test_a_run_per_page_session(server):
    a, created = new_run(server, {"lr": "0.1", "speed": "max"})
    b, _ = new_run(server)
    assert a != b and created["frame"]["settings"]["lr"] == "0.1" and created["frame"]["epoch"] == 0
    assert api(server, "POST", f"/api/runs/{a}/control", {"action": "play"})[0] == 200
    deadline = time.monotonic() + 10
    while api(server, "GET", f"/api/runs/{a}/frame")[1]["epoch"] < 5:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    api(server, "POST", f"/api/runs/{a}/control", {"action": "pause"})
    frame_b = api(server, "GET", f"/api/runs/{b}/frame")[1]
    assert frame_b["epoch"] == 0 and frame_b["settings"]["lr"] == "0.03" and frame_b["state"] == "paused"
    assert server.runs[a].model.network.weights() != server.runs[b].model.network.weights()


def test_frames_send_what_is_new(server):
    ident, created = new_run(server)
    first = created["frame"]
    assert {"describe", "heat", "boundary", "weights"} <= set(first) and first["start"] == 0
    api(server, "POST", f"/api/runs/{ident}/control", {"action": "step"})
    status, frame = api(server, "GET", f"/api/runs/{ident}/frame?since=1&generation={first['generation']}"
                                       f"&version={first['version']}")
    assert status == 200 and frame["epoch"] == 1 and frame["start"] == 1 and len(frame["history"]["test_loss"]) == 1
    assert "describe" not in frame and "heat" in frame  # the weights changed: new pictures, the same points
    status, same = api(server, "GET", f"/api/runs/{ident}/frame?since=2&generation={frame['generation']}"
                                      f"&version={frame['version']}")
    assert "heat" not in same and same["history"]["test_loss"] == []


@pytest.mark.parametrize("settings, message", [
    ({"layers": "8,0"}, "hidden layers: layer 2 needs 1 to 32 neurons, got 0"),
    ({"lr": "-1"}, "learning rate: must be a positive number, got '-1'"),
    ({"acts": "nope,tanh"}, "no unary op named 'nope' is registered"),
    ({"dataset": "bumps", "loss": "hinge"}, "is a regression task"),
])
def test_bad_settings_get_a_message_and_change_nothing(server, settings, message):
    ident, created = new_run(server)
    run = server.runs[ident]
    before = (run.settings, run.model)
    status, body = api(server, "POST", f"/api/runs/{ident}/settings", {"settings": settings})
    assert status == 400 and message in body["error"]
    assert body["settings"] == created["frame"]["settings"]  # what the page puts back in its controls
    assert (run.settings, run.model) == before


def test_bad_settings_in_a_url_are_named_and_the_rest_applied(server):
    _, created = new_run(server, {"lr": "-1", "layers": "3", "acts": "relu"})
    assert created["problems"] == {"lr": "must be a positive number, got '-1'"}
    assert created["message"] == "learning rate: must be a positive number, got '-1'"
    assert created["frame"]["settings"]["layers"] == "3" and created["frame"]["describe"]["sizes"] == [2, 3, 1]


def test_an_uploaded_csv_is_used_by_that_run_only_and_a_malformed_one_changes_nothing(server, tmp_path):
    ident, _ = new_run(server)
    other, _ = new_run(server)
    rows = [[i / 10, (i * 7 % 10) / 10, "yes" if i % 2 else "no"] for i in range(60)]
    good = write_csv(tmp_path / "mine.csv", ["a", "b", "answer"], rows).read_bytes()
    status, frame = api(server, "POST", f"/api/runs/{ident}/upload?name=mine.csv", good, kind="text/csv")
    assert status == 200 and frame["settings"]["dataset"] == "csv"
    assert frame["describe"]["features"] == ["a", "b"] and frame["describe"]["classes"] == ["no", "yes"]
    assert api(server, "GET", f"/api/runs/{other}/frame")[1]["settings"]["dataset"] == "moons"
    bad = good.replace(b"0.3,", b"zero point three,", 1)
    status, body = api(server, "POST", f"/api/runs/{ident}/upload?name=bad.csv", bad, kind="text/csv")
    assert status == 400 and "bad.csv" in body["error"] and "row" in body["error"]
    assert "zero point three" in body["error"]
    assert str(server._uploads) not in body["error"]  # named as the user knows it
    frame = api(server, "GET", f"/api/runs/{ident}/frame")[1]
    assert frame["settings"]["dataset"] == "csv" and server.runs[ident].model.data.n_features == 2
    three = write_csv(tmp_path / "three.csv", ["a", "b", "c", "y"], [[1, 2, 3, i % 2] for i in range(20)]).read_bytes()
    status, body = api(server, "POST", f"/api/runs/{ident}/upload?name=three.csv", three, kind="text/csv")
    assert status == 400 and "two features, and three.csv has 3 (a, b, c)" in body["error"]


def test_the_explorer_page_of_a_neuron_and_of_a_weight(server):
    ident, _ = new_run(server)
    status, headers, body = request(server, "GET", f"/api/runs/{ident}/explore?layer=2&neuron=3&example=4")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"neuron 2-3: its output for train example 4" in body and b'id="mgx-steps"' in body
    assert "script-src 'unsafe-inline'" in headers["Content-Security-Policy"] and b"http" not in body.split(
        b"<body>")[1].replace(b"http://www.w3.org/2000/svg", b"")
    status, _, body = request(server, "GET", f"/api/runs/{ident}/explore?layer=1&neuron=2&weight=1&split=test")
    assert status == 200 and b"weight w1-2-1: the loss for test example 1" in body
    status, _, body = request(server, "GET", f"/api/runs/{ident}/explore?layer=9&neuron=1")
    assert status == 400 and b"layer must be from 1 to 3, got 9" in body


def test_unknown_runs_controls_and_methods_are_refused(server):
    assert api(server, "GET", "/api/runs/doesnotexist1234/frame")[0] == 404
    ident, _ = new_run(server)
    status, body = api(server, "POST", f"/api/runs/{ident}/control", {"action": "rewind"})
    assert status == 400 and "unknown control 'rewind'" in body["error"]
    assert api(server, "POST", f"/api/runs/{ident}/frame", {})[0] == 405
    status, body = api(server, "POST", f"/api/runs/{ident}/settings", b"[1, 2", kind="application/json")
    assert status == 400 and "JSON object" in body["error"]
    assert api(server, "POST", f"/api/runs/{ident}/close", {})[0] == 200
    assert ident not in server.runs and api(server, "GET", f"/api/runs/{ident}/frame")[0] == 404


def test_the_options_list_every_registered_unary_op_loss_and_optimizer(server):
    from microgradx.playground.settings import unary_ops

    status, options = api(server, "GET", "/api/options")
    assert status == 200 and options["activations"] == ["linear", *unary_ops()]
    assert {"tanh", "relu", "sigmoid"} <= set(options["activations"]) and "add" not in options["activations"]
    assert {loss["name"] for loss in options["losses"]} == {"mse", "hinge", "bce", "softmax_ce", "squared_error"}
    assert options["datasets"] == ["moons", "circles", "xor", "spiral", "blobs", "bumps"]


# -- the command -------------------------------------------------------------------------------------


def test_the_command_prints_its_url_opens_the_browser_and_stops_on_ctrl_c(monkeypatch, capsys):
    import _thread
    import webbrowser

    opened = []

    def fake_open(url):
        opened.append(url)
        # the page loads, then the user presses Ctrl-C in the terminal (KeyboardInterrupt in the main thread)
        def later():
            host, port = url[len("http://"):].rstrip("/").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", "/", headers={"Host": f"{host}:{port}"})
            opened.append(conn.getresponse().status)
            _thread.interrupt_main()
        threading.Thread(target=later, daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    assert main(["playground"]) == 0
    out = capsys.readouterr().out
    url = re.search(r"serving on (http://127\.0\.0\.1:(\d+)/)", out)
    assert url and opened == [url.group(1), 200] and "stopped" in out
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", int(url.group(2))))


def test_a_taken_port_and_a_bad_data_file_are_one_line_errors(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert main(["playground", "--no-browser", "--port", str(s.getsockname()[1])]) == 2
    assert "cannot listen on port" in capsys.readouterr().err
    bad = write_csv(tmp_path / "bad.csv", ["a", "b", "y"], [[1, "x", 0], [2, 3, 1]])
    assert main(["playground", "--no-browser", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"microgradx playground: error: --data {bad}:") and "'x'" in err and err.count("\n") == 1
    assert main(["playground", "--no-browser", "--port", "70000"]) == 2


def test_the_command_in_a_terminal_with_data_and_ctrl_c(tmp_path):
    data = write_csv(tmp_path / "pts.csv", ["u", "v", "label"], [[i % 7, i % 5, i % 2] for i in range(40)])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "microgradx", "playground", "--no-browser", "--data", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", line).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/options", headers={"Host": f"127.0.0.1:{port}"})
        options = json.loads(conn.getresponse().read())
        assert options["datasets"][-1] == "csv" and options["defaults"]["dataset"] == "csv"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_a_refused_body_is_not_read_as_the_next_request_on_the_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    host = {"Host": f"127.0.0.1:{server.port}"}
    smuggled = b"GET /api/options HTTP/1.1\r\nHost: x\r\n\r\n"  # a body that looks like a request
    conn.request("POST", "/api/runs", body=smuggled, headers={**host, "Content-Type": "text/plain"})
    response = conn.getresponse()
    assert response.status == 415 and response.getheader("Connection") == "close"
    response.read()
    conn.request("GET", "/api/options", headers=host)  # (http.client opens a new connection)
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["datasets"]
    conn.close()


def test_uploading_a_regression_file_switches_to_its_task_s_loss(server, tmp_path):
    ident, _ = new_run(server, {"loss": "hinge"})
    rows = [[i / 10, (i * 3 % 7) / 7, i * 0.5 + 1.25] for i in range(40)]
    data = write_csv(tmp_path / "amounts.csv", ["a", "b", "amount"], rows).read_bytes()
    status, frame = api(server, "POST", f"/api/runs/{ident}/upload?name=amounts.csv", data, kind="text/csv")
    assert status == 200 and frame["settings"]["loss"] == "auto" and frame["describe"]["loss"] == "mse"
    assert frame["describe"]["task"] == "regression" and frame["boundary"]["kind"] == "values"


def test_a_body_without_a_usable_length_is_refused_at_once(server):
    for length in ("-1", "lots"):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.putrequest("POST", "/api/runs", skip_host=True)
        for name, value in (("Host", f"127.0.0.1:{server.port}"), ("Content-Type", "application/json"),
                            ("Content-Length", length)):
            conn.putheader(name, value)
        conn.endheaders(b"{}")
        response = conn.getresponse()
        assert response.status == 411 and b"Content-Length" in response.read()
        conn.close()
