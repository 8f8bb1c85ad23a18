"""Train MLP(30, [16, 16, 1]) on scikit-learn's breast cancer data, with the loop spelled out.

Every part is a registered component, looked up by name: the dataset, the model, the
loss, the optimizer and the learning-rate schedule. The training loop is the classic
one: forward, zero_grad, backward, update, with nothing added for speed (the Trainer
compiles its steps; docs/engine.md says where speed lives).

    python examples/breast_cancer.py            # about 97-98% test accuracy in a second or two
    python examples/breast_cancer.py --mode scalar --epochs 5   # micrograd-style: one graph per example

`microgradx train` runs the same training through `microgradx.train.Trainer`.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Optional

import numpy as np

from microgradx import Value, get_registry, ops


def batch_loss(model, loss_fn, X: np.ndarray, y: np.ndarray, mode: str) -> Value:
    """The mean loss of the model over a batch of examples.

    lanes:  one graph for the whole batch; each input is a Value holding that feature for
            every example ("lanes"), so the graph is as small as for one example.
    scalar: one graph per example, as in micrograd, averaged into one Value.
    """
    if mode == "lanes":
        return loss_fn(model(X), y)
    losses = [loss_fn(model(x.tolist()), y[i:i + 1]) for i, x in enumerate(X)]
    return ops.sum(*losses) / len(losses)


def accuracy(model, loss_fn, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of examples whose predicted class (the loss decides: logit > 0) is right."""
    return float(np.mean(loss_fn.predict(model(X)) == y))


def main(argv: Optional[list] = None) -> dict:
    """Train and report; return the final ``train_accuracy``, ``test_accuracy`` (fractions) and ``seconds``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40, help="passes over the training data (default: 40)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per step (default: 32)")
    parser.add_argument("--lr", type=float, default=0.05, help="initial learning rate (default: 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split, the weights and the shuffling")
    parser.add_argument("--mode", choices=("lanes", "scalar"), default="lanes", help="graph per batch or per example")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    registry = get_registry()

    # 1. Data: a stratified 80/20 split; features standardised with the training split's statistics.
    data = registry.get("datasets", "breast_cancer")(seed=args.seed, test_size=0.2, standardize=True)
    print(data)

    # 2. Model: 30 inputs, two hidden layers of 16 ReLU units, one output (a logit).
    MLP = registry.get("layers", "MLP")
    model = MLP(30, [16, 16, 1], activation="relu", seed=args.seed)
    print(model)

    # 3. Loss, optimizer and learning-rate schedule.
    loss_fn = registry.get("losses", "bce")()  # binary cross-entropy on the logit
    optimizer = registry.get("optimizers", "sgd")(model.parameters(), lr=args.lr, momentum=0.9)
    schedule = registry.get("schedules", "cosine")()  # lr falls from args.lr to 0 along half a cosine

    # 4. The loop.
    rng = np.random.default_rng(args.seed)
    n = len(data.y_train)
    steps_per_epoch = math.ceil(n / args.batch_size)
    total_steps = args.epochs * steps_per_epoch
    step = 0
    for epoch in range(args.epochs):
        order = rng.permutation(n)  # a fresh shuffle every epoch
        epoch_loss = 0.0
        for start in range(0, n, args.batch_size):
            batch = order[start:start + args.batch_size]
            X, y = data.X_train[batch], data.y_train[batch]
            optimizer.lr = schedule(args.lr, step, total_steps)
            loss = batch_loss(model, loss_fn, X, y, args.mode)  # forward
            model.zero_grad()                                   # forget the last step's gradients
            loss.backward()                                     # backward
            optimizer.step()                                    # update
            step += 1
            epoch_loss += loss.data * len(batch)
        if epoch % 5 == 4 or epoch == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {epoch_loss / n:.4f}  "
                  f"train {100 * accuracy(model, loss_fn, data.X_train, data.y_train):.1f}%  "
                  f"test {100 * accuracy(model, loss_fn, data.X_test, data.y_test):.1f}%")

    seconds = time.perf_counter() - started
    result = {"train_accuracy": accuracy(model, loss_fn, data.X_train, data.y_train),
              "test_accuracy": accuracy(model, loss_fn, data.X_test, data.y_test), "seconds": seconds}
    print(f"test accuracy {100 * result['test_accuracy']:.1f}% "
          f"(train {100 * result['train_accuracy']:.1f}%) in {seconds:.2f} s")
    return result


if __name__ == "__main__":
    main()
