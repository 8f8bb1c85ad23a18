"""The playground in a real browser: Debian's Chromium, headless, driven by Playwright.

Nothing downloads a browser: Playwright starts the system's ``chromium`` (``.ci/run`` installs
Debian's package); without it, or without the ``playwright`` package, these tests skip and say
what to install. One server and one browser serve the module; each test opens its own tabs.

The walk-through test also makes the screenshots of docs/playground.md: they are written to
the test's temporary folder, and to docs/ when ``MICROGRADX_SCREENSHOTS=docs`` is set
(``MICROGRADX_SCREENSHOTS=docs pytest tests/test_playground_browser.py``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from helpers.browser import NEEDS_A_BROWSER

from microgradx.draw import summarize
from microgradx.playground import PlaygroundServer

DOCS = Path(__file__).resolve().parent.parent / "docs"

pytestmark = NEEDS_A_BROWSER


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("sklearn")
    with PlaygroundServer() as s:
        yield s


class Tab:
    """The playground open in a tab, recording console errors and every request (its frames' too)."""

    def __init__(self, browser, server, query: str = ""):
        self.server = server
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(server.url + query)
        self.page.wait_for_selector("body[data-ready=true]", timeout=15000)

    def __call__(self, testid: str):
        return self.page.locator(f'[data-testid="{testid}"]')

    def text(self, testid: str) -> str:
        return self(testid).text_content()

    @property
    def run(self):
        return self.server.runs[self.page.get_attribute("body", "data-run")]

    def settings(self) -> dict:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.page.url).query).items()}

    def wait(self, condition, timeout: float = 20.0, what: str = "") -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            self.page.wait_for_timeout(50)

    def set_text(self, testid: str, value: str) -> None:
        self(testid).fill(value)
        self(testid).press("Enter")

    def message(self) -> str:
        return self.text("message") if self("message").is_visible() else ""

    def assert_local_and_clean(self, refused: int = 0) -> None:
        """No request left 127.0.0.1, and the console shows no error but the ``refused`` 400 answers
        (Chromium logs each one; they are the server refusing bad settings)."""
        local = [u for u in self.requests if u.startswith(self.server.url) or u.split(":")[0] in ("data", "blob")]
        assert local == self.requests, f"requests that left the server: {set(self.requests) - set(local)}"
        answers = [e for e in self.errors if "the server responded with a status of 400" in e]
        assert len(answers) == refused and len(self.errors) == refused, f"console errors: {self.errors}"
        self.page.close()


def shoot(locator_or_page, name: str, tmp_path: Path, **options) -> Path:
    path = tmp_path / name
    locator_or_page.screenshot(path=str(path), **options)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    if os.environ.get("MICROGRADX_SCREENSHOTS") == "docs":
        shutil.copyfile(path, DOCS / name)
    return path


def field(frame, label: str, name: str) -> str:
    """The text of field ``name`` (data, grad) of the explorer's node labelled ``label``."""
    node = frame.locator("g.node", has=frame.locator(".field-label", has_text=label)).first
    return node.locator(f".field-{name}").text_content()


def test_moons_two_layers_to_95_percent_then_open_a_neuron_and_step_its_backward_pass(browser, server, tmp_path):
    tab = Tab(browser, server, "?dataset=circles&layers=4&acts=tanh&speed=100")
    assert tab("neuron-1-4").count() == 1 and tab("neuron-2-1").count() == 1  # the output: layer 2
    assert tab("neuron-3-1").count() == 0
    tab("dataset").select_option("moons")  # pick moons
    tab.wait(lambda: tab.settings().get("dataset") == "moons", what="moons")
    tab("add-layer").click()  # two hidden layers, of 8 neurons each
    tab.wait(lambda: tab("neuron-3-1").count() == 1, what="a second hidden layer")
    tab.set_text("layer-1-neurons", "8")
    tab.wait(lambda: tab("neuron-1-8").count() == 1, what="8 neurons in layer 1")
    tab.set_text("layer-2-neurons", "8")
    tab.wait(lambda: tab("neuron-2-8").count() == 1, what="8 neurons in layer 2")
    assert tab.settings()["layers"] == "8,8" and tab.run.model.network.nouts == [8, 8, 1]
    assert tab.text("epoch") == "0" and tab.message() == ""
    tab("step").click()  # one epoch
    tab.wait(lambda: tab.text("epoch") == "1", what="one epoch")
    assert tab.run.epoch == 1 and tab.text("state") == "paused"
    assert float(tab.text("train-loss")) == pytest.approx(tab.run.latest()["train_loss"], abs=6e-4)

    tab("play").click()  # and wait until the test accuracy shown reaches 95%
    tab.wait(lambda: tab.text("test-accuracy") not in ("-", "") and float(tab.text("test-accuracy")) >= 95.0,
             what="95% test accuracy")
    tab("pause").click()
    tab.wait(lambda: tab.text("state") == "paused", what="paused")
    epochs = int(tab.text("epoch"))
    assert epochs > 0 and tab.run.epoch == epochs
    assert float(tab.text("test-accuracy")) == pytest.approx(100 * tab.run.latest()["test_accuracy"], abs=0.05)
    assert float(tab.text("test-loss")) == pytest.approx(tab.run.latest()["test_loss"], abs=6e-4)
    tab.page.wait_for_timeout(300)  # the last frame's heat maps
    shoot(tab.page, "playground.png", tmp_path, clip={"x": 0, "y": 0, "width": 1400, "height": 640})
    colours = tab.page.evaluate("""() => {  // the boundary's heat map: both classes' colours, under the points
        const c = document.querySelector('[data-testid="boundary"]'), d = c.getContext("2d");
        const at = (x, y) => Array.from(d.getImageData(x, y, 1, 1).data.slice(0, 3));
        return [at(2, 2), at(c.width - 3, c.height - 3)]; }""")
    assert colours[0] != colours[1] and all(c != [0, 0, 0] for c in colours)
    assert tab.text("example").startswith("Example for the graphs: train point 1 (")

    tab("neuron-2-1").click()  # open a neuron: the explorer's view of its graph, for train example 1
    frame = tab.page.frame_locator('[data-testid="explorer"]')
    frame.locator("#mgx-title").wait_for(timeout=15000)
    assert tab.text("explorer-title").startswith("neuron 2-1, train example 1, epoch")
    network, data = tab.run.model.network, tab.run.model.data
    expected = network.forward_all(data.X_train[0].tolist())[1][0].data
    frame.locator("#mgx-last").click()  # "done": every number computed
    assert field(frame, "h2-1", "data") == f"data {summarize(expected, 5)}"  # the numbers of that moment
    frame.locator("#mgx-backward").click()  # the seed, then the backward pass one node at a time
    assert field(frame, "h2-1", "grad") == "grad 1"
    frame.locator("#mgx-next").click()
    assert frame.locator("#mgx-title").text_content().startswith("Backward step 1 of")
    assert frame.locator("g.node.visited").count() >= 1 and frame.locator("g.changed").count() >= 1
    frame.locator("#mgx-next").click()
    assert frame.locator("#mgx-title").text_content().startswith("Backward step 2 of")
    shoot(tab("explorer-panel"), "playground-explorer.png", tmp_path)

    tab("weight-2-1-3").dispatch_event("click")  # a weight: the example's loss, with the weight a leaf
    tab.wait(lambda: "w2-1-3" in tab.text("explorer-title"), what="the weight's title")
    tab.wait(lambda: "weight w2-1-3: the loss for train example 1" in (frame.locator("h1").text_content() or ""),
             what="the weight's graph")  # (the frame loads it after the click)
    # another example: click the point drawn for test point 3 on the plane
    model = tab.run.model
    x, y = model.data.X_test[2]
    e, box = model.extent, tab("boundary").bounding_box()
    tab("boundary").click(position={"x": (x - e[0]) / (e[1] - e[0]) * box["width"],
                                    "y": (e[3] - y) / (e[3] - e[2]) * box["height"]})
    tab.wait(lambda: "example 1," not in tab.text("explorer-title"), what="another example")
    assert not tab.text("example").startswith("Example for the graphs: train point 1 (")
    tab.wait(lambda: "for train example 1 " not in (frame.locator("h1").text_content() or ""),
             what="the graph of another example")
    tab.assert_local_and_clean()


def test_a_setting_changed_on_the_page_is_applied_and_a_bad_one_changes_nothing(browser, server):
    tab = Tab(browser, server, "?layers=4,4&speed=max")
    tab.set_text("learning-rate", "0.1")
    tab.wait(lambda: tab.settings().get("lr") == "0.1", what="lr=0.1 in the URL")
    assert tab.run.settings.lr == 0.1 and tab.run.model.trainer.optimizer.lr == 0.1
    tab("layer-2-activation").select_option("relu")
    tab.wait(lambda: tab.settings().get("acts") == "tanh,relu", what="relu in layer 2")
    assert tab.run.model.network.layers[1].neurons[0].activation == "relu"
    tab.set_text("layer-1-neurons", "3")
    tab.wait(lambda: tab("neuron-1-4").count() == 0, what="3 neurons")
    assert tab("neuron-1-3").count() == 1 and tab.run.model.network.nouts == [3, 4, 1]

    before = tab.run.model
    tab.set_text("layer-1-neurons", "0")  # a layer of 0 neurons: a message, and nothing changes
    tab.wait(lambda: "layer 1 needs 1 to 32 neurons, got 0" in tab.message(), what="the message")
    assert tab("layer-1-neurons").input_value() == "3" and tab("neuron-1-3").count() == 1
    tab.set_text("learning-rate", "-1")
    tab.wait(lambda: "learning rate: must be a positive number, got '-1'" in tab.message(), what="the message")
    assert tab("learning-rate").input_value() == "0.1"
    assert tab.run.model is before and tab.settings()["lr"] == "0.1"
    tab.page.set_input_files('[data-testid="csv-file"]', files=[{
        "name": "broken.csv", "mimeType": "text/csv", "buffer": b"a,b,label\n1,2,0\n3,oops,1\n"}])
    tab.wait(lambda: "broken.csv" in tab.message(), what="the CSV's message")
    assert "oops" in tab.message() and "row 3" in tab.message() and tab.run.model is before
    tab.set_text("learning-rate", "0.05")  # a good setting clears the message
    tab.wait(lambda: tab.message() == "", what="no message")
    tab.assert_local_and_clean(refused=3)


def test_two_tabs_train_their_own_runs_and_the_url_reloads_a_configuration(browser, server):
    a = Tab(browser, server, "?speed=max&layers=6,3&acts=relu,sigmoid&lr=0.05&seed=3")
    b = Tab(browser, server, "?dataset=xor")
    assert a.run is not b.run
    assert a("layer-2-activation").input_value() == "sigmoid" and a("layer-1-neurons").input_value() == "6"
    assert a("learning-rate").input_value() == "0.05" and a("seed").input_value() == "3"
    a("play").click()
    a.wait(lambda: int(a.text("epoch")) >= 30, what="30 epochs")
    a("pause").click()
    assert b.text("epoch") == "0" and b.run.epoch == 0 and b.settings()["dataset"] == "xor"
    weights = a.run.model.network.weights()
    url = a.page.url
    a.page.reload()  # a new page session with the same settings: a fresh run from the same seed
    a.page.wait_for_selector("body[data-ready=true]")
    assert a.page.url == url and a.text("epoch") == "0" and a("layer-2-activation").input_value() == "sigmoid"
    fresh = a.run.model.network.weights()
    assert fresh != weights and np.shape(fresh[0]) == (6, 3)
    a.assert_local_and_clean()
    b.assert_local_and_clean()


@pytest.mark.filterwarnings("ignore::microgradx.train.DivergenceWarning")  # (the run's thread warns too)
def test_a_diverging_run_shows_it_and_reset_starts_again(browser, server):
    tab = Tab(browser, server, "?layers=8&acts=linear&lr=3&batch=200&speed=max")
    tab("play").click()
    tab.wait(lambda: tab.text("state") == "diverged", what="the divergence")
    assert "Diverged: the training loss grew from" in tab.message() and "lr=3" in tab.message()
    tab("reset").click()
    tab.wait(lambda: tab.text("state") == "paused" and tab.text("epoch") == "0", what="the reset")
    assert tab.message() == ""
    tab.assert_local_and_clean()
