"""Training callbacks: progress display, metric log, early stopping, best-model checkpoint.

Each callback is an attrs class whose instances implement training-event hooks
(`microgradx.registry.hookspecs`: ``microgradx_train_start``, ``microgradx_batch_end``,
``microgradx_epoch_end``, ``microgradx_train_end``). The `microgradx.train.Trainer`
registers a run's callback objects as plugins for the run, so a third-party callback
is written exactly like these. They are registered by name (kind ``callbacks``):
``progress``, ``log``, ``early_stopping``, ``checkpoint``.

The metrics an epoch reports (``metrics`` of ``microgradx_epoch_end``) are ``loss``,
``lr``, ``seconds`` and, when available, ``train_accuracy``, ``test_loss`` and
``test_accuracy``. The datasets have a train and a test split and no third one, so
``early_stopping`` and ``checkpoint`` monitor ``test_loss`` by default: that makes the
reported test score slightly optimistic. Monitor ``loss`` to keep the test split unseen.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, Optional

import attrs

from microgradx import hookimpl
from microgradx.datasets.csvfile import safe_text

MODES = ("auto", "min", "max")
LOG_FORMATS = ("jsonl", "csv")


# -- validators ---------------------------------------------------------------------------

def _positive_int(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a positive integer, got {value!r}")


def _optional_positive_int(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:
        _positive_int(instance, attribute, value)


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a number >= 0, got {value!r}")


def _mode(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value not in MODES:
        raise ValueError(f"{type(instance).__name__}: mode must be one of {', '.join(MODES)}, got {value!r}")


def _optional_str(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a non-empty string, got {value!r}")


def _bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{type(instance).__name__}: {attribute.name} must be True or False, got {value!r}")


def _log_format(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value not in LOG_FORMATS:
        raise ValueError(f"{type(instance).__name__}: format must be one of {', '.join(LOG_FORMATS)} "
                         f"(or None to follow the file's suffix), got {value!r}")


def _path(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not isinstance(value, (str, Path)) or not str(value)):
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a file path, got {value!r}")


def _stream(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not callable(getattr(value, "write", None)):
        raise TypeError(f"{type(instance).__name__}: stream must be a text stream with write(), got {value!r}")


def _check_directory(owner: str, path: Optional[Any]) -> None:
    if path is not None and not Path(path).parent.is_dir():
        raise FileNotFoundError(f"{owner}: the directory of {str(path)!r} does not exist")


def format_metrics(metrics: dict) -> str:
    """``loss 0.1234  train 97.1%  test 96.5%  lr 0.01`` from an epoch's metrics."""
    parts = [f"loss {metrics['loss']:.4f}"] if "loss" in metrics else []
    if "test_loss" in metrics:
        parts.append(f"test loss {metrics['test_loss']:.4f}")
    if "train_accuracy" in metrics:
        parts.append(f"train {100 * metrics['train_accuracy']:.1f}%")
    if "test_accuracy" in metrics:
        parts.append(f"test {100 * metrics['test_accuracy']:.1f}%")
    if "lr" in metrics:
        parts.append(f"lr {metrics['lr']:.3g}")
    return "  ".join(parts)


class _Monitor:
    """Shared by early stopping and checkpoint: which metric, which direction, the best so far."""

    monitor: Optional[str]
    mode: str
    min_delta: float = 0.0

    def _reset(self) -> None:
        self.best = None
        self.best_epoch = None

    def _value(self, metrics: dict) -> tuple[str, float]:
        name = self.monitor or ("test_loss" if "test_loss" in metrics else "loss")
        if name not in metrics:
            raise KeyError(f"{type(self).__name__}: monitor={name!r} is not a metric of this run; "
                           f"the metrics are {', '.join(sorted(metrics))}")
        return name, float(metrics[name])

    def _improved(self, name: str, value: float) -> bool:
        mode = self.mode if self.mode != "auto" else ("max" if "acc" in name else "min")
        if self.best is None:
            return math.isfinite(value)
        if mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


# -- progress ------------------------------------------------------------------------------

@attrs.define(eq=False)
class Progress:
    """A progress display on ``stream`` (standard error by default).

    On a terminal, a tqdm progress bar over every optimizer step of the run, showing the
    epoch, the last batch's loss, the rate and the time left (tqdm is imported only then).
    Otherwise (a file, a pipe, a CI log) no bar: one line every ``every`` epochs (default:
    about 20 lines per run) plus the first and the last. A header line before training and
    a summary line after it either way.

    Args:
        every: without a terminal, print every this many epochs (None: about 20 lines per run).
        width: the bar's total width in characters (None: the terminal's width).
        stream: a text stream; None means ``sys.stderr`` at the time of printing.
    """

    every: Optional[int] = attrs.field(default=None, validator=_optional_positive_int)
    width: Optional[int] = attrs.field(default=None, validator=_optional_positive_int)
    stream: Any = attrs.field(default=None, repr=False, validator=_stream)
    _bar: Any = attrs.field(default=None, init=False, repr=False)

    def _out(self) -> Any:
        return self.stream if self.stream is not None else sys.stderr

    @hookimpl
    def microgradx_train_start(self, trainer: Any) -> None:
        out = self._out()
        isatty = getattr(out, "isatty", None)
        name = getattr(trainer.dataset, "name", "data")
        n = len(trainer.dataset.y_train)
        batch = "full batch" if trainer.batch_size is None else f"batch size {trainer.batch_size}"
        print(f"training {trainer.model!r} on {name} ({n} examples, {batch}, {trainer.mode} mode) "
              f"for {trainer.epochs} epochs", file=out, flush=True)
        self._bar = None
        if callable(isatty) and isatty():
            import shutil

            from tqdm import tqdm

            size = shutil.get_terminal_size()  # COLUMNS/LINES, else the terminal's, else 80 x 24 (never 0)
            self._bar = tqdm(total=trainer.total_steps, file=out, ncols=self.width or size.columns, nrows=size.lines,
                             unit="step", leave=True,
                             desc=f"epoch 1/{trainer.epochs}",
                             bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                        "[{elapsed}<{remaining}, {rate_fmt}] {postfix}")

    @hookimpl
    def microgradx_batch_end(self, trainer: Any, epoch: int, batch: int, loss: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
            self._bar.update(1)

    @hookimpl
    def microgradx_epoch_end(self, trainer: Any, epoch: int, metrics: dict) -> None:
        out, done, total = self._out(), epoch + 1, trainer.epochs
        if self._bar is not None:
            self._bar.set_description_str(f"epoch {min(done + 1, total)}/{total}", refresh=False)
            self._bar.set_postfix_str(format_metrics(metrics), refresh=done == total)
            return
        line = f"epoch {done:>{len(str(total))}}/{total}  {format_metrics(metrics)}"
        every = self.every or max(1, total // 20)
        if done % every == 0 or done == total or done == 1 or trainer.should_stop:
            print(line, file=out, flush=True)

    @hookimpl
    def microgradx_train_end(self, trainer: Any, history: Any) -> None:
        out = self._out()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        stopped = " (stopped early)" if history.stopped_early else ""
        print(f"trained {len(history)} epochs in {history.total_seconds:.2f} s{stopped}", file=out, flush=True)


# -- log -----------------------------------------------------------------------------------

@attrs.define(eq=False)
class Log:
    """Per-epoch metric logging: one record per epoch.

    With ``path``, records go to a file, rewritten at the start of each run: JSON lines
    (one object per line) or, for a path ending in ``.csv``, CSV with a header row. Without
    a path they go to the ``logging`` logger ``microgradx.train`` at INFO level. Each
    record is ``{"epoch": N, ...metrics}`` with N counting from 1. The records of the last
    run are also kept in ``records``.

    Args:
        path: the log file, or None for the logging module.
        format: "jsonl", "csv", or None to choose from the suffix.
    """

    path: Optional[str] = attrs.field(default=None, validator=_path)
    format: Optional[str] = attrs.field(default=None, validator=_log_format)
    records: list = attrs.field(factory=list, init=False, repr=False)
    _columns: Optional[list] = attrs.field(default=None, init=False, repr=False)

    def _format(self) -> str:
        if self.format:
            return self.format
        return "csv" if str(self.path).lower().endswith(".csv") else "jsonl"

    @hookimpl
    def microgradx_train_start(self, trainer: Any) -> None:
        self.records = []
        self._columns = None
        if self.path is not None:
            _check_directory("log", self.path)
            Path(self.path).write_text("", encoding="utf-8")

    @hookimpl
    def microgradx_epoch_end(self, trainer: Any, epoch: int, metrics: dict) -> None:
        record = {"epoch": epoch + 1, **metrics}
        self.records.append(record)
        if self.path is None:
            logging.getLogger("microgradx.train").info("epoch %d: %s", epoch + 1, json.dumps(metrics))
            return
        if self._format() == "jsonl":
            text = json.dumps(record) + "\n"
        else:
            buf = io.StringIO()
            if self._columns is None:
                self._columns = ["epoch", "loss", "test_loss", "train_accuracy", "test_accuracy", "lr", "seconds"]
                self._columns += sorted(set(record) - set(self._columns))
                csv.writer(buf).writerow([safe_text(c) for c in self._columns])  # a plugin's metric name is text
            csv.writer(buf).writerow([safe_text(v) if isinstance(v, str) else v
                                      for v in (record.get(c, "") for c in self._columns)])
            text = buf.getvalue()
        with open(self.path, "a", encoding="utf-8", newline="") as f:  # appended and closed each epoch
            f.write(text)


# -- early stopping -----------------------------------------------------------------------

@attrs.define(eq=False)
class EarlyStopping(_Monitor):
    """Stop training when a metric has not improved for ``patience`` epochs.

    Args:
        monitor: the metric to watch (None: ``test_loss`` when there is a test split, else ``loss``).
        patience: epochs without improvement before stopping.
        min_delta: an improvement must beat the best value by more than this.
        mode: "min", "max", or "auto" (max for accuracies, min otherwise).
        restore_best: at the end of the run (stopped early or not), put back the weights of the
            best epoch, as scikit-learn's MLP does with ``early_stopping=True`` (default True).

    After a run: ``best``, ``best_epoch`` (counting from 1), ``stopped_epoch`` (None if
    training ran to the end) and ``restored`` (True when the best epoch's weights were put back).
    """

    monitor: Optional[str] = attrs.field(default=None, validator=_optional_str)
    patience: int = attrs.field(default=10, validator=_positive_int)
    min_delta: float = attrs.field(default=0.0, validator=_non_negative)
    mode: str = attrs.field(default="auto", validator=_mode)
    restore_best: bool = attrs.field(default=True, validator=_bool)
    best: Optional[float] = attrs.field(default=None, init=False)
    best_epoch: Optional[int] = attrs.field(default=None, init=False)
    stopped_epoch: Optional[int] = attrs.field(default=None, init=False)
    wait: int = attrs.field(default=0, init=False, repr=False)
    restored: bool = attrs.field(default=False, init=False, repr=False)
    _best_weights: Optional[list] = attrs.field(default=None, init=False, repr=False)
    _last_epoch: Optional[int] = attrs.field(default=None, init=False, repr=False)

    @hookimpl
    def microgradx_train_start(self, trainer: Any) -> None:
        self._reset()
        self.stopped_epoch = None
        self.wait = 0
        self.restored = False
        self._best_weights = None
        self._last_epoch = None

    @hookimpl
    def microgradx_epoch_end(self, trainer: Any, epoch: int, metrics: dict) -> None:
        name, value = self._value(metrics)
        self._last_epoch = epoch + 1
        if self._improved(name, value):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            if self.restore_best:
                self._best_weights = trainer.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.should_stop = True
            self.stopped_epoch = epoch + 1

    @hookimpl
    def microgradx_train_end(self, trainer: Any, history: Any) -> None:
        if self.restore_best and self._best_weights is not None and self.best_epoch != self._last_epoch:
            trainer.model.set_weights(self._best_weights)
            self.restored = True


# -- checkpoint ---------------------------------------------------------------------------

@attrs.define(eq=False)
class Checkpoint(_Monitor):
    """Save the model (a microgradx model file, written atomically) whenever a metric improves.

    Args:
        path: the model file (``.json`` or ``.npz``).
        monitor, mode: as for `EarlyStopping`.
        save_best_only: False saves after every epoch.

    The file's ``meta`` records the epoch (from 1), the monitored metric and the run's
    settings (`microgradx.train.Trainer.model_meta`). After a run: ``best``, ``best_epoch``
    and ``saves`` (how many times the file was written).
    """

    path: str = attrs.field(default="best_model.json", validator=_path)
    monitor: Optional[str] = attrs.field(default=None, validator=_optional_str)
    mode: str = attrs.field(default="auto", validator=_mode)
    save_best_only: bool = attrs.field(default=True, validator=_bool)
    best: Optional[float] = attrs.field(default=None, init=False)
    best_epoch: Optional[int] = attrs.field(default=None, init=False)
    saves: int = attrs.field(default=0, init=False, repr=False)

    @hookimpl
    def microgradx_train_start(self, trainer: Any) -> None:
        _check_directory("checkpoint", self.path)
        self._reset()
        self.saves = 0

    @hookimpl
    def microgradx_epoch_end(self, trainer: Any, epoch: int, metrics: dict) -> None:
        from microgradx import modelfile

        name, value = self._value(metrics)
        improved = self._improved(name, value)
        if improved:
            self.best, self.best_epoch = value, epoch + 1
        if improved or not self.save_best_only:
            meta = dict(trainer.model_meta(self.path), epoch=epoch + 1, monitor=name, value=value)
            schema = trainer.model_schema() if callable(getattr(trainer, "model_schema", None)) else None
            modelfile.save(trainer.model, self.path, meta=meta, schema=schema)
            self.saves += 1


@hookimpl
def microgradx_register_callbacks(register):
    """Register progress, log, early_stopping and checkpoint."""
    register(Progress, name="progress")
    register(Log, name="log")
    register(EarlyStopping, name="early_stopping")
    register(Checkpoint, name="checkpoint")
