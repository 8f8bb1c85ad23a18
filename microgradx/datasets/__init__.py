"""Datasets: the `Dataset` record every loader returns, `load` by registered name, and CSV files.

Loaders are components (kind ``"datasets"``) registered by plugins; the bundled ones live
in ``microgradx_plugins.datasets`` and import scikit-learn only when called. ``"csv"`` reads
a file of your own (`from_csv`, with the reader in `microgradx.datasets.csvfile`). This
package imports nothing heavy.
"""

from microgradx.datasets.core import TASKS, Dataset, load, standardize
from microgradx.datasets.csvfile import CSVError, read_csv, read_features, read_table
from microgradx.datasets.split import from_csv, split_dataset

__all__ = ["TASKS", "CSVError", "Dataset", "from_csv", "load", "read_csv", "read_features", "read_table",
           "split_dataset", "standardize"]
