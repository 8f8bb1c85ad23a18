"""microgradx.sklearn as a drop-in for sklearn.neural_network: the same script runs with either import,
the fitted attributes mean what scikit-learn's mean, and the additions (sample_weight, class_weight,
partial_fit, warm_start, model files) do what they promise."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest
import sklearn.neural_network
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import microgradx.sklearn
from microgradx import UnknownComponentError
from microgradx.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(StandardScaler().fit_transform(X), y, test_size=0.25, random_state=0, stratify=y)


def sklearn_script(module, X_train, X_test, y_train, y_test):
    """A script written for scikit-learn's MLP: only ``module`` (where the classes come from) changes."""
    clf = module.MLPClassifier(hidden_layer_sizes=(32,), activation="tanh", solver="sgd", alpha=1e-4,
                               batch_size="auto", learning_rate="adaptive", learning_rate_init=0.05, max_iter=60,
                               shuffle=True, random_state=1, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                               nesterovs_momentum=True, early_stopping=True, validation_fraction=0.15, beta_1=0.9,
                               beta_2=0.999, epsilon=1e-8, n_iter_no_change=8, max_fun=15000)
    clf.fit(X_train, y_train)
    return {"score": clf.score(X_test, y_test), "coef_shapes": [c.shape for c in clf.coefs_],
            "intercept_shapes": [b.shape for b in clf.intercepts_], "n_layers": clf.n_layers_,
            "n_outputs": clf.n_outputs_, "out_activation": clf.out_activation_, "classes": list(clf.classes_),
            "n_iter": clf.n_iter_, "curve": len(clf.loss_curve_), "loss": clf.loss_,
            "validation": (len(clf.validation_scores_), clf.best_validation_score_, clf.best_loss_),
            "proba": clf.predict_proba(X_test[:3]).shape}


def test_the_same_script_runs_with_either_import_and_scores_alike(cancer):
    ours = sklearn_script(microgradx.sklearn, *cancer)
    theirs = sklearn_script(sklearn.neural_network, *cancer)
    for key in ("coef_shapes", "intercept_shapes", "n_layers", "n_outputs", "out_activation", "classes", "proba"):
        assert ours[key] == theirs[key], key
    assert ours["curve"] == ours["n_iter"] and ours["validation"][0] == ours["n_iter"]
    assert ours["validation"][2] is None is theirs["validation"][2]  # best_loss_ is None with early_stopping
    assert ours["score"] >= theirs["score"] - 0.03 and ours["score"] > 0.9
    assert abs(ours["loss"] - theirs["loss"]) < 0.1  # the same loss (log-loss plus alpha's term), same scale


def test_coefs_and_intercepts_are_the_network(cancer):
    X, _, y, _ = cancer
    clf = MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=5, random_state=0).fit(X, y)
    h = X
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        h = h @ W + b
        if i < len(clf.coefs_) - 1:
            h = np.maximum(h, 0.0)
    np.testing.assert_allclose(h[:, 0], clf.decision_function(X), rtol=1e-10, atol=1e-12)
    assert [W.shape for W in clf.coefs_] == [(30, 8), (8, 4), (4, 1)] and clf.n_layers_ == 4


def test_a_zero_weight_drops_the_row_and_an_integer_weight_repeats_it(cancer):
    X, _, y, _ = cancer
    X, y = X[:120], y[:120]
    w = np.random.default_rng(0).integers(0, 3, len(y))
    settings = dict(hidden_layer_sizes=(8,), max_iter=15, batch_size=None, alpha=1e-3, random_state=3)  # full batch
    weighted = MLPClassifier(**settings).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(**settings).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-8)


def test_class_weight_balanced_finds_the_rare_class_of_a_97_to_3_set():
    X, y = make_classification(n_samples=2000, n_features=8, n_informative=4, weights=[0.97], class_sep=0.5,
                               flip_y=0, random_state=2)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    settings = dict(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01, random_state=0)
    plain = MLPClassifier(**settings).fit(X_train, y_train)
    balanced = MLPClassifier(class_weight="balanced", **settings).fit(X_train, y_train)
    as_dict = MLPClassifier(class_weight={0: 1.0, 1: 97 / 3}, **settings).fit(X_train, y_train)
    rare_plain = recall_score(y_test, plain.predict(X_test))
    rare_balanced = recall_score(y_test, balanced.predict(X_test))
    assert rare_plain < 0.35 and rare_balanced > 0.6, (rare_plain, rare_balanced)
    assert balanced_accuracy_score(y_test, balanced.predict(X_test)) > balanced_accuracy_score(
        y_test, plain.predict(X_test)) + 0.2
    assert recall_score(y_test, as_dict.predict(X_test)) > 0.6
    with pytest.raises(ValueError, match="class_weight 'balanced' is not supported for partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X_train, y_train, classes=[0, 1])


def test_partial_fit_learns_batch_by_batch_and_keeps_its_optimizer():
    iris = load_iris()
    X, y = StandardScaler().fit_transform(iris.data), iris.target_names[iris.target]
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        clf.partial_fit(X, y)
    order = np.random.default_rng(0).permutation(len(y))
    for epoch in range(20):
        for part in np.array_split(order, 3):
            clf.partial_fit(X[part], y[part], classes=iris.target_names if epoch == 0 else None)
    assert clf.n_iter_ == 1 and clf.t_ == 20 * len(y) and len(clf.loss_curve_) == 60
    assert np.mean(clf.loss_curve_[-3:]) < 0.5 * np.mean(clf.loss_curve_[:3])
    assert clf.score(X, y) > 0.9 and list(clf.classes_) == list(iris.target_names)
    with pytest.raises(ValueError, match=r"`y` has classes not in `self\.classes_`"):
        clf.partial_fit(X[:5], np.array(["rose"] * 5))
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=iris.target_names)
    reg = MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    for _ in range(5):
        reg.partial_fit(X[:, :3], X[:, 3])
    assert reg.n_iter_ == 1 and len(reg.loss_curve_) == 5 and reg.loss_curve_[-1] < reg.loss_curve_[0]


def test_warm_start_continues_and_a_cold_start_starts_over(cancer):
    X, _, y, _ = cancer
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0).fit(X, y)
    first = list(clf.loss_curve_)
    clf.fit(X, y)
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 10 and clf.loss_curve_[:5] == first
    assert clf.loss_curve_[5] < first[0]  # the second fit began where the first ended
    clf.set_params(warm_start=False).fit(X, y)
    assert clf.loss_curve_ == first
    with pytest.raises(ValueError, match="fit with warm_start=False"):
        clf.set_params(warm_start=True, hidden_layer_sizes=(4,)).fit(X, y)


def test_n_iter_no_change_and_tol_stop_where_scikit_learn_stops(cancer):
    X, _, y, _ = cancer
    for module in (microgradx.sklearn, sklearn.neural_network):
        clf = module.MLPClassifier(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=3, random_state=0).fit(X, y)
        assert clf.n_iter_ == 5, module.__name__  # epoch 1 sets best_loss_; 2-5 fail to beat it by tol: 4 > 3
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=500, tol=1e-3, random_state=0)
    reg.fit(X[:, 1:], X[:, 0])
    assert reg.n_iter_ < 500 and reg.best_loss_ == min(reg.loss_curve_)


def test_early_stopping_keeps_the_best_validation_score_and_its_weights(cancer):
    X, _, y, _ = cancer
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.05, early_stopping=True,
                        validation_fraction=0.2, n_iter_no_change=5, max_iter=200, random_state=4).fit(X, y)
    assert clf.best_validation_score_ == max(clf.validation_scores_) and clf.n_iter_ < 200
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.2, random_state=4, stratify=y)
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)  # the best epoch's weights


def test_verbose_prints_what_scikit_learn_prints(cancer):
    X, _, y, _ = cancer
    out = io.StringIO()
    with redirect_stdout(out):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, verbose=True, early_stopping=True, random_state=0).fit(X, y)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Iteration 1, loss = ") and lines[1].startswith("Validation score: ")


def test_regressor_defaults_are_scikit_learns_squared_error(cancer):
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    ours = MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01, random_state=0).fit(X, y)
    theirs = sklearn.neural_network.MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                                                 random_state=0).fit(X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "identity"
    assert abs(ours.loss_ - theirs.loss_) < 0.1 and ours.loss_ < 0.35  # half the mean squared error
    assert ours.score(X, y) > theirs.score(X, y) - 0.05
    with pytest.raises(ValueError, match="loss='poisson' is not available; use loss='squared_error'"):
        MLPRegressor(loss="poisson").fit(X, y)


def test_microgradx_extras_stay_available_by_name(cancer):
    X, _, y, _ = cancer
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="adam:beta1=0.8", learning_rate="cosine", max_iter=4,
                        learning_rate_init=0.02, random_state=0).fit(X, y)
    assert clf._trainer.optimizer.beta1 == 0.8
    np.testing.assert_allclose(clf.history_.lr[0], 0.02 * (1 + np.cos(np.pi * 2 / 8)) / 2, rtol=0.2)
    assert clf.history_.lr[-1] < clf.history_.lr[0]
    with pytest.raises(TypeError, match=r"MLPClassifier.__init__\(\) got an unexpected keyword argument 'epochs'"):
        MLPClassifier(epochs=3)  # the public class is named, not a private one


def test_a_loss_with_settings_keeps_its_probabilities(cancer):
    """``loss="bce:l2=..."`` is bce: predict_proba is there, the sigmoid of decision_function."""
    X, _, y, _ = cancer
    clf = MLPClassifier(hidden_layer_sizes=(4,), loss="bce:l2=0.001", max_iter=3, random_state=0).fit(X, y)
    assert clf.loss_name_ == "bce" and hasattr(clf, "predict_proba")
    np.testing.assert_allclose(clf.predict_proba(X[:5])[:, 1], 1 / (1 + np.exp(-clf.decision_function(X[:5]))))
    assert not hasattr(MLPClassifier(loss="hinge:l2=0.001"), "predict_proba")


def test_a_fitted_pipeline_ships_as_a_model_file_without_pickle(cancer, tmp_path):
    raw_X, raw_y = load_breast_cancer(return_X_y=True)
    names = np.array(["malignant", "benign"])[raw_y]
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=20,
                                                         learning_rate_init=0.01, random_state=0))
    pipe.fit(raw_X, names)
    path = microgradx.sklearn.save(pipe, tmp_path / "pipe.json")
    assert b"pickle" not in path.read_bytes() and json.loads(path.read_text())["schema"]["classes"] == \
        ["benign", "malignant"]
    again = microgradx.sklearn.load(path)
    np.testing.assert_array_equal(again.predict(raw_X), pipe.predict(raw_X))
    np.testing.assert_allclose(again.predict_proba(raw_X), pipe.predict_proba(raw_X), rtol=1e-12)
    from microgradx import modelfile

    np.testing.assert_array_equal(modelfile.load_predictor(path).predict(raw_X), pipe.predict(raw_X))


# -- errors: reported by fit, naming the parameter ------------------------------------------------


@pytest.mark.parametrize(("params", "error", "match"), [
    ({"hidden_layer_sizes": (16, 0)}, ValueError, r"hidden_layer_sizes.*\(16, 0\)"),
    ({"hidden_layer_sizes": "16"}, TypeError, "hidden_layer_sizes"),
    ({"max_iter": 0}, ValueError, r"MLPClassifier: max_iter must be an integer in \[1, inf\), got 0"),
    ({"batch_size": 2.5}, ValueError, "batch_size must be 'auto', a positive integer"),
    ({"learning_rate_init": -0.1}, ValueError, r"learning_rate_init must be a number in \(0, inf\), got -0\.1"),
    ({"alpha": -1}, ValueError, r"alpha must be a number in \[0, inf\)"),
    ({"momentum": 1.5}, ValueError, r"momentum must be a number in \[0, 1\]"),
    ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change must be an integer"),
    ({"early_stopping": "yes"}, TypeError, "early_stopping must be True or False"),
    ({"solver": "lbfgs"}, ValueError, "solver='lbfgs' is not available.*use solver='adam' \\(the default\\) or 'sgd'"),
    ({"optimizer_options": [("momentum", 0.9)]}, TypeError, "optimizer_options must be a dict"),
    ({"validation_fraction": 1.5}, ValueError, "validation_fraction"),
    ({"random_state": -3}, ValueError, "random_state"),
    ({"solver": "adamw"}, UnknownComponentError, "adamw.*adam"),
    ({"solver": "adam:gamma=2"}, ValueError, "optimizer 'adam' has no setting 'gamma'"),
    ({"activation": "nope"}, UnknownComponentError, "nope"),
    ({"learning_rate": "step"}, UnknownComponentError, "registered schedules: constant, cosine, invscaling"),
    ({"loss": "mse"}, ValueError, "'mse' is not a classification loss"),
    ({"class_weight": "even"}, ValueError, "class_weight must be 'balanced', a dict"),
    ({"class_weight": {7: 2.0}}, ValueError, r"class_weight names label\(s\) \[7\]"),
])
def test_bad_settings_fail_in_fit_not_in_init(cancer, params, error, match):
    X, _, y, _ = cancer
    clf = MLPClassifier(**params)  # scikit-learn's convention: __init__ only stores
    with pytest.raises(error, match=match):
        clf.fit(X, y)
