"""`History`: what `Trainer.fit` returns, one entry per epoch."""

from __future__ import annotations

import attrs


@attrs.define(eq=False)
class History:
    """What `Trainer.fit` returns: one entry per epoch in each list.

    ``loss`` is the mean training loss over the epoch's batches (the objective the
    optimizer minimised, L2 penalty included); ``test_loss`` the same objective on the
    test split after the epoch; ``train_accuracy`` and ``test_accuracy`` fractions in
    [0, 1] after the epoch (``None`` for regression or a missing test split); ``lr`` the
    learning rate of the epoch's last step; ``seconds`` the epoch's wall time.
    """

    loss: list = attrs.Factory(list)
    test_loss: list = attrs.Factory(list)
    train_accuracy: list = attrs.Factory(list)
    test_accuracy: list = attrs.Factory(list)
    lr: list = attrs.Factory(list)
    seconds: list = attrs.Factory(list)
    stopped_early: bool = False
    total_seconds: float = 0.0

    METRICS = ("loss", "test_loss", "train_accuracy", "test_accuracy", "lr", "seconds")

    def append(self, metrics: dict) -> None:
        """Add one epoch's metrics (missing ones as ``None``)."""
        for name in self.METRICS:
            getattr(self, name).append(metrics.get(name))

    def epoch_metrics(self, epoch: int) -> dict:
        """The metrics of one epoch (counting from 0; -1 for the last) as a dict, without ``None``s."""
        return {name: getattr(self, name)[epoch] for name in self.METRICS if getattr(self, name)[epoch] is not None}

    @property
    def last(self) -> dict:
        """The final epoch's metrics (an empty dict before any epoch)."""
        return self.epoch_metrics(-1) if self.loss else {}

    def as_dict(self) -> dict:
        """Plain lists and numbers, JSON-ready."""
        d = {name: list(getattr(self, name)) for name in self.METRICS}
        d.update(epochs=len(self), stopped_early=self.stopped_early, total_seconds=self.total_seconds)
        return d

    def __len__(self) -> int:
        return len(self.loss)
