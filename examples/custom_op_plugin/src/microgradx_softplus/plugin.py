"""The plugin module that the ``microgradx`` entry point names: one hook per kind of component.

microgradx calls each hook once, when its registry is first needed, with a ``register``
callback; every component registered here is then listed by ``microgradx plugins`` as
coming from this plugin and its distribution.
"""

from __future__ import annotations

from microgradx import hookimpl

from .callbacks import GradNorm
from .datasets import load_quadrants
from .layers import ResidualMLP
from .losses import Huber, HuberRegression
from .ops import huber, make_leaky_relu, softplus
from .optimizers import RMSprop

#: The slope of the registered ``leaky_relu`` op, chosen here, at registration.
LEAKY_SLOPE = 0.01


@hookimpl
def microgradx_register_ops(register):
    """softplus, leaky_relu (slope `LEAKY_SLOPE`) and huber; the unary ones are MLP activations too."""
    register(softplus)
    register(make_leaky_relu(LEAKY_SLOPE))
    register(huber)


@hookimpl
def microgradx_register_losses(register):
    """huber (binary labels) and huber_regression."""
    register(Huber, name="huber")
    register(HuberRegression, name="huber_regression")


@hookimpl
def microgradx_register_optimizers(register):
    """rmsprop."""
    register(RMSprop, name="rmsprop")


@hookimpl
def microgradx_register_layers(register):
    """ResidualMLP, a model the trainer can build by name."""
    register(ResidualMLP, name="ResidualMLP")


@hookimpl
def microgradx_register_datasets(register):
    """quadrants."""
    register(load_quadrants, name="quadrants")


@hookimpl
def microgradx_register_callbacks(register):
    """grad_norm."""
    register(GradNorm, name="grad_norm")
