"""The estimators' parameters: scikit-learn's MLP names and meanings, checked in ``fit``, mapped to components.

`checked` turns an estimator's parameters into what training needs (layer sizes, the
activation op, the optimizer and schedule to build, the loop's settings), raising a
ValueError or TypeError that names the parameter, its value and what to use instead. Only
``fit`` calls it (scikit-learn's convention: ``__init__`` stores, ``fit`` checks).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from microgradx.registry.components import build_component, named_with_options
from microgradx.registry.core import get_registry

#: scikit-learn's activation names -> microgradx op names (None: identity).
ACTIVATIONS = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
#: scikit-learn's learning_rate values; any registered schedule name is accepted too.
SKLEARN_SCHEDULES = ("constant", "invscaling", "adaptive")


def _fail(est: Any, message: str, kind: type = ValueError) -> Exception:
    return kind(f"{type(est).__name__}: {message}")


def _number(est: Any, name: str, low: float = 0.0, *, closed_low: bool = True, high: float = math.inf,
            closed_high: bool = False, integer: bool = False, allow_inf: bool = False) -> float:
    value = getattr(est, name)
    kind = numbers.Integral if integer else numbers.Real
    if allow_inf and isinstance(value, numbers.Real) and value == math.inf:
        return math.inf
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value >= low if closed_low else value > low) and (value <= high if closed_high else value < high)
    if not ok:
        lo, hi = "[" if closed_low else "(", "]" if closed_high else ")"
        what = "an integer" if integer else "a number"
        raise _fail(est, f"{name} must be {what} in {lo}{low:g}, {high:g}{hi}" +
                    (" or numpy.inf" if allow_inf else "") + f", got {value!r}")
    return int(value) if integer else float(value)


def _bool(est: Any, name: str) -> bool:
    value = getattr(est, name)
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(est, f"{name} must be True or False, got {value!r}", TypeError)
    return bool(value)


def _options(est: Any, name: str) -> dict:
    value = getattr(est, name)
    if value is not None and not isinstance(value, dict):
        raise _fail(est, f"{name} must be a dict of settings or None, got {value!r}", TypeError)
    return dict(value or {})


def hidden_sizes(est: Any) -> list:
    """``hidden_layer_sizes`` as a list of positive ints (an int is one layer, ``()`` none)."""
    sizes = est.hidden_layer_sizes
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise _fail(est, f"hidden_layer_sizes must be a tuple of layer sizes such as (100,), got "
                         f"{est.hidden_layer_sizes!r}", TypeError)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise _fail(est, f"hidden_layer_sizes must hold positive integers, got {est.hidden_layer_sizes!r}")
    return [int(s) for s in sizes]


def checked(est: Any) -> dict:
    """Every parameter checked and resolved; see the module docstring."""
    solver = est.solver
    if solver == "lbfgs":
        raise _fail(est, "solver='lbfgs' is not available: microgradx trains with first-order optimizers, one "
                         "batch at a time; use solver='adam' (the default) or 'sgd', or any registered optimizer "
                         "by name (e.g. solver='adam:beta1=0.8'); max_fun has no effect without lbfgs")
    if not isinstance(solver, str) or not solver:
        raise _fail(est, f"solver must be 'adam', 'sgd' or a registered optimizer name, got {solver!r}", TypeError)
    activation = est.activation
    if activation is not None and not isinstance(activation, str):
        raise _fail(est, f"activation must be 'identity', 'logistic', 'tanh', 'relu' or a registered op name, "
                         f"got {activation!r}", TypeError)
    p: dict = {"hidden": hidden_sizes(est), "solver": solver,
               "activation": ACTIVATIONS.get(activation, activation) if activation is not None else None}
    p["alpha"] = _number(est, "alpha")
    p["learning_rate_init"] = _number(est, "learning_rate_init", closed_low=False)
    p["power_t"] = _number(est, "power_t")
    p["max_iter"] = _number(est, "max_iter", 1, integer=True)
    p["tol"] = _number(est, "tol")
    p["momentum"] = _number(est, "momentum", 0, high=1, closed_high=True)
    p["validation_fraction"] = _number(est, "validation_fraction", 0, high=1)
    p["beta_1"] = _number(est, "beta_1", 0, high=1)
    p["beta_2"] = _number(est, "beta_2", 0, high=1)
    p["epsilon"] = _number(est, "epsilon", closed_low=False)
    p["n_iter_no_change"] = _number(est, "n_iter_no_change", 1, integer=True, allow_inf=True)
    _number(est, "max_fun", 1, integer=True)  # lbfgs only: checked like scikit-learn, then unused
    for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
        p[name] = _bool(est, name)
    if not isinstance(est.verbose, (numbers.Integral, np.bool_)):  # bool is an Integral
        raise _fail(est, f"verbose must be True/False or an int, got {est.verbose!r}", TypeError)
    p["verbose"] = bool(est.verbose)
    bs = est.batch_size
    if bs is not None and bs != "auto" and (isinstance(bs, bool) or not isinstance(bs, numbers.Integral) or bs < 1):
        raise _fail(est, f"batch_size must be 'auto', a positive integer, or None (full batch), got {bs!r}")
    p["batch_size"] = bs
    lr = est.learning_rate
    if not isinstance(lr, str) or not lr:
        raise _fail(est, f"learning_rate must be 'constant', 'invscaling', 'adaptive' or a registered schedule "
                         f"name, got {lr!r}", TypeError)
    p["learning_rate"] = lr
    for name in ("optimizer_options", "loss_options", "schedule_options"):
        p[name] = _options(est, name)
    if not isinstance(est.layer, str):
        raise _fail(est, f"layer must be a registered layer name, got {est.layer!r}", TypeError)
    if isinstance(est.callbacks, (str, bytes)) or not isinstance(est.callbacks, (Sequence, type(None))):
        raise _fail(est, f"callbacks must be a list of callback names or objects, got {est.callbacks!r}", TypeError)
    return p


def batch_size_for(p: dict, n: int) -> int:
    """scikit-learn's batch size: 'auto' is min(200, n); larger than n is clipped (with a warning)."""
    import warnings

    bs = p["batch_size"]
    if bs is None:
        return n
    if bs == "auto":
        return min(200, n)
    if bs > n:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                      stacklevel=4)
    return int(np.clip(bs, 1, n))


def optimizer_and_schedule(est: Any, p: dict, params: list) -> tuple[Any, Optional[Any]]:
    """The optimizer and the schedule (None: the loop sets the rate) for ``solver`` and ``learning_rate``."""

    registry = get_registry()
    name, options = named_with_options(registry, "optimizers", p["solver"], p["optimizer_options"])
    settings: dict = {"lr": p["learning_rate_init"]}
    if name == "adam":
        settings.update(beta1=p["beta_1"], beta2=p["beta_2"], eps=p["epsilon"])
    elif name == "sgd":
        momentum = min(p["momentum"], 1.0 - 1e-12)  # scikit-learn allows 1.0; torch's SGD formula needs < 1
        settings.update(momentum=momentum, nesterov=p["nesterovs_momentum"] and momentum > 0)
    optimizer = registry.get("optimizers", name)(params, **{**settings, **options})
    schedule_name = p["learning_rate"]
    if schedule_name in ("constant", "adaptive") or (schedule_name == "invscaling" and name != "sgd"):
        if p["schedule_options"]:
            raise _fail(est, f"schedule_options apply to a schedule by name, not to learning_rate={schedule_name!r}")
        return optimizer, None  # scikit-learn uses learning_rate with solver='sgd' only
    if schedule_name == "invscaling":  # the loop sets lr = init / (1 + examples seen) ** power_t, weights counted
        if p["schedule_options"]:
            raise _fail(est, "schedule_options do not apply to learning_rate='invscaling' (power_t sets it)")
        return optimizer, None
    return optimizer, build_component(registry, "schedules", schedule_name, p["schedule_options"])
