"""Hook specifications: every extension point of microgradx, documented where declared.

A plugin is a module (or any object) with functions named like the hooks below and
marked with ``@microgradx.hookimpl``. It may implement any subset, and may take any
subset of a hook's arguments, by name.

Two families of hooks:

* **Registration hooks** (``microgradx_register_*``) receive a ``register``
  callback (typed as `microgradx.types.Register`). They run once, the first time the
  registry is needed (the first op applied, the first component looked up), never
  again, and never per op: after loading, every lookup is a plain dict read. Each
  component is tagged with the plugin that registered it, so errors and ``microgradx
  plugins`` can name it. ``register(component, name=None, replace=False)``: ``name``
  defaults to ``component.name``. A name that a built-in also registers stays the
  built-in's: the third-party component is skipped with a warning. A name that two
  third-party plugins register is an error naming both (using it raises
  `DuplicateComponentError`; every other name works). ``replace=True`` replaces the
  other registrations of that name on purpose, built-ins included, whatever the order
  the plugins load in (replacing a built-in warns once, and ``microgradx plugins``
  shows it); two plugins that both replace one name are an error naming both.
* **Training events** (``microgradx_train_*``, ``microgradx_epoch_end`` ...) are
  called by `microgradx.train.Trainer` as training runs. Callback objects that a
  run uses are registered as plugins for the duration of that run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from microgradx.types import Register

hookspec = pluggy.HookspecMarker("microgradx")

#: The plugin API version: the hooks, their arguments, the ``register`` callback and the
#: component contracts described here. It changes only when a change would break existing
#: plugins (a hook removed or renamed, an argument removed, a contract changed incompatibly),
#: and then only with a new minor (0.x) or major microgradx version; new hooks, new optional
#: arguments and new component kinds do not change it.
PLUGIN_API_VERSION = 1


# -- registration hooks ------------------------------------------------------------------


@hookspec
def microgradx_register_ops(register: Register) -> None:
    """Register differentiable ops.

    Call ``register(op)`` with a `microgradx.Op` for each op. Every registered op is
    callable as ``microgradx.ops.NAME(*values)`` and as the method ``value.NAME()``,
    and Python operators resolve through this table by name (``+`` is ``add``,
    ``-`` is ``sub``, unary ``-`` is ``neg``, ``*`` is ``mul``, ``/`` is ``div``,
    ``**`` is ``pow``), so ``register(op, replace=True)`` for one of those names
    changes what the operator does.

    What the compiler needs to know about an op is declared on it (`microgradx.Op`):
    ``elementwise=True`` (many nodes run as one numpy call), ``batch`` (a batching rule,
    `microgradx.compiler.batching`), ``fuse`` (a rewrite of a chain of nodes); ``symbol`` is how
    pictures and micrograd's ``v._op`` show it, and ``with_constant`` gives the op with its last
    input fixed to a number (``x ** 2``). The compiler knows no op by name.

    An op's ``backward`` also runs on Values, under ``backward(create_graph=True)`` (second
    derivatives): written with operators and ops it serves floats, lanes and Values alike (see
    "A backward that is differentiable" in docs/plugins.md); ``check_op(op, order=2)`` checks it.
    """


@hookspec
def microgradx_register_losses(register: Register) -> None:
    """Register losses by name.

    Call ``register(loss_class, name="...")``. A loss class takes its settings as keyword
    arguments (``l2`` for the L2 penalty, by convention) and its instances are called as
    ``loss(outputs, targets, params=None) -> Value``: ``outputs`` is the list of Values a
    model returned (one per output; floats in scalar mode, lanes in lane mode), ``targets``
    a 1-D (or 2-D for several outputs) numpy array; the result is a Value holding a float,
    the mean over examples, plus ``l2 * sum(p * p)`` over ``params`` when given. The class
    attribute ``task`` (``"binary"``, ``"multiclass"`` or ``"regression"``) and the method
    ``predict(outputs) -> numpy array`` (labels or values) let the trainer measure accuracy.
    `microgradx.testing.check_loss` checks this contract (`microgradx.types.Loss` types it).

    The Trainer's fast path (`microgradx.types.CompiledLoss`): a loss that also has
    ``encode_targets(targets, n_outputs, n)``, ``build(outputs, targets, weights, params)``,
    ``per_example(outputs, targets)`` and ``penalised(loss, params)`` is recorded with the model
    in one compiled step, its targets encoded once per epoch; one without them trains on a slower
    path, and the Trainer warns (`microgradx.types.FastPathWarning`) naming what it lacks.
    """


@hookspec
def microgradx_register_optimizers(register: Register) -> None:
    """Register optimizers by name.

    Call ``register(optimizer_class, name="...")``. An optimizer is constructed as
    ``optimizer_class(parameters, lr=..., **settings)`` and has ``step()`` (update
    every parameter from its ``grad``), ``zero_grad()``, and an ``lr`` attribute that
    learning-rate schedules set before each step; bad settings raise at construction.
    `microgradx.testing.check_optimizer` checks this contract (`microgradx.types.Optimizer`
    types it).
    """


@hookspec
def microgradx_register_schedules(register: Register) -> None:
    """Register learning-rate schedules by name.

    Call ``register(schedule_class, name="...")``. A schedule is constructed with its
    settings and called as ``schedule(base_lr, step, total_steps) -> lr``.
    """


@hookspec
def microgradx_register_layers(register: Register) -> None:
    """Register layers and models by name (``Neuron``, ``Layer``, ``MLP``, ...).

    Call ``register(layer_class, name="...")``. A layer is callable on inputs (one example
    as a list, or a 2-D numpy array of examples for lane mode) and returns a list of
    Values; it has ``parameters()`` and ``zero_grad()``. The trainer builds a model given
    by name as ``layer_class(n_features, [*hidden, n_outputs], activation=..., seed=...)``;
    model files also use ``spec()``, ``from_spec()``, ``get_weights()`` and ``set_weights()``.
    """


@hookspec
def microgradx_register_datasets(register: Register) -> None:
    """Register datasets by name.

    Call ``register(loader, name="...")``. ``loader(seed=..., test_size=...)`` returns
    a `microgradx.datasets.Dataset` (train and test arrays, task, class names). Import
    heavy libraries inside the loader, not at module level, so that ``import
    microgradx`` stays light.
    """


@hookspec
def microgradx_register_callbacks(register: Register) -> None:
    """Register training callbacks by name (progress, logging, early stopping, ...).

    Call ``register(callback_class, name="...")``. A callback instance is a plugin
    object: it implements any of the training-event hooks below and is registered
    with the plugin manager for the duration of one training run. A callback given to a
    run by name is constructed with no arguments; pass an instance to choose settings.
    """


# -- training events ---------------------------------------------------------------------


@hookspec
def microgradx_train_start(trainer: Any) -> None:
    """Training is about to start. ``trainer`` is the `microgradx.train.Trainer`."""


@hookspec
def microgradx_batch_end(trainer: Any, epoch: int, batch: int, loss: float) -> None:
    """One optimizer step of ``trainer`` finished: ``epoch`` and ``batch`` count from 0; ``loss`` is its loss.

    The parameters' ``grad`` still hold this step's gradients (they are reset before the next step).
    """


@hookspec
def microgradx_epoch_end(trainer: Any, epoch: int, metrics: dict) -> None:
    """An epoch of ``trainer`` finished. ``epoch`` counts from 0; ``metrics`` maps names
    (``loss``, ``train_accuracy``, ...) to floats.

    Set ``trainer.should_stop = True`` to end training after this epoch (early stopping).
    """


@hookspec
def microgradx_train_end(trainer: Any, history: Any) -> None:
    """``trainer`` ended (normally or stopped early). ``history`` is what ``Trainer.fit`` returns."""
