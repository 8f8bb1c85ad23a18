"""Datasets: the `Dataset` record every loader returns, `load` by registered name, and CSV files.

Loaders are components (kind ``"datasets"``) registered by plugins; the bundled ones live
in ``microgradx_plugins.datasets`` and import scikit-learn only when called. ``"csv"`` reads
a file of your own (`from_csv`, `read_csv`; the reader is `microgradx.datasets.csvread`, on
pyarrow, imported when a file is read). This package imports nothing heavy.
"""

from microgradx.datasets.core import TASKS, Dataset, load, standardize
from microgradx.datasets.csvfile import CSVError
from microgradx.datasets.csvread import iter_columns, read_columns
from microgradx.datasets.encoding import InputColumn
from microgradx.datasets.split import from_csv, split_dataset
from microgradx.datasets.tabular import CSVData, read_csv

__all__ = ["TASKS", "CSVData", "CSVError", "Dataset", "InputColumn", "from_csv", "iter_columns", "load", "read_columns",
           "read_csv", "split_dataset", "standardize"]
