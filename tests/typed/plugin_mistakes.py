"""Mistakes the public types let mypy catch: every line ending in an "E:" comment is reported, no other."""

from __future__ import annotations

from typing import Any

from microgradx import Value, hookimpl
from microgradx.types import Layer, Optimizer, Register


class NoStep:
    lr = 0.1

    def zero_grad(self) -> None:
        pass


class NoParameters:
    def __call__(self, x: Any) -> list[Value]:
        return []

    def zero_grad(self) -> None:
        pass


@hookimpl
def microgradx_register_ops(register: Register) -> None:
    register(object(), "name", "yes")  # E: the third argument (replace) is a bool


optimizer: Optimizer = NoStep()  # E: no step()
layer: Layer = NoParameters()  # E: no parameters()
