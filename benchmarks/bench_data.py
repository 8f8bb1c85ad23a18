"""A million rows end to end: reading the CSV, ``microgradx train --data`` and ``microgradx predict``, each
against pandas (+ scikit-learn) doing the same work, time and peak memory, in the same run.

    python benchmarks/bench_data.py                   # 1,000,000 x 21 (about 170 MB), 3 rounds of reads
    python benchmarks/bench_data.py --rows 200000     # smaller
    python benchmarks/bench_data.py --quick           # 20,000 rows, one round: a smoke run

The data is made in a temporary folder: 20 float features (5 decimals, as a CSV usually has them)
and a text label (``yes``/``no``, from a linear rule with noise). Every measurement is a fresh
interpreter (its peak resident memory is ``ru_maxrss`` from ``wait4``, the whole process, imports
included), the two sides alternating round by round:

* read: ``microgradx.datasets.read_csv(path)`` (features as float64, labels encoded) against
  ``pandas.read_csv(path)`` (and, for context, pandas going on to the same float64 array and label
  codes: ``to_numpy``, ``factorize``): the read call's time (each library imported first; pyarrow's own
  lazy import of pandas, when pandas is installed, counts against microgradx), the whole
  process's time and its peak memory. The readers run with the machine's cores, as a user's
  process does (pyarrow parses on every core, pandas' C parser on one); a context row gives
  microgradx's read with pyarrow held to one thread (``OMP_NUM_THREADS=1``, which the other
  benchmarks set for the BLAS and pyarrow also obeys). Targets (issue 22): the read at most 2x
  pandas' time, the peak at most 1.5x pandas'.
* train: ``microgradx train --data F --epochs 1 --batch-size 32 --save m.json`` (the default MLP
  16,16 with SGD, momentum 0.9, lr 0.05; seeded stratified 80/20 split; standardised; test accuracy)
  against a script doing the same with pandas and scikit-learn (``read_csv``, ``train_test_split``,
  ``StandardScaler``, ``MLPClassifier(hidden_layer_sizes=(16, 16), solver="sgd", momentum=0.9,
  learning_rate_init=0.05, batch_size=32, max_iter=1)``, scores, ``joblib.dump``).
* predict: ``microgradx predict m.json F --out p.csv`` against ``joblib.load`` + ``read_csv`` +
  ``predict`` + ``DataFrame.to_csv``. Context for the 1 GB goal of issues 20/22.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: I001
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

PEER_TRAIN = """
import sys, warnings, joblib, numpy as np, pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
df = pd.read_csv(sys.argv[1])
X, y = df.iloc[:, :-1].to_numpy(dtype=np.float64), df.iloc[:, -1].to_numpy()
del df
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
clf = MLPClassifier(hidden_layer_sizes=(16, 16), solver="sgd", momentum=0.9, learning_rate_init=0.05,
                    batch_size=32, max_iter=1, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    clf.fit(scaler.transform(X_train), y_train)
rows = np.random.default_rng(0).choice(len(y_train), size=min(10000, len(y_train)), replace=False)
print("train", clf.score(scaler.transform(X_train[rows]), y_train[rows]), "test",
      clf.score(scaler.transform(X_test), y_test))
joblib.dump((scaler, clf), sys.argv[2])
"""

PEER_PREDICT = """
import sys, joblib, pandas as pd
scaler, clf = joblib.load(sys.argv[1])
df = pd.read_csv(sys.argv[2])
predicted = clf.predict(scaler.transform(df.iloc[:, :-1].to_numpy()))
pd.DataFrame({df.columns[-1]: predicted}).to_csv(sys.argv[3], index=False)
"""
PANDAS_XY = """
import sys, time
import numpy as np, pandas as pd
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
X = df.iloc[:, :-1].to_numpy(dtype=np.float64)
y, classes = pd.factorize(df.iloc[:, -1], sort=True)
print(time.perf_counter() - t0)
"""

OURS_READ = """
import sys, time
from microgradx.datasets import read_csv
t0 = time.perf_counter()
d = read_csv(sys.argv[1], progress=False)
X, y = d.X, d.y
print(time.perf_counter() - t0)
"""
PANDAS_READ = """
import sys, time
import pandas as pd
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
print(time.perf_counter() - t0)
"""


def make_data(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` x 21: f0..f19 (5 decimals) and a text label from a noisy linear rule; written with pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(rows, 20)), 5)
    w = rng.normal(size=20)
    label = np.where(X @ w + rng.normal(scale=2.0, size=rows) > 0, "yes", "no")
    table = pa.table({**{f"f{j}": X[:, j] for j in range(20)}, "label": label})
    pacsv.write_csv(table, str(path), pacsv.WriteOptions(quoting_style="none"))


#: The readers' environment: the machine's cores, as a user's process has them. common.py pins
#: OMP_NUM_THREADS to 1 for the BLAS, and pyarrow sizes its thread pool by it too; pandas' C parser
#: uses one thread whatever it says.
READER_ENV = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}


def measured(argv: list, cwd: str, env: Optional[dict] = None) -> tuple[float, float, str]:
    """(seconds, peak resident MB of that process, stdout): the child is reaped by ``wait4``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
    out = proc.stdout.read()  # type: ignore[union-attr]
    err = proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{err.decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, out.decode()


def main_run(args: argparse.Namespace) -> dict:
    info = common.print_header("A million rows: CSV read, train --data, predict vs pandas (+ scikit-learn)",
                               ("numpy", "microgradx", "pandas", "pyarrow", "scikit-learn"))
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    rounds = args.rounds or (1 if args.quick else 3)
    py = sys.executable
    cli = [py, "-m", "microgradx"]
    tables, targets = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        t0 = time.perf_counter()
        make_data(data, rows)
        print(f"data: {rows:,} rows x 21 columns, {data.stat().st_size / 2**20:.0f} MiB "
              f"(made in {time.perf_counter() - t0:.1f} s)\n")
        read: dict = {"microgradx": [], "pandas": [], "pandas_xy": [], "one_thread": []}
        for _ in range(rounds):
            read["pandas"].append(measured([py, "-c", PANDAS_READ, str(data)], tmp, READER_ENV))
            read["microgradx"].append(measured([py, "-c", OURS_READ, str(data)], tmp, READER_ENV))
            read["pandas_xy"].append(measured([py, "-c", PANDAS_XY, str(data)], tmp, READER_ENV))
            read["one_thread"].append(measured([py, "-c", OURS_READ, str(data)], tmp))
        t_ours = common.median(float(r[2]) for r in read["microgradx"])
        t_pd = common.median(float(r[2]) for r in read["pandas"])
        w_ours = common.median(r[0] for r in read["microgradx"])
        w_pd = common.median(r[0] for r in read["pandas"])
        m_ours = common.median(r[1] for r in read["microgradx"])
        m_pd = common.median(r[1] for r in read["pandas"])
        paired = common.median(float(a[2]) / float(b[2]) for a, b in zip(read["microgradx"], read["pandas"]))
        whole = common.median(a[0] / b[0] for a, b in zip(read["microgradx"], read["pandas"]))
        tables.append(common.table(
            f"Reading the CSV ({rows:,} x 21; median of {rounds} fresh processes each: the read call, the whole "
            f"process with its imports, its peak memory)",
            ["reader", "read s", "process s", "peak MB", "read ratio", "process ratio", "memory ratio"],
            [["microgradx.datasets.read_csv (pyarrow)", t_ours, w_ours, m_ours, f"{paired:.2f}x", f"{whole:.2f}x",
              f"{m_ours / m_pd:.2f}x"],
             ["pandas.read_csv", t_pd, w_pd, m_pd, "1.00x", "1.00x", "1.00x"],
             ["pandas.read_csv, then X and y as microgradx gives them (context)",
              common.median(float(r[2]) for r in read["pandas_xy"]), common.median(r[0] for r in read["pandas_xy"]),
              common.median(r[1] for r in read["pandas_xy"]),
              f"{common.median(float(a[2]) / float(b[2]) for a, b in zip(read['pandas_xy'], read['pandas'])):.2f}x",
              "-", "-"],
             ["microgradx.datasets.read_csv, pyarrow on one thread (OMP_NUM_THREADS=1; context)",
              common.median(float(r[2]) for r in read["one_thread"]), common.median(r[0] for r in read["one_thread"]),
              common.median(r[1] for r in read["one_thread"]),
              f"{common.median(float(a[2]) / float(b[2]) for a, b in zip(read['one_thread'], read['pandas'])):.2f}x",
              "-", "-"]], align="lrrrrrr"))
        targets.append(common.target("CSV read time vs pandas.read_csv", paired, "<=", 2.0))
        targets.append(common.target("CSV read peak memory vs pandas.read_csv", m_ours / m_pd, "<=", 1.5))

        model = str(Path(tmp) / "m.json")
        ours_train = measured([*cli, "train", "--data", str(data), "--epochs", "1", "--batch-size", "32",
                               "--quiet", "--json", "--save", model], tmp)
        peer_train = measured([py, "-c", PEER_TRAIN, str(data), str(Path(tmp) / "peer.joblib")], tmp)
        ours_result = json.loads(ours_train[2])
        peer_scores = peer_train[2].split()
        ours_predict = measured([*cli, "predict", model, str(data), "--out", str(Path(tmp) / "p.csv")], tmp)
        peer_predict = measured([py, "-c", PEER_PREDICT, str(Path(tmp) / "peer.joblib"), str(data),
                                 str(Path(tmp) / "q.csv")], tmp)
        tables.append(common.table(
            f"End to end on {rows:,} rows (one fresh process each; 1 epoch, batch 32, MLP 16,16, SGD)",
            ["run", "seconds", "peak MB", "time ratio", "memory ratio", "test accuracy"],
            [["microgradx train --data", ours_train[0], ours_train[1], common.ratio(ours_train[0], peer_train[0]),
              common.ratio(ours_train[1], peer_train[1]), f"{100 * ours_result['test_accuracy']:.1f}%"],
             ["pandas + scikit-learn: fit", peer_train[0], peer_train[1], "1.00x", "1.00x",
              f"{100 * float(peer_scores[3]):.1f}%"],
             ["microgradx predict", ours_predict[0], ours_predict[1], common.ratio(ours_predict[0], peer_predict[0]),
              common.ratio(ours_predict[1], peer_predict[1]), "-"],
             ["pandas + scikit-learn: predict", peer_predict[0], peer_predict[1], "1.00x", "1.00x", "-"]],
            align="lrrrrr"))
        targets.append(common.target("predict peak memory (issue 20/22 goal)", ours_predict[1], "<", 1024,
                                     unit=" MB"))
    return {**info, "rows": rows, "tables": tables, "targets": targets,
            "read": {k: [[r[0], r[1], float(r[2])] for r in v] for k, v in read.items()},
            "train": {"microgradx": ours_train[:2], "peer": peer_train[:2]},
            "predict": {"microgradx": ours_predict[:2], "peer": peer_predict[:2]}}


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of the CSV file (default 1,000,000; --quick 20,000)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="fresh-process reads per reader (default 3; --quick 1)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 rows, one round")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    return common.run_and_save(parser, main_run, argv)


if __name__ == "__main__":
    sys.exit(main())
