"""A model file's predictions for a CSV file, chunk by chunk: memory stays bounded however long the file.

`predict_chunks` reads the file with `microgradx.datasets.csvread.iter_columns` (the columns
the model needs, by name, in any order; ID columns passed through), and yields one pyarrow table
of predictions per chunk: the IDs, the prediction (class label or value), and with ``proba``
one probability per class. `write_csv` writes them, every text cell neutralised against
spreadsheet formulas (`microgradx.datasets.csvfile.safe_texts`). `score_chunks` gathers what
``microgradx evaluate --data`` scores. pyarrow is imported when called.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any, Optional

import numpy as np

from microgradx.datasets.csvfile import CSVError, PathLike, header_problems, names, safe_text, safe_texts
from microgradx.datasets.csvread import iter_columns, read_header
from microgradx.datasets.encoding import ColumnsSource
from microgradx.modelfile.schema import probabilities


def column_kinds(predictor: Any, path: PathLike, ids: Sequence[str] = (), target: bool = False,
                 delimiter: Optional[str] = None, ignore: Sequence[str] = ()) -> tuple[dict, list]:
    """``(kinds, allowed)`` for `iter_columns`: each feature's kind, the IDs' and target's as text.

    A header without a feature (or ID, or with ``target`` the target) the model needs, or with a
    column it does not know and not named in ``ignore``, is a `CSVError` naming them.
    """
    schema = predictor.schema
    if not schema.features:
        raise CSVError(path, f"the model file {predictor.path} names no features to look for in the header")
    header, row = read_header(path, delimiter)
    text = {c.name for c in schema.input_columns if c.text}
    kinds = {name: "text" if name in text else "number" for name in schema.features}
    for name in ids:
        if name in kinds:
            raise ValueError(f"--id {name}: {name!r} is a feature of the model; an ID column is passed through")
        kinds[name] = "text"
    if target:
        if not schema.target:
            raise ValueError(f"{predictor.path}: the model file does not name its target column, so the file "
                             f"cannot be scored")
        if schema.target not in header:
            raise CSVError(path, f"no column named {schema.target!r}, the model's target: evaluate needs it to score "
                                 f"the predictions (predict needs only the features)", row=row)
        kinds[schema.target] = "text"
    wanted = list(schema.features)
    missing = [n for n in kinds if n not in header]
    for name in ignore:
        if name not in header:
            raise CSVError(path, f"no column named {name!r} to ignore; the columns are {names(header)}", row=row)
    extra = [n for n in header if n not in kinds and n != schema.target and n not in ignore]
    if missing or extra:
        also = f", and optionally the target {schema.target!r}" if schema.target else ""
        hint = "; --id COLUMN copies a column to the predictions, --ignore COLUMN leaves it out" if extra else ""
        raise CSVError(path, f"the header does not match the model's {len(wanted)} features: "
                             f"{header_problems(missing, extra)} (the model takes {names(wanted, 4)}{also}{hint})",
                       row=row)
    allowed = [schema.target] if schema.target and schema.target in header else []
    return kinds, allowed + [n for n in ignore if n not in kinds]


def chunks(predictor: Any, path: PathLike, ids: Sequence[str] = (), target: bool = False,
           handle_unknown: Optional[str] = None, progress: Optional[bool] = None,
           delimiter: Optional[str] = None, ignore: Sequence[str] = ()) -> Iterator[tuple[Any, np.ndarray]]:
    """``(columns, Z)`` per chunk of the file: its columns and the network's raw outputs for its rows."""
    kinds, allowed = column_kinds(predictor, path, ids, target, delimiter, ignore)
    for columns in iter_columns(path, kinds, delimiter=delimiter, progress=progress, allowed=allowed):
        source = ColumnsSource(columns, handle_unknown=handle_unknown)
        yield columns, predictor.check_outputs(predictor.outputs(source))


def predict_chunks(predictor: Any, path: PathLike, proba: bool = False, ids: Sequence[str] = (),
                   handle_unknown: Optional[str] = None, neutralise: bool = True, progress: Optional[bool] = None,
                   delimiter: Optional[str] = None, ignore: Sequence[str] = ()) -> Iterator[Any]:
    """One pyarrow table of predictions per chunk of the file (see the module docstring).

    ``neutralise``: text cells and column names that a spreadsheet would run as a formula get a
    leading ``'`` (`microgradx.datasets.csvfile.safe_texts`); False keeps them as they are.
    """
    import pyarrow as pa

    if proba:
        predictor._require_proba()
    schema = predictor.schema
    for columns, Z in chunks(predictor, path, ids, False, handle_unknown, progress, delimiter, ignore):
        arrays, header = [], []
        for name in ids:
            cells = columns.texts[name]
            arrays.append(safe_texts(cells) if neutralise else cells)
            header.append(name)
        predicted = predictor.decode(Z)
        base = schema.target or "prediction"
        if predicted.ndim == 2:
            for j in range(predicted.shape[1]):
                arrays.append(pa.array(predicted[:, j], type=pa.float64()))
                header.append(f"{base}_{j}")
        else:
            labels = _labels(predicted)
            arrays.append(safe_texts(labels) if neutralise and pa.types.is_string(labels.type) else labels)
            header.append(base)
        if proba:
            P = probabilities(Z)
            for j, c in enumerate(schema.classes or range(P.shape[1])):
                arrays.append(pa.array(P[:, j], type=pa.float64()))
                header.append(f"P({c})")
        if neutralise:
            header = [safe_text(h) for h in header]
        yield pa.Table.from_arrays(arrays, names=header)


def _labels(values: np.ndarray) -> Any:
    """Predicted labels or values as a pyarrow array: numbers stay numbers, anything else is text."""
    import pyarrow as pa

    if values.dtype.kind == "f":
        return pa.array(values, type=pa.float64())
    items = values.tolist()
    if items and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        return pa.array(items, type=pa.int64())
    if items and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        return pa.array([float(v) for v in items], type=pa.float64())
    return pa.array([str(v) for v in items], type=pa.string())


def write_csv(tables: Iterator[Any], f: IO[bytes]) -> int:
    """Write the tables (one header, then their rows) as CSV to the binary file ``f``; returns the row count."""
    import pyarrow.csv as pacsv

    writer = None
    rows = 0
    try:
        for table in tables:
            if writer is None:
                writer = pacsv.CSVWriter(f, table.schema, write_options=pacsv.WriteOptions(quoting_style="needed"))
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def score_chunks(predictor: Any, path: PathLike, handle_unknown: Optional[str] = None,
                 progress: Optional[bool] = None, ignore: Sequence[str] = ()) -> tuple[np.ndarray, list, Any]:
    """``(Z, targets, columns)``: every row's raw outputs, the target column's text, and the last chunk."""
    outputs, targets, last = [], [], None
    for columns, Z in chunks(predictor, path, (), True, handle_unknown, progress, None, ignore):
        outputs.append(Z)
        targets.append(columns.texts[predictor.schema.target])
        last = columns
    import pyarrow as pa

    return np.concatenate(outputs), pa.chunked_array(targets, type=pa.string()), last
