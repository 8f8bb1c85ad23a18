"""Model files made by an adversary stay cheap to refuse: bounded memory (measured in a fresh process),
schemas checked against the architecture and range-checked, clear one-line errors; and the small ones
(negative .npy shapes, long names and expressions)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from microgradx import modelfile
from microgradx.cli import main
from microgradx.modelfile import ModelFileError
from microgradx.modelfile.jsonread import MAX_HEADER_BYTES

SPEC = {"layer": "MLP", "nin": 3, "nouts": [4, 1], "activation": "relu", "last_activation": None, "fused": True,
        "seed": 0}
HEAD = '{"format": "microgradx-model", "version": 2, "spec": ' + json.dumps(SPEC)
N_WEIGHTS = (3 + 1) * 4 + (4 + 1) * 1

#: Peak memory of reading a file in a fresh interpreter, above its memory once everything is imported.
MEASURE = """
import resource, sys
from microgradx import modelfile
from microgradx.registry.core import get_registry
get_registry()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    modelfile.read(sys.argv[1])
    outcome = "read"
except modelfile.ModelFileError as exc:
    outcome = str(exc)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
print(outcome)
"""


def peak_mb(path: Path) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    mb, outcome = proc.stdout.split("\n", 1)
    return int(mb), outcome.strip()


def repeated(path: Path, prefix: str, unit: str, suffix: str, size: int) -> Path:
    with open(path, "wb") as f:
        f.write(prefix.encode())
        f.write(unit.encode() * ((size - len(prefix) - len(suffix)) // len(unit)))
        f.write(suffix.encode())
    return path


@pytest.mark.slow
@pytest.mark.parametrize("where, unit, refused", [
    ("weights", "0,", "more than 5000000 weights"),
    ("meta", "0,", "more than 1000000 values besides the weights"),
    ("meta", "{},", "more than 200000 arrays and objects besides the weights"),
    ("meta", '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",', "besides the weights is more than"),
])
def test_a_file_at_the_size_limit_is_refused_in_bounded_memory(tmp_path, where, unit, refused):
    """The issue's case: 256 MiB of small numbers took 6.6 GB before it was refused."""
    size = modelfile.MAX_FILE_BYTES - 1024
    if where == "weights":
        path = repeated(tmp_path / "big.json", HEAD + ', "weights": [', unit, "0]}", size)
    else:
        path = repeated(tmp_path / "big.json", HEAD + ', "meta": {"x": [', unit, '0]}, "weights": []}', size)
    assert path.stat().st_size > 255 * 2**20
    mb, outcome = peak_mb(path)
    assert refused in outcome and mb < 200, (mb, outcome)


def test_the_header_budget_is_far_below_what_would_cost_200_mb(tmp_path):
    """Just under every limit at once: the most Python objects a header may make."""
    items = ",".join(["{}"] * 190_000 + ["1.5"] * 800_000)
    path = tmp_path / "dense.json"
    path.write_text(HEAD + ', "meta": {"x": [' + items + ']}, "weights": ' + json.dumps([0.0] * N_WEIGHTS) + "}")
    assert path.stat().st_size < MAX_HEADER_BYTES
    mb, outcome = peak_mb(path)
    assert "meta['x'] is a list of 990000 items" in outcome and mb < 200, (mb, outcome)


def npz(path: Path, header: str, weights: np.ndarray, raw_weights: bytes | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        buf = io.BytesIO()
        np.save(buf, np.array(header))
        zf.writestr("header.npy", buf.getvalue())
        if raw_weights is None:
            buf = io.BytesIO()
            np.save(buf, weights)
            raw_weights = buf.getvalue()
        zf.writestr("weights.npy", raw_weights)
    return path


def test_npz_bombs_are_refused_from_their_declared_sizes(tmp_path):
    bomb = npz(tmp_path / "h.npz", HEAD + ', "meta": {"x": "' + "a" * (40 * 2**20) + '"}}', np.zeros(N_WEIGHTS))
    assert bomb.stat().st_size < 1_000_000  # 160 MB of header once unpacked
    mb, outcome = peak_mb(bomb)
    assert "header.npy declares shape ()" in outcome and "more than the limit" in outcome and mb < 50
    many = npz(tmp_path / "w.npz", HEAD + "}", np.zeros(modelfile.MAX_PARAMETERS + 1))
    with pytest.raises(ModelFileError, match=r"weights.npy declares shape \(5000001,\): 5000001 weights, more than"):
        modelfile.read(many)


def test_a_negative_npy_shape_says_so(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (-1,)})
    path = npz(tmp_path / "neg.npz", HEAD + "}", np.zeros(1), raw_weights=buf.getvalue() + b"\0" * 8)
    with pytest.raises(ModelFileError, match=r"weights.npy declares shape \(-1,\), with a negative dimension"):
        modelfile.read(path)


def good_doc() -> dict:
    return {"format": "microgradx-model", "version": 2, "spec": SPEC, "weights": [0.1] * N_WEIGHTS,
            "schema": {"task": "binary", "loss": "bce", "features": ["a", "b", "c"], "classes": ["no", "yes"]}}


@pytest.mark.parametrize("change, message", [
    ({"classes": ["a", "b", "c", "d", "e"], "task": "multiclass"}, "holds 5 classes but the model has 1 outputs"),
    ({"classes": [10**400, 1]}, r"schema\['classes'\]\[0\] = 1000+\.\.\. is too large"),
    ({"classes": [2**70, 1]}, r"schema\['classes'\]\[0\] = 1180591620717411303424 is too large"),
    ({"features": ["a" * 20_000, "b", "c"]}, r"schema\['features'\]\[0\] is a string of 20000 characters"),
    ({"target": "t" * 20_000}, r"schema\['target'\] is a string of 20000 characters"),
    ({"inputs": [{"column": "a", "kind": "category", "categories": ["x", "x"]}]}, "distinct strings or numbers"),
    ({"inputs": [{"column": "a", "kind": "number", "impute": 1e308 * 10}]}, "not a finite number"),
])
def test_schemas_are_checked_against_the_architecture_and_range_checked(tmp_path, change, message):
    doc = good_doc()
    doc["schema"].update(change)
    if "inputs" in change:
        doc["version"] = 3
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc).replace("Infinity", "1e999"))  # JSON's way to a float that is inf
    with pytest.raises(ModelFileError, match=message):
        modelfile.read(path)


def test_evaluate_and_predict_never_crash_on_a_hand_made_file(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("a,b,c,label\n1,2,3,yes\n4,5,6,no\n", encoding="utf-8")
    for change in ({"classes": ["a", "b", "c"]}, {"classes": [10**400, 1]}, {"features": ["a", "b"]}):
        doc = good_doc()
        doc["schema"].update(change)
        (tmp_path / "m.json").write_text(json.dumps(doc))
        for argv in (["predict", str(tmp_path / "m.json"), str(data), "--proba"],
                     ["evaluate", str(tmp_path / "m.json"), "--data", str(data)]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err and "m.json" in err


def test_new_plugin_with_a_very_long_name_is_one_line(tmp_path, capsys):
    assert main(["new-plugin", "a" * 300, "--directory", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is 300 characters long" in err and "a" * 100 not in err
    assert list(tmp_path.iterdir()) == []


def test_an_expression_refused_for_its_size_quotes_its_start(capsys):
    assert main(["graph", "x*" * 4000 + "x", "x=1"]) == 2
    err = capsys.readouterr().err
    assert "(8001 characters)" in err and len(err) < 300
