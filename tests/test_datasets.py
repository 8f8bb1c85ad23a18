"""Datasets: shapes, stratified seeded splits, standardisation fitted on train only, lazy scikit-learn."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import microgradx
from microgradx.datasets import Dataset, load

pytest.importorskip("sklearn")

#: name -> (examples, features, classes)
SHAPES = {
    "breast_cancer": (569, 30, 2),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "digits": (1797, 64, 10),
    "moons": (100, 2, 2),
    "circles": (200, 2, 2),
    "xor": (200, 2, 2),
    "spiral": (200, 2, 2),
    "blobs": (200, 2, 2),
}


@pytest.fixture(scope="module")
def loaded():
    """Every dataset with the default settings, loaded once for the module."""
    return {name: load(name) for name in SHAPES}


@pytest.mark.parametrize("name", SHAPES)
def test_shapes_and_types(name, loaded):
    data = loaded[name]
    n, d, k = SHAPES[name]
    assert isinstance(data, Dataset) and data.name == name
    assert data.n_train + data.n_test == n
    assert data.n_test == pytest.approx(0.2 * n, abs=1)
    assert data.X_train.shape == (data.n_train, d) and data.X_test.shape == (data.n_test, d)
    assert data.X_train.dtype == data.X_test.dtype == np.float64
    assert data.y_train.dtype == data.y_test.dtype == np.int64
    assert data.n_classes == k and set(np.unique(data.y_train)) == set(range(k))
    assert data.task == ("binary" if k == 2 else "multiclass")
    assert len(data.feature_names) == d and len(data.class_names) == k
    assert not data.X_train.flags.writeable  # a Dataset is frozen, its arrays too
    assert name in repr(data)


@pytest.mark.parametrize("name", SHAPES)
def test_split_is_stratified(name, loaded):
    data = loaded[name]
    for c in range(data.n_classes):
        train_c, test_c = np.sum(data.y_train == c), np.sum(data.y_test == c)
        # the test split holds the class's share of the test examples, within one example
        assert abs(test_c - (train_c + test_c) * data.n_test / (data.n_train + data.n_test)) <= 1


@pytest.mark.parametrize("name", SHAPES)
def test_standardisation_is_fitted_on_the_training_split_only(name, loaded):
    data = loaded[name]
    varying = data.X_train.std(axis=0) > 0
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(axis=0)[varying], 1.0, rtol=1e-12)
    assert np.abs(data.X_test.mean(axis=0)).max() > 1e-3  # test statistics were not used
    raw = load(name, standardize=False)
    np.testing.assert_array_equal(raw.y_train, data.y_train)  # same split
    np.testing.assert_allclose(data.mean, raw.X_train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(data.transform(raw.X_test), data.X_test, rtol=1e-12, atol=1e-12)
    assert raw.mean is None and np.array_equal(raw.transform(raw.X_test), raw.X_test)


@pytest.mark.parametrize("name", ["breast_cancer", "moons"])
def test_same_seed_same_split_different_seed_different_split(name):
    a, b, c = load(name, seed=3), load(name, seed=3), load(name, seed=4)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.X_train.shape == c.X_train.shape
    assert not np.array_equal(a.X_train, c.X_train)


def test_bumps_is_a_2d_regression_task_whose_noise_is_on_the_target():
    data = load("bumps")
    assert data.task == "regression" and data.n_classes is None
    assert data.X_train.shape == (160, 2) and data.y_train.dtype == np.float64
    assert data.target_mean is not None  # the target was standardised like diabetes'
    clean = load("bumps", noise=0.0, standardize=False)
    X, y = clean.X_train, clean.y_train
    bump = np.exp(-4 * ((X - 0.5) ** 2).sum(axis=1)) - np.exp(-4 * ((X + 0.5) ** 2).sum(axis=1))
    np.testing.assert_allclose(y, bump, atol=1e-12)


@pytest.mark.parametrize("name, rule", [
    ("xor", lambda X: (X[:, 0] * X[:, 1] > 0).astype(int)),
    ("blobs", lambda X: (X.sum(axis=1) > 0).astype(int)),
])
def test_the_shapes_without_noise_follow_their_rule(name, rule):
    data = load(name, noise=0.0 if name == "xor" else 0.1, standardize=False, seed=2)
    for X, y in ((data.X_train, data.y_train), (data.X_test, data.y_test)):
        assert (rule(X) == y).mean() == 1.0


def test_the_spiral_has_two_arms_turning_apart():
    data = load("spiral", noise=0.0, standardize=False, n_samples=400)
    X, y = data.X_train, data.y_train
    radius = np.hypot(X[:, 0], X[:, 1])
    angle = np.arctan2(X[:, 0], X[:, 1])
    for label in (0, 1):  # each arm: angle = 1.75 turns x radius (+ half a turn for class 1), mod a turn
        turn = (1.75 * 2 * np.pi * radius[y == label] + np.pi * label - angle[y == label]) % (2 * np.pi)
        assert np.allclose(np.minimum(turn, 2 * np.pi - turn), 0.0, atol=1e-9)


def test_synthetic_settings():
    moons = load("moons", n_samples=60, noise=0.0, test_size=0.25, seed=1)
    assert moons.n_train + moons.n_test == 60 and moons.n_test == 15
    noisy = load("moons", n_samples=60, noise=0.3, test_size=0.25, seed=1, standardize=False)
    clean = load("moons", n_samples=60, noise=0.0, test_size=0.25, seed=1, standardize=False)
    assert not np.allclose(noisy.X_train, clean.X_train)


@pytest.mark.parametrize("kwargs, match", [
    ({"test_size": 0.0}, r"test_size must be a fraction in \(0, 1\), got 0.0"),
    ({"test_size": 1.5}, "test_size must be a fraction"),
    ({"seed": -1}, "seed must be an int"),
    ({"seed": 1.5}, "seed must be an int"),
    ({"n_samples": 100}, "n_samples applies only to the synthetic datasets"),
    ({"noise": 0.1}, "noise applies only to the synthetic datasets"),
])
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load("iris", **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_samples": 3}, "n_samples must be an int >= 10, got 3"),
    ({"noise": -0.1}, "noise must be a number >= 0, got -0.1"),
])
@pytest.mark.parametrize("name", ["circles", "xor", "bumps"])
def test_bad_synthetic_settings_are_named(kwargs, match, name):
    with pytest.raises(ValueError, match=match):
        load(name, **kwargs)


def test_standardize_must_be_a_bool():
    with pytest.raises(TypeError, match="standardize must be True or False"):
        load("wine", standardize="yes")


def test_unknown_dataset_lists_the_registered_ones():
    with pytest.raises(microgradx.UnknownComponentError, match=r"registered datasets: .*breast_cancer.*moons"):
        load("mnist")


def test_dataset_validates_its_arrays():
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    Dataset("ok", X, y, X, y, task="binary", n_classes=2)
    with pytest.raises(ValueError, match="3 labels"):
        Dataset("bad", X, y[:3], X, y, task="binary", n_classes=2)
    with pytest.raises(ValueError, match=r"labels must be ints in 0\.\.1"):
        Dataset("bad", X, y + 1, X, y, task="binary", n_classes=2)
    with pytest.raises(TypeError, match="2-D float64"):
        Dataset("bad", X.astype(np.float32), y, X, y, task="binary", n_classes=2)
    with pytest.raises(ValueError, match="task"):
        Dataset("bad", X, y, X, y, task="clustering", n_classes=2)


def test_registered_by_the_datasets_plugin():
    registry = microgradx.get_registry()
    names = [*SHAPES, "diabetes", "bumps", "csv"]
    assert registry.names("datasets") == sorted(names)
    assert all(registry.component("datasets", n).plugin.name == "datasets" for n in names)


def test_import_and_registry_do_not_import_sklearn():
    """`import microgradx`, building the registry (every bundled plugin) and microgradx.nn leave
    scikit-learn, matplotlib and torch unimported; loading a dataset imports scikit-learn."""
    code = textwrap.dedent("""
        import sys
        import microgradx, microgradx.nn, microgradx.datasets, microgradx.modelfile
        registry = microgradx.get_registry()
        assert "moons" in registry.names("datasets") and "MLP" in registry.names("layers")
        heavy = sorted(m for m in ("sklearn", "matplotlib", "torch", "pyarrow", "pandas", "dask") if m in sys.modules)
        assert not heavy, heavy
        microgradx.datasets.load("moons")
        assert "sklearn" in sys.modules
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
