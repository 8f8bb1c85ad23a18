"""`Parameter`: a number a model learns, whose data and grad can live in one flat array.

An optimizer step over 785 parameters, one Python attribute at a time, costs more than
the whole compiled forward and backward of a small MLP. So while a compiled step trains
them, the parameters' numbers live in one float64 array (a `ParameterStore`) that the
compiled step and the optimizer work on with numpy. A bound parameter reads and writes its
own entry there, so ``p.data`` and ``p.grad`` are right whenever anyone looks, and
``p.data = 0.5`` changes the array.

Binding switches a `Parameter` to `BoundParameter`, the same object with ``data`` and
``grad`` as properties over the store; `ParameterStore.release` puts the numbers back
in the object and switches it back. An unbound Parameter is a plain `Value` (its ``data``
and ``grad`` are slots), so eager code pays nothing for the arrays it is not using. Binding
is always an explicit, scoped arrangement of a training loop: the Trainer's (for its
session), or a hand-written loop's ``with ParameterStore(params): ...`` (released when the
block ends). Compiling or replaying never binds. Plain Values, and Parameters whose grad is
None, work as parameters too: they are read and written one by one.

    >>> import numpy as np, microgradx
    >>> w = Parameter(0.5)
    >>> step = microgradx.compile(lambda x: (x * w).lane_sum())
    >>> with ParameterStore([w]):
    ...     step(np.array([1.0, 2.0])).backward()
    ...     type(w).__name__, w.grad
    ('BoundParameter', 3.0)
    >>> type(w).__name__, w.grad                  # the block's end put the numbers back
    ('Parameter', 3.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from microgradx.engine.value import Value

_DATA = Value.data  # the slots of Value: a Parameter's own number while no store holds it
_GRAD = Value.grad


class Parameter(Value):
    """A float leaf Value that a model trains: ``Parameter(0.5, label="w0")``.

    Exactly a Value (``data`` and ``grad`` are its own slots) until a `ParameterStore`
    binds it; then it is a `BoundParameter` until the store releases it.
    """

    __slots__ = ("_store", "_index")

    def __init__(self, data: Any, label: Optional[str] = None) -> None:
        self._store: Optional[ParameterStore] = None
        self._index = -1
        super().__init__(data, label=label)
        if not isinstance(self.data, float):
            raise TypeError(f"a Parameter holds one number, not {type(data).__name__} (lanes are data, not weights)")

    def __reduce__(self) -> tuple:
        # a copy (pickle, deepcopy) is a plain Parameter with the same number, bound to no store
        return (_rebuild, (self.data, self.grad, self.label))


class BoundParameter(Parameter):
    """A `Parameter` while a `ParameterStore` holds it: ``data`` and ``grad`` are its entries there."""

    __slots__ = ()

    @property
    def data(self) -> float:
        """The parameter's value, read from its store."""
        return self._store.data.item(self._index)

    @data.setter
    def data(self, x: Any) -> None:
        self._store.data[self._index] = x

    @property
    def grad(self) -> float:
        """The parameter's gradient, read from its store."""
        return self._store.grad.item(self._index)

    @grad.setter
    def grad(self, g: Any) -> None:
        if g is None:  # the store's float64 array would hold nan, and every gradient would be added to it
            raise TypeError(f"{self!r} is held by a ParameterStore, whose array of gradients holds numbers: it "
                            f"cannot take grad None (no gradient) until the store is released")
        if isinstance(g, Value):  # (the array would keep its number and silently drop its graph)
            raise TypeError(f"{self!r} is held by a ParameterStore, whose array of gradients holds numbers: it cannot "
                            f"take a gradient graph (backward(create_graph=True) or microgradx.gradients(..., "
                            f"create_graph=True) reaching it); do that outside the store's block")
        self._store.grad[self._index] = g


def _rebuild(data: float, grad: float, label: Optional[str]) -> Parameter:
    p = Parameter(data, label)
    p.grad = grad
    return p


class ParameterStore:
    """The data and grads of a list of Parameters, as two float64 arrays in the list's order.

    A context manager: ``with ParameterStore(params):`` binds them for the block and releases
    them at its end.

    Making a store binds its parameters to it (a parameter is in one store at a time; a store
    that loses one to another store is no longer ``valid``); `release` unbinds them, leaving
    their numbers in them. A Parameter whose grad is None (it takes no gradient) cannot be
    bound: the array of gradients holds numbers. ``generation`` counts bindings process-wide, so a holder can tell
    cheaply whether anything was bound or released since it looked.
    """

    generation = 0

    def __init__(self, params: Sequence[Parameter]) -> None:
        self.params = list(params)
        frozen = [p for p in self.params if p.grad is None]
        if frozen:
            raise TypeError(f"a ParameterStore holds gradients as numbers, and {frozen[0]!r} has grad None (it takes "
                            f"no gradient): leave it out of the store")
        self.data = np.array([p.data for p in self.params], dtype=np.float64)
        self.grad = np.array([p.grad for p in self.params], dtype=np.float64)
        self.valid = True
        for i, p in enumerate(self.params):
            old = p._store
            if old is not None and old is not self:
                old.valid = False
            p._store, p._index = self, i
            p.__class__ = BoundParameter
        ParameterStore.generation += 1

    @staticmethod
    def bind(params: Sequence[Any]) -> Optional[ParameterStore]:
        """A valid store holding exactly ``params`` in order (the one they share, or a new one).

        None when some are not Parameters, one appears twice or one has grad None (takes no
        gradient): those are read one by one.
        """
        params = list(params)
        if not params or not all(isinstance(p, Parameter) and p.grad is not None for p in params):
            return None
        if len({id(p) for p in params}) != len(params):
            return None
        store = params[0]._store
        if store is not None and store.valid and len(store.params) == len(params) and all(
                a is b for a, b in zip(store.params, params)):
            return store
        return ParameterStore(params)

    @staticmethod
    def locate(values: Sequence[Any]) -> Optional[tuple]:
        """``(store, index)`` when every value is a Parameter of one valid store (``index`` into its arrays), else None.

        ``index`` is a slice when the values are the store's own consecutive entries, in order.
        For code that works on a subset of parameters as arrays: ``store.grad[index] += ...``.
        """
        values = list(values)
        store = getattr(values[0], "_store", None) if values else None
        if store is None or not store.valid or not all(getattr(v, "_store", None) is store for v in values):
            return None
        index = np.array([v._index for v in values], dtype=np.intp)
        if len(np.unique(index)) != len(index):
            return None
        start = int(index[0])
        if (index == np.arange(start, start + len(index))).all():
            return store, slice(start, start + len(index))
        return store, index

    def release(self) -> None:
        """Unbind the parameters this store still holds: their numbers go back into them, as plain Parameters."""
        for i, p in enumerate(self.params):
            if p._store is self:
                data, grad = self.data.item(i), self.grad.item(i)
                p.__class__, p._store, p._index = Parameter, None, -1
                _DATA.__set__(p, data)
                _GRAD.__set__(p, grad)
        self.valid = False
        ParameterStore.generation += 1

    def __enter__(self) -> ParameterStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"ParameterStore({len(self.params)} parameters{'' if self.valid else ', no longer valid'})"


class StoreLookup:
    """Where a list of values lives in a store (`ParameterStore.locate`), looked up again only when bindings change.

    Call it for ``(store, index)`` or None. The answer is worked out again when a store has been
    made or released since (``ParameterStore.generation``), and kept with that generation as one
    attribute, so a thread never pairs one lookup's store with another's index.
    """

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = values
        self._found: tuple = (-1, None)  # (ParameterStore.generation, (store, index) or None)

    def __call__(self) -> Optional[tuple]:
        generation, where = self._found
        if generation != ParameterStore.generation or (where is not None and not where[0].valid):
            generation = ParameterStore.generation  # (read first: a binding made meanwhile is looked up next time)
            where = ParameterStore.locate(self.values)
            self._found = (generation, where)
        return where
