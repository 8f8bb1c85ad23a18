"""Datasets: scikit-learn's breast_cancer, iris, wine, digits, moons, circles and diabetes; xor, spiral,
blobs and bumps (the playground's 2-D shapes); and csv.

Each scikit-learn loader is called as ``load(seed=0, test_size=0.2, standardize=True,
n_samples=None, noise=None)`` and returns a `microgradx.datasets.Dataset`: a seeded train/test
split (``sklearn.model_selection.train_test_split``, stratified for the classification sets)
whose features are standardised with the mean and standard deviation of the *training*
split only. ``diabetes`` is a regression task (442 patients, 10 features, disease progression
after a year), its target standardised the same way. ``n_samples`` and ``noise`` apply to the
synthetic datasets (moons, circles, xor, spiral, blobs, bumps; the seed also drives their
generation). xor, spiral, blobs and bumps are TensorFlow Playground's shapes, made with numpy:
two classes in the plane, and bumps a regression task (two Gaussian bumps of opposite sign).

``csv`` reads your own file: ``load(path, target=None, task=None, seed=0, test_size=0.2,
standardize=True, delimiter=None, categorical=(), labels="text", impute=None, ignore=(), progress=None)``
(`microgradx.datasets.from_csv`).

scikit-learn is imported inside the loaders, when one is used, so ``import microgradx``
never imports it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from microgradx import hookimpl
from microgradx.datasets import Dataset, from_csv, split_dataset
from microgradx.datasets.split import check_split_settings as _check_settings


def _sklearn() -> Any:
    try:
        import sklearn.datasets
        import sklearn.model_selection
    except ImportError:  # pragma: no cover - scikit-learn is a dependency of microgradx
        raise ImportError("the bundled datasets need scikit-learn, a dependency of microgradx that is missing "
                          "here: pip install scikit-learn") from None
    return sklearn


def _no_synthetic_settings(name: str, n_samples: Optional[int], noise: Optional[float]) -> None:
    for setting, value in (("n_samples", n_samples), ("noise", noise)):
        if value is not None:
            raise ValueError(f"dataset {name!r}: {setting} applies only to the synthetic datasets "
                             f"({', '.join(SYNTHETIC)}), got {setting}={value!r}")


def make_dataset(name: str, X: np.ndarray, y: np.ndarray, *, seed: int, test_size: float, standardize_: bool,
                 feature_names: Any, class_names: Any) -> Dataset:
    """Split ``X, y`` (stratified, seeded), standardise on the training split, wrap as a `Dataset`."""
    _sklearn()
    y = np.asarray(y).astype(np.int64)
    n_classes = int(y.max()) + 1
    return split_dataset(name, X, y, task="binary" if n_classes == 2 else "multiclass", seed=seed,
                         test_size=test_size, standardize_=standardize_, feature_names=feature_names,
                         classes=[str(c) for c in class_names])


def _bundled(name: str, loader_name: str) -> Callable[..., Dataset]:
    def load(seed: int = 0, test_size: float = 0.2, standardize: bool = True, n_samples: Optional[int] = None,
             noise: Optional[float] = None) -> Dataset:
        _check_settings(name, seed, test_size, standardize)
        _no_synthetic_settings(name, n_samples, noise)
        raw = getattr(_sklearn().datasets, loader_name)()
        feature_names = getattr(raw, "feature_names", None)
        if feature_names is None:
            feature_names = [f"x{i}" for i in range(raw.data.shape[1])]
        return make_dataset(name, raw.data, raw.target, seed=seed, test_size=test_size, standardize_=standardize,
                            feature_names=feature_names, class_names=raw.target_names)

    load.__name__ = f"load_{name}"
    load.__qualname__ = load.__name__
    load.__doc__ = (f"scikit-learn's {name} dataset (sklearn.datasets.{loader_name}), split and standardised "
                    f"as described in microgradx_plugins.datasets.")
    return load


def _synthetic(name: str, maker: Any, default_n: int, default_noise: float, **extra: Any) -> Callable[..., Dataset]:
    """A loader of generated examples: ``maker`` is a scikit-learn ``make_*`` name, or a function
    ``maker(n, noise, rng) -> (X, y)`` (a float ``y`` makes a regression task)."""
    def load(seed: int = 0, test_size: float = 0.2, standardize: bool = True, n_samples: Optional[int] = None,
             noise: Optional[float] = None) -> Dataset:
        _check_settings(name, seed, test_size, standardize)
        n = default_n if n_samples is None else n_samples
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 10:
            raise ValueError(f"dataset {name!r}: n_samples must be an int >= 10, got {n_samples!r}")
        sd = default_noise if noise is None else noise
        if isinstance(sd, bool) or not isinstance(sd, numbers.Real) or not 0.0 <= sd < float("inf"):
            raise ValueError(f"dataset {name!r}: noise must be a number >= 0, got {noise!r}")
        if isinstance(maker, str):
            X, y = getattr(_sklearn().datasets, maker)(n_samples=int(n), noise=float(sd), random_state=seed, **extra)
        else:
            X, y = maker(int(n), float(sd), np.random.default_rng(seed))
        if y.dtype.kind == "f":
            return split_dataset(name, X, y, task="regression", seed=seed, test_size=test_size,
                                 standardize_=standardize, feature_names=["x0", "x1"], target_name="y")
        return make_dataset(name, X, y, seed=seed, test_size=test_size, standardize_=standardize,
                            feature_names=["x0", "x1"], class_names=["0", "1"])

    load.__name__ = f"load_{name}"
    load.__qualname__ = load.__name__
    made = f"sklearn.datasets.{maker}" if isinstance(maker, str) else maker.__doc__
    load.__doc__ = (f"{made} (default {default_n} samples, noise {default_noise}; the seed "
                    f"drives both generation and split), split and standardised as described in "
                    f"microgradx_plugins.datasets.")
    return load


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple:
    """Points in the square, labelled 1 where both coordinates (plus noise) have the same sign"""
    X = rng.uniform(-1.0, 1.0, (n, 2))
    X += np.where(X > 0, 0.05, -0.05)  # a margin along the axes, as TensorFlow Playground's
    jitter = X + rng.normal(0.0, noise, (n, 2))
    return X, (jitter[:, 0] * jitter[:, 1] > 0).astype(np.int64)


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple:
    """Two interleaved spirals of 1.75 turns and radius 1, one per class, with Gaussian jitter of noise
    times the gap between the arms (1 / 3.5)"""
    label = np.arange(n) % 2
    t = rng.uniform(0.0, 1.0, n)
    angle = 1.75 * 2 * np.pi * t + np.pi * label
    X = np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1) + rng.normal(0.0, noise / 3.5, (n, 2))
    return X, label.astype(np.int64)


def _blobs(n: int, noise: float, rng: np.random.Generator) -> tuple:
    """Two Gaussian blobs around (1, 1) and (-1, -1) whose standard deviation is the noise"""
    label = np.arange(n) % 2
    X = np.where(label[:, None] == 1, 1.0, -1.0) + rng.normal(0.0, noise, (n, 2))
    return X, label.astype(np.int64)


def _bumps(n: int, noise: float, rng: np.random.Generator) -> tuple:
    """Regression: a bump up at (0.5, 0.5) and one down at (-0.5, -0.5), plus Gaussian noise on the target"""
    X = rng.uniform(-1.0, 1.0, (n, 2))
    y = np.exp(-4 * ((X - 0.5) ** 2).sum(axis=1)) - np.exp(-4 * ((X + 0.5) ** 2).sum(axis=1))
    return X, y + rng.normal(0.0, noise, n)


load_breast_cancer = _bundled("breast_cancer", "load_breast_cancer")
load_iris = _bundled("iris", "load_iris")
load_wine = _bundled("wine", "load_wine")
load_digits = _bundled("digits", "load_digits")


def load_diabetes(seed: int = 0, test_size: float = 0.2, standardize: bool = True, n_samples: Optional[int] = None,
                  noise: Optional[float] = None) -> Dataset:
    """scikit-learn's diabetes data (sklearn.datasets.load_diabetes, unscaled): a regression task.

    442 patients, 10 features, the target a measure of disease progression one year later
    (25 to 346). Split (not stratified: the target is a number) and standardised, target
    included, as described in microgradx_plugins.datasets.
    """
    name = "diabetes"
    _check_settings(name, seed, test_size, standardize)
    _no_synthetic_settings(name, n_samples, noise)
    raw = _sklearn().datasets.load_diabetes(scaled=False)
    return split_dataset(name, raw.data, raw.target, task="regression", seed=seed, test_size=test_size,
                         standardize_=standardize, feature_names=raw.feature_names, target_name="progression")


def load_csv(path: str, target: Optional[str] = None, task: Optional[str] = None, seed: int = 0,
             test_size: float = 0.2, standardize: bool = True, delimiter: Optional[str] = None,
             categorical: Any = (), labels: str = "text", impute: Optional[str] = None, ignore: Any = (),
             progress: Optional[bool] = None) -> Dataset:
    """Your own CSV file (a header row, feature columns of numbers or text, the target last unless named).

    See `microgradx.datasets.from_csv`; ``categorical`` and ``ignore`` are lists of column names
    or one string of comma-separated names (``csv:path=f.csv:categorical=zip,store``). A problem
    with the file is a `CSVError` naming the file, row and column.
    """
    if isinstance(categorical, str):
        categorical = [c.strip() for c in categorical.split(",") if c.strip()]
    if isinstance(ignore, str):
        ignore = [c.strip() for c in ignore.split(",") if c.strip()]
    return from_csv(path, target=target, task=task, seed=seed, test_size=test_size, standardize=standardize,
                    delimiter=delimiter, categorical=categorical, labels=labels, impute=impute, ignore=ignore,
                    progress=progress)


#: micrograd's demo data: make_moons(100, noise=0.1).
load_moons = _synthetic("moons", "make_moons", 100, 0.1)
load_circles = _synthetic("circles", "make_circles", 200, 0.1, factor=0.5)
load_xor = _synthetic("xor", _xor, 200, 0.1)
load_spiral = _synthetic("spiral", _spiral, 200, 0.2)
load_blobs = _synthetic("blobs", _blobs, 200, 0.5)
load_bumps = _synthetic("bumps", _bumps, 200, 0.05)
#: The generated datasets: the ones that take n_samples and noise.
SYNTHETIC = ("moons", "circles", "xor", "spiral", "blobs", "bumps")

LOADERS = {
    "breast_cancer": load_breast_cancer,
    "iris": load_iris,
    "wine": load_wine,
    "digits": load_digits,
    "moons": load_moons,
    "circles": load_circles,
    "xor": load_xor,
    "spiral": load_spiral,
    "blobs": load_blobs,
    "bumps": load_bumps,
    "diabetes": load_diabetes,
    "csv": load_csv,
}


@hookimpl
def microgradx_register_datasets(register):
    """Register the seven scikit-learn loaders, the four 2-D shapes and csv (scikit-learn is imported when one runs)."""
    for name, loader in LOADERS.items():
        register(loader, name=name)
