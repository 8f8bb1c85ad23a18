"""The chain rule through a collapsed node, as one step: what a neuron's or a layer's ops pass, together,
to each value outside it (for the explorer page, `microgradx.draw.timeline`).

A collapsed node's ops are visited one after another by `microgradx.draw.steps.replay`; `merge`
adds up what that run of steps gives each input and parameter of the node, and `jacobian`
says how each of the node's outputs depends on each of them (the local derivatives, one per
output: a neuron has one output, a layer one per neuron), by replaying the same ops from each
output with a seed of 1. Upstream x local, summed over the outputs, is what is added (a
backward is linear in its gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microgradx import Value
from microgradx.draw.steps import BackwardStep, ones_like, replay


class Merged:
    """What one run of steps adds to one value outside the collapsed node: ``product`` in all,
    its grad ``before`` the run and ``after`` it."""

    __slots__ = ("value", "product", "before", "after")

    def __init__(self, value: Value, product: Any, before: Any, after: Any):
        self.value = value
        self.product = product
        self.before = before
        self.after = after


def merge(run: Sequence[BackwardStep]) -> list[Merged]:
    """The values outside the run's ops that it passes grads to, in the order they are first reached."""
    members = {id(s.value) for s in run}
    merged: dict[int, Merged] = {}
    for s in run:
        for t in s.terms:
            if id(t.input) in members:
                continue
            m = merged.get(id(t.input))
            if m is None:
                merged[id(t.input)] = Merged(t.input, t.product, t.before, t.after)
            else:
                m.product = m.product + t.product
                m.after = t.after
    return list(merged.values())


def jacobian(run: Sequence[BackwardStep], outputs: Sequence[Value]) -> list[dict[int, Any]]:
    """For each output, ``id(value) -> d output / d value`` for every value its ops reach (a value an
    output does not depend on is missing from its dict)."""
    visit = [s.value for s in run]
    members = {id(v) for v in visit}
    out = []
    for o in outputs:
        below, stack = {id(o)}, [o]  # the run's ops that o depends on
        while stack:
            for p in stack.pop().parents:
                if id(p) in members and id(p) not in below:
                    below.add(id(p))
                    stack.append(p)
        out.append(replay([v for v in visit if id(v) in below], {id(o): ones_like(o.data)})[1])
    return out

