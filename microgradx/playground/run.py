"""A run: one page session's network, trained in a thread of its own while the page says play.

Each page (each browser tab) gets its own `Run`, so two tabs never share weights, settings or
history. The page is a remote control (`control`: play, pause, step, reset; `apply`: new
settings) and a view (`frame`: the epoch, the loss curves, the heat maps and the weights).
Everything a run holds is read and changed under its lock; the training thread takes it one
epoch at a time and lets a waiting request in between two epochs.

States: ``paused``, ``playing``, ``diverged`` (the loss grew by orders of magnitude, as the
Trainer's `DivergenceWarning` says, or became nan/inf) and ``failed`` (an op refused its
input, e.g. ``log`` of a negative number). A diverged or failed run shows why on the page;
reset starts it again from fresh weights.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np

from microgradx.playground.frames import boundary, heat, rounded
from microgradx.playground.model import CSV, Model, load_dataset
from microgradx.playground.settings import RESTART_KEYS, TRAINER_KEYS, Settings, parse

#: A playing run whose page has not asked for a frame for this long pauses (the tab was closed).
IDLE_PAUSE = 30.0
#: The epochs per second shown are counted over this many seconds.
RATE_WINDOW = 2.0
CONTROLS = ("play", "pause", "step", "reset")


class RunError(ValueError):
    """A control the run cannot follow now (play after the weights became nan, say); says what to do."""


class Run:
    """One page session's training run (see the module docstring).

    ``datasets``: the dataset names the server offers; ``csv_path``: the server's ``--data`` file,
    if any (a page may upload its own, which only this run sees). Raises `SettingsError` or
    ``ValueError`` when ``settings`` cannot be built (nothing is started then).
    """

    def __init__(self, settings: Settings, datasets: tuple, csv_path: Optional[str] = None,
                 csv_name: Optional[str] = None) -> None:
        self.lock = threading.RLock()
        self._wake = threading.Condition(self.lock)
        self._count = threading.Lock()
        self._waiting = 0  # requests waiting for the lock: the training thread lets them in first
        self._datasets = datasets
        self.csv_path, self.csv_name = csv_path, csv_name or (csv_path and str(csv_path)) or "the CSV file"
        self.model = self._build(settings)
        self.settings = settings
        self.state, self.message = "paused", None
        self.generation = 0  # a new configuration or a reset: the page fetches the points again
        self.version = 0  # counts weight changes: a frame is computed once per version
        self.closed = False
        self.last_seen = time.monotonic()
        self._thread: Optional[threading.Thread] = None
        self._frame: Optional[tuple] = None
        self._times: list = []
        self._nan = False
        self._shown_divergence: Any = None
        self._played_at = time.monotonic()
        self._start_history()

    # -- building ---------------------------------------------------------------------------

    @property
    def datasets(self) -> tuple:
        """The dataset names this run may switch to (``csv`` when a file is available)."""
        has_csv = self.csv_path is not None
        return tuple(d for d in self._datasets if d != CSV) + ((CSV,) if has_csv else ())

    def _build(self, settings: Settings, keep_network: bool = False, keep_data: bool = False) -> Model:
        data = self.model.data if keep_data else load_dataset(settings, self.csv_path, self.csv_name)
        return Model(settings, data, self.model.network if keep_network else None)

    def _start_history(self) -> None:
        self.epoch = 0
        self.history: dict = {"train_loss": [], "test_loss": [], "train_accuracy": [], "test_accuracy": []}
        self._record(self.model.initial)

    def _record(self, metrics: Mapping[str, float]) -> None:
        for key, series in self.history.items():
            series.append(metrics.get(key, math.nan))
        self.version += 1

    # -- what the page asks -------------------------------------------------------------------

    @contextlib.contextmanager
    def turn(self) -> Any:
        """Hold the run's lock, ahead of the training thread's next epoch (which waits for waiting requests)."""
        with self._count:
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        try:
            yield self
        finally:
            self.lock.release()

    def apply(self, values: Mapping[str, Any]) -> Settings:
        """Change settings (see `microgradx.playground.settings`); all or nothing.

        A change of data, network or loss starts again from new weights; of the optimizer, batch
        size or L2 keeps the weights and makes a new Trainer; the learning rate is set on the
        optimizer, the speed on the loop. Raises `SettingsError` or ``ValueError`` (a dataset
        that is not 2-D, a loss that does not fit the task ...) having changed nothing.
        """
        with self.turn():
            new = parse(values, self.settings, self.datasets)
            changed = new.changed(self.settings)
            if changed & set(RESTART_KEYS):
                data_keys = {"dataset", "noise", "test", "samples", "seed"}
                model = self._build(new, keep_data=not (changed & data_keys))
                self._swap(model, new, restart=True)
            elif changed & set(TRAINER_KEYS):
                self._swap(self._build(new, keep_network=True, keep_data=True), new, restart=False)
            elif "lr" in changed:
                self.model.trainer.optimizer.lr = new.lr
                self.model.trainer.base_lr = new.lr
            self.settings = new
            self._wake.notify_all()
            return new

    def use_csv(self, path: str, name: str) -> Settings:
        """Switch this run to the CSV file at ``path`` (shown as ``name``), with the loss of its task.

        Starts again from new weights; nothing changes if the file does not load (the error says why).
        """
        with self.turn():
            old = (self.csv_path, self.csv_name)
            self.csv_path, self.csv_name = path, name
            try:
                new = parse({"dataset": CSV, "loss": "auto"}, self.settings, self.datasets)
                self._swap(self._build(new), new, restart=True)
            except Exception:
                self.csv_path, self.csv_name = old
                raise
            self._wake.notify_all()
            return new

    def _swap(self, model: Model, settings: Settings, restart: bool) -> None:
        old = self.model
        self.model, self.settings = model, settings
        old.close()  # its Trainer's session ends: the parameters it kept in a flat store are plain again
        self._shown_divergence = None
        if restart:
            self._nan = False
            self.generation += 1
            self.state = "playing" if self.state == "playing" else "paused"
            self.message = None
            self._start_history()
        else:
            self.version += 1

    def control(self, action: str) -> None:
        """``play``, ``pause``, ``step`` (one epoch, then paused) or ``reset`` (fresh weights, epoch 0)."""
        if action not in CONTROLS:
            raise RunError(f"unknown control {action!r}; the controls are {', '.join(CONTROLS)}")
        with self.turn():
            if action == "reset":
                self._swap(self._build(self.settings, keep_data=True), self.settings, restart=True)
                self.state = "paused"
            elif action == "pause":
                if self.state == "playing":
                    self.state = "paused"
            else:
                if self.broken:
                    raise RunError(f"{self.message} Press reset to start again.")
                if action == "step":
                    self.state = "paused"
                    self.train_epoch()
                else:
                    self.state, self.message = "playing", None
                    self.last_seen = self._played_at = time.monotonic()
                    self._ensure_thread()
            self._wake.notify_all()

    def close(self) -> None:
        """Stop the training thread (if any) for good, and end the Trainer's session."""
        with self.turn():  # ahead of the next epoch: a playing run's thread would keep the lock otherwise
            self.closed = True
            self.state = "paused"
            self.model.close()
            self._wake.notify_all()

    @property
    def broken(self) -> bool:
        """Whether the weights stopped being finite numbers: only reset helps."""
        return self.state == "diverged" and self._nan

    # -- training ------------------------------------------------------------------------------

    def train_epoch(self) -> None:
        """One epoch of the Trainer's compiled steps, then the metrics; a failure becomes the run's state."""
        with self.lock:
            model = self.model
            trainer = model.trainer
            trainer.epoch = self.epoch
            try:
                with np.errstate(all="ignore"):  # overflow becomes the state "diverged", not noise in the terminal
                    trainer.train_epoch(model.data.X_train, model.data.y_train, hook=model.hook)
                    metrics = model.metrics()
            except FloatingPointError as exc:  # the loss became nan or inf: so did the weights
                self.state, self.message, self._nan = "diverged", f"Diverged: {exc}.", True
                self.version += 1
                return
            except Exception as exc:  # an op that refuses its input, a plugin's bug: say it, keep serving
                self.state = "failed"
                self.message = f"Training stopped in epoch {self.epoch + 1}: {type(exc).__name__}: {exc}"
                self.version += 1
                return
            self.epoch += 1
            self._record(metrics)
            self._times.append(time.monotonic())
            if trainer.divergence is not None and trainer.divergence is not self._shown_divergence:
                self._shown_divergence = trainer.divergence  # once: play goes on if the user asks
                self.state = "diverged"
                self.message = f"Diverged: {trainer.divergence}. Press reset to start again."

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="microgradx-playground-run", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        due = time.monotonic()
        while True:
            while self._waiting:  # a request is waiting for the lock: let it in first
                time.sleep(0.0005)
            with self._wake:
                if self.closed:
                    return
                if self.state != "playing":
                    self._wake.wait()
                    due = time.monotonic()
                    continue
                if time.monotonic() - self.last_seen > IDLE_PAUSE:
                    self.state, self.message = "paused", "Paused: the page stopped asking for frames."
                    continue
                self.train_epoch()
                speed = self.settings.speed
                if speed is not None:
                    now = time.monotonic()
                    due = max(due + 1.0 / speed, now - 1.0 / speed)  # no catching up after a slow epoch
                    if due > now:
                        self._wake.wait(due - now)

    # -- frames --------------------------------------------------------------------------------

    def rate(self) -> float:
        """Epochs per second over the last `RATE_WINDOW` seconds (or since play, if that is shorter)."""
        now = time.monotonic()
        self._times = [t for t in self._times if now - t <= RATE_WINDOW]
        span = min(RATE_WINDOW, now - self._played_at)
        return len(self._times) / span if self._times and span > 0 else 0.0

    def frame(self, since: int = 0, generation: Optional[int] = None, version: Optional[int] = None) -> dict:
        """What the page draws now: state, epoch, new points of the loss curves, heat maps, weights.

        ``since``: how many points of the curves the page has (of ``generation``, else all are
        sent, with the points, the plane and the names); the heat maps and weights are left out
        when the page has this ``version`` of them already.
        """
        with self.turn():
            self.last_seen = time.monotonic()
            model = self.model
            fresh = generation != self.generation
            start = 0 if fresh or since < 0 else min(since, len(self.history["train_loss"]))
            out = {
                "generation": self.generation, "version": self.version, "state": self.state,
                "message": self.message, "epoch": self.epoch, "rate": round(self.rate(), 1),
                "settings": self.settings.query(), "start": start,
                "history": {k: rounded(v[start:]) for k, v in self.history.items()},
            }
            if fresh or version != self.version:
                out.update(self._pictures(model))
            if fresh:
                out["describe"] = model.describe()
            return out

    def _pictures(self, model: Model) -> dict:
        """The heat maps (one compiled forward call on the grid) and weights, computed once per version."""
        if self._frame is None or self._frame[0] != (self.generation, self.version):
            pictures: dict = {"weights": [[rounded(w, 4) for w in layer] for layer in model.network.weights()]}
            try:
                with np.errstate(all="ignore"):
                    layers = model.layer_outputs(model.grid)
                pictures["heat"] = [[heat(v) for v in layer] for layer in layers]
                pictures["boundary"] = boundary(layers[-1], model.loss, model.data.task, model.target_scale)
            except Exception as exc:  # an activation that refuses part of the plane (log of a negative ...)
                pictures["heat_error"] = f"The heat maps cannot be drawn: {type(exc).__name__}: {exc}"
            self._frame = ((self.generation, self.version), pictures)
        return self._frame[1]

    def latest(self) -> dict:
        """The last recorded metrics (nan where there is none, e.g. accuracy in regression)."""
        with self.turn():
            return {k: v[-1] for k, v in self.history.items()}

    def weights_snapshot(self) -> tuple:
        """``(network copy in micrograd's fine-grained form, dataset, loss)`` with the numbers of this moment."""
        with self.turn():
            return self.model.network.copy(fused=False), self.model.data, self.model.loss

