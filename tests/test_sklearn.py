"""microgradx.sklearn: scikit-learn's own estimator checks, the model-selection tools
(Pipeline, clone, cross_val_score, GridSearchCV in parallel), pickling, label encoding,
multi-output regression, components by registered name, and clear errors."""

from __future__ import annotations

import contextlib
import importlib
import pickle
import re
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_blobs
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import microgradx
from microgradx import UnknownComponentError, hookimpl
from microgradx.sklearn import MLPClassifier, MLPRegressor
from microgradx_plugins.callbacks import EarlyStopping

# -- scikit-learn's estimator checks ---------------------------------------------------------
#
# The checks run with smaller networks and fewer iterations than scikit-learn's defaults
# ((100,), 200) to keep them fast, and a larger learning rate so that their accuracy and R^2
# thresholds (> 0.83, > 0.5) still pass with room to spare. The third estimator covers another
# path: a binary-only loss (hinge: no predict_proba, multi_class tag False), SGD, tanh, one
# hidden layer, invscaling. Since fit takes sample_weight, the checks include scikit-learn's
# sample-weight equivalence checks (an integer weight equals repeating the row, a zero weight
# equals dropping it).
#
# No check is skipped or marked as an expected failure by us (EXPECTED_FAILED is empty).
# scikit-learn itself skips two checks in this environment (they report "skipped"):
#   * check_classifier_data_not_an_array / check_regressor_data_not_an_array: pandas is
#     not installed;
#   * check_array_api_input: the SCIPY_ARRAY_API environment variable is not set (and no
#     array API library is installed).

EXPECTED_FAILED: dict[str, str] = {}

# scikit-learn's MLP warns when max_iter ends a run before tol says it converged; these tests stop early on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CHECKED = [
    MLPClassifier(hidden_layer_sizes=(16, 16), learning_rate_init=0.01, max_iter=20),
    MLPRegressor(hidden_layer_sizes=(16, 16), learning_rate_init=0.01, max_iter=20),
    MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", loss="hinge", solver="sgd", learning_rate="invscaling",
                  learning_rate_init=0.1, power_t=0.1, max_iter=20),
]


@parametrize_with_checks(CHECKED, expected_failed_checks=lambda estimator: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- data --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, centers=3, cluster_std=1.0, random_state=3)
    return StandardScaler().fit_transform(X), y


# -- the acceptance test: breast cancer, 5-fold cross-validation -------------------------------


def test_breast_cancer_cross_val_score_averages_at_least_96_percent(cancer):
    X, y = cancer
    # Fewer epochs than the default, larger batches: 1.5-2 s. Measured with random_state 0-3:
    # means 97.2-97.9% (the defaults, 40 epochs of 32, give 96.7-97.4% in ~5 s).
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 16), max_iter=20, batch_size=64,
                                                          random_state=0))
    scores = cross_val_score(model, X, y, cv=5)
    assert len(scores) == 5
    assert scores.mean() >= 0.96, scores


# -- model selection, parallel and pickled -----------------------------------------------------


def test_grid_search_in_two_processes_or_threads_matches_the_serial_search(cancer):
    X, y = cancer
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier(max_iter=4, batch_size=64, learning_rate_init=0.01, random_state=0))])
    grid = {"mlp__hidden_layer_sizes": [(4,), (16, 16)], "mlp__optimizer_options": [None, {"beta1": 0.8}]}
    parallel = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)  # joblib's default: worker processes (loky)
    serial = GridSearchCV(pipe, grid, cv=3, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("threading"):  # two threads share one registry and op table
        threaded = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    assert len(parallel.cv_results_["params"]) == 4
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(threaded.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
    assert parallel.best_params_ == serial.best_params_
    assert parallel.best_score_ > 0.9
    np.testing.assert_array_equal(parallel.predict(X), serial.predict(X))


def test_fitted_estimators_come_back_from_worker_processes_intact(cancer, monkeypatch):
    """Worker processes pickle fitted estimators back (return_estimator): same predictions as fitting here."""
    X, y = cancer
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=1))
    unpickled = []
    original = MLPClassifier.__setstate__

    def spy(self, state):  # results are unpickled here, in the parent process
        unpickled.append("_model_weights" in state)
        original(self, state)

    monkeypatch.setattr(MLPClassifier, "__setstate__", spy)
    remote = cross_validate(model, X, y, cv=2, n_jobs=2, return_estimator=True)["estimator"]
    assert unpickled.count(True) >= 2, "the fitted estimators should have come back pickled from the workers"
    local = cross_validate(model, X, y, cv=2, n_jobs=1, return_estimator=True)["estimator"]
    for a, b in zip(remote, local):
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_pickle_round_trip_keeps_predictions_and_the_original(blobs):
    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(6, 5), activation="tanh", max_iter=5, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    data = pickle.dumps(clf)
    assert hasattr(clf, "model_"), "pickling must not take the model away from the pickled estimator"
    again = pickle.loads(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own compiled forward: no loss involved, nothing to warn about
        np.testing.assert_array_equal(again.predict_proba(X), before)
    assert again.model_.get_weights() == clf.model_.get_weights()
    assert again.model_ is not clf.model_
    assert again.loss_curve_ == clf.loss_curve_ and again.n_iter_ == clf.n_iter_
    # an unfitted estimator pickles too, and stays unfitted
    assert not hasattr(pickle.loads(pickle.dumps(MLPRegressor())), "model_")


def test_joblib_dump_and_load_of_a_regressor(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = np.column_stack([X[:, 0], X[:, 1] - X[:, 2]])
    reg = MLPRegressor(max_iter=3, random_state=0).fit(X, Y)
    joblib.dump(reg, tmp_path / "reg.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "reg.joblib").predict(X), reg.predict(X))


def test_clone_copies_the_parameters_not_the_fit(blobs):
    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(5,), learning_rate_init=0.02, optimizer_options={"beta2": 0.99}, max_iter=2,
                        random_state=4).fit(X, y)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert twin.get_params()["optimizer_options"] is not clf.optimizer_options
    assert not hasattr(twin, "model_") and not hasattr(twin, "classes_")


def test_same_random_state_same_run_and_refit_starts_over(blobs):
    X, y = blobs
    a = MLPClassifier(max_iter=3, random_state=7).fit(X, y)
    b = MLPClassifier(max_iter=3, random_state=7).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    first = a.model_.get_weights()
    a.fit(X, y)
    assert a.model_.get_weights() == first  # a refit is a fresh model, not a continuation
    c = MLPClassifier(max_iter=3, random_state=8).fit(X, y)
    assert c.model_.get_weights() != first


# -- classifier behaviour ------------------------------------------------------------------------


def test_string_labels_are_encoded_and_decoded(blobs):
    X, y = blobs
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(max_iter=30, random_state=0).fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.loss_name_ == "softmax_ce"
    pred = clf.predict(X)
    assert set(pred) <= set(clf.classes_)
    assert clf.score(X, names) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    assert clf.decision_function(X).shape == (len(X), 3)


def test_binary_uses_one_logit_and_its_sigmoid(cancer):
    X, y = cancer
    X = StandardScaler().fit_transform(X)
    labels = np.where(y == 1, "benign", "malignant")
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, learning_rate_init=0.01, random_state=0).fit(X, labels)
    assert clf.loss_name_ == "bce"
    assert len(clf.model_.layers[-1].neurons) == 1
    z = clf.decision_function(X)
    assert z.shape == (len(X),)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], 1.0 / (1.0 + np.exp(-z)))
    np.testing.assert_array_equal(clf.predict(X), np.where(z > 0, clf.classes_[1], clf.classes_[0]))
    assert clf.score(X, labels) > 0.95


def test_binary_with_softmax_ce_trains_two_outputs(blobs):
    X, y = blobs
    keep = y < 2
    clf = MLPClassifier(loss="softmax_ce", max_iter=10, learning_rate_init=0.01, random_state=0).fit(X[keep], y[keep])
    assert len(clf.model_.layers[-1].neurons) == 2
    z = clf.decision_function(X[keep])
    assert z.shape == (keep.sum(),)
    np.testing.assert_array_equal(clf.predict(X[keep]), (z > 0).astype(int))
    assert clf.score(X[keep], y[keep]) > 0.95


def test_hinge_has_no_predict_proba():
    assert not hasattr(MLPClassifier(loss="hinge"), "predict_proba")
    assert hasattr(MLPClassifier(), "predict_proba")


def test_history_and_fitted_attributes(blobs):
    X, y = blobs
    clf = MLPClassifier(max_iter=6, random_state=0).fit(X, y)
    assert clf.n_iter_ == 6 == len(clf.history_)
    assert clf.loss_curve_ == clf.history_.loss and clf.loss_ == clf.loss_curve_[-1]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.n_features_in_ == 2
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.t_ == 6 * len(X)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None  # no early_stopping asked for


def test_early_stopping_feeds_the_callbacks_and_a_named_callback_is_built_afresh(cancer):
    X, y = cancer
    X = StandardScaler().fit_transform(X)
    stopper = EarlyStopping(patience=2)  # microgradx's callback, watching the validation loss
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.05, early_stopping=True,
                        validation_fraction=0.25, n_iter_no_change=1000, callbacks=[stopper], random_state=0).fit(X, y)
    assert clf.n_iter_ < 300 and clf.history_.stopped_early and stopper.stopped_epoch == clf.n_iter_
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.score(X, y) > 0.9
    named = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.05, early_stopping=True,
                          n_iter_no_change=1000, callbacks=["early_stopping:patience=2"], random_state=0).fit(X, y)
    assert named.n_iter_ < 300


# -- regressor behaviour -------------------------------------------------------------------------


def test_regressor_fits_a_curve_and_scores_r2():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(200, 1))
    y = np.sin(2 * X[:, 0]) + 0.05 * rng.normal(size=200)
    reg = MLPRegressor(hidden_layer_sizes=(16, 16), activation="tanh", max_iter=150, learning_rate_init=0.02,
                       random_state=0)
    reg.fit(X, y)
    assert reg.loss_name_ == "squared_error"  # scikit-learn's: half the mean squared error
    pred = reg.predict(X)
    assert pred.shape == (200,)
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    assert reg.score(X, y) == pytest.approx(r2)
    assert r2 > 0.9


def test_regressor_multi_output_and_column_targets():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 4))
    Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 2] * 0.5, -X[:, 3]])
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01, random_state=0).fit(X, Y)
    assert reg.n_outputs_ == 3 and len(reg.model_.layers[-1].neurons) == 3
    assert reg.predict(X).shape == (120, 3)
    assert reg.score(X, Y) > 0.9
    col = MLPRegressor(max_iter=2, random_state=0).fit(X, Y[:, :1])
    assert col.predict(X).shape == (120, 1)


# -- components by registered name, including a plugin's ---------------------------------------


class _CountingSGD:
    """Plain SGD that counts its steps (a third-party optimizer registered at run time)."""

    steps = 0

    def __init__(self, params, lr=0.1):
        self.params, self.lr = list(params), lr

    def zero_grad(self):
        for p in self.params:
            p.grad = 0.0

    def step(self):
        type(self).steps += 1
        for p in self.params:
            p.data -= self.lr * p.grad


class _OptimizerPlugin:
    @hookimpl
    def microgradx_register_optimizers(self, register):
        register(_CountingSGD, name="counting_sgd")


def test_a_plugin_optimizer_is_used_by_name(fresh_registry, blobs):
    X, y = blobs
    _CountingSGD.steps = 0
    with microgradx.plugin_registered(_OptimizerPlugin(), name="rt-counting-sgd"):
        clf = MLPClassifier(solver="counting_sgd", learning_rate_init=0.1, max_iter=3, batch_size=50,
                            random_state=0).fit(X, y)
        assert _CountingSGD.steps == 3 * 3  # 150 examples in batches of 50, 3 epochs
        assert clf.loss_curve_[-1] < clf.loss_curve_[0]
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict(X), clf.predict(X))
    with pytest.raises(UnknownComponentError, match="counting_sgd"):
        clf.set_params(solver="counting_sgd").fit(X, y)


def test_the_example_plugins_components_by_name(fresh_registry, monkeypatch, cancer):
    """examples/custom_op_plugin's layer, activation, loss, optimizer and callback, registered at run time."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "examples" / "custom_op_plugin" / "src"))
    plugin = importlib.import_module("microgradx_softplus.plugin")
    microgradx.reset_registry()
    installed = "ResidualMLP" in fresh_registry().tables["layers"]  # e.g. an in-place build left its entry point
    X, y = cancer
    X = StandardScaler().fit_transform(X)
    with contextlib.nullcontext() if installed else microgradx.plugin_registered(plugin, name="rt-softplus"):
        clf = MLPClassifier(layer="ResidualMLP", hidden_layer_sizes=(8, 8), activation="softplus", loss="huber",
                            solver="rmsprop", callbacks=["grad_norm"], max_iter=5, random_state=0).fit(X, y)
        assert type(clf.model_).__name__ == "ResidualMLP" and clf.model_.activation == "softplus"
        assert clf.score(X, y) > 0.9
        assert not hasattr(clf, "predict_proba")  # huber scores are not log-odds
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).decision_function(X), clf.decision_function(X))
        reg = MLPRegressor(loss="huber_regression", activation="leaky_relu", max_iter=10, learning_rate_init=0.01,
                           random_state=0)
        assert reg.fit(X, 2 * X[:, 0]).score(X, 2 * X[:, 0]) > 0.9


def test_schedules_and_options_reach_the_components(blobs):
    X, y = blobs
    clf = MLPClassifier(solver="sgd", learning_rate_init=0.1, learning_rate="linear",
                        schedule_options={"end_factor": 0.5}, max_iter=4,
                        batch_size=None, random_state=0).fit(X, y)
    # full batch: one step per epoch; epoch k (from 0) steps with lr = 0.1 * (1 - 0.5 * k / 4)
    np.testing.assert_allclose(clf.history_.lr, [0.1 * (1 - 0.5 * k / 4) for k in range(4)])
    with pytest.raises(ValueError, match="momentum"):
        MLPClassifier(solver="sgd", optimizer_options={"momentum": 2.0}, max_iter=1).fit(X, y)


# -- errors: reported by fit, naming the setting ------------------------------------------------


def test_classification_errors(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="Only binary classification is supported with loss='bce'"):
        MLPClassifier(loss="bce").fit(X, y)
    with pytest.raises(ValueError, match=r"at least 2 classes.*1 class"):
        MLPClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="not a regression loss"):
        MLPRegressor(loss="bce").fit(X, y.astype(float))


# -- docs/sklearn.md stays true -------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "sklearn.md"
BLOCK = re.compile(r"(?P<skip><!-- not run[^>]*-->\n)?```python\n(?P<code>.*?)\n```", re.S)


def test_docs_examples_run_and_print_what_they_say(tmp_path, monkeypatch, capsys):
    """Each python block of docs/sklearn.md runs (in order, one namespace) unless marked
    ``<!-- not run: why -->``; a ``print(...)  # text`` line's comment must be in what it printed."""
    monkeypatch.chdir(tmp_path)
    blocks = list(BLOCK.finditer(DOC.read_text(encoding="utf-8")))
    assert sum(1 for b in blocks if not b["skip"]) >= 5
    namespace: dict = {}
    for block in blocks:
        if block["skip"]:
            continue
        exec(compile(block["code"], str(DOC), "exec"), namespace)
        printed = capsys.readouterr().out
        for line in block["code"].splitlines():
            said = re.match(r"print\(.*\)\s+# (?P<text>.+)$", line.strip())
            if said:
                assert said["text"] in printed, f"docs/sklearn.md says {said['text']!r}, the code printed {printed!r}"
    assert namespace["scores"].mean() >= 0.96
    assert (tmp_path / "model.json").is_file()
