"""Past one machine: a real Dask cluster (a scheduler and 2 worker processes on 127.0.0.1), dask-ml's
``Incremental`` reproducing a local ``partial_fit`` loop run after run, and ``GridSearchCV`` on joblib's
Dask backend matching ``n_jobs=1``."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from microgradx.sklearn import MLPClassifier

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")
joblib = pytest.importorskip("joblib")

BLOCK = 150
SETTINGS = {"hidden_layer_sizes": (8,), "batch_size": 16, "learning_rate_init": 0.01, "random_state": 0}


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes bound to 127.0.0.1, and a client; shut down after.

    The scheduler's HTTP server (it starts one anyway) takes a free port on 127.0.0.1, not 8787 on every address.
    """
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", silence_logs=40)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=6 * BLOCK, n_features=10, n_informative=6, random_state=0)


def weights(est) -> np.ndarray:
    return np.asarray(est.model_.get_weights(), dtype=np.float64)


def local_loop(X, y, solver: str, ship: bool) -> MLPClassifier:
    """partial_fit over the blocks in order; ``ship`` pickles the estimator between blocks, as a cluster does."""
    est = MLPClassifier(solver=solver, **SETTINGS)
    for start in range(0, len(y), BLOCK):
        if ship:
            est = pickle.loads(pickle.dumps(est))
        est.partial_fit(X[start:start + BLOCK], y[start:start + BLOCK], classes=[0, 1])
    return est


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_pickling_between_blocks_changes_no_weight(data, solver):
    X, y = data
    np.testing.assert_array_equal(weights(local_loop(X, y, solver, ship=True)),
                                  weights(local_loop(X, y, solver, ship=False)))
    est = local_loop(X, y, solver, ship=False)
    state = pickle.loads(pickle.dumps(est)).__dict__["_resume"]
    assert state["step"] == 6 * -(-BLOCK // 16) and "rng" in state
    if solver == "adam":
        assert state["optimizer"]["t"] == state["step"] and state["optimizer"]["m"].shape == weights(est).shape


@pytest.mark.slow
def test_incremental_on_a_cluster_gives_the_local_loops_weights_run_after_run(client, data):
    X, y = data
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(addr.startswith("tcp://127.0.0.1:") for addr in workers)
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    expected = weights(local_loop(X, y, "adam", ship=False))
    dX, dy = da.from_array(X, chunks=(BLOCK, X.shape[1])), da.from_array(y, chunks=BLOCK)
    runs = []
    for _ in range(3):
        inc = dask_ml_wrappers.Incremental(MLPClassifier(solver="adam", **SETTINGS), shuffle_blocks=False)
        inc.fit(dX, dy, classes=[0, 1])
        runs.append(weights(inc.estimator_))
    for run in runs:
        np.testing.assert_array_equal(run, expected)
    assert inc.estimator_.score(X, y) > 0.8


@pytest.mark.slow
def test_grid_search_on_joblibs_dask_backend_matches_one_job(client, data):
    X, y = data
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(4,), (8,)]}
    est = MLPClassifier(max_iter=15, batch_size=32, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 15 epochs on purpose
        alone = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(X, y)
        with joblib.parallel_backend("dask"):
            spread = GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(X, y)
    np.testing.assert_array_equal(spread.cv_results_["mean_test_score"], alone.cv_results_["mean_test_score"])
    assert spread.best_params_ == alone.best_params_
    np.testing.assert_array_equal(weights(spread.best_estimator_), weights(alone.best_estimator_))
