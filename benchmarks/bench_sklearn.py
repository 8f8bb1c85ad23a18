"""microgradx.sklearn against scikit-learn's own MLP: fit time and test score, side by side.

    python benchmarks/bench_sklearn.py                    # scikit-learn's defaults ((100,), adam, 200 epochs)
    python benchmarks/bench_sklearn.py --config issue11   # issue 11's equal settings and targets (run_all.py runs this)
    python benchmarks/bench_sklearn.py --quick            # a smoke run: fewer epochs, one seed
    python benchmarks/bench_sklearn.py --json out.json

The same script runs with both classes (``sklearn.neural_network.MLPClassifier`` /
``MLPRegressor`` and ``microgradx.sklearn``'s), with the same constructor arguments, on the
same split (75/25, stratified for classification, seed 0) behind the same ``StandardScaler``.
Each fit is timed alone (``fit`` only, wall clock), the two libraries' fits alternating seed by
seed; the median over the seeds is reported, and the score is ``estimator.score`` on the test
split (accuracy, or R²), averaged over the seeds; ``n_iter_`` shows how many epochs each ran.
BLAS is limited to one thread for both (threadpoolctl), so neither wins by using more cores.
ConvergenceWarnings are silenced (both libraries raise them at max_iter).

Configurations:

* ``defaults``: scikit-learn's defaults plus ``max_iter`` (200), on breast_cancer, iris, digits
  and, for regression, diabetes (its target standardised too); ``tol`` / ``n_iter_no_change``
  stop each run when it stalls;
* ``issue11``: equal settings, every epoch run: ``hidden_layer_sizes=(16, 16)``, adam,
  ``learning_rate="constant"``, ``learning_rate_init=0.01``, ``max_iter=40``, ``batch_size=32``,
  ``alpha=0``, ``tol=0``, ``n_iter_no_change=max_iter + 1``, on breast_cancer, digits and
  ``make_regression(n_samples=2000, n_features=20, noise=10, random_state=0)`` (target
  standardised). Targets: microgradx's fit time at most 1.0x scikit-learn's, its test score
  within one point (0.01 of accuracy or R²) of scikit-learn's. ``--quick`` runs 2 epochs.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001
import argparse
import statistics
import time
import warnings
from typing import Any, Optional

from common import target

CONFIGS = {
    "defaults": {"datasets": ("breast_cancer", "iris", "digits", "diabetes"), "params": {}},
    "issue11": {"datasets": ("breast_cancer", "digits", "regression"),
                "params": {"hidden_layer_sizes": (16, 16), "solver": "adam", "learning_rate": "constant",
                           "learning_rate_init": 0.01, "batch_size": 32, "alpha": 0.0, "tol": 0.0}},
}
TIME_LIMIT, SCORE_POINTS = 1.0, 1.0


def load(name: str) -> tuple:
    """``(X_train, X_test, y_train, y_test, is_classification)`` for one dataset."""
    import numpy as np
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    if name == "regression":
        X, y = sklearn.datasets.make_regression(n_samples=2000, n_features=20, noise=10.0, random_state=0)
    else:
        data = getattr(sklearn.datasets, f"load_{name}")()
        X, y = data.data, data.target
    classification = name not in ("diabetes", "regression")
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
    """Fit both libraries on every dataset of the configuration; print the table and return the figures."""
    import sklearn.neural_network
    from threadpoolctl import threadpool_limits

    import microgradx.sklearn

    config = CONFIGS[args.config]
    info = common.print_header(f"microgradx.sklearn vs scikit-learn's MLP ({args.config}): fit time and test score",
                               ("numpy", "scikit-learn", "microgradx", "threadpoolctl"))
    seeds = [0] if args.quick else list(range(args.seeds))
    max_iter = args.max_iter or ((2 if args.config == "issue11" else 40) if args.quick else
                                 (40 if args.config == "issue11" else 200))
    base = {**config["params"], "max_iter": max_iter}
    if args.config == "issue11":
        base["n_iter_no_change"] = max_iter + 1  # never stops early: every epoch runs in both
    if args.hidden:
        base["hidden_layer_sizes"] = tuple(int(h) for h in args.hidden.split(","))
    print(f"settings: scikit-learn's defaults plus {base}, seeds {seeds}, BLAS limited to 1 thread\n")
    libraries = {"scikit-learn": sklearn.neural_network, "microgradx": microgradx.sklearn}
    results: dict = {**info, "quick": args.quick, "config": args.config, "settings": {**base, "seeds": seeds},
                     "datasets": {}, "targets": []}
    rows = []
    datasets = args.datasets.split(",") if args.datasets else config["datasets"]
    with threadpool_limits(limits=1):
        for name in datasets:
            *data, classification = load(name)
            runs: dict = {lib: [] for lib in libraries}
            for seed in seeds:  # the libraries alternate, seed by seed: drift in the load hits both
                for library, module in libraries.items():
                    runs[library].append(fit_once(module, classification, dict(base, random_state=seed), tuple(data)))
            figures = {lib: {"fit_seconds": statistics.median(r[0] for r in rr),
                             "score": statistics.fmean(r[1] for r in rr),
                             "n_iter": statistics.median(r[2] for r in rr)} for lib, rr in runs.items()}
            results["datasets"][name] = figures
            ours, theirs = figures["microgradx"], figures["scikit-learn"]
            time_ratio = ours["fit_seconds"] / theirs["fit_seconds"]
            points = 100 * (ours["score"] - theirs["score"])
            rows.append([name, len(data[0]), "accuracy" if classification else "R²",
                         f"{theirs['fit_seconds']:.2f}", f"{ours['fit_seconds']:.2f}", f"{time_ratio:.2f}x",
                         f"{theirs['score']:.3f}", f"{ours['score']:.3f}", f"{points:+.1f}",
                         f"{theirs['n_iter']:.0f}", f"{ours['n_iter']:.0f}"])
            if args.config == "issue11":
                results["targets"] += [
                    target(f"sklearn {name}: fit time vs scikit-learn", time_ratio, "<=", TIME_LIMIT),
                    target(f"sklearn {name}: |test score - scikit-learn's|", abs(points), "<=", SCORE_POINTS, " pt")]
            print(f"  {name}: done", flush=True)
    print()
    results["tables"] = [common.table(
        f"Fit seconds (median of {len(seeds)} seed(s)) and test score (mean), {args.config}:",
        ["dataset", "train rows", "score", "sklearn fit s", "microgradx fit s", "time ratio", "sklearn score",
         "microgradx score", "points", "sklearn epochs", "microgradx epochs"], rows)]
    if args.profile:
        profile(microgradx.sklearn, datasets[0], dict(base, random_state=0))
    return results


def profile(module: Any, name: str, params: dict, top: int = 16) -> None:
    """cProfile of one microgradx fit on ``name``, by own time (cProfile inflates call-heavy code)."""
    import cProfile
    import pstats

    *data, classification = load(name)
    profiler = cProfile.Profile()
    profiler.enable()
    fit_once(module, classification, params, tuple(data))
    profiler.disable()
    print(f"cProfile of one microgradx fit on {name}, by own time (cProfile inflates call-heavy code):")
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)


def main(argv: Optional[list] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=list(CONFIGS), default="defaults",
                        help="defaults: scikit-learn's defaults; issue11: equal settings, the targets")
    parser.add_argument("--quick", action="store_true", help="one seed, fewer epochs (issue11: 2; defaults: 40)")
    parser.add_argument("--seeds", type=int, default=3, help="random_state 0..N-1 (default 3)")
    parser.add_argument("--max-iter", dest="max_iter", type=int, default=None,
                        help="max_iter (default: 200 for defaults, 40 for issue11)")
    parser.add_argument("--hidden", default=None, help="hidden_layer_sizes, e.g. 16,16")
    parser.add_argument("--datasets", default=None, help="comma-separated (default: the configuration's)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one microgradx fit")
    parser.add_argument("--json", default=None, help="also write the figures as JSON here")
    return common.run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
