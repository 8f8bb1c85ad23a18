"""microgradx-softplus: an example third-party plugin for microgradx.

Installing this distribution is all it takes: microgradx finds the entry point
``microgradx_softplus`` (module `microgradx_softplus.plugin`) in the ``microgradx``
group and registers

* ops ``softplus``, ``leaky_relu`` (slope 0.01) and ``huber`` (a residual's Huber penalty),
* losses ``huber`` (binary labels) and ``huber_regression``,
* the optimizer ``rmsprop``,
* the training callback ``grad_norm`` (gradient norm per step, optional stop),
* the model ``ResidualMLP`` (layers kind) and the dataset ``quadrants``.

The components are importable for direct use too (``from microgradx_softplus import RMSprop``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .callbacks import GradNorm
from .datasets import load_quadrants
from .layers import ResidualMLP
from .losses import Huber, HuberRegression
from .ops import huber, make_leaky_relu, softplus
from .optimizers import RMSprop

__all__ = ["GradNorm", "Huber", "HuberRegression", "RMSprop", "ResidualMLP", "__version__", "huber", "load_quadrants",
           "make_leaky_relu", "softplus"]
