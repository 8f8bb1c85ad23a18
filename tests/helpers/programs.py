"""Random programs of Values for the differential tests of `microgradx.compile` (tests/test_compile_differential.py).

`make_program(seed, lanes)` writes a random function of Values as Python source, from the
bundled registered ops: arithmetic with Values and with numbers (``+ - * /``, ``**`` with a
number or a Value exponent, ``2.0 ** v``), the unary ops, the fused n-ary ``dot``, ``sum``,
``logsumexp``, ``bce_logit``, the lane reductions, micrograd-style neuron chains
``b + w1*x1 + w2*x2 + ...`` (which the compiler fuses into ``dot``), plain chains ``a + b + c``
(fused into ``sum``) and ``Value(c)`` constants made while the function runs. A program reads
the columns of an array argument ``X`` (optionally a 1-D ``t`` and a number setting ``s``);
closes over Values and `microgradx.Parameter` s (``P[i]``: some read many times; lane Values
too in lane mode), over Values computed before the call (``Q[i]``, from the leaves ``S[i]``)
and over Parameters it makes on its first call (``LAZY``); may keep every intermediate Value
in a debug list (``DEBUG``); and returns one or several outputs, some of them twice.

Every operand is kept in its op's domain whatever the data, so eager never raises: each
node carries an interval that bounds its value for inputs in [-2, 2], targets in [0, 1],
closed-over Values in [-2, 2] and up to `MAX_ROWS` lanes. Divisors, logarithms' arguments and
the bases of fractional powers are made positive first (at least `POSITIVE`, by ops such as
``a * a + 0.3`` or ``abs(a) + 0.2``), operands larger than `LIMIT` are squashed first
(``tanh``, a scale), and ``exp`` sees at most 5. With ``monitors=True`` the program also
returns outputs that overflow (``inf``, ``nan``) in some lanes: a loss and a monitor.

The source is the program: `Program.source` is printed in a failing test's message, and
``python tests/helpers/programs.py SEED [scalar] [monitors]`` prints it for a seed.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from microgradx import Parameter, Value, ops

#: The most lanes a program is called with: intervals of lane sums allow for it.
MAX_ROWS = 300
#: Operands whose interval reaches past this are squashed before use.
LIMIT = 30.0
#: Divisors, logarithms' arguments and bases of non-integer powers are at least this.
POSITIVE = 0.1
#: Where inputs, targets and closed-over Values lie (their replays and updates stay inside).
INPUT_RANGE = (-2.0, 2.0)
TARGET_RANGE = (0.0, 1.0)
PARAM_RANGE = (-2.0, 2.0)
#: What `Program.specials` puts into the inputs (outside the intervals: an op may then refuse them, eagerly too).
SPECIAL_INPUTS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300)


@dataclass
class Node:
    """One operand a program can use: its Python expression, an interval bounding it, and what it depends on."""

    name: str
    lo: float
    hi: float
    lanes: bool = False  # holds lanes (lane mode)
    dep: bool = False  # depends on the array arguments
    par: bool = False  # depends on a closed-over Value

    @property
    def bound(self) -> float:
        return max(abs(self.lo), abs(self.hi))


def _corners(pairs: Sequence[float]) -> tuple:
    return min(pairs), max(pairs)


def _mul(a: tuple, b: tuple) -> tuple:
    return _corners([a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]])


def _softplus(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@dataclass
class Program:
    """A generated function: its source, what it closes over, and how to call it."""

    seed: int
    lanes: bool
    source: str  # the function ``fn``, using the names of `namespace`
    closed_kinds: list  # per P[i]: ("value" | "param" | "lanes", initial data)
    sources_data: list  # per S[i]: (kind, data) of the leaves the closed-over computed Values are made from
    computed: list  # per Q[i]: its expression in S (evaluated once, before any call)
    n_features: int
    one_d: bool  # X is 1-D (one feature)
    has_t: bool
    setting: Optional[float]
    n_outputs: int
    monitors: list  # output indices that may overflow (never seeded)
    fixed_rows: Optional[int]  # lanes closed over: every call has this many rows
    rows: int  # the rows of the first call (and of the closed-over lane Values)
    specials: bool = False  # X holds NaN, inf, -inf, 0.0, -0.0 or 1e-300 here and there

    def namespace(self) -> dict:
        """Fresh closed-over Values for one instance of the program, and the names ``fn`` uses."""
        P = [Value(np.array(x)) if kind == "lanes" else (Parameter(x) if kind == "param" else Value(x))
             for kind, x in self.closed_kinds]
        S = [Parameter(x) if kind == "param" else Value(x) for kind, x in self.sources_data]
        space = {"P": P, "S": S, "LAZY": {}, "DEBUG": [], "ops": ops, "Value": Value, "Parameter": Parameter}
        space["Q"] = [eval(expr, space) for expr in self.computed]
        return space

    def instantiate(self) -> Instance:
        """The function and its closed-over Values, made afresh (a compiled and an eager run share them)."""
        space = self.namespace()
        exec(compile(self.source, f"<program {self.seed}>", "exec"), space)
        return Instance(self, space["fn"], space)

    def arguments(self, rng: np.random.Generator, rows: int, setting: Optional[float] = None) -> list:
        """Arguments for a call with ``rows`` rows: X, [t], [s] (``setting``, else the program's own).

        X is sometimes float32, Fortran-ordered or a strided view: the compiled function reads it as
        float64 as eager ``Value(X)`` does.
        """
        X = rng.uniform(*INPUT_RANGE, size=rows if self.one_d else (rows, self.n_features))
        if self.monitors:  # the monitors overflow where feature 0 is large: one row where it is, one where not
            column = X if self.one_d else X[:, 0]
            column[0] = 1.9
            if rows > 1:
                column[1] = -1.9
        if self.specials:  # one or two numbers that eager code meets too: NaN and inf propagate, zeros sit on kinks
            flat = X.reshape(-1)
            where = rng.choice(flat.size, size=min(int(rng.integers(1, 3)), flat.size), replace=False)
            flat[where] = rng.choice(SPECIAL_INPUTS, size=len(where))
        layout = rng.integers(8)
        if layout == 0:
            X = X.astype(np.float32)
        elif layout == 1:
            X = np.asfortranarray(X)
        elif layout == 2:
            X = np.repeat(X, 2, axis=-1)[..., ::2]  # a view with a stride of two numbers
        args: list = [X]
        if self.has_t:
            args.append(rng.uniform(*TARGET_RANGE, size=rows))
        if self.setting is not None:
            args.append(self.setting if setting is None else setting)
        return args

    def describe(self) -> str:
        """The program for a message: the closed-over data and the source."""
        flags = f"{'' if self.lanes else ' scalar'}{' monitors' if self.monitors else ''}"
        flags += " specials" if self.specials else ""
        lines = [f"program seed={self.seed} lanes={self.lanes} (python tests/helpers/programs.py {self.seed}{flags})"]
        for i, (kind, x) in enumerate(self.closed_kinds):
            lines.append(f"P[{i}] = {kind} {np.array2string(np.asarray(x), precision=4, threshold=6)}")
        for i, (kind, x) in enumerate(self.sources_data):
            lines.append(f"S[{i}] = {kind} {x!r}")
        for i, expr in enumerate(self.computed):
            lines.append(f"Q[{i}] = {expr}")
        lines.append(self.source)
        return "\n".join(lines)


@dataclass
class Instance:
    """A program's function with its own closed-over Values."""

    program: Program
    fn: Any
    space: dict = field(repr=False)

    def closed(self) -> list:
        """Every leaf the function closes over: P, S and the Parameters it made on its first call."""
        lazy = self.space["LAZY"]
        return [*self.space["P"], *self.space["S"], *[lazy[k] for k in sorted(lazy)]]

    def step(self, rng: np.random.Generator) -> None:
        """Move every updatable closed-over leaf (P and LAZY, not S) a little, as an optimizer step would."""
        lazy = self.space["LAZY"]
        for v in [*self.space["P"], *[lazy[k] for k in sorted(lazy)]]:
            if isinstance(v.data, np.ndarray):
                v.data = np.clip(v.data + rng.normal(0.0, 0.3, size=v.data.shape), *PARAM_RANGE)
            else:  # sometimes a numpy float, as ``p.data -= lr * p.grad`` leaves after a lane-mode backward
                x = np.clip(v.data + rng.normal(0.0, 0.3), *PARAM_RANGE)
                v.data = x if rng.random() < 0.3 else float(x)


class _Writer:
    """Writes one program's body, keeping every node's interval (see the module docstring)."""

    def __init__(self, rng: random.Random, lanes: bool, debug: bool, setting: Optional[float]) -> None:
        self.rng, self.lanes, self.debug, self.setting = rng, lanes, debug, setting
        self.lines: list = []
        self.nodes: list = []  # the operands: leaves first, then every emitted node
        self.hot: list = []  # operands read many times
        self.count = 0

    # -- emitting ---------------------------------------------------------------------------------

    def emit(self, expr: str, lo: float, hi: float, *operands: Node, reduces: bool = False,
             operand: bool = True) -> Node:
        """A new line ``vN = expr``: its node, depending on ``operands`` (lanes, unless it ``reduces``)."""
        name = f"v{self.count}"
        self.count += 1
        self.lines.append(f"{name} = {expr}")
        if self.debug:
            self.lines.append(f"DEBUG.append({name})")
        node = Node(name, lo, hi, lanes=not reduces and any(o.lanes for o in operands),
                    dep=any(o.dep for o in operands), par=any(o.par for o in operands))
        if operand:
            self.nodes.append(node)
        return node

    def number(self, lo: float = -2.0, hi: float = 2.0) -> float:
        return round(self.rng.uniform(lo, hi), 3) or 0.5

    def pick(self) -> Node:
        r = self.rng.random()
        if r < 0.4:
            return self.rng.choice(self.nodes[-3:])
        if r < 0.55 and self.hot:
            return self.rng.choice(self.hot)
        if r < 0.8:
            return self.rng.choice([n for n in self.nodes if n.dep])
        return self.rng.choice(self.nodes)

    def small(self, node: Node) -> Node:
        """``node``, or a squashed version of it when it may exceed `LIMIT`."""
        if node.bound <= LIMIT:
            return node
        how = self.rng.randrange(3)
        if how == 0:
            return self.emit(f"{node.name}.tanh()", math.tanh(node.lo), math.tanh(node.hi), node)
        if how == 1:
            return self.emit(f"ops.sigmoid({node.name})", _sigmoid(node.lo), _sigmoid(node.hi), node)
        c = round(2.0 / node.bound, 8)
        return self.emit(f"{node.name} * {c!r}", node.lo * c, node.hi * c, node)

    def positive(self, node: Node) -> Node:
        """``node`` if it is at least `POSITIVE`, else a positive Value made from it."""
        if node.lo >= POSITIVE and node.hi <= LIMIT:
            return node
        a = self.small(node)
        c = self.number(0.2, 1.0)
        how = self.rng.randrange(6)
        sq = (0.0 if a.lo <= 0.0 <= a.hi else min(a.lo * a.lo, a.hi * a.hi), a.bound ** 2)
        if how == 0:
            return self.emit(f"{a.name} * {a.name} + {c!r}", sq[0] + c, sq[1] + c, a)
        if how == 1:
            return self.emit(f"abs({a.name}) + {c!r}", c, a.bound + c, a)
        if how == 2:
            return self.emit(f"{a.name}.sigmoid() + {c!r}", _sigmoid(a.lo) + c, _sigmoid(a.hi) + c, a)
        if how == 3:
            return self.emit(f"{a.name}.tanh().exp()", math.exp(math.tanh(a.lo)), math.exp(math.tanh(a.hi)), a)
        if how == 4:
            return self.emit(f"{a.name}.relu() + {c!r}", max(a.lo, 0.0) + c, max(a.hi, 0.0) + c, a)
        return self.emit(f"ops.logsumexp({a.name}, {c!r})", max(a.lo, c), max(a.hi, c) + math.log(2.0), a)

    # -- steps ----------------------------------------------------------------------------------------

    def step(self, kind: Optional[str] = None) -> None:
        kinds = ["unary", "binary", "number", "pow_number", "pow_value", "neuron", "chain", "sum", "dot",
                 "logsumexp", "bce", "reduce", "const"]
        weights = [6, 6, 5, 2, 2, 5, 2, 2, 2, 2, 1, 2 if self.lanes else 1, 1]
        getattr(self, "_" + (kind or self.rng.choices(kinds, weights)[0]))()

    def _unary(self) -> None:
        a = self.small(self.pick())
        name = self.rng.choice(["tanh", "relu", "sigmoid", "abs", "neg", "exp", "log"])
        method = self.rng.random() < 0.5  # a.tanh() or ops.tanh(a)
        call = (lambda op, x: f"{x}.{op}()") if method else (lambda op, x: f"ops.{op}({x})")
        if name == "tanh":
            self.emit(call("tanh", a.name), math.tanh(a.lo), math.tanh(a.hi), a)
        elif name == "relu":
            self.emit(call("relu", a.name), max(a.lo, 0.0), max(a.hi, 0.0), a)
        elif name == "sigmoid":
            self.emit(call("sigmoid", a.name), _sigmoid(a.lo), _sigmoid(a.hi), a)
        elif name == "abs":
            lo = a.lo if a.lo >= 0 else (-a.hi if a.hi <= 0 else 0.0)
            self.emit(f"abs({a.name})", lo, a.bound, a)
        elif name == "neg":
            self.emit(f"-{a.name}", -a.hi, -a.lo, a)
        elif name == "exp":
            if a.hi > 5.0:
                a = self.emit(f"{a.name}.tanh()", math.tanh(a.lo), math.tanh(a.hi), a)
            self.emit(call("exp", a.name), math.exp(a.lo), math.exp(a.hi), a)
        else:
            p = self.positive(a)
            self.emit(call("log", p.name), math.log(p.lo), math.log(p.hi), p)

    def _binary(self) -> None:
        a, b = self.small(self.pick()), self.small(self.pick())
        op = self.rng.choice("+-*/")
        if op == "+":
            self.emit(f"{a.name} + {b.name}", a.lo + b.lo, a.hi + b.hi, a, b)
        elif op == "-":
            self.emit(f"{a.name} - {b.name}", a.lo - b.hi, a.hi - b.lo, a, b)
        elif op == "*":
            self.emit(f"{a.name} * {b.name}", *_mul((a.lo, a.hi), (b.lo, b.hi)), a, b)
        else:
            p = self.positive(b)
            self.emit(f"{a.name} / {p.name}", *_mul((a.lo, a.hi), (1.0 / p.hi, 1.0 / p.lo)), a, p)

    def _number(self) -> None:
        a = self.small(self.pick())
        if self.setting is not None and self.rng.random() < 0.5:  # the setting argument: any number in [0.5, 1.5]
            c, text = (0.5, 1.5), "s"
        else:
            number = self.number()
            c, text = (number, number), repr(number)
        how = self.rng.randrange(7)
        if how == 0:
            self.emit(f"{a.name} + {text}", a.lo + c[0], a.hi + c[1], a)
        elif how == 1:
            self.emit(f"{text} - {a.name}", c[0] - a.hi, c[1] - a.lo, a)
        elif how == 2:
            self.emit(f"{a.name} * {text}", *_mul((a.lo, a.hi), c), a)
        elif how == 3:
            self.emit(f"{text} * {a.name}", *_mul((a.lo, a.hi), c), a)
        elif how == 4:
            d = self.number(0.5, 3.0)
            self.emit(f"{a.name} / {d!r}", a.lo / d, a.hi / d, a)
        elif how == 5:
            p = self.positive(a)
            self.emit(f"{text} / {p.name}", *_mul(c, (1.0 / p.hi, 1.0 / p.lo)), p)
        else:
            self.emit(f"{a.name} - {text}", a.lo - c[1], a.hi - c[0], a)

    def _pow_number(self) -> None:
        a = self.small(self.pick())
        e = self.rng.choice([2, 3, 2.0, 0.5, 1.5, -0.5, -1.0, -2.0, 2.5])
        if e in (2, 2.0):
            lo = 0.0 if a.lo <= 0.0 <= a.hi else min(a.lo * a.lo, a.hi * a.hi)
            self.emit(f"{a.name} ** {e!r}", lo, a.bound ** 2, a)
        elif e == 3:
            self.emit(f"{a.name} ** 3", a.lo ** 3, a.hi ** 3, a)
        else:
            p = self.positive(a)
            self.emit(f"{p.name} ** {e!r}", *_corners([p.lo ** e, p.hi ** e]), p)

    def _pow_value(self) -> None:
        y = self.small(self.pick())
        if y.bound > 3.0:
            y = self.emit(f"{y.name}.tanh() * 2.0", 2.0 * math.tanh(y.lo), 2.0 * math.tanh(y.hi), y)
        if self.rng.random() < 0.3:  # a number base: 2.0 ** y
            c = self.rng.choice([0.5, 2.0, 3.0])
            self.emit(f"{c!r} ** {y.name}", *_corners([c ** y.lo, c ** y.hi]), y)
            return
        p = self.positive(self.pick())
        self.emit(f"{p.name} ** {y.name}", *_corners([b ** e for b in (p.lo, p.hi) for e in (y.lo, y.hi)]), p, y)

    def _neuron(self) -> None:
        """``b + w1*x1 + w2*x2 + ...``: weights mostly closed-over Values, inputs any node (fused into dot)."""
        m = self.rng.randint(2, 5)
        params = [n for n in self.nodes if n.name.startswith(("P[", "L"))] or self.nodes
        terms, lo, hi, used = [], 0.0, 0.0, []
        if self.rng.random() < 0.8:
            b = self.small(self.rng.choice(params) if self.rng.random() < 0.7 else self.pick())
            terms.append(b.name)
            lo, hi = b.lo, b.hi
            used.append(b)
        for _ in range(m):
            w = self.small(self.rng.choice(params) if self.rng.random() < 0.8 else self.pick())
            x = self.small(self.pick())
            first, second = (w, x) if self.rng.random() < 0.8 else (x, w)
            terms.append(f"{first.name}*{second.name}")
            plo, phi = _mul((w.lo, w.hi), (x.lo, x.hi))
            lo, hi = lo + plo, hi + phi
            used += [w, x]
        self.emit(" + ".join(terms), lo, hi, *used)

    def _chain(self) -> None:
        xs = [self.small(self.pick()) for _ in range(self.rng.randint(3, 5))]
        self.emit(" + ".join(x.name for x in xs), sum(x.lo for x in xs), sum(x.hi for x in xs), *xs)

    def _sum(self) -> None:
        xs = [self.small(self.pick()) for _ in range(self.rng.randint(1, 5))]
        lo, hi = sum(x.lo for x in xs), sum(x.hi for x in xs)
        if len(xs) > 1 and self.rng.random() < 0.4:
            self.emit(f"{xs[0].name}.sum({', '.join(x.name for x in xs[1:])})", lo, hi, *xs)
        else:
            self.emit(f"ops.sum({', '.join(x.name for x in xs)})", lo, hi, *xs)

    def _dot(self) -> None:
        m = self.rng.randint(1, 4)
        bias = [self.small(self.pick())] if self.rng.random() < 0.6 else []
        ws = [self.small(self.pick()) for _ in range(m)]
        xs = [self.small(self.pick()) for _ in range(m)]
        lo = sum(b.lo for b in bias) + sum(_mul((w.lo, w.hi), (x.lo, x.hi))[0] for w, x in zip(ws, xs))
        hi = sum(b.hi for b in bias) + sum(_mul((w.lo, w.hi), (x.lo, x.hi))[1] for w, x in zip(ws, xs))
        every = [*bias, *ws, *xs]
        self.emit(f"ops.dot({', '.join(n.name for n in every)})", lo, hi, *every)

    def _logsumexp(self) -> None:
        xs = [self.small(self.pick()) for _ in range(self.rng.randint(1, 4))]
        self.emit(f"ops.logsumexp({', '.join(x.name for x in xs)})", max(x.lo for x in xs),
                  max(x.hi for x in xs) + math.log(len(xs)), *xs)

    def _bce(self) -> None:
        z = self.small(self.pick())
        targets = [n for n in self.nodes if n.name == "ti"]
        if targets and self.rng.random() < 0.7:
            t = targets[0]
        else:
            c = self.number(0.0, 1.0)
            t = Node(repr(c), c, c)
        slo, shi = _mul((t.lo, t.hi), (z.lo, z.hi))
        self.emit(f"ops.bce_logit({z.name}, {t.name})", _softplus(z.lo) - shi, _softplus(z.hi) - slo, z, t)

    def _reduce(self) -> None:
        a = self.small(self.pick())
        if self.rng.random() < 0.5 or not (self.lanes and a.lanes):
            self.emit(self.rng.choice([f"{a.name}.lane_mean()", f"ops.lane_mean({a.name})"]), a.lo, a.hi, a,
                      reduces=True)
        else:
            self.emit(f"{a.name}.lane_sum()", min(a.lo, a.lo * MAX_ROWS), max(a.hi, a.hi * MAX_ROWS), a,
                      reduces=True)

    def _const(self) -> None:
        a = self.small(self.pick())
        c = self.number(0.3, 2.0)
        if self.rng.random() < 0.5:
            self.emit(f"Value({c!r}) * {a.name}", *_mul((a.lo, a.hi), (c, c)), a)
        else:
            self.emit(f"{a.name} - Value({c!r})", a.lo - c, a.hi - c, a)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def make_program(seed: int, lanes: bool, monitors: bool = False, debug: Optional[bool] = None,
                 specials: bool = False) -> Program:
    """The random program of ``seed`` (see the module docstring); the same seed gives the same program.

    ``monitors``: also return outputs that overflow in some lanes (`Program.monitors`). ``debug``:
    keep every intermediate Value in ``DEBUG`` (True), or not (False), in the otherwise same program.
    ``specials``: one output, called with NaN, inf, zeros in its inputs (`Program.arguments`).
    """
    rng = random.Random(seed * 4 + 2 * lanes + monitors)
    k = rng.randint(1, 4)
    one_d = k == 1 and rng.random() < 0.5
    has_t = rng.random() < 0.5
    setting = round(rng.uniform(0.5, 1.5), 3) if rng.random() < 0.3 else None
    drawn = rng.random() < 0.2
    debug = drawn if debug is None else debug
    writer = _Writer(rng, lanes, debug, setting)

    # leaves: the inputs, the target, the closed-over Values (the setting is a number: see _Writer._number)
    for j in range(k):
        writer.nodes.append(Node(f"x[{j}]", *INPUT_RANGE, lanes=lanes, dep=True))
    if has_t:
        writer.nodes.append(Node("ti", *TARGET_RANGE, lanes=lanes, dep=True))
    closed_kinds = []
    lane_closures = lanes and not monitors and rng.random() < 0.15
    rows = rng.randint(3, 6)
    for i in range(rng.randint(1, 7)):
        kind = rng.choice(["value", "param", "param"] + (["lanes"] if lane_closures else []))
        data = (np.round(np.random.default_rng(seed + i).uniform(-1.5, 1.5, size=rows), 4).tolist() if kind == "lanes"
                else round(rng.uniform(-1.5, 1.5), 4))
        closed_kinds.append((kind, data))
        writer.nodes.append(Node(f"P[{i}]", *PARAM_RANGE, lanes=kind == "lanes", par=True))
    writer.hot = [writer.nodes[0], writer.nodes[-1]]  # an input and a closed-over Value, read many times
    sources_data, computed = [], []
    if rng.random() < 0.25:  # Values computed before the call, from leaves that stay put
        sources_data = [(rng.choice(["value", "param"]), round(rng.uniform(-1.5, 1.5), 4)) for _ in range(2)]
        templates = [("(S[0] * S[1]).tanh()", -1.0, 1.0), ("S[0] * 0.5 + S[1]", -2.25, 2.25),
                     ("(S[1] - S[0]).exp()", math.exp(-3.0), math.exp(3.0))]
        for expr, lo, hi in rng.sample(templates, rng.randint(1, 2)):
            writer.nodes.append(Node(f"Q[{len(computed)}]", lo, hi, par=True))
            computed.append(expr)
    lazy_lines = []
    if rng.random() < 0.2:  # Parameters the function makes on its first call (a model built lazily)
        for j in range(rng.randint(1, 2)):
            lazy_lines += [f'if "w{j}" not in LAZY:', f'    LAZY["w{j}"] = Parameter({round(rng.uniform(-1, 1), 3)!r})',
                           f'L{j} = LAZY["w{j}"]']
            writer.nodes.append(Node(f"L{j}", *PARAM_RANGE, par=True))

    writer.step("neuron")  # a first layer on the inputs
    for _ in range(rng.randint(2, 12)):
        writer.step()

    # outputs: mostly the last nodes, in lane mode sometimes reduced to one number (a loss)
    emitted = [n for n in writer.nodes if n.name.startswith("v")]
    n_outputs = 1 if specials else rng.choice([1, 1, 2, 2, 3])
    outputs = []
    for _ in range(n_outputs):
        r = rng.random()
        node = emitted[-1] if r < 0.35 else (rng.choice(emitted[-4:]) if r < 0.95 else rng.choice(writer.nodes))
        if lanes and node.lanes and rng.random() < 0.3:
            node = writer.emit(f"{node.name}.lane_mean()", node.lo, node.hi, node, reduces=True)
        outputs.append(node.name)
    if n_outputs > 1 and rng.random() < 0.1:
        outputs[-1] = outputs[0]  # one output returned twice
    monitor_outputs = []
    if monitors:  # outputs that overflow where x[0] is large, from a node that depends on closed-over Values
        for _ in range(rng.randint(1, 2)):
            h = writer.small(rng.choice([n for n in emitted if n.par] or emitted))
            expr = [f"(x[0] * 1000.0).exp() * {h.name}", f"(x[0] * 1000.0 + {h.name}).exp()",
                    f"ops.sum((x[0] * 1000.0).exp(), {h.name}) - (x[0] * 900.0).exp()",
                    f"2.0 ** (x[0] * 1500.0 + {h.name})"][rng.randrange(4)]
            monitor_outputs.append(len(outputs))
            outputs.append(writer.emit(expr, -math.inf, math.inf, h, operand=False).name)

    # the source
    args = ["X"] + (["t"] if has_t else []) + (["s"] if setting is not None else [])
    body = lazy_lines + writer.lines
    out = ["def fn(" + ", ".join(args) + "):"]
    single = len(outputs) == 1 and rng.random() < 0.7
    if lanes:
        out.append("    x = [X]" if one_d else "    x = X")
        if has_t:
            out.append("    ti = t")
        out += ["    " + line for line in body]
        listed = ", ".join(outputs)
        out.append(f"    return {outputs[0]}" if single else
                   (f"    return [{listed}]" if rng.random() < 0.3 else f"    return ({listed},)"))
    else:
        out.append("    outs = " + "(" + "[], " * len(outputs) + ")")
        rows_of = "zip(X, t)" if has_t else "X"
        target = "xi, ti" if (has_t and one_d) else ("x, ti" if has_t else ("xi" if one_d else "x"))
        out.append(f"    for {target} in {rows_of}:")
        if one_d:
            out.append("        x = [xi]")
        out += ["        " + line for line in body]
        out += [f"        outs[{i}].append({name})" for i, name in enumerate(outputs)]
        if single and not specials and rng.random() < 0.3:
            out.append("    return outs[0]")  # every example's output: as many outputs as rows
        else:
            totals = [("ops.sum(*outs[{i}])" if rng.random() < 0.5 else "sum(outs[{i}][1:], outs[{i}][0])").format(i=i)
                      for i in range(len(outputs))]
            out.append(f"    return {totals[0]}" if single else f"    return ({', '.join(totals)},)")
    source = "\n".join(out) + "\n"
    fixed = rows if any(kind == "lanes" for kind, _ in closed_kinds) else None
    program = Program(seed=seed, lanes=lanes, source=source, closed_kinds=closed_kinds, sources_data=sources_data,
                      computed=computed, n_features=k, one_d=one_d, has_t=has_t, setting=setting,
                      n_outputs=len(outputs), monitors=monitor_outputs, fixed_rows=fixed, rows=rows,
                      specials=specials)
    return program


# -- running a program eagerly and compiled, and comparing ---------------------------------------------


def eager_arguments(args: Sequence[Any], lanes: bool) -> tuple:
    """(the arguments ``fn`` sees, the input Values per argument or None) as `microgradx.compile` documents."""
    seen, values = [], []
    for a in args:
        if not isinstance(a, np.ndarray):
            seen.append(a)
            values.append(None)
        elif lanes:
            v = Value(a) if a.ndim == 1 else [Value(np.ascontiguousarray(col)) for col in a.T]
            seen.append(v)
            values.append(v)
        elif a.ndim == 1:
            v = [Value(float(x)) for x in a.tolist()]
            seen.append(v)
            values.append(v)
        else:
            v = [[Value(float(x)) for x in row] for row in a.tolist()]
            seen.append(v)
            values.append(v)
    return seen, values


def input_grads(values: list, lanes: bool) -> list:
    """The eager input Values' gradients, shaped like their arguments (None for a setting)."""
    grads: list = []
    for vs in values:
        if vs is None:
            grads.append(None)
        elif isinstance(vs, Value):
            grads.append(np.broadcast_to(np.asarray(vs.grad, dtype=np.float64), vs.data.shape).copy())
        elif lanes:
            grads.append(np.stack([np.broadcast_to(np.asarray(v.grad, dtype=np.float64), v.data.shape)
                                   for v in vs], axis=1))
        elif isinstance(vs[0], list):
            grads.append(np.array([[v.grad for v in row] for row in vs], dtype=np.float64))
        else:
            grads.append(np.array([v.grad for v in vs], dtype=np.float64))
    return grads


def zero_grads(values: Any) -> None:
    """Set the gradient of every Value in ``values`` (nested lists) to zero."""
    if isinstance(values, Value):
        values.grad = np.zeros_like(values.data) if isinstance(values.data, np.ndarray) else 0.0
    elif isinstance(values, (list, tuple)):
        for v in values:
            zero_grads(v)


def grads_of(closed: Sequence[Value]) -> list:
    """The closed-over Values' gradients, as arrays."""
    return [np.array(v.grad, dtype=np.float64) for v in closed]


def as_outputs(result: Any) -> tuple:
    """A function's result as a tuple of outputs."""
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def mismatch(got: Any, want: Any, rtol: float = 1e-9, atol: float = 1e-12) -> Optional[str]:
    """None when ``got`` equals ``want`` to float rounding (NaN equal to NaN, inf to inf), else what differs."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape}, eagerly {want.shape}"
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    with np.errstate(invalid="ignore"):
        close = (nan_g & nan_w) | (got == want) | (np.abs(got - want) <= atol + rtol * np.abs(want))
    if close.all():
        return None
    i = int(np.argmax(~close.ravel()))
    where = "" if got.ndim == 0 else f" at {tuple(int(j) for j in np.unravel_index(i, got.shape))}"
    return (f"{float(got.ravel()[i])!r}, eagerly {float(want.ravel()[i])!r}{where}"
            f" ({int((~close).sum())} of {close.size} differ)")


def main(argv: list) -> None:
    """Print the program of a seed: ``programs.py SEED [scalar] [monitors] [specials]``."""
    seed = int(argv[1])
    program = make_program(seed, lanes="scalar" not in argv, monitors="monitors" in argv, specials="specials" in argv)
    print(program.describe())


if __name__ == "__main__":
    main(sys.argv)
