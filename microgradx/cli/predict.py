"""``microgradx evaluate`` (a model file on a dataset or a CSV file) and ``microgradx predict``."""

from __future__ import annotations

import argparse
import csv
import io
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

# -- predict ---------------------------------------------------------------------------------------


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict every row of a CSV file with a saved model: labels (or values), and probabilities."""
    from microgradx import modelfile

    try:
        _check_output_path("--out", args.out)
        predictor = modelfile.load_predictor(args.model)
        header, rows = predictor.predict_csv(args.data, proba=args.proba)
    except _SETTING_ERRORS as exc:
        return _error("predict", exc)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if args.out is None:
        sys.stdout.write(buffer.getvalue())
        return 0
    from microgradx.modelfile.storage import write_atomically

    text = buffer.getvalue().encode("utf-8")
    try:
        write_atomically(Path(args.out), lambda f: f.write(text), binary=True)
    except OSError as exc:
        return _error("predict", OSError(f"--out {args.out}: cannot write: {exc.strerror or exc}"), status=1)
    print(f"predicted {len(rows)} rows of {args.data} with {args.model}: {args.out}", file=sys.stderr)
    return 0


# -- evaluate --------------------------------------------------------------------------------------


def _evaluate_csv(args: argparse.Namespace) -> dict:
    """Score a model file on every row of a CSV file that has the model's target column."""
    import numpy as np

    from microgradx import modelfile
    from microgradx.cli.scores import regression_scores
    from microgradx.datasets import CSVError, read_features
    from microgradx.registry.core import get_registry
    from microgradx.train import evaluate
    from microgradx.train.evaluation import model_outputs

    predictor = modelfile.load_predictor(args.model)
    schema = predictor.schema
    if not schema.target:
        raise UsageError(f"{args.model}: the model file does not name its target column, so --data cannot be scored")
    if not schema.features:
        raise UsageError(f"{args.model}: the model file names no features to look for in the header")
    X, texts, table = read_features(args.data, schema.features, schema.target)
    if texts is None:
        raise CSVError(args.data, f"no column named {schema.target!r}, the model's target: evaluate needs it to "
                                  f"score the predictions (predict needs only the features)", row=table.header_row)
    table_rows, column = table.row_numbers, table.columns.index(schema.target) + 1
    loss = get_registry().get("losses", args.loss or schema.loss or "mse")()
    result: dict = {"model": args.model, "data": args.data, "n": len(X), "loss_name": args.loss or schema.loss}
    outputs = model_outputs(predictor.model, schema.transform(X))
    if schema.task == "regression":
        try:
            y = np.array([float(t) for t in texts], dtype=np.float64)
        except ValueError:
            bad = next(i for i, t in enumerate(texts) if not _is_number(t))
            raise CSVError(args.data, f"{texts[bad]!r} is not a number", table_rows[bad], column,
                           schema.target) from None
        scaled = (y - np.asarray(schema.target_mean or 0.0)) / np.asarray(schema.target_scale or 1.0)
        result["loss"] = evaluate(predictor.model, loss, None, scaled, "regression", outputs=outputs)["loss"]
        result.update(regression_scores(predictor.predict(X), y))
        return result
    codes = _class_codes(args.data, texts, schema.classes, table_rows, column, schema.target)
    scores = evaluate(predictor.model, loss, None, codes, schema.task, outputs=outputs)
    result.update(accuracy=scores["accuracy"], loss=scores["loss"])
    return result


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _class_codes(path: str, texts: list, classes: Any, rows: list, column: int, name: str) -> Any:
    """Each row's label as the model's class index; a `CSVError` naming the row of an unknown label."""
    import numpy as np

    from microgradx.datasets import CSVError

    labels = list(classes or [])
    numeric = all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in labels)
    codes = np.empty(len(texts), dtype=np.int64)
    index = {c: i for i, c in enumerate(labels)} if not numeric else {float(c): i for i, c in enumerate(labels)}
    for i, text in enumerate(texts):
        key: Any = text
        if numeric:
            try:
                key = float(text)
            except ValueError:
                key = None
        if key not in index:
            raise CSVError(path, f"label {text!r} is not one of the model's classes "
                                 f"({', '.join(map(str, labels))})", rows[i], column, name)
        codes[i] = index[key]
    return codes


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Load a model file and report its accuracy (or R²) on a dataset's splits or on a CSV file."""
    from microgradx import modelfile
    from microgradx.registry.core import get_registry
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
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = _one_line_errors(sub.add_parser(
        "predict", help="predict every row of a CSV file with a saved model",
        description="Read the raw feature columns of a CSV file (checked against the feature names in the model "
                    "file, in any order; the target column may be there and is ignored), apply the training "
                    "data's standardisation, and write one prediction per row: the class label (or the value) "
                    "under the target's name, and with --proba one column P(label) per class. A bad file is a "
                    "one-line error naming the file, row and column (exit status 2), and nothing is written."))
    p.add_argument("model", metavar="MODEL", help="model file saved by `microgradx train --save` (.json or .npz)")
    p.add_argument("data", metavar="DATA.csv", help="the rows to predict: a header row naming the feature columns")
    p.add_argument("--out", default=None, metavar="PREDICTIONS.csv",
                   help="write the predictions here, atomically (default: standard output)")
    p.add_argument("--proba", action="store_true", help="add each class's probability (bce and softmax_ce models)")
    p.set_defaults(func=cmd_predict)
