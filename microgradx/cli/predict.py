"""``microgradx evaluate`` (a model file on a dataset or a CSV file) and ``microgradx predict``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from microgradx.cli.common import (
    _DATASET_SETTINGS,
    _SETTING_ERRORS,
    UsageError,
    _check_output_path,
    _error,
    _one_line_errors,
    _percent,
)
from microgradx.engine.value import Value
from microgradx.registry.core import get_registry

# -- predict ---------------------------------------------------------------------------------------


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict every row of a CSV file with a saved model: labels (or values), and probabilities.

    The file is read and predicted in chunks, so memory stays bounded; the predictions go to a
    temporary file first (beside ``--out``, or spooled for standard output), so a bad row anywhere
    leaves nothing written.
    """
    import tempfile

    from microgradx import modelfile
    from microgradx.atomicfile import write_atomically
    from microgradx.modelfile.csvpredict import predict_chunks, write_csv

    try:
        _check_output_path("--out", args.out)
        predictor = modelfile.load_predictor(args.model)
        tables = predict_chunks(predictor, args.data, proba=args.proba, ids=args.ids or (), ignore=args.ignore,
                                handle_unknown=args.handle_unknown, neutralise=not args.raw_text,
                                progress=None if sys.stderr.isatty() else False)
        rows = 0
        if args.out is None:
            with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
                rows = write_csv(tables, spool)
                spool.seek(0)
                sys.stdout.flush()
                while block := spool.read(1 << 20):
                    sys.stdout.buffer.write(block)
                sys.stdout.flush()
            return 0
        counted: list = []
        try:
            write_atomically(Path(args.out), lambda f: counted.append(write_csv(tables, f)), binary=True)
        except OSError as exc:
            return _error("predict", OSError(f"--out {args.out}: cannot write: {exc.strerror or exc}"), status=1)
        rows = counted[0]
    except _SETTING_ERRORS as exc:
        return _error("predict", exc)
    print(f"predicted {rows} rows of {args.data} with {args.model}: {args.out}", file=sys.stderr)
    return 0


# -- evaluate --------------------------------------------------------------------------------------


def _evaluate_csv(args: argparse.Namespace) -> dict:
    """Score a model file on every row of a CSV file that has the model's target column (read in chunks)."""
    import numpy as np

    from microgradx import modelfile
    from microgradx.cli.scores import regression_scores
    from microgradx.datasets.csvcheck import Problems
    from microgradx.modelfile.csvpredict import score_chunks
    from microgradx.train import evaluate

    predictor = modelfile.load_predictor(args.model)
    schema = predictor.schema
    if not schema.target:
        raise UsageError(f"{args.model}: the model file does not name its target column, so --data cannot be scored")
    Z, texts, columns = score_chunks(predictor, args.data, handle_unknown=args.handle_unknown, ignore=args.ignore,
                                     progress=None if sys.stderr.isatty() else False)
    problems = Problems(columns.path, columns.columns, columns.header_row, columns.delimiter)
    loss = get_registry().get("losses", args.loss or schema.loss or "mse")()
    result: dict = {"model": args.model, "data": args.data, "n": len(Z), "loss_name": args.loss or schema.loss}
    outputs = [Value(np.ascontiguousarray(Z[:, j])) for j in range(Z.shape[1])]
    if schema.task == "regression":
        y = _target_numbers(texts, schema.target, problems)
        scaled = (y - np.asarray(schema.target_mean or 0.0)) / np.asarray(schema.target_scale or 1.0)
        result["loss"] = evaluate(predictor.model, loss, None, scaled, "regression", outputs=outputs)["loss"]
        result.update(regression_scores(predictor.decode(Z), y))
        return result
    codes = class_codes(texts, schema.classes, schema.target, problems)
    scores = evaluate(predictor.model, loss, None, codes, schema.task, outputs=outputs)
    result.update(accuracy=scores["accuracy"], loss=scores["loss"])
    return result


def _target_numbers(texts: Any, name: str, problems: Any) -> Any:
    """The target column's numbers; a `CSVError` listing the cells that are not finite numbers."""
    import numpy as np

    from microgradx.datasets.csvfile import missing_mask, number_mask, text_to_numbers

    missing, numeric = missing_mask(texts), number_mask(texts)
    problems.add_mask(0, missing, name, "missing value {value!r}")
    problems.add_mask(0, ~(missing | numeric), name, "{value!r} is not a number")
    problems.raise_if_any()
    y = text_to_numbers(texts, missing)
    problems.add_mask(0, ~np.isfinite(y), name, "{value!r} is not a finite number")
    problems.raise_if_any()
    return y


def class_codes(texts: Any, classes: Any, name: str, problems: Any) -> Any:
    """Each row's label as the model's class index; a `CSVError` naming the rows of unknown labels.

    A label matches a text class exactly; a numeric class (saved from scikit-learn, or trained
    with ``--labels numeric``) matches a cell holding the same number.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from microgradx.datasets.csvfile import names, number_mask, text_to_numbers, to_numpy
    from microgradx.datasets.encoding import number_codes

    labels = list(classes or [])
    if labels and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in labels):
        numeric = number_mask(texts)
        values = text_to_numbers(texts, ~numeric)
        codes = np.where(numeric, number_codes(values, labels), -1)
        if any(isinstance(c, int) and abs(c) > 2**53 for c in labels):  # beyond float64: compare the integers
            exact = {c: i for i, c in enumerate(labels)}
            cells = texts.to_pylist()
            codes = np.array([exact.get(int(t), -1) if t.strip().lstrip("+-").isdigit() and t.strip().isascii()
                              else -1 for t in cells], dtype=np.int64)
    else:
        found = pc.index_in(texts, value_set=pa.array([str(c) for c in labels], type=pa.string()))
        codes = np.nan_to_num(to_numpy(found, np.float64), nan=-1)
    codes = np.asarray(codes, dtype=np.int64)
    problems.add_mask(0, codes < 0, name, "label {value!r} is not one of the model's classes (" +
                      names(labels, 10).replace("{", "{{").replace("}", "}}") + ")")
    problems.raise_if_any()
    return codes


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Load a model file and report its accuracy (or R²) on a dataset's splits or on a CSV file."""
    from microgradx import modelfile
    from microgradx.train import DEFAULT_LOSS, evaluate

    if args.data is not None:
        try:
            if args.dataset is not None:
                raise UsageError("give either --data FILE.csv or --dataset NAME, not both")
            result = _evaluate_csv(args)
        except _SETTING_ERRORS as exc:
            return _error("evaluate", exc)
        if args.json:
            print(json.dumps(result, indent=2))
            return 0
        print(f"model      {args.model}")
        print(f"data       {args.data}: {result['n']} examples")
        if "accuracy" in result:
            print(f"result     accuracy {_percent(result['accuracy'])} (loss {result['loss_name']} "
                  f"{result['loss']:.4f})")
        else:
            print(f"result     R² {result['r2']:.3f}, RMSE {result['rmse']:.4g}, MAE {result['mae']:.4g} "
                  f"(loss {result['loss_name']} {result['loss']:.4f} on the standardised target)")
        return 0
    try:
        mf = modelfile.read(args.model)
        model = mf.build()
        meta = mf.meta
        name = args.dataset or meta.get("dataset")
        if not isinstance(name, str):
            raise UsageError(f"{args.model}: the model file does not say which dataset it was trained on; "
                             f"pass --dataset NAME or --data FILE.csv")
        options = {}
        stored = meta.get("dataset_options")
        if name == meta.get("dataset") and isinstance(stored, dict):
            options = {k: v for k, v in stored.items() if k in _DATASET_SETTINGS}
        for key, value in (("seed", args.seed), ("test_size", args.test_size), ("n_samples", args.samples),
                           ("noise", args.noise)):
            if value is not None:
                options[key] = value
        if name == "csv":
            options["path"] = _training_csv(args.model, meta, options)
            options["progress"] = None if sys.stderr.isatty() else False
        registry = get_registry()
        ds = registry.get("datasets", name)(**options)
        nin = model.spec().get("nin")
        if nin is not None and nin != ds.X_train.shape[1]:
            raise UsageError(f"{args.model}: the model takes {nin} inputs but dataset {ds.name!r} has "
                             f"{ds.X_train.shape[1]} features")
        loss_name = args.loss or (mf.schema.loss if mf.schema else None) or meta.get("loss") or DEFAULT_LOSS[ds.task]
        if not isinstance(loss_name, str):
            raise UsageError(f"{args.model}: meta 'loss' must be a loss name, got {loss_name!r}")
        loss = registry.get("losses", loss_name)()
        train = evaluate(model, loss, ds.X_train, ds.y_train, ds.task)
        test = evaluate(model, loss, ds.X_test, ds.y_test, ds.task)
    except _SETTING_ERRORS as exc:
        return _error("evaluate", exc)
    seed = options.get("seed", 0)
    result = {"model": args.model, "dataset": ds.name, "seed": seed, "loss_name": loss_name,
              "n_train": len(ds.y_train), "n_test": len(ds.y_test),
              "train_accuracy": train.get("accuracy"), "test_accuracy": test.get("accuracy"),
              "loss": train["loss"], "test_loss": test["loss"]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model      {args.model}: {model!r}")
    print(f"dataset    {ds.name}: {result['n_train']} train / {result['n_test']} test examples (seed {seed})")
    print(f"result     train accuracy {_percent(result['train_accuracy'])}, test accuracy "
          f"{_percent(result['test_accuracy'])} (loss {loss_name} {train['loss']:.4f}, test {test['loss']:.4f})")
    trained = meta.get("dataset_options", {}) if isinstance(meta.get("dataset_options"), dict) else {}
    if name == meta.get("dataset") and any(trained.get(k) != options.get(k) for k in ("seed", "test_size")):
        print("note       this split differs from the training run's, so the 'test' examples overlap the "
              "examples the model was trained on")
    return 0


def _training_csv(model: str, meta: dict, options: dict) -> str:
    """The CSV file a model was trained on, checked against the fingerprint its model file records.

    A relative path is resolved against the model file's folder. A `UsageError` naming the file
    when it is missing or changed (size or SHA-256), or when the model file records no fingerprint.
    """
    import os

    from microgradx.datasets.csvfile import fingerprint_of

    path = options.get("path")
    if not isinstance(path, str) or not path:
        raise UsageError(f"{model}: the model file does not say which CSV file it was trained on; pass --data FILE.csv")
    if not os.path.isabs(path):
        path = os.path.join(os.path.dirname(os.path.abspath(model)), path)
    recorded = meta.get("data_fingerprint")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("sha256"), str) or \
            recorded.get("size").__class__ is not int:
        raise UsageError(f"{model}: the model file records no fingerprint of its training data {path}, so its "
                         f"split cannot be rebuilt with confidence; pass --data FILE.csv to score a file")
    if not os.path.isfile(path):
        raise UsageError(f"{model}: its training data {path} is missing (a relative path is read from the model "
                         f"file's folder); pass --data FILE.csv to score another file")
    size = os.path.getsize(path)
    if size != recorded["size"]:
        change = f"{size} bytes, {recorded['size']} when trained"
    elif fingerprint_of(path)["sha256"] != recorded["sha256"]:
        change = "same size, another SHA-256"
    else:
        return path
    raise UsageError(f"{model}: its training data {path} has changed since the model was trained ({change}), so "
                     f"the training and test rows cannot be told apart; pass --data FILE.csv to score a file")
    return path


def add_predict_commands(sub: Any) -> None:
    """Add the ``evaluate`` and ``predict`` subcommands to the subparsers ``sub``."""
    p = _one_line_errors(sub.add_parser(
        "evaluate", help="load a model file and report its accuracy on a dataset or a CSV file",
        description="Load a model saved by `microgradx train --save` and report train and test accuracy. "
                    "The dataset, split and loss default to those recorded in the file. With --data FILE.csv, "
                    "score every row of the file (it needs the feature columns and the target column)."))
    p.add_argument("model", metavar="MODEL", help="model file (.json or .npz)")
    p.add_argument("--dataset", default=None, help="registered dataset (default: the one in the model file)")
    p.add_argument("--data", default=None, metavar="FILE.csv", help="score the model on every row of a CSV file")
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the training run's)")
    p.add_argument("--test-size", dest="test_size", type=float, default=None, help="test fraction")
    p.add_argument("--samples", type=int, default=None, help="number of examples (moons, circles)")
    p.add_argument("--noise", type=float, default=None, help="noise level (moons, circles)")
    p.add_argument("--loss", default=None, help="loss whose predictions to score (default: the training loss)")
    p.add_argument("--handle-unknown", dest="handle_unknown", default=None, choices=("error", "ignore"),
                   help="a category of --data the model was not trained on: an error naming it (the default), or "
                        "ignore (it sets none of the column's inputs, as scikit-learn's OneHotEncoder)")
    p.add_argument("--ignore", action="append", default=[], metavar="COLUMN",
                   help="a column of --data the model does not use (an ID, a note): leave it out; repeatable")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = _one_line_errors(sub.add_parser(
        "predict", help="predict every row of a CSV file with a saved model",
        description="Read the raw feature columns of a CSV file (checked against the feature names in the model "
                    "file, in any order; the target column may be there and is ignored), apply the training "
                    "data's preprocessing (imputation, one-hot categories, standardisation), and write one "
                    "prediction per row: the --id columns, the class label (or the value) under the target's "
                    "name, and with --proba one column P(label) per class. The file is read in chunks, so its size "
                    "is not bounded by memory. A bad file is a one-line error naming the file, row, column and "
                    "value (up to 10 cells; exit status 2), and nothing is written."))
    p.add_argument("model", metavar="MODEL", help="model file saved by `microgradx train --save` (.json or .npz)")
    p.add_argument("data", metavar="DATA.csv", help="the rows to predict: a header row naming the feature columns")
    p.add_argument("--out", default=None, metavar="PREDICTIONS.csv",
                   help="write the predictions here, atomically (default: standard output)")
    p.add_argument("--proba", action="store_true", help="add each class's probability (bce and softmax_ce models)")
    p.add_argument("--id", dest="ids", action="append", default=[], metavar="COLUMN",
                   help="copy this column of DATA.csv to the predictions, first, so rows can be matched (repeatable)")
    p.add_argument("--ignore", action="append", default=[], metavar="COLUMN",
                   help="a column the model does not use (a note): leave it out; repeatable")
    p.add_argument("--handle-unknown", dest="handle_unknown", default=None, choices=("error", "ignore"),
                   help="a category the model was not trained on: an error naming its row, column and value (the "
                        "default), or ignore (it sets none of the column's inputs, as scikit-learn's OneHotEncoder)")
    p.add_argument("--raw-text", dest="raw_text", action="store_true",
                   help="write text cells exactly as they are; by default a label, ID or column name starting "
                        "with = + - @ tab or carriage return (and not a plain number) gets a leading ' so a "
                        "spreadsheet shows it instead of running it (OWASP's CSV-injection advice)")
    p.set_defaults(func=cmd_predict)
