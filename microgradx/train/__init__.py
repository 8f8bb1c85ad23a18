"""Training: the `Trainer` and the `History` it returns (`microgradx.train.trainer`)."""

from microgradx.train.trainer import (
    DEFAULT_LOSS,
    DEFAULT_OPTIMIZER_SETTINGS,
    MODES,
    History,
    Trainer,
    component_name,
    evaluate,
    model_outputs,
    predictions,
)

__all__ = ["DEFAULT_LOSS", "DEFAULT_OPTIMIZER_SETTINGS", "MODES", "History", "Trainer", "component_name",
           "evaluate", "model_outputs", "predictions"]
