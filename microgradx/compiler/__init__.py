"""The compiler: record a step's graph once, batch the nodes that do the same thing, replay it on arrays.

``microgradx.compile(fn)`` is where microgradx's speed lives; the eager engine stays plain.
``record.py`` reads a graph into a flat program (fusing micrograd's ``b + w1*x1 + ...``
into ``dot``), ``plan.py`` lays the values out in arrays and groups the nodes,
``batching.py`` and ``kernels.py`` run each group as one numpy call, ``replay.py`` runs a
plan forward and backward, ``function.py`` is the compiled function (``check.py`` its
``check=True``), and ``params.py`` keeps parameters in one flat array for the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microgradx.compiler.check import StaleRecordingError
from microgradx.compiler.function import CompiledFunction
from microgradx.compiler.params import Parameter, ParameterStore
from microgradx.compiler.replay import CompiledValue
from microgradx.compiler.trace import TracedDataError

__all__ = ["CompiledFunction", "CompiledValue", "Parameter", "ParameterStore", "StaleRecordingError", "TracedDataError",
           "compile"]


def compile(fn: Callable[..., Any], lanes: bool = True, check: bool = False) -> CompiledFunction:
    """Compile ``fn``, a function that builds a Value graph, into one that replays it on numpy arrays.

    Called with numpy arrays, the compiled function turns each array argument into input
    Values before ``fn`` sees them: with ``lanes=True`` a 1-D array of n numbers is one lane
    Value of n lanes and a 2-D array of shape (n, k) a list of k lane Values (its columns);
    with ``lanes=False`` (per-example scalar graphs, micrograd's style) a 1-D array is a list
    of n float Values and a 2-D array a list of n rows of k float Values. Other arguments
    are passed through unchanged and are part of the signature.

    The first call for a signature (array shapes and dtypes, the other arguments) runs ``fn``
    eagerly and records its graph; later calls replay the recording on the new arrays
    without running ``fn`` and without making a Value per node, running the nodes that
    apply one op to inputs of the same kind as one numpy call. It returns a `CompiledValue`
    (or a tuple, if ``fn`` returns several Values): ``.data`` is the output and
    ``.backward()`` adds to the ``.grad`` of every Value ``fn`` closes over (a model's
    parameters) what the eager graph's backward would add; ``backward(inputs=True)`` also
    gives the gradients with respect to the array arguments (``.input_grads``).

    **What is recorded** (jax.jit's and torch.jit.trace's rules): the graph of Values. Values
    ``fn`` closes over are read again at every call, so an optimizer step between calls
    takes effect. Numbers ``fn`` computes from anything else, a Python ``if`` on ``v.data``
    or a float taken out of a Value, are constants of the recording: a later call with other
    data replays the branch taken when recording. ``check=True`` runs ``fn`` eagerly at
    every call as well and raises `StaleRecordingError` naming the first node that differs.
    Side effects of ``fn`` (printing, appending to a list) happen only when it records. The
    Values ``fn`` closes over should be leaves (parameters): a computed Value it closes over is
    recomputed from its own inputs at every replay, where eager code would use the number it
    held (``check=True`` notices when the two differ).

    Inside ``microgradx.detect_anomaly()`` a compiled function runs ``fn`` eagerly and returns its
    Values, so that anomaly mode checks every op; replays are not checked.
    """
    return CompiledFunction(fn, lanes=lanes, check=check)
