"""Training callbacks: progress, log, early_stopping, checkpoint, and the event plumbing around them."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import types

import numpy as np
import pytest

from microgradx import get_registry, hookimpl, modelfile
from microgradx.datasets import Dataset
from microgradx.train import Trainer
from microgradx_plugins.callbacks import Checkpoint, EarlyStopping, Log, Progress


def blobs(n_train=80, n_test=40, flip=0.15, seed=0) -> Dataset:
    """Two overlapping Gaussian blobs with some labels flipped: a network soon overfits them."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) + 0.8 * (2 * y[:, None] - 1)
    y = np.where(rng.random(n) < flip, 1 - y, y)
    return Dataset(name="blobs", X_train=X[:n_train], y_train=y[:n_train], X_test=X[n_train:], y_test=y[n_train:],
                   task="binary", n_classes=2)


def trainer(callbacks, epochs=60, **kw) -> Trainer:
    settings = dict(dataset=blobs(), hidden=(32, 32), optimizer="adam", lr=0.03, epochs=epochs, batch_size=16,
                    schedule="constant")
    settings.update(kw)
    return Trainer(callbacks=callbacks, **settings)


def test_the_four_callbacks_are_registered_by_name():
    names = get_registry().names("callbacks")
    assert {"progress", "log", "early_stopping", "checkpoint"} <= set(names)
    t = trainer(["early_stopping", "progress"], epochs=1)
    assert [type(cb) for cb in t.callbacks] == [EarlyStopping, Progress]


# -- early stopping ---------------------------------------------------------------------------


def fake_trainer():
    return types.SimpleNamespace(should_stop=False, model=None)


@pytest.mark.parametrize("monitor, values, patience, min_delta, stop_at, best", [
    ("test_loss", [1.0, 0.9, 0.95, 0.96, 0.97, 0.5], 3, 0.0, 5, 0.9),        # 3 epochs without a lower loss
    ("test_loss", [1.0, 0.9, 0.89, 0.88, 0.87], 3, 0.05, 5, 0.9),           # tiny improvements don't count
    ("test_accuracy", [0.5, 0.7, 0.7, 0.8, 0.8, 0.8, 0.9], 2, 0.0, 6, 0.8),  # accuracies: higher is better
    ("loss", [3.0, 2.0, 1.0, 0.5], 1, 0.0, None, 0.5),                       # always improving: never stops
])
def test_early_stopping_stops_after_patience_epochs_without_improvement(monitor, values, patience, min_delta,
                                                                       stop_at, best):
    es = EarlyStopping(monitor=monitor, patience=patience, min_delta=min_delta, restore_best=False)
    t = fake_trainer()
    es.microgradx_train_start(t)
    for epoch, value in enumerate(values):
        es.microgradx_epoch_end(t, epoch, {"loss": 1.0, monitor: value})
        if t.should_stop:
            break
    assert es.stopped_epoch == stop_at
    assert t.should_stop == (stop_at is not None)
    assert es.best == best


def test_early_stopping_ends_a_real_run_at_the_right_epoch_and_restores_the_best_weights(tmp_path):
    es = EarlyStopping(patience=4)  # restore_best is the default, as in scikit-learn
    assert es.restore_best
    cp = Checkpoint(path=str(tmp_path / "best.json"))
    t = trainer([es, cp], epochs=200)
    history = t.fit()
    assert history.stopped_early and len(history) < 200
    assert es.stopped_epoch == len(history)
    losses = history.test_loss
    assert es.best == min(losses) == losses[es.best_epoch - 1]
    assert len(history) - es.best_epoch == 4  # exactly `patience` epochs after the best one
    # the weights put back are those of the best epoch, which the checkpoint saved
    assert cp.best_epoch == es.best_epoch
    assert t.model.get_weights() == modelfile.load(cp.path).get_weights()
    assert t.evaluate(t.dataset.X_test, t.dataset.y_test)["loss"] == pytest.approx(es.best, rel=1e-12)
    assert es.restored


def test_early_stopping_restores_the_best_weights_when_the_run_ends_without_stopping_and_can_keep_the_last():
    for restore in (True, False):
        es = EarlyStopping(patience=1000, restore_best=restore)
        t = trainer([es], epochs=40)
        history = t.fit()
        assert not history.stopped_early and es.best_epoch < 40  # the blobs overfit: the best epoch is early
        final = t.evaluate(t.dataset.X_test, t.dataset.y_test)["loss"]
        if restore:
            assert es.restored and final == pytest.approx(es.best, rel=1e-12)
        else:
            assert not es.restored and final == pytest.approx(history.test_loss[-1], rel=1e-12) and final > es.best


def test_early_stopping_by_name_with_settings_in_python():
    t = trainer(["early_stopping:patience=3:monitor=loss", "progress:every=5"], epochs=2)
    es, progress = t.callbacks
    assert (es.patience, es.monitor, progress.every) == (3, "loss", 5)
    with pytest.raises(ValueError, match=r"callback 'early_stopping' has no setting 'wait' \(its settings: min"):
        trainer(["early_stopping:wait=3"], epochs=1)
    with pytest.raises(ValueError, match="expected NAME:KEY=VALUE"):
        trainer(["early_stopping:patience"], epochs=1)


def test_early_stopping_with_an_unknown_metric_names_the_metrics():
    with pytest.raises(KeyError, match="monitor='val_loss' is not a metric of this run; the metrics are loss, lr"):
        trainer([EarlyStopping(monitor="val_loss")], epochs=2).fit()


@pytest.mark.parametrize("cls, settings, message", [
    (EarlyStopping, {"patience": 0}, "patience must be a positive integer, got 0"),
    (EarlyStopping, {"min_delta": -1}, "min_delta must be a number >= 0"),
    (EarlyStopping, {"mode": "up"}, "mode must be one of auto, min, max"),
    (Checkpoint, {"path": ""}, "path must be a file path"),
    (Log, {"format": "xml"}, "format must be one of jsonl, csv"),
    (Progress, {"every": 0}, "every must be a positive integer"),
])
def test_bad_callback_settings_fail_at_construction(cls, settings, message):
    with pytest.raises(ValueError, match=message):
        cls(**settings)


# -- checkpoint ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_checkpoint_writes_the_best_model_of_the_run(tmp_path, suffix):
    cp = Checkpoint(path=str(tmp_path / f"best{suffix}"))
    t = trainer([cp], epochs=25)
    history = t.fit()
    best = int(np.argmin(history.test_loss))
    assert cp.best_epoch == best + 1 and cp.best == history.test_loss[best]
    assert 1 <= cp.saves <= 25
    saved = modelfile.read(cp.path)
    assert saved.meta["epoch"] == best + 1 and saved.meta["monitor"] == "test_loss"
    assert saved.meta["loss"] == "bce" and saved.meta["dataset"] == "blobs"
    assert best < len(history) - 1  # the blobs overfit: the best epoch is not the last one
    final = t.evaluate(t.dataset.X_test, t.dataset.y_test)["loss"]
    assert final == pytest.approx(history.test_loss[-1], rel=1e-12) and final > cp.best
    # the saved model really is the best epoch's: its test loss is that epoch's
    t.model.set_weights(modelfile.load(cp.path).get_weights())
    assert t.evaluate(t.dataset.X_test, t.dataset.y_test)["loss"] == pytest.approx(cp.best, rel=1e-12)


def test_checkpoint_every_epoch_and_by_accuracy(tmp_path):
    cp = Checkpoint(path=str(tmp_path / "m.json"), monitor="train_accuracy", save_best_only=False)
    history = trainer([cp], epochs=6).fit()
    assert cp.saves == 6
    assert modelfile.read(cp.path).meta["epoch"] == 6
    assert cp.best == max(history.train_accuracy)


def test_checkpoint_into_a_missing_directory_fails_before_training(tmp_path):
    t = trainer([Checkpoint(path=str(tmp_path / "no" / "m.json"))], epochs=3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        t.fit()
    assert len(t.history) == 0


# -- log -----------------------------------------------------------------------------------------


def test_log_writes_one_json_record_per_epoch(tmp_path):
    path = tmp_path / "log.jsonl"
    log = Log(path=str(path))
    history = trainer([log], epochs=5).fit()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["loss"] for r in records] == history.loss
    assert [r["test_accuracy"] for r in records] == history.test_accuracy
    assert records == log.records
    trainer([log], epochs=2).fit()  # a new run starts a new file
    assert len(path.read_text().splitlines()) == 2


def test_log_writes_csv_with_a_header(tmp_path):
    path = tmp_path / "log.csv"
    history = trainer([Log(path=str(path))], epochs=4).fit()
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4
    assert [float(r["train_accuracy"]) for r in rows] == history.train_accuracy
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]


def test_log_without_a_path_uses_the_logging_module(caplog):
    with caplog.at_level(logging.INFO, logger="microgradx.train"):
        trainer([Log()], epochs=3).fit()
    messages = [r.getMessage() for r in caplog.records if r.name == "microgradx.train"]
    assert len(messages) == 3 and messages[0].startswith("epoch 1: {")


# -- progress ------------------------------------------------------------------------------------


def test_progress_prints_a_line_per_epoch_and_a_summary():
    out = io.StringIO()
    trainer([Progress(stream=out)], epochs=5).fit()
    text = out.getvalue()
    assert text.startswith("training MLP(")
    for epoch in range(1, 6):
        assert f"epoch {epoch}/5  loss " in text
    assert "trained 5 epochs in" in text


def test_progress_shows_a_tqdm_bar_per_batch_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    t = trainer([Progress(stream=out, width=100)], epochs=4)  # 80 examples in batches of 16: 5 steps per epoch
    t.fit()
    text = out.getvalue()
    assert text.startswith("training MLP(")
    frames = text.split("\r")
    assert any("/20 [" in f and "<" in f for f in frames)  # steps done / total, elapsed < time left
    assert "20/20" in frames[-1] and "100%" in frames[-1]
    assert re.search(r"loss \d\.\d{4}", text)  # the batch loss beside the bar
    assert "epoch 4/4" in text and "trained 4 epochs in" in text
    assert "\nepoch 1/4  loss" not in text  # no per-epoch lines when there is a bar


def test_progress_thins_out_long_runs():
    out = io.StringIO()
    trainer([Progress(stream=out)], epochs=100, dataset=blobs(n_train=16, n_test=8)).fit()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("epoch")]
    assert 20 <= len(lines) <= 22 and lines[-1].startswith("epoch 100/100")


# -- event plumbing -------------------------------------------------------------------------------


class Recorder:
    """A third-party style callback: a plain object with hook implementations."""

    def __init__(self):
        self.events = []
        self.registered_during_run = None

    @hookimpl
    def microgradx_train_start(self, trainer):
        self.registered_during_run = get_registry().pm.is_registered(self)
        self.events.append("start")

    @hookimpl
    def microgradx_batch_end(self, trainer, epoch, batch, loss):
        self.events.append(("batch", epoch, batch))

    @hookimpl
    def microgradx_epoch_end(self, trainer, epoch, metrics):
        self.events.append(("epoch", epoch, sorted(metrics)))

    @hookimpl
    def microgradx_train_end(self, trainer, history):
        self.events.append(("end", len(history)))


def test_events_arrive_in_order_and_the_callback_is_unregistered_after_the_run():
    rec = Recorder()
    t = trainer([rec], epochs=2, dataset=blobs(n_train=40))  # 40 examples, batch size 16: 3 steps per epoch
    t.fit()
    metrics = ["loss", "lr", "seconds", "test_accuracy", "test_loss", "train_accuracy"]
    assert rec.events == ["start", ("batch", 0, 0), ("batch", 0, 1), ("batch", 0, 2), ("epoch", 0, metrics),
                          ("batch", 1, 0), ("batch", 1, 1), ("batch", 1, 2), ("epoch", 1, metrics), ("end", 2)]
    assert rec.registered_during_run is True
    assert not get_registry().pm.is_registered(rec)


def test_callbacks_are_unregistered_even_when_training_fails():
    class Boom(Recorder):
        @hookimpl
        def microgradx_epoch_end(self, trainer, epoch, metrics):
            raise RuntimeError("callback failed")

    boom, rec = Boom(), Recorder()
    with pytest.raises(RuntimeError, match="callback failed"):
        trainer([rec, boom], epochs=3).fit()
    pm = get_registry().pm
    assert not pm.is_registered(boom) and not pm.is_registered(rec)
    assert rec.registered_during_run


def test_a_callback_with_a_misspelled_hook_is_refused_before_training():
    class Typo:
        @hookimpl
        def microgradx_epoch_ends(self, trainer, epoch, metrics):
            pass

    t = trainer([Typo()], epochs=2)
    with pytest.raises(TypeError, match="unknown hook"):
        t.fit()
    assert len(t.history) == 0
