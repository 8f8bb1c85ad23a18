"""What a pickled estimator keeps so that ``partial_fit`` resumes exactly: the optimizer's state and more.

A trainer does not pickle (its compiled steps hold functions), so `resume_state` takes out what
the next epoch depends on besides the weights, as plain data, and `restore` puts it into the
trainer built after unpickling. dask-ml's ``Incremental`` ships the estimator from worker to
worker between blocks this way.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def resume_state(trainer: Any) -> dict:
    """What a trainer's next epoch depends on besides the weights, as plain data (see `BaseMLP.__getstate__`)."""
    inner = getattr(trainer.optimizer, "inner", trainer.optimizer)
    state = {"step": trainer.step, "total_steps": trainer.total_steps, "steps_per_epoch": trainer.steps_per_epoch,
             "examples_seen": getattr(trainer, "examples_seen", 0.0), "lr": float(inner.lr),
             "reference_loss": trainer._reference_loss, "warned_divergence": trainer._warned_divergence}
    rng = getattr(trainer, "_rng", None)
    if rng is not None:
        state["rng"] = rng.bit_generator.state
    if callable(getattr(inner, "state_dict", None)):
        state["optimizer"] = inner.state_dict()
    else:
        state["stateless"] = type(inner).__name__  # said when a partial_fit resumes (see restore)
    return state


def restore(trainer: Any, state: dict) -> None:
    """Put `resume_state`'s data back into a new trainer on the same model."""
    inner = getattr(trainer.optimizer, "inner", trainer.optimizer)
    trainer.step, trainer.total_steps = state["step"], state["total_steps"]
    trainer.steps_per_epoch = state["steps_per_epoch"]
    trainer.examples_seen = state["examples_seen"]
    trainer._reference_loss, trainer._warned_divergence = state["reference_loss"], state["warned_divergence"]
    if "rng" in state:
        trainer._rng = np.random.default_rng()
        trainer._rng.bit_generator.state = state["rng"]
    if "optimizer" in state:
        inner.load_state_dict(state["optimizer"])
    else:
        warnings.warn(f"optimizer {state.get('stateless')} has no state_dict(): this partial_fit after unpickling "
                      f"starts it afresh (the weights are kept)", UserWarning, stacklevel=5)
    inner.lr = state["lr"]
