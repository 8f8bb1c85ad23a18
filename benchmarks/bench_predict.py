"""Prediction against scikit-learn's MLP: many small calls, one big call, and the command line on a million rows.

    python benchmarks/bench_predict.py            # issue 20's targets (about a minute)
    python benchmarks/bench_predict.py --quick    # a smoke run: fewer rounds, 40,000 rows, no CSV
    python benchmarks/bench_predict.py --json out.json

Both libraries' ``MLPClassifier`` are fitted on the same standardised breast-cancer training
rows with the same settings (``hidden_layer_sizes=(100,)``, scikit-learn's default, 20 epochs),
then timed on the same rows, BLAS limited to one thread for both:

* **row counts 1..199**: ``predict(X[:n])`` for n = 1, 2, ..., 199, one call each (a service
  answering requests of varying size): the loop's time, median of the rounds, the libraries
  alternating. Before issue 20 every new row count recorded microgradx's forward again (54x).
* **400,000 rows** (the test rows tiled, with noise): ``predict`` once, its time (median of the
  rounds) and its extra memory (tracemalloc's peak above the start: numpy's arrays included).
* **``microgradx predict`` on a 1,000,000-row CSV** with a (64, 64) model of 20 features, as
  a subprocess: its peak resident memory (``os.wait4``'s ``ru_maxrss``) and wall time.

Targets (issue 20): row counts 1..199 at most 3x scikit-learn's time; 400,000 rows at most 1.5x
its time and 2x its extra memory; the command line under 1 GB peak.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001
import argparse
import statistics
import subprocess
import tempfile
import time
import warnings
from typing import Any, Optional

from common import target

SMALL_LIMIT, BIG_TIME_LIMIT, BIG_MEMORY_LIMIT, CLI_LIMIT_GB = 3.0, 1.5, 2.0, 1.0


def fitted(module: Any, X: Any, y: Any) -> Any:
    """``module.MLPClassifier`` fitted with the shared settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, from both
        return module.MLPClassifier(hidden_layer_sizes=(100,), max_iter=20, random_state=0).fit(X, y)


def small_calls(model: Any, X: Any) -> float:
    """Seconds for predict(X[:n]) with n = 1..199."""
    t0 = time.perf_counter()
    for n in range(1, 200):
        model.predict(X[:n])
    return time.perf_counter() - t0


def big_call(model: Any, X: Any) -> tuple[float, int]:
    """(seconds, extra peak bytes) of one predict(X)."""
    t0 = time.perf_counter()
    _, _, peak = common.traced_memory(lambda: model.predict(X))
    return time.perf_counter() - t0, peak


def command_line(folder: str, rows: int) -> dict:
    """`microgradx predict` of a (64, 64) model on a CSV of ``rows`` rows: peak RSS and wall seconds."""
    import numpy as np

    rng = np.random.default_rng(0)
    k = 20
    w = rng.normal(size=k)

    def write(path: str, n: int) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(",".join([f"x{i}" for i in range(k)] + ["label"]) + "\n")
            for start in range(0, n, 100_000):
                X = rng.normal(size=(min(100_000, n - start), k))
                y = (X @ w > 0).astype(int)
                np.savetxt(f, np.column_stack([X, y]), delimiter=",", fmt=["%.6g"] * k + ["%d"])

    train, big, model, out = (os.path.join(folder, f) for f in ("train.csv", "big.csv", "model.json", "out.csv"))
    write(train, 2000)
    write(big, rows)
    subprocess.run([sys.executable, "-m", "microgradx", "train", "--data", train, "--hidden", "64,64", "--epochs",
                    "2", "--save", model, "--quiet"], check=True, capture_output=True)
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "microgradx", "predict", model, big, "--out", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"microgradx predict failed: {child.stderr.read().decode()[-2000:]}")
    with open(out, encoding="utf-8") as f:
        written = sum(1 for _ in f) - 1
    return {"rows": rows, "written": written, "seconds": seconds, "peak_gb": usage.ru_maxrss * 1024 / 2**30}


def run(args: argparse.Namespace) -> dict:
    """Both libraries on the same calls; print the tables and return the figures and targets."""
    import numpy as np
    import sklearn.datasets
    import sklearn.neural_network
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    import microgradx.sklearn

    info = common.print_header("Prediction: microgradx.sklearn vs scikit-learn's MLP, and `microgradx predict`",
                               ("numpy", "scikit-learn", "microgradx"))
    data = sklearn.datasets.load_breast_cancer()
    X_train, X_test, y_train, _ = train_test_split(data.data, data.target, test_size=0.25, random_state=0,
                                                   stratify=data.target)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    big_rows = 40_000 if args.quick else 400_000
    rng = np.random.default_rng(0)
    X_big = np.tile(X_test, (big_rows // len(X_test) + 1, 1))[:big_rows] + rng.normal(0, 0.1, (big_rows, 30))
    rounds = 3 if args.quick else args.rounds
    libraries = {"scikit-learn": sklearn.neural_network, "microgradx": microgradx.sklearn}
    times: dict = {lib: {"small": [], "big": [], "memory": []} for lib in libraries}
    with threadpool_limits(limits=1):
        models = {lib: fitted(module, X_train, y_train) for lib, module in libraries.items()}
        agree = float(np.mean(models["microgradx"].predict(X_big) == models["scikit-learn"].predict(X_big)))
        for _ in range(rounds):  # the libraries alternate: drift in the machine's load hits both
            for lib, model in models.items():
                times[lib]["small"].append(small_calls(model, X_test))
                seconds, peak = big_call(model, X_big)
                times[lib]["big"].append(seconds)
                times[lib]["memory"].append(peak)
    med = {lib: {k: statistics.median(v) for k, v in t.items()} for lib, t in times.items()}
    ours, theirs = med["microgradx"], med["scikit-learn"]
    rows = [["predict, row counts 1..199 (199 calls), s", theirs["small"], ours["small"],
             f"{ours['small'] / theirs['small']:.2f}x"],
            [f"predict, {big_rows:,} rows, s", theirs["big"], ours["big"], f"{ours['big'] / theirs['big']:.2f}x"],
            [f"predict, {big_rows:,} rows, extra memory MB", theirs["memory"] / 2**20, ours["memory"] / 2**20,
             f"{ours['memory'] / theirs['memory']:.2f}x"]]
    print(f"labels the two fitted models agree on, {big_rows:,} rows: {agree:.1%} (fitted separately, same settings)\n")
    tables = [common.table(f"Medians of {rounds} rounds (hidden_layer_sizes=(100,), breast_cancer features):",
                           ["what", "scikit-learn", "microgradx", "ratio"], rows)]
    targets = [target("predict row counts 1..199 vs scikit-learn", ours["small"] / theirs["small"], "<=", SMALL_LIMIT),
               target(f"predict {big_rows:,} rows, time vs scikit-learn", ours["big"] / theirs["big"], "<=",
                      BIG_TIME_LIMIT),
               target(f"predict {big_rows:,} rows, extra memory vs scikit-learn", ours["memory"] / theirs["memory"],
                      "<=", BIG_MEMORY_LIMIT)]
    cli = None
    if not args.quick and not args.no_cli:
        with tempfile.TemporaryDirectory() as folder:
            cli = command_line(folder, args.cli_rows)
        tables.append(common.table("`microgradx predict` on a CSV, (64, 64) model, 20 features (a subprocess):",
                                   ["rows", "rows written", "wall s", "peak RSS GB"],
                                   [[cli["rows"], cli["written"], cli["seconds"], cli["peak_gb"]]]))
        targets.append(target(f"microgradx predict {cli['rows']:,} rows, peak memory", cli["peak_gb"], "<",
                              CLI_LIMIT_GB, " GB"))
    return {**info, "quick": args.quick, "rounds": rounds, "medians": med, "cli": cli, "tables": tables,
            "targets": targets}


def main(argv: Optional[list] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds, 40,000 rows, no command-line run")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of every measurement (default 7)")
    parser.add_argument("--cli-rows", dest="cli_rows", type=int, default=1_000_000,
                        help="rows of the command line's CSV (default 1,000,000)")
    parser.add_argument("--no-cli", dest="no_cli", action="store_true", help="skip the command-line run")
    parser.add_argument("--json", default=None, help="also write the figures as JSON here")
    return common.run_and_save(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
