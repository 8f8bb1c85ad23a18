"""Playground: epochs per second of the playground's training loop while a page asks for frames.

    python benchmarks/bench_playground.py            # 3 rounds of 5 s per row
    python benchmarks/bench_playground.py --quick    # a smoke run: 1 round of 1.5 s per row

The work, the same in every row: moons (200 points, noise 0.1, half held out for testing, seed 0),
hidden layers [8, 8] of tanh, one linear output, binary cross-entropy, SGD (momentum 0.9, lr
0.03), batches of 10 shuffled every epoch (10 steps an epoch), and after every epoch the loss and
accuracy on the training and the test points (what the loss curves show).

Rows:

* ``playground, page in Chromium``: the real page in Debian's Chromium (headless, driven by
  Playwright; skipped without them), speed "max": the page polls frames as it does for a user
  (at most ten a second), each frame's heat maps one compiled forward on the 50 x 50 grid;
* ``playground, frames over HTTP``: the same server and run, played over HTTP, a client thread
  asking for frames as the page does (ten a second, each with new heat maps), no browser;
* ``playground, no frames``: the run's loop alone (the same `Run`, nobody asking);
* ``Trainer, compiled``: ``Trainer.train_epoch`` alone, no metrics: the floor of the loop;
* ``PyTorch``: the same loop in PyTorch (float64, one thread), metrics every epoch included.

Each row is the median of its rounds (rows interleaved); epochs per second are counted from the
run's epoch counter over the round. The target (issue 25): at least 20 epochs per second on this
work while the page is open.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001  (first: it pins BLAS to one thread before numpy is imported)
import argparse
import http.client
import json
import shutil
import statistics
import time
from typing import Any, Optional

import numpy as np

from microgradx.playground import PlaygroundServer, Settings
from microgradx.playground.run import Run

SETTINGS = {"dataset": "moons", "samples": "200", "noise": "0.1", "test": "0.5", "layers": "8,8",
            "acts": "tanh,tanh", "optimizer": "sgd", "lr": "0.03", "batch": "10", "seed": "0", "speed": "max"}
TARGET = 20.0
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


class Client:
    """HTTP requests to the server, as the page makes them."""

    def __init__(self, server: PlaygroundServer) -> None:
        self.port = server.port
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[dict, int]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        raw = self.conn.getresponse().read()
        return json.loads(raw), len(raw)


def over_http(server: PlaygroundServer, seconds: float) -> dict:
    """Play a run over HTTP while a client asks for frames ten times a second; epochs/s and frame costs."""
    client = Client(server)
    created, _ = client("POST", "/api/runs", {"settings": SETTINGS})
    ident = created["run"]
    run = server.runs[ident]
    state = {"since": 0, "generation": -1, "version": -1}
    sizes, latencies = [], []
    client("POST", f"/api/runs/{ident}/control", {"action": "play"})
    start, epoch0 = time.perf_counter(), run.epoch
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        frame, size = client("GET", f"/api/runs/{ident}/frame?since={state['since']}&generation="
                                    f"{state['generation']}&version={state['version']}")
        latencies.append(time.perf_counter() - t0)
        sizes.append(size)
        state = {"since": frame["start"] + len(frame["history"]["train_loss"]), "generation": frame["generation"],
                 "version": frame["version"]}
        time.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))
    epochs, elapsed = run.epoch - epoch0, time.perf_counter() - start
    client("POST", f"/api/runs/{ident}/close", {})
    return {"eps": epochs / elapsed, "frame_ms": 1000 * statistics.median(latencies),
            "frame_kb": statistics.median(sizes) / 1024, "frames": len(sizes),
            "accuracy": run.latest()["test_accuracy"]}


def in_chromium(server: PlaygroundServer, page: Any, seconds: float) -> dict:
    """The real page, played at speed max for ``seconds``."""
    query = "&".join(f"{k}={v}" for k, v in SETTINGS.items())
    page.goto(f"{server.url}?{query}")
    page.wait_for_selector("body[data-ready=true]", timeout=30000)
    run = server.runs[page.get_attribute("body", "data-run")]
    page.click('[data-testid="play"]')
    start, epoch0 = time.perf_counter(), run.epoch
    page.wait_for_timeout(1000 * seconds)
    epochs, elapsed = run.epoch - epoch0, time.perf_counter() - start
    page.click('[data-testid="pause"]')
    shown = float(page.text_content('[data-testid="rate"]'))
    return {"eps": epochs / elapsed, "shown": shown, "accuracy": run.latest()["test_accuracy"]}


def alone(seconds: float) -> dict:
    """The run's own loop with nobody asking for frames."""
    run = Run(Settings(layers=(8, 8), speed=None), ("moons",))
    run.control("play")  # (a run pauses after 30 s without frames: a round is shorter)
    start, epoch0 = time.perf_counter(), run.epoch
    time.sleep(seconds)
    epochs, elapsed = run.epoch - epoch0, time.perf_counter() - start
    run.close()
    return {"eps": epochs / elapsed}


def trainer_only(seconds: float) -> dict:
    """``Trainer.train_epoch`` of the same model and data, nothing else."""
    run = Run(Settings(layers=(8, 8), speed=None), ("moons",))
    trainer, data = run.model.trainer, run.model.data
    start, epochs = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        trainer.train_epoch(data.X_train, data.y_train, hook=run.model.hook)
        epochs += 1
    elapsed = time.perf_counter() - start
    run.close()
    return {"eps": epochs / elapsed}


def pytorch(seconds: float) -> Optional[dict]:
    """The same loop in PyTorch (float64, one thread), from the playground's initial weights."""
    if not common.have("torch"):
        return None
    import torch

    torch.set_num_threads(1)
    run = Run(Settings(layers=(8, 8)), ("moons",))
    data = run.model.data
    layers = []
    for layer in run.model.network.weights():
        w = np.array([row[:-1] for row in layer])
        b = np.array([row[-1] for row in layer])
        lin = torch.nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.Tanh()]
    run.close()
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xtr, ytr = torch.from_numpy(np.array(data.X_train)), torch.from_numpy(np.array(data.y_train, dtype=np.float64))
    Xte, yte = torch.from_numpy(np.array(data.X_test)), torch.from_numpy(np.array(data.y_test, dtype=np.float64))
    g = torch.Generator().manual_seed(0)
    start, epochs = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        order = torch.randperm(len(ytr), generator=g)
        for i in range(0, len(ytr), 10):
            idx = order[i:i + 10]
            opt.zero_grad()
            loss_fn(model(Xtr[idx])[:, 0], ytr[idx]).backward()
            opt.step()
        with torch.no_grad():
            for X, y in ((Xtr, ytr), (Xte, yte)):
                z = model(X)[:, 0]
                float(loss_fn(z, y)), float(((z > 0).double() == y).double().mean())
        epochs += 1
    return {"eps": epochs / (time.perf_counter() - start)}


def browser_page() -> tuple[Any, Any]:
    """A Chromium page (the system's, through Playwright), or ``(None, reason)``."""
    chromium = shutil.which("chromium")
    if chromium is None or not common.have("playwright"):
        return None, "needs Debian's chromium and Playwright for Python"
    from playwright.sync_api import sync_playwright

    p = sync_playwright().start()
    browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    return (p, browser, browser.new_page(viewport={"width": 1400, "height": 1000})), None


def run(args: argparse.Namespace) -> dict:
    common.print_header("Playground: epochs per second with frames (moons, 200 points, [8, 8] tanh, batches of 10)")
    seconds = args.seconds or (1.5 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 3)
    rows: dict[str, list] = {k: [] for k in ("chromium", "http", "alone", "trainer", "torch")}
    handle, why = browser_page()
    with PlaygroundServer() as server:
        alone(0.5)  # the first recordings and imports, outside the timing
        for _ in range(rounds):
            if handle is not None:
                rows["chromium"].append(in_chromium(server, handle[2], seconds))
            rows["http"].append(over_http(server, seconds))
            rows["alone"].append(alone(seconds))
            rows["trainer"].append(trainer_only(seconds))
            rows["torch"].append(pytorch(seconds))
    if handle is not None:
        handle[1].close()
        handle[0].stop()

    def median(key: str, field: str = "eps") -> Optional[float]:
        values = [r[field] for r in rows[key] if r is not None]
        return statistics.median(values) if values else None

    torch_eps = median("torch")
    names = {"chromium": "playground, page in Chromium", "http": "playground, frames over HTTP",
             "alone": "playground, no frames", "trainer": "Trainer, compiled (no metrics)", "torch": "PyTorch"}
    table_rows = []
    for key, name in names.items():
        eps = median(key)
        note = why if key == "chromium" and eps is None else "not installed" if eps is None else ""
        if key == "http":
            note = (f"frame {median('http', 'frame_ms'):.1f} ms, {median('http', 'frame_kb'):.0f} kB, "
                    f"{int(median('http', 'frames'))} frames")
        if key == "chromium" and eps is not None:
            note = f"the page showed {median('chromium', 'shown'):.0f} epochs/s"
        table_rows.append([name, eps, common.ratio(eps, TARGET), common.ratio(eps, torch_eps), note])
    tables = [common.table(f"epochs per second (median of {rounds} rounds of {seconds:g} s)",
                           ["row", "epochs/s", "vs target 20/s", "vs PyTorch", "note"], table_rows, align="lrrrl")]
    targets = []
    for key in ("chromium", "http"):
        eps = median(key)
        if eps is not None:
            targets.append(common.target(f"{names[key]}: epochs/s", eps, ">=", TARGET, unit=""))
    return {"tables": tables, "targets": targets,
            "rows": {k: [r for r in v if r is not None] for k, v in rows.items()}}


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark (exit status 0)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: one round of 1.5 s per row")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per row and round (default 5)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return common.run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
