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
def test_bad_synthetic_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load("circles", **kwargs)


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
    assert registry.names("datasets") == sorted([*SHAPES, "diabetes", "csv"])
    assert all(registry.component("datasets", n).plugin.name == "datasets" for n in [*SHAPES, "diabetes", "csv"])


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
