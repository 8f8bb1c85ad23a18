"""microgradx: a small scalar reverse-mode autograd engine, extensible with pluggy plugins.

    >>> from microgradx import Value
    >>> a, b = Value(2.0), Value(-3.0)
    >>> c = (a * b + 10).tanh()
    >>> c.backward()
    >>> round(c.data, 5), round(a.grad, 7)      # tanh(4); b * (1 - tanh(4)**2)
    (0.99933, -0.0040229)
"""

from __future__ import annotations

from microgradx._version import __version__
from microgradx.collector import gc_paused
from microgradx.compiler import CompiledValue, StaleRecordingError, TracedDataError, compile
from microgradx.engine.anomaly import detect_anomaly, is_anomaly_enabled
from microgradx.engine.autograd import GraphReleasedError, backward, topological_order, zero_grad
from microgradx.engine.op import VARIADIC, Op
from microgradx.engine.parameter import Parameter, ParameterStore
from microgradx.engine.value import Value
from microgradx.functional import grad, gradients, hessian, hvp
from microgradx.registry.core import (
    get_registry,
    ops,
    plugin_registered,
    register_plugin,
    reset_registry,
    unregister_plugin,
)
from microgradx.registry.discovery import hookimpl
from microgradx.registry.errors import (
    DuplicateComponentError,
    PluginError,
    PluginLoadError,
    PluginWarning,
    UnknownComponentError,
)
from microgradx.registry.hookspecs import PLUGIN_API_VERSION

__all__ = [
    "PLUGIN_API_VERSION",
    "VARIADIC",
    "CompiledValue",
    "DuplicateComponentError",
    "GraphReleasedError",
    "Op",
    "Parameter",
    "ParameterStore",
    "PluginError",
    "PluginLoadError",
    "PluginWarning",
    "StaleRecordingError",
    "TracedDataError",
    "UnknownComponentError",
    "Value",
    "__version__",
    "backward",
    "compile",
    "detect_anomaly",
    "gc_paused",
    "grad",
    "gradients",
    "hessian",
    "hvp",
    "get_registry",
    "hookimpl",
    "is_anomaly_enabled",
    "ops",
    "plugin_registered",
    "register_plugin",
    "reset_registry",
    "topological_order",
    "unregister_plugin",
    "zero_grad",
]
