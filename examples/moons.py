"""micrograd's demo, with registered components: a two-moons classifier and its decision boundary.

As in karpathy/micrograd's demo.ipynb: 100 points of make_moons(noise=0.1), MLP(2, [16, 16, 1])
with ReLU, the max-margin (hinge) loss plus an L2 penalty of 1e-4, and 100 steps of plain
SGD on the whole data set with the learning rate decaying linearly, lr = 1.0 - 0.9 * k / 100.
It reaches 100% training accuracy and draws the decision boundary to a PNG.

    python examples/moons.py --out moons.png
"""

from __future__ import annotations

import argparse
import time
from typing import Optional

import numpy as np

from microgradx import get_registry


def micrograd_init(model, rng: np.random.Generator) -> list:
    """micrograd's initialisation: every weight uniform in (-1, 1), every bias 0.

    Larger than the MLP's default (uniform within 1/sqrt(fan-in)); the demo's learning-rate
    schedule was tuned for it. Listed in `parameters()` order: per neuron, weights then bias.
    """
    weights = []
    for layer in model.layers:
        for neuron in layer.neurons:
            weights.extend(rng.uniform(-1.0, 1.0, len(neuron.w)).tolist())  # the weights
            weights.append(0.0)  # the bias
    return weights


def main(argv: Optional[list] = None) -> dict:
    """Train, report and draw; return the final ``accuracy``, ``loss``, ``seconds`` and ``plot`` path (or None)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="optimization steps (default: 100)")
    parser.add_argument("--seed", type=int, default=1337, help="seed for the data and the weights (default: 1337)")
    parser.add_argument("--out", default="moons.png", help="decision-boundary PNG (default: moons.png; '' for none)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    registry = get_registry()

    # The moons component makes 100 points and splits them; micrograd trains on all of them
    # (no test set), so the two splits are put back together. Raw coordinates, as in micrograd.
    data = registry.get("datasets", "moons")(n_samples=100, noise=0.1, seed=args.seed, standardize=False,
                                             test_size=0.1)
    X = np.concatenate([data.X_train, data.X_test])
    y = np.concatenate([data.y_train, data.y_test])  # labels 0/1; the hinge loss uses them as -1/+1

    model = registry.get("layers", "MLP")(2, [16, 16, 1], activation="relu", seed=args.seed)
    model.set_weights(micrograd_init(model, np.random.default_rng(args.seed)))
    loss_fn = registry.get("losses", "hinge")(l2=1e-4)  # mean(relu(1 - y * score)) + 1e-4 * sum(p * p)
    optimizer = registry.get("optimizers", "sgd")(model.parameters(), lr=1.0)
    schedule = registry.get("schedules", "linear")(end_factor=0.1)  # 1.0 - 0.9 * k / steps
    print(model)

    for k in range(args.steps):
        optimizer.lr = schedule(1.0, k, args.steps)
        scores = model(X)                                   # forward: all 100 points as lanes
        loss = loss_fn(scores, y, model.parameters())       # hinge loss + L2 penalty
        model.zero_grad()                                   # zero_grad
        loss.backward()                                     # backward
        optimizer.step()                                    # update
        acc = float(np.mean(loss_fn.predict(scores) == y))     # before this step's update, as micrograd prints
        if k % 10 == 0 or k == args.steps - 1:
            print(f"step {k:3d}  loss {loss.data:.4f}  accuracy {100 * acc:.0f}%")

    accuracy = float(np.mean(loss_fn.predict(model(X)) == y))
    seconds = time.perf_counter() - started
    print(f"training accuracy {100 * accuracy:.0f}% after {args.steps} steps in {seconds:.2f} s")
    result = {"accuracy": accuracy, "loss": float(loss.data), "seconds": seconds, "plot": None}
    if args.out:
        from microgradx.plotting import MissingDependencyError, plot_decision_boundary

        def score(points: np.ndarray) -> np.ndarray:
            return np.asarray(model(points)[0].data)

        try:
            result["plot"] = str(plot_decision_boundary(score, X, y, args.out,
                                                        title=f"MLP(2, [16, 16, 1]), {100 * accuracy:.0f}% accuracy"))
        except MissingDependencyError:  # training worked; only the picture needs the optional matplotlib
            print("no picture: drawing the decision boundary needs matplotlib: pip install 'microgradx[plot]' "
                  "(or pass --out '' to skip it)")
        else:
            print(f"decision boundary: {result['plot']}")
    return result


if __name__ == "__main__":
    main()
