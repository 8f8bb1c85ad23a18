"""The playground's Python side: settings, the network, a run's training, frames and the explorer view.

The server and the page have their own tests (test_playground_server.py, test_playground_browser.py).
"""

from __future__ import annotations

import base64
import re
import time
import warnings

import numpy as np
import pytest

import microgradx
from microgradx import Value, hookimpl
from microgradx.engine.op import Op
from microgradx.playground import Network, Run, RunError, Settings, SettingsError, explore_page, parse
from microgradx.playground.frames import GRID
from microgradx.playground.model import load_dataset, playground_datasets
from microgradx.playground.settings import parse_partial, unary_ops

pytest.importorskip("sklearn")

DATASETS = ("moons", "circles", "xor", "spiral", "blobs", "bumps")


def decode(text: str) -> np.ndarray:
    """A heat map's bytes as numbers in [-1, 1]."""
    return np.frombuffer(base64.b64decode(text), dtype=np.int8) / 127.0


@pytest.fixture
def run():
    r = Run(Settings(), DATASETS)
    yield r
    r.close()


# -- settings ------------------------------------------------------------------------------------


def test_the_defaults_round_trip_through_the_url():
    s = Settings()
    assert parse(s.query(), Settings(dataset="xor", layers=(3,), acts=("relu",)), DATASETS) == s
    assert s.query()["layers"] == "8,8" and s.query()["acts"] == "tanh,tanh" and s.query()["speed"] == "30"
    assert parse({"speed": "max", "layers": "", "acts": ""}, s, DATASETS).speed is None


@pytest.mark.parametrize("values, message", [
    ({"layers": "8,0"}, "hidden layers: layer 2 needs 1 to 32 neurons, got 0"),
    ({"layers": "8,x"}, "hidden layers: layer 2 needs a whole number of neurons, got 'x'"),
    ({"layers": ",".join(["2"] * 9)}, "at most 8 hidden layers"),
    ({"lr": "-1"}, "learning rate: must be a positive number, got '-1'"),
    ({"lr": "fast"}, "learning rate: must be a number, got 'fast'"),
    ({"lr": "nan"}, "learning rate: must be a positive number"),
    ({"acts": "tanh,nope"}, "activations: layer 2: no unary op named 'nope' is registered; choose linear or one of"),
    ({"acts": "add,tanh"}, "no unary op named 'add'"),
    ({"dataset": "mnist"}, "dataset: no dataset 'mnist' here; choose one of moons, circles"),
    ({"loss": "focal"}, "loss: no loss named 'focal' is registered"),
    ({"optimizer": "lbfgs"}, "optimizer: no optimizer named 'lbfgs' is registered; choose one of adam, sgd"),
    ({"test": "1"}, "test share: must be a fraction from 0.05 to 0.95"),
    ({"samples": "5"}, "points: must be a whole number from 20 to 5000"),
    ({"batch": "0"}, "batch size: must be a whole number >= 1"),
    ({"l2": "-0.1"}, "L2: must be a number >= 0"),
    ({"speed": "0"}, "speed: must be 'max' or epochs per second from 1 to 1000"),
    ({"seed": "1.5"}, "seed: must be a whole number, got '1.5'"),
    ({"colour": "red"}, "colour: is not a setting of the playground"),
])
def test_a_bad_setting_is_refused_with_the_name_the_page_shows(values, message):
    with pytest.raises(SettingsError) as caught:
        parse(values, Settings(), DATASETS)
    assert message in str(caught.value)


def test_every_bad_setting_is_named_and_the_good_ones_kept_when_a_url_loads():
    settings, problems = parse_partial({"lr": "-1", "layers": "4,0", "noise": "0.3", "acts": "relu"}, Settings(),
                                       DATASETS)
    assert set(problems) == {"lr", "layers"}
    assert settings.lr == Settings().lr and settings.layers == (8, 8) and settings.noise == 0.3
    assert settings.acts == ("relu", "relu")  # one activation given: the next layers take the last one


def test_adding_and_removing_layers_keeps_the_activations_of_the_others():
    s = parse({"acts": "relu,sigmoid"}, Settings(), DATASETS)
    assert parse({"layers": "8,8,3"}, s, DATASETS).acts == ("relu", "sigmoid", "sigmoid")
    assert parse({"layers": "8"}, s, DATASETS).acts == ("relu",)
    assert parse({"layers": ""}, s, DATASETS).acts == ()


# -- the network -----------------------------------------------------------------------------------


def test_each_layer_has_its_own_activation_and_the_page_numbering(rng):
    net = Network(2, [3, 2], ["relu", "sigmoid"], 1, seed=4)
    X = rng.normal(size=(7, 2))
    h = X
    for i, layer in enumerate(net.layers):
        W = np.array([[w.data for w in n.parameters()[:-1]] for n in layer.neurons])
        b = np.array([n.parameters()[-1].data for n in layer.neurons])
        h = h @ W.T + b
        h = np.maximum(h, 0) if i == 0 else 1 / (1 + np.exp(-h)) if i == 1 else h
    np.testing.assert_allclose(net(X)[0].data, h[:, 0], atol=1e-13)
    assert [p.label for p in net.layers[1].neurons[1].parameters()] == ["w2-2-1", "w2-2-2", "w2-2-3", "b2-2"]
    assert net.nouts == [3, 2, 1] and repr(net) == "Network(2 inputs: 3 relu, 2 sigmoid, 1 linear)"
    twin = net.copy(fused=False)
    assert twin.weights() == net.weights() and twin.layers[0].neurons[0].fused is False
    np.testing.assert_allclose(twin(X)[0].data, h[:, 0], atol=1e-13)
    with pytest.raises(ValueError, match="2 hidden layers need 2 activations"):
        Network(2, [3, 2], ["relu"], 1)


# -- the datasets and a model ------------------------------------------------------------------------


def test_the_playground_offers_the_bundled_2d_datasets_that_generate_points():
    assert playground_datasets() == DATASETS  # not iris or breast_cancer (more features, no noise)


def test_a_dataset_that_is_not_2d_is_refused_naming_its_columns(tmp_path):
    from helpers.files import write_csv

    path = write_csv(tmp_path / "three.csv", ["a", "b", "c", "label"], [[i, i % 3, i % 5, i % 2] for i in range(40)])
    with pytest.raises(ValueError, match=r"two features, and three.csv has 3 \(a, b, c\)"):
        load_dataset(Settings(dataset="csv"), str(path), "three.csv")
    with pytest.raises(ValueError, match="no CSV file here: upload one, or start the playground with --data"):
        load_dataset(Settings(dataset="csv"), None)


def test_training_uses_compiled_steps_one_recording_per_network_shape(run):
    model = run.model
    assert model.trainer.compile and type(model.trainer._steps).__name__ == "CompiledSteps"
    for _ in range(5):
        run.train_epoch()
    assert run.epoch == 5 and len(run.history["test_loss"]) == 6  # epoch 0 (before training), then 1..5
    assert run.history["train_loss"][-1] < run.history["train_loss"][0]
    assert model.trainer._steps._step.recordings == 1
    run.frame()
    assert model.probe.recordings == 1  # one recording for the grid (2500 rows) and the points (200)
    run.apply({"batch": "32"})  # 100 training points: batches of 32, 32, 32 and 4, one recording
    run.train_epoch()
    assert run.model.trainer._steps._step.recordings == 1
    run.apply({"layers": "5"})  # another network shape: its own recording (of a new Trainer and probe)
    run.train_epoch()
    assert run.model.trainer._steps._step.recordings == 1 and run.model is not model


def test_every_frames_heat_maps_come_from_one_compiled_call_on_the_whole_grid(run):
    model = run.model
    calls = []
    probe = model.probe
    model.probe = lambda X: calls.append(X.shape) or probe(X)
    run.train_epoch()
    calls.clear()
    frame = run.frame()
    assert calls == [(GRID * GRID, 2)] and GRID >= 50
    assert run.frame(since=1, generation=run.generation, version=run.version).get("heat") is None  # nothing new
    assert calls == [(GRID * GRID, 2)]
    # the pictures are the network's outputs over the grid (eagerly, here), as bytes
    eager = model.network.forward_all(model.grid)
    for layer, maps in zip(eager, frame["heat"]):
        for v, h in zip(layer, maps):
            np.testing.assert_allclose(decode(h["data"]) * h["scale"], v.data, atol=h["scale"] / 127 * 0.51)
    z = eager[-1][0].data
    np.testing.assert_allclose(decode(frame["boundary"]["data"]), np.tanh(z / 2), atol=0.51 / 127)
    assert [len(layer) for layer in frame["weights"]] == [8, 8, 1] and len(frame["weights"][1][0]) == 9
    assert frame["describe"]["sizes"] == [2, 8, 8, 1] and len(frame["describe"]["points"]) == 200


def test_the_shown_metrics_are_the_losses_and_accuracies_of_the_network_now(run):
    for _ in range(3):
        run.train_epoch()
    model, data = run.model, run.model.data
    out = model.network(data.X_test)
    expected = model.loss(out, data.y_test)
    assert run.latest()["test_loss"] == pytest.approx(float(expected.data), rel=1e-12)
    accuracy = np.mean((out[0].data > 0).astype(int) == data.y_test)
    assert run.latest()["test_accuracy"] == pytest.approx(accuracy)


@pytest.mark.parametrize("name", DATASETS)
def test_every_dataset_trains_and_draws(name):
    r = Run(Settings(dataset=name, layers=(4,), acts=("tanh",)), DATASETS)
    try:
        r.train_epoch()
        frame = r.frame()
        kind = frame["boundary"]["kind"]
        assert kind == ("values" if name == "bumps" else "binary")
        assert r.state == "paused" and r.epoch == 1 and np.isfinite(r.latest()["train_loss"])
    finally:
        r.close()


def test_three_classes_draw_each_class_with_its_confidence(tmp_path):
    from helpers.files import write_csv

    g = np.random.default_rng(0)
    rows = [[float(x), float(y), ["red", "green", "blue"][k]] for k in range(3) for x, y in g.normal(3 * k, 1, (30, 2))]
    path = write_csv(tmp_path / "three.csv", ["x", "y", "colour"], rows)
    r = Run(Settings(dataset="csv", layers=(4,), acts=("tanh",)), DATASETS, str(path), "three.csv")
    try:
        frame = r.frame()
        assert frame["boundary"]["kind"] == "classes" and r.settings.loss == "auto"
        assert frame["describe"]["classes"] == ["blue", "green", "red"] and frame["describe"]["loss"] == "softmax_ce"
        classes = np.frombuffer(base64.b64decode(frame["boundary"]["classes"]), dtype=np.uint8)
        assert set(classes) <= {0, 1, 2} and len(classes) == GRID * GRID
    finally:
        r.close()


# -- a run: controls, settings, failures -------------------------------------------------------------


def wait_for(condition, timeout=10.0):
    """Wait until ``condition()`` is true (a training thread is at work meanwhile)."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_play_trains_in_a_thread_until_pause_and_step_trains_one_epoch(run):
    run.apply({"speed": "max"})
    run.control("play")
    wait_for(lambda: run.epoch >= 20)
    run.control("pause")
    with run.lock:
        stopped = run.epoch
    time.sleep(0.1)
    assert run.epoch == stopped and run.state == "paused"
    run.control("step")
    assert run.epoch == stopped + 1 and run.state == "paused"
    assert run.frame()["rate"] > 0


def test_a_playing_run_closes_and_reports_at_once_not_when_it_would_idle():
    """close() and latest() wait for the epoch in progress, not for the training thread to let go (30 s idle)."""
    r = Run(Settings(speed=None), DATASETS)
    r.control("play")
    wait_for(lambda: r.epoch >= 5)
    start = time.perf_counter()
    assert np.isfinite(r.latest()["train_loss"])
    r.close()
    assert time.perf_counter() - start < 5.0  # one epoch is milliseconds; before, this took the 30 s IDLE_PAUSE
    r._thread.join(timeout=5.0)
    assert not r._thread.is_alive() and r.state == "paused"


def test_the_speed_setting_caps_the_epochs_per_second(run):
    run.apply({"speed": "20"})
    run.control("play")
    time.sleep(1.0)
    run.control("pause")
    assert 10 <= run.epoch <= 24


def test_reset_starts_again_from_the_same_seeded_weights(run):
    first = run.model.network.weights()
    for _ in range(3):
        run.train_epoch()
    assert run.model.network.weights() != first
    generation = run.generation
    run.control("reset")
    assert run.epoch == 0 and run.generation == generation + 1 and run.model.network.weights() == first
    assert len(run.history["train_loss"]) == 1


def test_two_runs_do_not_share_weights_or_settings():
    a, b = Run(Settings(), DATASETS), Run(Settings(), DATASETS)
    try:
        before = b.model.network.weights()
        a.apply({"speed": "max"})
        a.control("play")
        wait_for(lambda: a.epoch >= 10)
        b.apply({"lr": "0.5"})
        a.control("pause")
        assert b.epoch == 0 and b.model.network.weights() == before
        assert a.settings.lr == 0.03 and b.settings.lr == 0.5
    finally:
        a.close()
        b.close()


def test_the_learning_rate_changes_live_and_the_optimizer_keeps_the_weights(run):
    for _ in range(2):
        run.train_epoch()
    weights = run.model.network.weights()
    trainer = run.model.trainer
    run.apply({"lr": "0.1"})
    assert run.model.trainer is trainer and trainer.optimizer.lr == 0.1 and run.epoch == 2
    run.apply({"optimizer": "adam", "batch": "20", "l2": "0.001"})  # a new Trainer, the same weights
    assert run.model.trainer is not trainer and run.model.network.weights() == weights and run.epoch == 2
    assert run.model.loss.l2 == 0.001 and run.model.trainer.batch_size == 20
    run.train_epoch()
    assert run.epoch == 3 and type(run.model.trainer.optimizer).__name__ == "Adam"
    run.apply({"layers": "4"})  # a new network: from epoch 0
    assert run.epoch == 0 and run.model.network.nouts == [4, 1]


@pytest.mark.parametrize("values", [{"layers": "8,0"}, {"lr": "-1"}, {"acts": "tanh,nope"},
                                    {"dataset": "bumps", "loss": "bce"}, {"acts": "log,tanh"}, {"dataset": "csv"}])
def test_bad_settings_change_nothing(run, values):
    run.train_epoch()
    before = (run.settings, run.model, run.epoch, run.model.network.weights(), run.generation)
    with pytest.raises(ValueError):
        run.apply(values)
    assert (run.settings, run.model, run.epoch, run.model.network.weights(), run.generation) == before


def test_a_diverging_run_says_so_once_and_reset_recovers():
    r = Run(Settings(layers=(8,), acts=("linear",), lr=3.0, batch=200), DATASETS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(30):
                r.train_epoch()
                if r.state == "diverged":
                    break
        assert r.state == "diverged" and "the training loss grew from" in r.message and "lr=3" in r.message
        assert not r.broken  # the weights are numbers still: play may go on, if the user insists
        r.control("reset")
        assert r.state == "paused" and r.message is None and r.epoch == 0
    finally:
        r.close()


def test_a_loss_that_becomes_nan_stops_the_run_until_reset():
    r = Run(Settings(acts=("exp", "exp"), lr=50.0), DATASETS)
    try:
        r.train_epoch()
        assert r.state == "diverged" and r.broken and "the loss became nan" in r.message
        with pytest.raises(RunError, match="Press reset to start again"):
            r.control("play")
        r.control("reset")
        assert r.state == "paused" and not r.broken and r.epoch == 0 and r.message is None
        r.apply({"lr": "0.03"})
        r.control("step")
        assert r.state == "paused" and r.epoch == 1
    finally:
        r.close()


def test_an_op_that_refuses_its_input_during_training_stops_the_run_with_its_message():
    class Refuses:
        op = Op(name="picky", doc="x, refusing numbers above 10", forward=lambda x: x,
                backward=lambda g, out, x: (g,), check=lambda x: _refuse_above(x, 10.0))

        @hookimpl
        def microgradx_register_ops(self, register):
            register(self.op)

    with microgradx.plugin_registered(Refuses(), name="picky-plugin"):
        r = Run(Settings(acts=("picky",), layers=(4,), lr=5.0, batch=200, speed=None), DATASETS)
        try:
            for _ in range(50):
                r.train_epoch()
                if r.state == "failed":
                    break
            assert r.state == "failed" and r.message.startswith("Training stopped in epoch")
            assert "picky" in r.message and "above 10" in r.message
        finally:
            r.close()


def _refuse_above(x, limit):
    if np.any(np.asarray(x) > limit):
        raise ValueError(f"op 'picky': a number above {limit:g}")


def test_a_third_party_unary_op_is_an_activation_choice(fresh_registry):
    class Softsign:
        op = Op(name="softsign", doc="x / (1 + |x|)", forward=lambda x: x / (1.0 + abs(x)),
                backward=lambda g, out, x: (g / (1.0 + abs(x)) ** 2,))

        @hookimpl
        def microgradx_register_ops(self, register):
            register(self.op)

    assert "softsign" not in unary_ops()
    with microgradx.plugin_registered(Softsign(), name="softsign-plugin"):
        assert "softsign" in unary_ops() and "add" not in unary_ops() and "tanh" in unary_ops()
        r = Run(parse({"acts": "softsign,tanh"}, Settings(), DATASETS), DATASETS)
        try:
            r.train_epoch()
            assert r.model.network.layers[0].neurons[0].activation == "softsign" and r.epoch == 1
        finally:
            r.close()


# -- opening a neuron or a weight ---------------------------------------------------------------------


def test_a_neuron_opens_with_the_numbers_of_the_moment(run):
    for _ in range(3):
        run.train_epoch()
    network, data, loss = run.weights_snapshot()
    page = explore_page(network, data, loss, 2, 3, example=5)
    x = data.X_train[4]
    fused = run.model.network.forward_all(x.tolist())
    assert "neuron 2-3: its output for train example 5" in page
    steps = page[page.index('id="mgx-steps"'):]
    assert f"{fused[1][2].data:.5g}"[:6] in steps  # the neuron's output, as the explorer prints it
    group = r'<g class="node group"[^>]*>\s*<rect[^>]*/>\s*<text class="field-label"[^>]*>([^<]+)<'
    assert sorted(re.findall(group, page)) == [f"h1-{n}" for n in range(1, 9)]  # layer 1's neurons, by name
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert ">w2-3-1<" in svg and ">w1-1-1<" not in svg  # this one op by op, the others' weights inside them


def test_a_weight_opens_the_examples_loss_and_its_gradient_is_the_training_signal(run):
    network, data, loss = run.weights_snapshot()
    page = explore_page(network, data, loss, 1, 2, weight=1, example=1, split="test")
    assert "weight w1-2-1: the loss for test example 1" in page and "loss" in page
    # the grad the page shows for w1-2-1 is d(loss)/dw, as a backward pass computes it
    xs = [Value(float(v)) for v in data.X_test[0]]
    twin = run.model.network.copy(fused=False)
    out = loss(twin(xs), np.asarray([data.y_test[0]]))
    out.backward()
    grad = twin.layers[0].neurons[1].parameters()[0].grad
    from microgradx.draw import summarize

    assert abs(grad) > 1e-6 and summarize(grad, 5) in page[page.index('id="mgx-steps"'):]


def test_opening_what_the_network_does_not_have_is_refused(run):
    network, data, loss = run.weights_snapshot()
    assert "neuron 3-1" in explore_page(network, data, loss, 3, 1)  # the output neuron opens too
    for args, kwargs, message in [
        ((3, 2), {}, "neuron of layer 3 must be from 1 to 1, got 2"),
        ((4, 1), {}, "layer must be from 1 to 3, got 4"),
        ((2, 9), {}, "neuron of layer 2 must be from 1 to 8, got 9"),
        (("x", 1), {}, "layer must be a whole number from 1 to 3, got 'x'"),
        ((1, 1), {"example": 101}, "train example must be from 1 to 100, got 101"),
        ((1, 1), {"weight": 3}, "weight of neuron 1-1 must be from 1 to 2, got 3"),
        ((1, 1), {"split": "validation"}, "split must be one of train, test"),
        ((1, 1), {"root": "grad"}, "root must be one of output, loss"),
    ]:
        with pytest.raises(ValueError, match=message):
            explore_page(network, data, loss, *args, **kwargs)


def test_the_docs_list_every_setting_and_show_the_screenshots():
    import re
    from pathlib import Path

    import attrs

    doc = (Path(__file__).resolve().parents[1] / "docs" / "playground.md").read_text(encoding="utf-8")
    table = doc[doc.index("| key | meaning | default |"):]
    table = table[:table.index("\n\n")]
    keys = {k for row in re.findall(r"^\| (`.*?`) \|", table, re.M) for k in re.findall(r"`(\w+)`", row)}
    assert keys == {f.name for f in attrs.fields(Settings)}
    for row in table.splitlines()[2:]:  # each default is Settings()'s
        names, default = re.findall(r"`(\w+)`", row.split("|")[1]), row.split("|")[3]
        for name, value in zip(names, re.findall(r"`([^`]*)`", default)):
            assert Settings().query()[name] == value, (name, value)
    for image in re.findall(r"\]\((\S+\.png)\)", doc):
        assert (Path(__file__).resolve().parents[1] / "docs" / image).stat().st_size > 20_000
