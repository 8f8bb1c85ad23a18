"""microgradx.sklearn against scikit-learn's own MLP: fit time and test score, side by side.

    python benchmarks/bench_sklearn.py            # scikit-learn's defaults ((100,), adam, max_iter 200), 3 seeds
    python benchmarks/bench_sklearn.py --quick    # max_iter 40, one seed: a smoke run
    python benchmarks/bench_sklearn.py --json out.json

The same script runs with both classes (``sklearn.neural_network.MLPClassifier`` /
``MLPRegressor`` and ``microgradx.sklearn``'s), with the same constructor arguments, on the
same split (75/25, stratified for classification, seed 0) behind the same ``StandardScaler``:
breast_cancer, iris, digits and, for regression, diabetes (its target standardised too).
Each fit is timed alone (``fit`` only, wall clock), the median over the seeds is reported,
and the score is ``estimator.score`` on the test split (accuracy, or R²), averaged over the
seeds; ``n_iter_`` shows how many epochs each ran before ``tol``/``n_iter_no_change`` stopped it.
BLAS is limited to one thread for both (threadpoolctl), so neither wins by using more cores.
ConvergenceWarnings are silenced (both libraries raise them at max_iter).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import print_header, print_table, run_and_save  # noqa: E402

DATASETS = ("breast_cancer", "iris", "digits", "diabetes")


def load(name: str) -> tuple:
    """``(X_train, X_test, y_train, y_test, is_classification)`` for one dataset."""
    import numpy as np
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    data = getattr(sklearn.datasets, f"load_{name}")()
    X, y = data.data, data.target
    classification = name != "diabetes"
    if not classification:
        y = (y - y.mean()) / y.std()
    parts = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y if classification else None)
    return (*[np.asarray(p) for p in parts], classification)


def fit_once(module: Any, classification: bool, params: dict, data: tuple) -> tuple[float, float, int]:
    """Fit one pipeline; ``(fit seconds, test score, n_iter_)``."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = data
    cls = module.MLPClassifier if classification else module.MLPRegressor
    model = make_pipeline(StandardScaler(), cls(**params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - t0
    return seconds, float(model.score(X_test, y_test)), int(model[-1].n_iter_)


def run(args: argparse.Namespace) -> dict:
    """Fit both libraries on every dataset; print the table and return the figures."""
    import sklearn.neural_network
    from threadpoolctl import threadpool_limits

    import microgradx.sklearn

    print_header("microgradx.sklearn vs scikit-learn's MLP: fit time and test score",
                 packages=("numpy", "scikit-learn", "microgradx"))
    seeds = [0] if args.quick else list(range(args.seeds))
    base = {"max_iter": 40 if args.quick else args.max_iter}
    if args.hidden:
        base["hidden_layer_sizes"] = tuple(int(h) for h in args.hidden.split(","))
    print(f"settings: scikit-learn's defaults plus {base}, seeds {seeds}, BLAS limited to 1 thread\n")
    libraries = {"scikit-learn": sklearn.neural_network, "microgradx": microgradx.sklearn}
    results: dict = {"settings": {**base, "seeds": seeds}, "datasets": {}}
    rows = []
    with threadpool_limits(limits=1):
        for name in args.datasets.split(","):
            *data, classification = load(name)
            figures: dict = {}
            for library, module in libraries.items():
                runs = [fit_once(module, classification, dict(base, random_state=seed), tuple(data)) for seed in seeds]
                figures[library] = {"fit_seconds": statistics.median(r[0] for r in runs),
                                    "score": statistics.fmean(r[1] for r in runs),
                                    "n_iter": statistics.median(r[2] for r in runs)}
            results["datasets"][name] = figures
            ours, theirs = figures["microgradx"], figures["scikit-learn"]
            rows.append([name, len(data[0]), "accuracy" if classification else "R²",
                         f"{theirs['fit_seconds']:.2f}", f"{ours['fit_seconds']:.2f}",
                         f"{ours['fit_seconds'] / theirs['fit_seconds']:.1f}x",
                         f"{theirs['score']:.3f}", f"{ours['score']:.3f}",
                         f"{theirs['n_iter']:.0f}", f"{ours['n_iter']:.0f}"])
            print(f"  {name}: done", flush=True)
    print()
    print_table(["dataset", "train rows", "score", "sklearn fit s", "microgradx fit s", "time ratio",
                 "sklearn score", "microgradx score", "sklearn epochs", "microgradx epochs"], rows)
    return results


def main(argv: Optional[list] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="max_iter 40 and one seed")
    parser.add_argument("--seeds", type=int, default=3, help="random_state 0..N-1 (default 3)")
    parser.add_argument("--max-iter", dest="max_iter", type=int, default=200, help="max_iter (default: 200)")
    parser.add_argument("--hidden", default=None, help="hidden_layer_sizes, e.g. 16,16 (default: (100,))")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated (default: all four)")
    parser.add_argument("--json", default=None, help="also write the figures as JSON here")
    return run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
