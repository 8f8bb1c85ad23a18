"""`gc_paused`: building many graphs without CPython's cyclic garbage collector in the way.

A Value graph has no reference cycles (inputs never point back to outputs), so reference
counting frees it the moment the last reference goes. Yet building one allocates two
objects per node that the cyclic collector tracks (the Value and its tuple of inputs), so
long eager runs trigger collections that rescan the live graph again and again for nothing.
This is the one place microgradx manages the collector: the eager training steps pause it;
the engine itself never touches it. ``benchmarks/bench_nodes.py`` measures both ways.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_pauses = 0  # gc_paused() blocks active, in all threads
_was_enabled = False  # the collector's state when the first of them started


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block, then restore its state.

    Wrap a whole step (building the graph, ``backward()``, dropping it): pausing only while
    building merely defers the work. The collector is process-wide, so the blocks of all
    threads are counted together: it is paused when the first starts and restored when the
    last ends (checking ``gc.isenabled()`` in each thread could leave it off for good).
    """
    global _pauses, _was_enabled
    with _LOCK:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _LOCK:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
