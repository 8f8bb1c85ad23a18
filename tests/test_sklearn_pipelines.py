"""Pipelines with categorical columns saved as model files: ColumnTransformer, OneHotEncoder, StandardScaler,
MinMaxScaler and SimpleImputer before the estimator; the file predicts what the pipeline predicts (in
Python, loaded back, and with ``microgradx predict`` on the CSV), and column names survive."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import load_wine  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, PolynomialFeatures, StandardScaler  # noqa: E402

from microgradx import modelfile  # noqa: E402
from microgradx.cli import main  # noqa: E402
from microgradx.sklearn import InputEncoder, MLPClassifier, MLPRegressor, load, save  # noqa: E402


@pytest.fixture(scope="module")
def wine():
    """scikit-learn's wine data as a DataFrame, with two synthetic categorical columns and missing values."""
    d = load_wine(as_frame=True)
    frame = d.frame.drop(columns="target")
    rng = np.random.default_rng(0)
    frame["region"] = rng.choice(["north", "south", "=east"], len(frame))  # text categories, one hostile
    frame["grade"] = rng.choice([1, 2, 3], len(frame))  # numeric categories
    frame.loc[rng.choice(len(frame), 10, replace=False), "alcohol"] = np.nan
    frame.loc[rng.choice(len(frame), 6, replace=False), "region"] = None
    y = np.array(["c0", "c1", "c2"])[d.target]
    return frame, y


def fitted(pipeline, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline.fit(X, y)


def mixed_pipeline(frame):
    numbers = [c for c in frame.columns if c not in ("region", "grade")]
    columns = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), ["region"]),
        ("grade", OneHotEncoder(drop="first", sparse_output=False), ["grade"]),
    ])
    return make_pipeline(columns, MinMaxScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=60,
                                                                random_state=0))


def test_a_pipeline_with_categorical_columns_predicts_the_same_from_its_file(wine, tmp_path, capsys):
    frame, y = wine
    pipe = fitted(mixed_pipeline(frame), frame, y)
    path = save(pipe, tmp_path / "wine.json")
    schema = modelfile.read(path).schema
    assert schema.features == tuple(frame.columns)  # the DataFrame's names, from the first step
    kinds = {c.name: c.kind for c in schema.inputs}
    assert kinds["region"] == kinds["grade"] == "category" and kinds["alcohol"] == "number"
    region = next(c for c in schema.inputs if c.name == "region")
    assert region.unknown == "ignore" and region.impute in region.categories
    assert next(c for c in schema.inputs if c.name == "grade").drop == 0

    expected = pipe.predict(frame)
    assert len(set(expected)) == 3
    predictor = modelfile.load_predictor(path)
    np.testing.assert_array_equal(predictor.predict(frame), expected)
    np.testing.assert_allclose(predictor.predict_proba(frame), pipe.predict_proba(frame), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(predictor.predict(frame[frame.columns[::-1]]), expected)  # by name, any order

    loaded = load(path)
    assert isinstance(loaded[0], InputEncoder)
    np.testing.assert_array_equal(loaded.predict(frame), expected)

    data = tmp_path / "wine.csv"
    frame.to_csv(data, index=False)  # missing values as empty cells
    assert main(["predict", str(path), str(data), "--proba"]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[0][0] == "prediction" and [r[0] for r in rows[1:]] == list(expected)
    np.testing.assert_allclose(np.array([[float(p) for p in r[1:]] for r in rows[1:]]), pipe.predict_proba(frame),
                               rtol=1e-9)


def test_an_unknown_category_follows_the_encoders_setting(wine, tmp_path):
    frame, y = wine
    pipe = fitted(mixed_pipeline(frame), frame, y)
    predictor = modelfile.load_predictor(save(pipe, tmp_path / "w.json"))
    odd = frame.head(3).copy()
    odd["region"] = "west"  # handle_unknown="ignore": all zeros, as scikit-learn
    np.testing.assert_array_equal(predictor.predict(odd), pipe.predict(odd))
    odd = frame.head(3).copy()
    odd["grade"] = 7  # handle_unknown="error": an error naming the row, column and value
    with pytest.raises(ValueError, match=r"row 0, column 'grade': 7 is not one of the categories"):
        predictor.predict(odd)


def test_column_names_survive_a_scaler_pipeline(wine, tmp_path, capsys):
    frame, y = wine
    numbers = frame.drop(columns=["region", "grade"]).fillna(0.0)
    pipe = fitted(make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=40,
                                                                random_state=0)), numbers, y)
    path = save(pipe, tmp_path / "s.json")
    assert modelfile.read(path).schema.features == tuple(numbers.columns)  # not x0, x1, ...
    assert modelfile.read(path).version == 2  # nothing a version-2 reader lacks
    predictor = modelfile.load_predictor(path)
    swapped = numbers[numbers.columns[::-1]]
    np.testing.assert_array_equal(predictor.predict(swapped), pipe.predict(numbers))  # matched by name
    with pytest.raises(ValueError, match=r"no column 'alcohol'"):
        predictor.predict(numbers.drop(columns="alcohol"))
    with pytest.raises(ValueError, match=r"unknown column 'extra'"):
        predictor.predict(numbers.assign(extra=1.0))
    loaded = load(path)
    np.testing.assert_array_equal(loaded.predict(numbers), pipe.predict(numbers))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(swapped)  # scikit-learn's own check on the first step, as the saved pipeline had
    data = tmp_path / "s.csv"
    numbers.to_csv(data, index=False)
    assert main(["predict", str(path), str(data)]) == 0
    assert [r[0] for r in csv.reader(capsys.readouterr().out.splitlines())][1:] == list(pipe.predict(numbers))


def test_regressors_imputers_and_passthrough(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                          "kind": rng.choice(["x", "y"], 200)})
    target = 3 * frame["a"] - frame["b"] + (frame["kind"] == "x") + 0.1 * rng.normal(size=200)
    frame.loc[::17, "b"] = np.nan
    columns = ColumnTransformer([("cat", OneHotEncoder(sparse_output=False), ["kind"])], remainder="passthrough")
    pipe = fitted(make_pipeline(columns, SimpleImputer(strategy="mean"), StandardScaler(),
                                MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0)), frame, target)
    predictor = modelfile.load_predictor(save(pipe, tmp_path / "r.npz"))
    np.testing.assert_allclose(predictor.predict(frame), pipe.predict(frame), rtol=1e-10)


@pytest.mark.parametrize("step, message", [
    (PolynomialFeatures(), "a pipeline step PolynomialFeatures cannot be written to a model file"),
    (MinMaxScaler(clip=True), r"MinMaxScaler\(clip=True\) is not an affine map"),
    (SimpleImputer(add_indicator=True), r"add_indicator=True\) is not supported"),
])
def test_steps_a_model_file_cannot_hold_are_refused_by_name(wine, tmp_path, step, message):
    frame, y = wine
    numbers = frame[["alcohol", "ash"]]
    pipe = fitted(make_pipeline(SimpleImputer(), step, MLPClassifier(hidden_layer_sizes=(4,), max_iter=5,
                                                                     random_state=0)), numbers, y)
    with pytest.raises(TypeError, match=message):
        save(pipe, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
