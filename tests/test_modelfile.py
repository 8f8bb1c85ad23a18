"""Model files: round trips, atomic saves, and every kind of bad file refused without side effects."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

import microgradx
from microgradx import get_registry, modelfile
from microgradx.modelfile import ModelFileError


def mlp(nouts=(4, 3, 1), nin=5, seed=0, **kw):
    return get_registry().get("layers", "MLP")(nin, list(nouts), seed=seed, **kw)


def outputs(model, X):
    return np.stack([o.data for o in model(X)], axis=1)


@pytest.fixture
def X(rng):
    return rng.normal(size=(7, 5))


def good_document(model=None) -> dict:
    model = model or mlp()
    return {"format": modelfile.FORMAT, "version": 2, "spec": model.spec(),
            "weights": model.get_weights()}


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# -- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_load_round_trip_gives_the_same_model(tmp_path, X, suffix):
    model = mlp(activation="tanh", seed=3)
    path = modelfile.save(model, tmp_path / f"model{suffix}", meta={"loss": "bce", "note": [1, 2.5, None]})
    loaded = modelfile.load(path)
    assert type(loaded) is type(model)
    assert loaded.spec() == model.spec()
    assert loaded.get_weights() == model.get_weights()  # bit for bit: floats round-trip exactly
    np.testing.assert_array_equal(outputs(loaded, X), outputs(model, X))
    assert modelfile.read(path).meta == {"loss": "bce", "note": [1, 2.5, None]}


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_load_into_copies_the_weights_into_a_differently_initialised_model(tmp_path, X, suffix):
    trained, other = mlp(seed=1), mlp(seed=2, fused=False)  # seed and fused don't change the architecture
    assert trained.get_weights() != other.get_weights()
    path = modelfile.save(trained, tmp_path / f"m{suffix}")
    assert modelfile.load_into(other, path) is other
    assert other.get_weights() == trained.get_weights()
    np.testing.assert_allclose(outputs(other, X), outputs(trained, X), rtol=1e-12, atol=1e-12)


def test_json_file_is_plain_readable_json(tmp_path):
    model = mlp()
    path = modelfile.save(model, tmp_path / "m.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "microgradx-model" and doc["version"] == 2
    assert doc["spec"]["layer"] == "MLP" and doc["spec"]["nouts"] == [4, 3, 1]
    assert len(doc["weights"]) == model.num_parameters() == (5 + 1) * 4 + (4 + 1) * 3 + (3 + 1) * 1


def test_npz_file_holds_no_pickles(tmp_path):
    path = modelfile.save(mlp(), tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as npz:  # would raise if anything needed unpickling
        assert sorted(npz.files) == ["header", "weights"]
        assert npz["weights"].dtype == np.float64


# -- atomic saves ---------------------------------------------------------------------------


def _leftovers(directory: Path, keep: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != keep)


def test_a_crash_while_writing_json_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    modelfile.save(mlp(seed=1), path)
    before = path.read_bytes()

    def crash(obj, f, **kw):
        f.write('{"format": "microgradx-model", "version": 1, "spec": {"layer": "ML')  # half a file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", crash)
    with pytest.raises(ModelFileError, match="No space left on device") as info:
        modelfile.save(mlp(seed=2), path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, "model.json") == []
    monkeypatch.undo()
    assert modelfile.load(path).get_weights() == mlp(seed=1).get_weights()


def test_an_interrupt_while_writing_npz_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    modelfile.save(mlp(seed=1), path)
    before = path.read_bytes()

    def interrupted(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        modelfile.save(mlp(seed=2), path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, "model.npz") == []


def test_a_crash_before_the_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(json, "dump", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        modelfile.save(mlp(), tmp_path / "new.json")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_non_finite_weights_and_keeps_the_old_file(tmp_path):
    path = modelfile.save(mlp(), tmp_path / "m.json")
    before = path.read_bytes()
    broken = mlp()
    broken.parameters()[4].data = math.nan
    with pytest.raises(ModelFileError, match=r"weights\[4\] is nan"):
        modelfile.save(broken, path)
    assert path.read_bytes() == before


def test_save_into_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        modelfile.save(mlp(), tmp_path / "nope" / "m.json")


# -- bad files -------------------------------------------------------------------------------


def _doc(**changes):
    doc = good_document()
    for key, value in changes.items():
        if value is KeyError:
            del doc[key]
        else:
            doc[key] = value
    return doc


def _spec(**changes):
    spec = mlp().spec()
    spec.update(changes)
    return _doc(spec=spec)


def _weights_text(replacement: str) -> str:
    text = json.dumps(good_document())
    i = text.index('"weights": [') + len('"weights": [')
    j = text.index(",", i)
    return text[:i] + replacement + text[j:]


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


BAD_JSON = {
    "empty": ("", "file is empty"),
    "truncated": (json.dumps(good_document())[:150], "corrupt or truncated JSON"),
    "not utf-8": ("\udcff", "not UTF-8"),
    "top-level list": ("[1, 2, 3]", "expected a JSON object"),
    "wrong format": (json.dumps(_doc(format="pickle")), "not a microgradx model file"),
    "missing format": (json.dumps(_doc(format=KeyError)), "not a microgradx model file"),
    "future version": (json.dumps(_doc(version=4)), r"format version 4 is newer than this microgradx .* reads "
                                                     r"\(versions 1, 2, 3\): upgrade microgradx"),
    "version 0": (json.dumps(_doc(version=0)), "unsupported format version 0"),
    "version as string": (json.dumps(_doc(version="1")), "'version' must be an integer"),
    "missing spec": (json.dumps(_doc(spec=KeyError)), "missing key 'spec'"),
    "missing weights": (json.dumps(_doc(weights=KeyError)), "missing key 'weights'"),
    "unknown key": (json.dumps(_doc(code="__import__('os')")), r"unexpected key\(s\) 'code'"),
    "spec not an object": (json.dumps(_doc(spec=["MLP"])), "'spec' must be an object"),
    "weights not a list": (json.dumps(_doc(weights={"0": 1.0})), "'weights' must be a list"),
    "unregistered layer": (json.dumps(_spec(layer="Transformer")), "no layer named 'Transformer'"),
    "import string as layer": (json.dumps(_spec(layer="__import__('os').system('true')")), "no layer named"),
    "import string as activation": (json.dumps(_spec(activation="__import__")), "no op named '__import__'"),
    "huge layer": (json.dumps(_spec(nouts=[10**9, 1])), r"spec\['nouts'\]\[0\] = 1000000000 is out of range"),
    "huge model": (json.dumps(_spec(nin=100_000, nouts=[100_000, 1])), "parameters, more than the limit"),
    "huge integer": (json.dumps(_doc()).replace('"version": 2', '"version": ' + "9" * 5000), "corrupt JSON"),
    "layer size as string": (json.dumps(_spec(nin="5")), r"spec\['nin'\] must be an integer"),
    "layer size as bool": (json.dumps(_spec(nin=True)), r"spec\['nin'\] must be an integer"),
    "negative layer size": (json.dumps(_spec(nouts=[4, -3, 1])), "out of range"),
    "unknown spec key": (json.dumps(_spec(dropout=0.5)), "unknown key"),
    "wrong number of weights": (json.dumps(_doc(weights=good_document()["weights"][:-1])),
                                r"wrong number of weights: the spec \(MLP\(5, \[4, 3, 1\]\)\) has 43 parameters, "
                                r"the file holds 42"),
    "NaN weight": (_weights_text("NaN"), "non-finite number NaN"),
    "infinite weight": (_weights_text("1e999"), r"weights\[0\] is inf"),
    "weight as string": (_weights_text('"0.5"'), r"weights\[0\] must be a number"),
    "weight as bool": (_weights_text("true"), r"weights\[0\] must be a number"),
    "deep nesting": ('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    "nested spec": (json.dumps(_spec(extra=_nested(40))), "nested more than"),
}


@pytest.mark.parametrize("case", list(BAD_JSON))
def test_bad_json_files_raise_a_clear_error_and_leave_the_model_unchanged(tmp_path, case):
    text, problem = BAD_JSON[case]
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00" if case == "not utf-8" else text.encode("utf-8"))
    with pytest.raises(ModelFileError, match=problem) as info:
        modelfile.load(path)
    assert str(path) in str(info.value)  # names the file
    model = mlp(seed=9)
    before = model.get_weights()
    with pytest.raises(ModelFileError):
        modelfile.load_into(model, path)
    assert model.get_weights() == before


def test_a_hostile_file_never_runs_code(tmp_path, monkeypatch):
    sentinel = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    payload = f"__import__('pathlib').Path({str(sentinel)!r}).touch()"
    for where in ("layer", "activation", "last_activation"):
        path = write_json(tmp_path / f"{where}.json", _spec(**{where: payload}))
        with pytest.raises(ModelFileError):
            modelfile.load(path)
    assert not sentinel.exists()


def test_load_into_refuses_a_different_architecture_and_changes_nothing(tmp_path):
    path = modelfile.save(mlp(nouts=(4, 3, 1)), tmp_path / "m.json")
    model = mlp(nouts=(4, 4, 1))
    before = model.get_weights()
    with pytest.raises(ModelFileError, match=r"architecture does not match the model \(nouts: file \[4, 3, 1\]"):
        modelfile.load_into(model, path)
    assert model.get_weights() == before


class Scale:
    """A third-party layer: y_i = w_i * x_i. Its spec has nin and nouts but no biases."""

    def __init__(self, nin, nouts=None):
        self.nin = nin
        self.w = [microgradx.Value(1.0) for _ in range(nin)]

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
        return {"layer": "Scale", "nin": self.nin, "nouts": [self.nin]}

    @classmethod
    def from_spec(cls, spec):
        return cls(spec["nin"], spec["nouts"])


class ScalePlugin:
    @microgradx.hookimpl
    def microgradx_register_layers(self, register):
        register(Scale, name="Scale")


def test_a_third_party_layer_round_trips_with_its_own_parameter_count(tmp_path, fresh_registry):
    with microgradx.plugin_registered(ScalePlugin(), name="scale-plugin"):
        model = Scale(3)
        model.set_weights([0.5, -2.0, 4.0])
        path = modelfile.save(model, tmp_path / "scale.json")
        loaded = modelfile.load(path)
        assert isinstance(loaded, Scale) and loaded.get_weights() == [0.5, -2.0, 4.0]
        path.write_text(path.read_text().replace("[0.5, -2.0, 4.0]", "[0.5, -2.0]"))
        with pytest.raises(ModelFileError, match="the model has 3 parameters, the file holds 2"):
            modelfile.load(path)
    with pytest.raises(ModelFileError, match="no layer named 'Scale'"):
        modelfile.load(path)


def test_missing_file_and_directory_and_oversized_file(tmp_path, monkeypatch):
    with pytest.raises(ModelFileError, match="no such file"):
        modelfile.load(tmp_path / "absent.json")
    with pytest.raises(ModelFileError, match="not a regular file"):
        modelfile.load(tmp_path)
    path = modelfile.save(mlp(), tmp_path / "m.json")
    monkeypatch.setattr(modelfile.checks, "MAX_FILE_BYTES", 100)
    with pytest.raises(ModelFileError, match="larger than the limit of 100 bytes"):
        modelfile.load(path)


# -- bad .npz files ----------------------------------------------------------------------------


def _npz(path: Path, **members: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _header(**changes) -> bytes:
    doc = _doc(weights=KeyError)
    doc.update(changes)
    return _npy(np.array(json.dumps(doc)))


N = mlp().num_parameters()


def _weights() -> bytes:
    return _npy(np.array(mlp().get_weights()))


def test_npz_round_trip_then_truncation_is_refused(tmp_path):
    path = modelfile.save(mlp(), tmp_path / "m.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"corrupt or truncated \.npz"):
        modelfile.load(path)


BAD_NPZ = {
    "extra member": (lambda: {"header.npy": _header(), "weights.npy": _weights(), "evil.py": b"x"},
                     "expected \\['header.npy', 'weights.npy'\\]"),
    "pickled weights": (lambda: {"header.npy": _header(),
                                 "weights.npy": _npy(np.array([object()] * N, dtype=object), allow_pickle=True)},
                        "refusing to unpickle"),
    "header not a string": (lambda: {"header.npy": _npy(np.zeros(3)), "weights.npy": _weights()},
                            "header.npy must hold one string"),
    "float32 weights": (lambda: {"header.npy": _header(), "weights.npy": _npy(np.zeros(N, np.float32))},
                        "weights.npy must be a 1-D float64 array"),
    "2-D weights": (lambda: {"header.npy": _header(), "weights.npy": _npy(np.zeros((N, 1)))},
                    "weights.npy must be a 1-D float64 array"),
    "NaN weight": (lambda: {"header.npy": _header(), "weights.npy": _npy(np.full(N, np.nan))},
                   r"weights\[0\] is nan"),
    "huge declared shape": (lambda: {"header.npy": _header(),
                                     "weights.npy": _weights().replace(f"({N},)".encode(), b"(9999999999,)", 1)},
                            "declares shape"),
    "unregistered layer": (lambda: {"header.npy": _header(spec={"layer": "os.system"}), "weights.npy": _weights()},
                           "no layer named 'os.system'"),
}


@pytest.mark.parametrize("case", list(BAD_NPZ))
def test_bad_npz_files_raise_a_clear_error_and_leave_the_model_unchanged(tmp_path, case):
    members, problem = BAD_NPZ[case]
    path = _npz(tmp_path / "bad.npz", **members())
    with pytest.raises(ModelFileError, match=problem) as info:
        modelfile.load(path)
    assert str(path) in str(info.value)
    model = mlp()
    before = model.get_weights()
    with pytest.raises(ModelFileError):
        modelfile.load_into(model, path)
    assert model.get_weights() == before
