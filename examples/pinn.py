"""A physics-informed network: train MLP(1, [16, 16, 1]) so that u'' + u = 0, u(0) = 0, u'(0) = 1 on [0, 2pi].

The answer is sin x, and the network is never shown it: the loss says only that the equation
holds at 64 collocation points spread over [0, 2pi] and that the initial conditions hold,

    loss = mean over the points of (u''(x) + u(x))**2  +  u(0)**2  +  (u'(0) - 1)**2,

so the loss contains the network's second derivative with respect to its input (Raissi,
Perdikaris and Karniadakis' physics-informed neural networks, 2019). u'(x) is
``microgradx.gradients(u, [x], create_graph=True)``: a backward pass whose every gradient is a
Value, so u'(x) is a graph that can be differentiated again for u''(x), and the loss built from
u'' can be back-propagated to the weights (third derivatives, taken by the same engine). The
collocation points are the lanes of one input Value: each lane is its own example, so the
derivative of the lanes' sum with respect to x gives each lane's own u'(x).

The function computing the loss takes its gradients inside, and `microgradx.compile` records it
once (all three backward passes included) and replays it at every step, about ten times faster
than building the graph each step (``--eager``, which gives the same numbers). Adam with a
cosine learning-rate schedule trains it; the script prints the loss and the largest error
against sin x on 1,001 points as it goes.

    python examples/pinn.py                # 2,000 steps: largest error about 1e-3, in about 6 s
    python examples/pinn.py --steps 200    # a short run
    python examples/pinn.py --eager        # the same training without compiling (about ten times slower)
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Optional

import numpy as np

import microgradx
from microgradx import Value, get_registry, gradients

#: The interval, [0, 2pi], and the grid the answer is checked on.
END = 2 * math.pi
GRID = np.linspace(0.0, END, 1001)


def make_model(seed: int):
    """The bundled MLP(1, [16, 16, 1]) with tanh hidden layers (a smooth activation: u'' must exist)."""
    return get_registry().get("layers", "MLP")(1, [16, 16, 1], activation="tanh", seed=seed)


def solution(model, x: Value) -> Value:
    """u(x): the network on x scaled to [-1, 1] (the scaling is an op like the others: the derivatives see it)."""
    (u,) = model([(x - math.pi) / math.pi])
    return u


def physics_loss(model, x: Value) -> Value:
    """The equation's residual at the points ``x`` (a lane Value) plus the two initial conditions.

    ``u.lane_sum()`` is one number whose derivative with respect to x is each lane's own u'(x)
    (the lanes do not mix), so `gradients` gives u' as a lane Value; with ``create_graph=True``
    that Value is a graph, and differentiating it again gives u''.
    """
    u = solution(model, x)
    (du,) = gradients(u.lane_sum(), [x], create_graph=True)
    (d2u,) = gradients(du.lane_sum(), [x], create_graph=True)
    residual = d2u + u
    x0 = Value(0.0)
    u0 = solution(model, x0)
    (du0,) = gradients(u0, [x0], create_graph=True)
    return (residual * residual).lane_mean() + u0 * u0 + (du0 - 1.0) ** 2


def largest_error(model) -> float:
    """max |u(x) - sin x| over 1,001 points of [0, 2pi]."""
    return float(np.max(np.abs(solution(model, Value(GRID)).data - np.sin(GRID))))


def main(argv: Optional[list] = None) -> dict:
    """Train and report; return ``max_error``, ``seconds`` (the loop's), ``first_loss``, ``loss`` and ``steps``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps (default: 2000)")
    parser.add_argument("--points", type=int, default=64, help="collocation points in [0, 2pi] (default: 64)")
    parser.add_argument("--lr", type=float, default=0.01, help="initial learning rate (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights (default: 0)")
    parser.add_argument("--eager", action="store_true", help="build the graph at every step instead of compiling")
    parser.add_argument("--every", type=int, default=250, help="print progress every this many steps (default: 250)")
    args = parser.parse_args(argv)
    for name in ("steps", "points", "every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")

    model = make_model(args.seed)
    print(model)
    optimizer = get_registry().get("optimizers", "adam")(model.parameters(), lr=args.lr)
    schedule = get_registry().get("schedules", "cosine")()  # lr falls from --lr to 0 along half a cosine
    points = np.linspace(0.0, END, args.points)
    if args.eager:
        def step_loss(xs: np.ndarray) -> Value:
            return physics_loss(model, Value(xs))
    else:  # recorded at the first call (the three backward passes with it), replayed at every later one
        step_loss = microgradx.compile(lambda x: physics_loss(model, x))

    started = time.perf_counter()
    first_loss = None
    for k in range(args.steps):
        optimizer.lr = schedule(args.lr, k, args.steps)
        loss = step_loss(points)   # forward, with u' and u'' inside
        optimizer.zero_grad()
        loss.backward()            # d loss / d weights, through the derivatives
        optimizer.step()
        first_loss = loss.data if first_loss is None else first_loss
        if k % args.every == 0 or k == args.steps - 1:
            print(f"step {k:5d}  loss {loss.data:.3e}  largest error {largest_error(model):.2e}  "
                  f"{time.perf_counter() - started:6.2f} s", flush=True)
    seconds = time.perf_counter() - started
    error = largest_error(model)
    print(f"largest error against sin x on {len(GRID)} points of [0, 2pi]: {error:.2e} after {args.steps} steps "
          f"in {seconds:.2f} s ({'eager' if args.eager else 'compiled'})")
    return {"max_error": error, "seconds": seconds, "first_loss": first_loss, "loss": float(loss.data),
            "steps": args.steps}


if __name__ == "__main__":
    main()
