"""The bundled neural-network components under one import: ``from microgradx.nn import MLP, BCE, SGD``.

A convenience only: each class lives in its plugin (``microgradx_plugins.layers``,
``.losses``, ``.optimizers``, ``.schedules``) and is registered there under a name, which is
how the trainer and the CLI find it (``get_registry().get("layers", "MLP")``). Importing
this module imports no dataset library; `load_dataset` imports scikit-learn when called.
"""

from __future__ import annotations

from microgradx_plugins.layers import MLP, Layer, Neuron
from microgradx_plugins.losses import BCE, MSE, Hinge, SoftmaxCE
from microgradx_plugins.optimizers import SGD, Adam
from microgradx_plugins.schedules import Constant, Cosine, LinearDecay

from microgradx.datasets import Dataset
from microgradx.datasets import load as load_dataset

__all__ = [
    "MLP", "Layer", "Neuron",
    "BCE", "MSE", "Hinge", "SoftmaxCE",
    "SGD", "Adam",
    "Constant", "Cosine", "LinearDecay",
    "Dataset", "load_dataset",
]
