"""Training: the `Trainer` (`microgradx.train.trainer`), the `History` it returns, and metrics.

``components.py`` holds the defaults (components are built from names by
`microgradx.registry.components`, re-exported here); ``evaluation.py``
computes predictions and metrics; ``history.py`` is the per-epoch record.
"""

from microgradx.registry.components import build_component, component_name, parse_component
from microgradx.train.callbacks import Callback
from microgradx.train.components import DEFAULT_LOSS, DEFAULT_OPTIMIZER_SETTINGS
from microgradx.train.evaluation import evaluate, model_outputs, predictions
from microgradx.train.history import History
from microgradx.train.trainer import DIVERGENCE_FACTOR, MODES, DivergenceWarning, Trainer
from microgradx.types import FastPathWarning

__all__ = ["Callback", "DEFAULT_LOSS", "DEFAULT_OPTIMIZER_SETTINGS", "DIVERGENCE_FACTOR", "MODES", "DivergenceWarning",
           "FastPathWarning", "History", "Trainer", "build_component", "parse_component", "component_name", "evaluate",
           "model_outputs", "predictions"]
