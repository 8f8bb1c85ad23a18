"""``microgradx train``: a model from registered components, trained on a dataset or a CSV file."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Optional

from microgradx.cli.common import (
    _SETTING_ERRORS,
    DivergenceReport,
    UsageError,
    _check_output_path,
    _error,
    _one_line_errors,
    _percent,
    parse_component,
)
from microgradx.registry.components import settings_of
from microgradx.registry.core import get_registry


def _hidden_sizes(text: str) -> list[int]:
    if text.strip().lower() in ("", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes such as 16,16, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be at least 1, got {text!r}")
    return sizes


def _train_sample(text: str) -> Optional[int]:
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of examples, 'all' or 0, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number of examples >= 0, got {text!r}")
    return n


def _batch_size(text: str) -> Optional[int]:
    if text.strip().lower() == "full":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of examples or 'full', got {text!r}") from None


def _check_settings(registry: Any, option: str, kind: str, name: str, settings: dict) -> None:
    """Refuse a NAME:KEY=VALUE setting that the component does not have, listing the ones it has."""
    from microgradx.registry.components import check_settings

    try:
        check_settings(registry, kind, name, settings, where=option)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _looks_like_a_file(name: str) -> bool:
    """``bc.csv``, ``./bc.csv``, ``data/bc.tsv``: a path rather than a registered dataset name."""
    return ":" not in name and (name.lower().endswith((".csv", ".tsv")) or "/" in name or os.sep in name)


def _dataset_choice(args: argparse.Namespace) -> tuple[str, dict]:
    """The dataset (a registered name, or ``"csv"`` for a file) and its settings, from the options."""
    data = args.data
    name = args.dataset
    if name is not None and _looks_like_a_file(name):
        data, name = (name, None) if data is None else (data, name)
    if data is not None and name is not None:
        raise UsageError(f"give either --data FILE.csv or --dataset NAME, not both (got --data {data} and "
                         f"--dataset {name})")
    options: dict = {}
    if data is not None:
        name = "csv"
        options.update(path=data, target=args.target, task=args.task)
        if args.categorical:
            options["categorical"] = list(args.categorical)
        if args.ignore:
            options["ignore"] = list(args.ignore)
        if args.labels is not None:
            options["labels"] = args.labels
        if args.impute is not None:
            options["impute"] = args.impute
        if not args.quiet:
            options["progress"] = None  # a bar on a terminal while a large file is read
        else:
            options["progress"] = False
        for option, value in (("--samples", args.samples), ("--noise", args.noise)):
            if value is not None:
                raise UsageError(f"{option} applies only to the synthetic datasets (moons, circles), not to --data")
    else:
        for option, value in (("--target", args.target), ("--task", args.task), ("--categorical", args.categorical),
                              ("--labels", args.labels), ("--impute", args.impute), ("--ignore", args.ignore)):
            if value:
                raise UsageError(f"{option} applies to --data FILE.csv only")
        name = name or "breast_cancer"
        for key, value in (("n_samples", args.samples), ("noise", args.noise)):
            if value is not None:
                options[key] = value
    if args.test_size is not None:
        options["test_size"] = args.test_size
    return name, options


def _build_trainer(args: argparse.Namespace) -> Any:
    """A `Trainer` from the ``train`` options (every failure is a setting error)."""
    from microgradx.train import Trainer

    registry = get_registry()
    _check_output_path("--save", args.save)
    _check_output_path("--plot", args.plot)
    if args.plot:
        from microgradx.plotting import require_matplotlib

        require_matplotlib()

    model, model_options = parse_component(args.model, "--model")
    _check_settings(registry, "--model", "layers", model, model_options)
    loss, loss_options = (None, {}) if args.loss is None else parse_component(args.loss, "--loss")
    if loss is not None:
        _check_settings(registry, "--loss", "losses", loss, loss_options)
    if args.l2 is not None:
        loss_options["l2"] = args.l2
    optimizer, optimizer_options = parse_component(args.optimizer, "--optimizer")
    _check_settings(registry, "--optimizer", "optimizers", optimizer, optimizer_options)
    accepted = settings_of(registry.get("optimizers", optimizer))
    for option, key in (("--momentum", "momentum"), ("--weight-decay", "weight_decay")):
        value = getattr(args, key)
        if value is None:
            continue
        if accepted is not None and key not in accepted:
            raise UsageError(f"{option}: optimizer {optimizer!r} has no {key} setting "
                             f"(its settings: {', '.join(sorted(accepted - {'params'}))})")
        optimizer_options[key] = value
    schedule, schedule_options = parse_component(args.schedule, "--schedule")
    _check_settings(registry, "--schedule", "schedules", schedule, schedule_options)

    dataset, dataset_options = _dataset_choice(args)

    callbacks = []
    names = []
    for item in (args.callbacks or "").split(","):
        if not item.strip():
            continue
        name, settings = parse_component(item, "--callbacks")
        _check_settings(registry, "--callbacks", "callbacks", name, settings)
        callbacks.append(registry.get("callbacks", name)(**settings))
        names.append(name)
    if not args.quiet and "progress" not in names:
        callbacks.insert(0, registry.get("callbacks", "progress")())

    return Trainer(
        model=model, loss=loss, optimizer=optimizer, lr=args.lr, schedule=schedule, dataset=dataset,
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, mode=args.mode, callbacks=callbacks,
        hidden=args.hidden, activation=args.activation, loss_options=loss_options or None,
        optimizer_options=optimizer_options or None, schedule_options=schedule_options or None,
        dataset_options=dataset_options or None, model_options=model_options or None, compile=not args.eager,
        train_sample=args.train_sample,
    )


def _describe_optimizer(trainer: Any) -> str:
    from microgradx.train import component_name

    opt = trainer.optimizer
    parts = [f"lr {trainer.base_lr:g}"]
    for key in ("momentum", "weight_decay", "beta1", "beta2"):
        value = getattr(opt, key, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (value or key == "momentum"):
            parts.append(f"{key.replace('_', ' ')} {value:g}")
    return f"{component_name('optimizers', opt)} ({', '.join(parts)})"


def _final_metrics(trainer: Any, history: Any) -> dict:
    """The trained model's metrics as it ends (a callback may have put back an earlier epoch's weights).

    For regression, also R² and RMSE in the target's own units (``train_r2``, ``test_r2``, ``test_rmse``).
    """
    from microgradx.cli.scores import regression_scores

    ds, last = trainer.dataset, dict(history.last)
    splits = [("train", *trainer.train_rows())] if trainer.train_sample != 0 else []
    if ds.X_test is not None and len(ds.X_test):
        splits.append(("test", ds.X_test, ds.y_test))
    for split, X, y in splits:
        if not len(y):
            continue
        result = trainer.evaluate(X, y)
        last["loss" if split == "train" else "test_loss"] = result["loss"]
        last[f"{split}_accuracy"] = result.get("accuracy")
        if ds.task == "regression":
            scores = regression_scores(ds.inverse_target(trainer.predict(X)), ds.inverse_target(y))
            last[f"{split}_r2"], last[f"{split}_rmse"] = scores["r2"], scores["rmse"]
    return last


def cmd_train(args: argparse.Namespace) -> int:
    """Train an MLP on a registered dataset or a CSV file; print progress and a final report."""
    import logging

    from microgradx import modelfile
    from microgradx.train import component_name

    try:
        trainer = _build_trainer(args)
    except _SETTING_ERRORS as exc:
        return _error("train", exc)
    if any(getattr(cb, "path", "") is None and type(cb).__name__ == "Log" for cb in trainer.callbacks):
        logging.basicConfig(level=logging.INFO, format="%(message)s")  # `log` without a path: to stderr
    divergence = DivergenceReport("train")
    try:
        with divergence:
            history = trainer.fit()
    except (ArithmeticError, ValueError, TypeError, LookupError, OSError) as exc:
        return _error("train", exc, status=1)

    ds, last = trainer.dataset, _final_metrics(trainer, history)
    saved = plotted = None
    try:
        if args.save:
            saved = str(modelfile.save(trainer.model, args.save, meta=trainer.model_meta(args.save),
                                       schema=trainer.model_schema()))
        if args.plot:
            from microgradx.plotting import plot_history

            title = f"{trainer.model.spec().get('layer', 'model')} on {ds.name}"
            plotted = str(plot_history(history, args.plot, title=title))
    except (ValueError, OSError, ImportError) as exc:
        return _error("train", exc, status=1)

    result = {
        "dataset": ds.name, "task": ds.task, "n_train": len(ds.y_train), "n_test": len(ds.y_test),
        "model": repr(trainer.model), "parameters": len(trainer.params),
        "loss_name": component_name("losses", trainer.loss), "optimizer": _describe_optimizer(trainer),
        "epochs": len(history), "stopped_early": history.stopped_early,
        "train_accuracy": last.get("train_accuracy"), "test_accuracy": last.get("test_accuracy"),
        "loss": last.get("loss"), "test_loss": last.get("test_loss"),
        "seconds": history.total_seconds, "saved": saved, "plot": plotted,
        "diverged": divergence.warned, "warnings": divergence.messages,
    }
    if ds.task == "regression":
        result.update({k: last.get(k) for k in ("train_r2", "test_r2", "train_rmse", "test_rmse")})
    status = DivergenceReport.STATUS if divergence.warned else 0
    if args.json:
        print(json.dumps(dict(result, history=history.as_dict()), indent=2))
        return status
    _print_report(trainer, history, result, last)
    if divergence.warned:
        divergence.final_note()
    return status


def _print_report(trainer: Any, history: Any, result: dict, last: dict) -> None:
    """The human-readable summary of a training run, on standard output."""
    from microgradx.train import component_name

    ds = trainer.dataset
    classes = f", {ds.n_classes} classes" if getattr(ds, "n_classes", None) else ""
    target = f", target {ds.target_name!r} ({ds.task})" if getattr(ds, "source", None) else ""
    batch = "full batch" if trainer.batch_size is None else f"batch size {trainer.batch_size}"
    schedule = component_name("schedules", trainer.schedule) if trainer.schedule is not None else "none"
    stopped = " (stopped early)" if history.stopped_early else ""
    print(f"dataset    {ds.name}: {result['n_train']} train / {result['n_test']} test examples, "
          f"{ds.X_train.shape[1]} features{classes}{target} (seed {trainer.seed})")
    print(f"model      {trainer.model!r}")
    print(f"training   loss {result['loss_name']}, optimizer {result['optimizer']}, schedule {schedule}, "
          f"{len(history)} epochs{stopped}, {batch}, {trainer.mode} mode")
    test_loss = f", test loss {last['test_loss']:.4f}" if "test_loss" in last else ""
    k = trainer.train_sample
    on = f" (on {k} of {result['n_train']})" if k is not None and 0 < k < result["n_train"] else ""
    if ds.task == "regression":
        unit = f" {ds.target_name}" if ds.target_name else ""
        train = f"train R² {last['train_r2']:.3f}{on}, " if "train_r2" in last else ""
        print(f"result     {train}test R² {last.get('test_r2', float('nan')):.3f}, "
              f"test RMSE {last.get('test_rmse', float('nan')):.4g}{unit} (loss {last['loss']:.4f}{test_loss})")
    else:
        print(f"result     train accuracy {_percent(last.get('train_accuracy'))}{on}, "
              f"test accuracy {_percent(last.get('test_accuracy'))} (loss {last['loss']:.4f}{test_loss})")
    per_epoch = 1000 * history.total_seconds / max(1, len(history))
    print(f"time       {history.total_seconds:.2f} s ({per_epoch:.0f} ms per epoch)")
    if result["saved"]:
        print(f"saved      {result['saved']}")
    if result["plot"]:
        print(f"plot       {result['plot']}")


def add_train_commands(sub: Any) -> None:
    """Add the ``train``, ``evaluate`` and ``predict`` subcommands to the subparsers ``sub``."""
    from microgradx.cli.predict import add_predict_commands

    p = _one_line_errors(sub.add_parser(
        "train", help="train an MLP on a dataset (default: breast cancer) and report accuracy",
        description="Train an MLP assembled from registered components, on a registered dataset or your "
                    "own CSV file (--data). With no options: "
                    "MLP(30, [16, 16, 1]) on breast_cancer (stratified 80/20 split), bce loss, SGD with "
                    "momentum 0.9, lr 0.05, cosine schedule, 40 epochs, batch size 32. Components given as "
                    "NAME or NAME:KEY=VALUE:KEY=VALUE (e.g. --optimizer adam:beta1=0.8)."))
    p.add_argument("--dataset", default=None,
                   help="registered dataset, NAME:KEY=VALUE, or a CSV file (default: breast_cancer)")
    p.add_argument("--data", default=None, metavar="FILE.csv",
                   help="train on a CSV file: a header row, numeric features, the target last unless --target")
    p.add_argument("--target", default=None, metavar="COLUMN", help="the target column of --data (default: the last)")
    p.add_argument("--task", default=None, choices=("classification", "regression"),
                   help="the task of --data (default: inferred: text labels or few distinct integers classify)")
    p.add_argument("--categorical", action="append", default=[], metavar="COLUMN",
                   help="read this feature column of --data as categories (one-hot encoded) even if it holds "
                        "numbers; text columns are categories anyway (repeatable)")
    p.add_argument("--ignore", action="append", default=[], metavar="COLUMN",
                   help="leave this column of --data out (an ID, a note); repeatable")
    p.add_argument("--labels", default=None, choices=("text", "numeric"),
                   help="class labels of --data: text (default: each label's exact text is a class, 001 stays 001) "
                        "or numeric (labels read as numbers: 1 and 1.0 are one class)")
    p.add_argument("--impute", default=None, choices=("mean", "median", "most_frequent"),
                   help="fill missing values of --data with the training split's mean, median or most frequent "
                        "value (categories: the most frequent); stored in the model file for predict. Default: a "
                        "missing value is an error naming its row and column")
    p.add_argument("--train-sample", dest="train_sample", type=_train_sample, default=10_000, metavar="N",
                   help="measure each epoch's training accuracy on a seeded sample of N training examples, "
                        "'all', or 0 for none (default: 10000)")
    p.add_argument("--model", default="MLP",
                   help="registered layer, built as MODEL(n_features, [*hidden, n_outputs]) (default: MLP)")
    p.add_argument("--hidden", type=_hidden_sizes, default=[16, 16], metavar="SIZES",
                   help="hidden layer sizes, comma-separated (default: 16,16)")
    p.add_argument("--activation", default="relu", help="hidden activation: any registered unary op (default: relu)")
    p.add_argument("--loss", default=None, help="loss (default: from the dataset's task: bce, softmax_ce or mse)")
    p.add_argument("--l2", type=float, default=None, help="L2 penalty weight added to the loss (default: 0)")
    p.add_argument("--optimizer", default="sgd", help="optimizer (default: %(default)s)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.05 for sgd, 0.01 for adam)")
    p.add_argument("--momentum", type=float, default=None, help="SGD momentum (default: 0.9)")
    p.add_argument("--weight-decay", dest="weight_decay", type=float, default=None, help="optimizer weight decay")
    p.add_argument("--schedule", default="cosine", help="learning-rate schedule (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=40, help="epochs (default: %(default)s)")
    p.add_argument("--batch-size", dest="batch_size", type=_batch_size, default=32, metavar="N",
                   help="examples per step, or 'full' (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, split and shuffling (default: 0)")
    p.add_argument("--mode", choices=("lanes", "scalar"), default="lanes",
                   help="lanes: one graph per batch; scalar: one graph per example, as micrograd (default: lanes)")
    p.add_argument("--eager", action="store_true",
                   help="build and back-propagate every step's graph node by node instead of replaying a compiled "
                        "recording (slower; the same numbers)")
    p.add_argument("--test-size", dest="test_size", type=float, default=None, help="test fraction (default: 0.2)")
    p.add_argument("--samples", type=int, default=None, help="number of examples (moons, circles)")
    p.add_argument("--noise", type=float, default=None, help="noise level (moons, circles)")
    p.add_argument("--callbacks", default=None, metavar="LIST",
                   help="comma-separated callbacks, e.g. early_stopping:patience=5,checkpoint:path=best.json,"
                        "log:path=log.csv (progress is on unless --quiet)")
    p.add_argument("--save", default=None, metavar="PATH", help="write the trained model (.json or .npz)")
    p.add_argument("--plot", default=None, metavar="PATH", help="draw loss and accuracy curves to a PNG (matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.epilog = ("exit status: 0 trained; 1 training failed (e.g. the loss became NaN); 2 a bad option or data file "
                "(nothing written); 3 trained, but the loss diverged (a warning names the learning rate)")
    p.add_argument("--json", action="store_true", help="print the result (and history) as JSON")
    p.set_defaults(func=cmd_train)
    add_predict_commands(sub)
