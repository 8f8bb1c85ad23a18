"""The compiler: record a step's graph once, batch the nodes that do the same thing, replay it on arrays.

``microgradx.compile(fn)`` is where microgradx's speed lives; the eager engine stays plain.
``trace.py`` traces the data while ``fn`` records (a Python decision on it is refused),
``record.py`` reads a graph into a flat program (fusing micrograd's ``b + w1*x1 + ...``
into ``dot``), ``plan.py`` lays the values out in arrays and groups the nodes,
``batching.py`` (the ops' rules), ``kernels.py``, ``products.py`` and ``reductions.py`` run
each group as one numpy call, reading and writing rows as ``rows.py`` says, ``replay.py``
runs a plan forward and backward on a call's arrays, which ``workspace.py`` keeps for the
next call, ``function.py`` is the compiled function (``check.py`` its ``check=True``).
Parameters kept in one flat array for a training loop are the engine's
(`microgradx.engine.parameter`): a replay reads them in one slice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microgradx.compiler.check import StaleRecordingError
from microgradx.compiler.function import CompiledFunction
from microgradx.compiler.replay import CompiledValue
from microgradx.compiler.trace import TracedDataError

__all__ = ["CompiledFunction", "CompiledValue", "StaleRecordingError", "TracedDataError", "compile"]


def compile(fn: Callable[..., Any], lanes: bool = True, check: bool = False) -> CompiledFunction:
    """Compile ``fn``, a function that builds a Value graph, into one that replays it on numpy arrays.

    Called with numpy arrays, the compiled function turns each array argument into input
    Values before ``fn`` sees them: with ``lanes=True`` a 1-D array of n numbers is one lane
    Value of n lanes and a 2-D array of shape (n, k) a list of k lane Values (its columns);
    with ``lanes=False`` (per-example scalar graphs, micrograd's style) a 1-D array is a list
    of n float Values and a 2-D array a list of n rows of k float Values. Other arguments
    are settings: hashable, part of the signature (with their type, and a float's sign).

    The first call for a signature runs ``fn`` and records its graph; later calls replay the
    recording on the new arrays without running ``fn`` and without making a Value per node,
    running the nodes that apply one op to inputs of the same kind as one numpy call. In lane
    mode the signature is the arrays' columns, not their rows: one recording serves any
    batch size. A call returns a `CompiledValue` (or a tuple, if ``fn`` returns several):
    ``.data`` is the output and ``.backward()`` adds to the ``.grad`` of every Value ``fn``
    uses what eager ``backward()`` would add; ``backward(inputs=True)`` also gives the
    gradients with respect to the array arguments (``.input_grads``). ``.forward(*arrays)``
    gives the outputs' data only, replayed in chunks of rows (predictions, evaluation).

    **The contract** (jax.jit's rules; docs/design.md, "The compiled-steps contract"): a
    compiled call returns what running ``fn`` eagerly returns, with the same gradients, or
    raises an error naming the reason, the function and the line.

    - While ``fn`` records, the data of its inputs and of every Value an op makes is traced:
      printing it is fine, but a Python decision on it (``if v.data > 0``, ``float(v)``,
      ``int()``, comparisons, ``item()``, ``sorted``/``max`` by data, arithmetic, ``math`` or
      numpy on ``v.data``, ``Value(v.data)``) raises `TracedDataError` at that line. Use an op
      that decides per example (``relu``, ``abs``, a plugin's), compute the number outside
      ``fn``, or run ``fn`` eagerly.
    - Numbers ``fn`` passes to ops are constants of the recording. Every Value ``fn`` uses
      (parameters, Values it closes over or makes) is read at every call and receives its
      gradient; a Value made by an op before the call is read as it stands. The Values are the
      objects ``fn`` used when it recorded: a name rebound to another Value is not seen.
    - Backward runs only what the seeded outputs reach. A replaced op records again; a
      ``backward()`` after a Value the call read changed is refused.
    - Compiling never changes a Value's class. A training loop may keep parameters in one
      array for speed, explicitly: ``with ParameterStore(params): ...`` (the Trainer does).
    - Side effects of ``fn`` (printing, appending to a list) happen only when it records.
      ``check=True`` runs ``fn`` again at every call and raises `StaleRecordingError` naming
      the first node that differs (for what tracing cannot see: a global setting, a rebound
      name).

    Inside ``microgradx.detect_anomaly()`` a compiled function runs ``fn`` eagerly and returns its
    Values, so that anomaly mode checks every op; replays are not checked.
    """
    return CompiledFunction(fn, lanes=lanes, check=check)
