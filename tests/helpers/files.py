"""Files the tests write: CSV tables."""

from __future__ import annotations

import csv
from pathlib import Path


def write_csv(path: Path, header, rows) -> Path:
    """Write ``header`` then ``rows`` to ``path`` as CSV (UTF-8) and return ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
