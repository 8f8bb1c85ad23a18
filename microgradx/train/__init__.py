"""Training: the `Trainer` (`microgradx.train.trainer`), the `History` it returns, and metrics.

``components.py`` builds components from names and holds the defaults; ``evaluation.py``
computes predictions and metrics; ``history.py`` is the per-epoch record.
"""

from microgradx.train.components import (
    DEFAULT_LOSS,
    DEFAULT_OPTIMIZER_SETTINGS,
    build_component,
    component_name,
    parse_component,
)
from microgradx.train.evaluation import evaluate, model_outputs, predictions
from microgradx.train.history import History
from microgradx.train.trainer import DIVERGENCE_FACTOR, MODES, DivergenceWarning, Trainer

__all__ = ["DEFAULT_LOSS", "DEFAULT_OPTIMIZER_SETTINGS", "DIVERGENCE_FACTOR", "MODES", "DivergenceWarning", "History",
           "Trainer", "build_component", "parse_component",
           "component_name", "evaluate", "model_outputs", "predictions"]
