"""The bytes of a CSV file on their way to the reader: a progress bar, a SHA-256, a look for quotes.

`Source` is a file object that pyarrow's streaming reader reads through (predictions: a chunk at a
time), counting and hashing what passes. `Scan` reads a file once more in a thread beside
pyarrow's whole-file read, for the same figures and whether the file holds a double quote.
`Progress` is the bar, drawn by its own thread once a read has lasted a second.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import attrs

from microgradx.datasets.csvfile import CSVError

BLOCK = 1 << 20


class Source:
    """The file as pyarrow reads it: every block passes here, updating a progress bar and a SHA-256."""

    closed = False

    def __init__(self, path: Path, bar: Any):
        self.f = open(path, "rb")
        self.bar, self.digest, self.size = bar, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all with -1), counted and hashed."""
        block = self.f.read(n)
        self.digest.update(block)
        self.size += len(block)
        if self.bar is not None:
            self.bar.update(len(block))
        return block

    def readable(self) -> bool:
        """A file object's answer: yes."""
        return True

    def seekable(self) -> bool:
        """No: pyarrow reads straight through."""
        return False

    def close(self) -> None:
        """Close the file."""
        self.f.close()
        self.closed = True

    @property
    def fingerprint(self) -> dict:
        """``{"size", "sha256"}`` of what was read."""
        return {"size": self.size, "sha256": self.digest.hexdigest()}


class Progress:
    """Bytes read so far, shown as a tqdm bar on standard error once a read has lasted a second.

    pyarrow's threads may read the whole file in that second and spend the next ones parsing it,
    so the bar is made and redrawn by a ticker thread (its elapsed time moving), not by the reads.
    ``show=None``: on a terminal only; True: always; False: never (no thread).
    """

    def __init__(self, path: Path, show: Optional[bool]):
        import threading

        self.path, self.show, self.n, self.bar = path, show, 0, None
        self.stop = threading.Event()
        self.ticker = threading.Thread(target=self._tick, name="microgradx-read-progress", daemon=True)
        self.ticker.start()

    def update(self, n: int) -> None:
        """``n`` more bytes read."""
        self.n += n

    def reset(self) -> None:
        """Start counting again (the file is read once more)."""
        self.n = 0

    def _tick(self) -> None:
        if self.stop.wait(1.0):
            return
        from tqdm.auto import tqdm

        try:
            total = self.path.stat().st_size
        except OSError:
            total = None
        self.bar = tqdm(total=total, initial=self.n, unit="B", unit_scale=True, unit_divisor=1024,
                        desc=f"reading {self.path.name}", leave=False, dynamic_ncols=True,
                        disable=None if self.show is None else not self.show)
        while True:
            self.bar.update(self.n - self.bar.n)
            self.bar.refresh()
            if self.stop.wait(0.25):
                return

    def close(self) -> None:
        """Stop the ticker and clear the bar."""
        self.stop.set()
        self.ticker.join()
        if self.bar is not None:
            self.bar.close()


def progress_bar(path: Path, show: Optional[bool]) -> Any:
    """A `Progress` for reading ``path``, or None when ``show`` is False."""
    return None if show is False else Progress(path, show)


@attrs.frozen
class Scanned:
    """What `Scan` found: the file's fingerprint and whether it holds a double quote."""

    fingerprint: dict
    quoted: bool


class Scan:
    """The file read once more beside pyarrow, in a thread: its size and SHA-256 (what a model file records),
    whether it holds a double quote after byte ``data_start`` (the header's end), and the bytes so far for
    the progress bar. pyarrow reads the path itself, so no Python call stands in its way; hashing releases
    the GIL."""

    def __init__(self, path: Path, bar: Any, data_start: int = 0):
        import threading

        self.path, self.bar, self.halt, self.data_start = path, bar, threading.Event(), data_start
        self.digest, self.size, self.quoted, self.error = hashlib.sha256(), 0, False, None
        self.thread = threading.Thread(target=self._run, name="microgradx-read-fingerprint", daemon=True)

    def start(self) -> None:
        """Start reading, in the thread."""
        self.thread.start()

    def _run(self) -> None:
        try:
            with open(self.path, "rb") as f:
                while not self.halt.is_set() and (block := f.read(BLOCK)):
                    start, self.size = self.size, self.size + len(block)
                    self.digest.update(block)
                    if not self.quoted:  # (the header's quotes, before data_start, quote no data)
                        self.quoted = b'"' in (block[self.data_start - start:] if start < self.data_start else block)
                    if self.bar is not None:
                        self.bar.update(len(block))
        except OSError as exc:
            self.error = exc

    def result(self) -> Scanned:
        """Wait for the scan to end; its findings."""
        self.thread.join()
        if self.error is not None:
            raise CSVError(self.path, f"cannot read: {self.error.strerror or self.error}")
        return Scanned({"size": self.size, "sha256": self.digest.hexdigest()}, self.quoted)

    def stop(self) -> None:
        """End the scan early (an error elsewhere), and wait for it."""
        self.halt.set()
        self.thread.join()
