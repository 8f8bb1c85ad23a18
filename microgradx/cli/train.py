"""``microgradx train`` and ``microgradx evaluate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Optional

from microgradx.cli.common import (
    _DATASET_SETTINGS,
    _SETTING_ERRORS,
    UsageError,
    _error,
    _one_line_errors,
    parse_component,
)


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


def _batch_size(text: str) -> Optional[int]:
    if text.strip().lower() == "full":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of examples or 'full', got {text!r}") from None


def _settings_of(cls: Any) -> Optional[set]:
    """The keyword settings a component class accepts (None when unknown)."""
    import inspect

    import attrs

    if attrs.has(cls):
        return {a.alias or a.name for a in attrs.fields(cls) if a.init}
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _check_settings(registry: Any, option: str, kind: str, name: str, settings: dict) -> None:
    """Refuse a NAME:KEY=VALUE setting that the component does not have, listing the ones it has."""
    from microgradx.registry.core import SINGULAR

    accepted = _settings_of(registry.get(kind, name))
    if accepted is None:
        return
    accepted -= {"params"}
    unknown = sorted(set(settings) - accepted)
    if unknown:
        have = ", ".join(sorted(accepted)) or "none"
        raise UsageError(f"{option}: {SINGULAR[kind]} {name!r} has no setting {', '.join(map(repr, unknown))} "
                         f"(its settings: {have})")


def _check_output_path(option: str, path: Optional[str]) -> None:
    if path is not None and not Path(path).resolve().parent.is_dir():
        raise UsageError(f"{option} {path}: directory {str(Path(path).resolve().parent)!r} does not exist")


def _build_trainer(args: argparse.Namespace) -> Any:
    """A `Trainer` from the ``train`` options (every failure is a setting error)."""
    from microgradx.registry.core import get_registry
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
    accepted = _settings_of(registry.get("optimizers", optimizer))
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

    dataset_options = {}
    for key, value in (("test_size", args.test_size), ("n_samples", args.samples), ("noise", args.noise)):
        if value is not None:
            dataset_options[key] = value

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
        model=model, loss=loss, optimizer=optimizer, lr=args.lr, schedule=schedule, dataset=args.dataset,
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, mode=args.mode, callbacks=callbacks,
        hidden=args.hidden, activation=args.activation, loss_options=loss_options or None,
        optimizer_options=optimizer_options or None, schedule_options=schedule_options or None,
        dataset_options=dataset_options or None, model_options=model_options or None,
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


def _percent(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _final_metrics(trainer: Any, history: Any) -> dict:
    """The trained model's metrics as it ends (a callback may have put back an earlier epoch's weights)."""
    ds, last = trainer.dataset, dict(history.last)
    train = trainer.evaluate(ds.X_train, ds.y_train)
    last["loss"], last["train_accuracy"] = train["loss"], train.get("accuracy")
    if ds.X_test is not None and len(ds.X_test):
        test = trainer.evaluate(ds.X_test, ds.y_test)
        last["test_loss"], last["test_accuracy"] = test["loss"], test.get("accuracy")
    return last


def cmd_train(args: argparse.Namespace) -> int:
    """Train an MLP on a registered dataset; print progress and a final report."""
    import logging

    from microgradx import modelfile
    from microgradx.train import component_name

    try:
        trainer = _build_trainer(args)
    except _SETTING_ERRORS as exc:
        return _error("train", exc)
    if any(getattr(cb, "path", "") is None and type(cb).__name__ == "Log" for cb in trainer.callbacks):
        logging.basicConfig(level=logging.INFO, format="%(message)s")  # `log` without a path: to stderr
    try:
        history = trainer.fit()
    except (ArithmeticError, ValueError, TypeError, LookupError, OSError) as exc:
        return _error("train", exc, status=1)

    ds, last = trainer.dataset, _final_metrics(trainer, history)
    saved = plotted = None
    try:
        if args.save:
            saved = str(modelfile.save(trainer.model, args.save, meta=trainer.model_meta()))
        if args.plot:
            from microgradx.plotting import plot_history

            title = f"{trainer.model.spec().get('layer', 'model')} on {ds.name}"
            plotted = str(plot_history(history, args.plot, title=title))
    except (ValueError, OSError, ImportError) as exc:
        return _error("train", exc, status=1)

    result = {
        "dataset": ds.name, "n_train": len(ds.y_train), "n_test": len(ds.y_test),
        "model": repr(trainer.model), "parameters": len(trainer.params),
        "loss_name": component_name("losses", trainer.loss), "optimizer": _describe_optimizer(trainer),
        "epochs": len(history), "stopped_early": history.stopped_early,
        "train_accuracy": last.get("train_accuracy"), "test_accuracy": last.get("test_accuracy"),
        "loss": last.get("loss"), "test_loss": last.get("test_loss"),
        "seconds": history.total_seconds, "saved": saved, "plot": plotted,
    }
    if args.json:
        print(json.dumps(dict(result, history=history.as_dict()), indent=2))
        return 0
    classes = f", {ds.n_classes} classes" if getattr(ds, "n_classes", None) else ""
    batch = "full batch" if trainer.batch_size is None else f"batch size {trainer.batch_size}"
    schedule = component_name("schedules", trainer.schedule) if trainer.schedule is not None else "none"
    stopped = " (stopped early)" if history.stopped_early else ""
    print(f"dataset    {ds.name}: {result['n_train']} train / {result['n_test']} test examples, "
          f"{ds.X_train.shape[1]} features{classes} (seed {trainer.seed})")
    print(f"model      {trainer.model!r}")
    print(f"training   loss {result['loss_name']}, optimizer {result['optimizer']}, schedule {schedule}, "
          f"{len(history)} epochs{stopped}, {batch}, {trainer.mode} mode")
    test_loss = f", test loss {last['test_loss']:.4f}" if "test_loss" in last else ""
    print(f"result     train accuracy {_percent(last.get('train_accuracy'))}, "
          f"test accuracy {_percent(last.get('test_accuracy'))} (loss {last['loss']:.4f}{test_loss})")
    per_epoch = 1000 * history.total_seconds / max(1, len(history))
    print(f"time       {history.total_seconds:.2f} s ({per_epoch:.0f} ms per epoch)")
    if saved:
        print(f"saved      {saved}")
    if plotted:
        print(f"plot       {plotted}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Load a model file and report its accuracy on a dataset's train and test splits."""
    from microgradx import modelfile
    from microgradx.registry.core import get_registry
    from microgradx.train import DEFAULT_LOSS, evaluate

    try:
        mf = modelfile.read(args.model)
        model = modelfile.load(args.model)
        meta = mf.meta
        name = args.dataset or meta.get("dataset")
        if not isinstance(name, str):
            raise UsageError(f"{args.model}: the model file does not say which dataset it was trained on; "
                             f"pass --dataset NAME")
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
            raise UsageError(f"{args.model}: the model takes {nin} inputs but dataset {name!r} has "
                             f"{ds.X_train.shape[1]} features")
        loss_name = args.loss or meta.get("loss") or DEFAULT_LOSS[ds.task]
        if not isinstance(loss_name, str):
            raise UsageError(f"{args.model}: meta 'loss' must be a loss name, got {loss_name!r}")
        loss = registry.get("losses", loss_name)()
        train = evaluate(model, loss, ds.X_train, ds.y_train, ds.task)
        test = evaluate(model, loss, ds.X_test, ds.y_test, ds.task)
    except _SETTING_ERRORS as exc:
        return _error("evaluate", exc)
    seed = options.get("seed", 0)
    result = {"model": args.model, "dataset": name, "seed": seed, "loss_name": loss_name,
              "n_train": len(ds.y_train), "n_test": len(ds.y_test),
              "train_accuracy": train.get("accuracy"), "test_accuracy": test.get("accuracy"),
              "loss": train["loss"], "test_loss": test["loss"]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model      {args.model}: {model!r}")
    print(f"dataset    {name}: {result['n_train']} train / {result['n_test']} test examples (seed {seed})")
    print(f"result     train accuracy {_percent(result['train_accuracy'])}, test accuracy "
          f"{_percent(result['test_accuracy'])} (loss {loss_name} {train['loss']:.4f}, test {test['loss']:.4f})")
    trained = meta.get("dataset_options", {}) if isinstance(meta.get("dataset_options"), dict) else {}
    if name == meta.get("dataset") and any(trained.get(k) != options.get(k) for k in ("seed", "test_size")):
        print("note       this split differs from the training run's, so the 'test' examples overlap the "
              "examples the model was trained on")
    return 0


def add_train_commands(sub: Any) -> None:
    """Add the ``train`` and ``evaluate`` subcommands to the subparsers ``sub``."""
    p = _one_line_errors(sub.add_parser(
        "train", help="train an MLP on a dataset (default: breast cancer) and report accuracy",
        description="Train an MLP classifier assembled from registered components. With no options: "
                    "MLP(30, [16, 16, 1]) on breast_cancer (stratified 80/20 split), bce loss, SGD with "
                    "momentum 0.9, lr 0.05, cosine schedule, 40 epochs, batch size 32. Components given as "
                    "NAME or NAME:KEY=VALUE:KEY=VALUE (e.g. --optimizer adam:beta1=0.8)."))
    p.add_argument("--dataset", default="breast_cancer", help="registered dataset (default: %(default)s)")
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
                   help="lanes: one graph per batch (fast); scalar: one graph per example (default: lanes)")
    p.add_argument("--test-size", dest="test_size", type=float, default=None, help="test fraction (default: 0.2)")
    p.add_argument("--samples", type=int, default=None, help="number of examples (moons, circles)")
    p.add_argument("--noise", type=float, default=None, help="noise level (moons, circles)")
    p.add_argument("--callbacks", default=None, metavar="LIST",
                   help="comma-separated callbacks, e.g. early_stopping:patience=5,checkpoint:path=best.json,"
                        "log:path=log.csv (progress is on unless --quiet)")
    p.add_argument("--save", default=None, metavar="PATH", help="write the trained model (.json or .npz)")
    p.add_argument("--plot", default=None, metavar="PATH", help="draw loss and accuracy curves to a PNG (matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print the result (and history) as JSON")
    p.set_defaults(func=cmd_train)

    p = _one_line_errors(sub.add_parser(
        "evaluate", help="load a model file and report its accuracy on a dataset",
        description="Load a model saved by `microgradx train --save` and report train and test accuracy. "
                    "The dataset, split and loss default to those recorded in the file."))
    p.add_argument("model", metavar="MODEL", help="model file (.json or .npz)")
    p.add_argument("--dataset", default=None, help="registered dataset (default: the one in the model file)")
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the training run's)")
    p.add_argument("--test-size", dest="test_size", type=float, default=None, help="test fraction")
    p.add_argument("--samples", type=int, default=None, help="number of examples (moons, circles)")
    p.add_argument("--noise", type=float, default=None, help="noise level (moons, circles)")
    p.add_argument("--loss", default=None, help="loss whose predictions to score (default: the training loss)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_evaluate)


