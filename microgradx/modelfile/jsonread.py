"""A JSON model file read in bounded memory, whatever it holds.

``json.loads`` builds the whole document before anything can be checked: a hostile 256 MiB file
of small numbers becomes gigabytes of Python objects. `read_json_bounded` reads the file a block
at a time instead. The top-level ``"weights"`` array goes straight into float64 arrays, a block of
numbers at a time, and is refused past `MAX_PARAMETERS` numbers; everything else (spec, schema,
meta) is kept as text, refused past `MAX_HEADER_BYTES`, then parsed by ``json.loads``. Memory
stays within a few times the header budget plus the weights the file holds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from microgradx.modelfile.checks import MAX_PARAMETERS, ModelFileError, short

#: Largest amount of JSON text, in bytes, that everything but the weights may take.
MAX_HEADER_BYTES = 8 * 2**20
#: Most arrays and objects, and most items in them (commas), that the text besides the weights may hold:
#: ``json.loads`` makes a Python object of each, so these bound its memory (a spec, schema and meta hold
#: far fewer; every list is also limited to `~microgradx.modelfile.checks.MAX_LIST` items).
MAX_HEADER_CONTAINERS = 200_000
MAX_HEADER_ITEMS = 1_000_000
#: Deepest nesting of arrays and objects read (the checks of a spec or schema allow less).
MAX_NESTING = 64
_BLOCK = 1 << 20
_NORMAL = re.compile(rb'["\[\]{}:,]')
_IN_STRING = re.compile(rb'["\\]')
_NUMBERS_ONLY = re.compile(rb"[0-9eE+\-.,\s]*")
_NUMBER = re.compile(rb"\s*-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\s*")


class _Reader:
    """The state of one pass over the file (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = path
        self.header: list = []
        self.header_size = 0
        self.depth = 0
        self.in_string = self.escaped = False
        self.key: Optional[bytes] = b""  # the text of the last string at depth 1 (None: too long to be "weights")
        self.last_key: Optional[bytes] = None
        self.pending = False  # after '"weights":' at depth 1: a '[' next starts the weights
        self.in_weights = False
        self.weights: list = []
        self.count = 0
        self.tail = b""  # a number cut by the end of a block
        self.seen_weights = False
        self.containers = self.items = 0

    def keep(self, text: bytes) -> None:
        """Add ``text`` to the header's text, refused past `MAX_HEADER_BYTES`."""
        self.header_size += len(text)
        if self.header_size > MAX_HEADER_BYTES:
            raise ModelFileError(self.path, f"the file's JSON besides the weights is more than {MAX_HEADER_BYTES} "
                                            f"bytes; a model file's spec, schema and meta are far smaller")
        self.header.append(text)

    def feed(self, block: bytes) -> None:
        """Take the file's next block."""
        pos, n = 0, len(block)
        start = 0  # the header's text from here on, kept at the end of the block or before the weights
        while pos < n:
            if self.in_weights:
                pos = self._weights(block, pos)
                start = pos
            elif self.in_string:
                pos = self._string(block, pos)
            else:
                pos = self._normal(block, pos)
                if self.in_weights:
                    self.keep(block[start:pos])
            if pos - start > MAX_HEADER_BYTES:
                self.keep(block[start:pos])
                start = pos
        if not self.in_weights and start < n:
            self.keep(block[start:n])

    def _normal(self, block: bytes, pos: int) -> int:
        match = _NORMAL.search(block, pos)
        if match is None:
            return len(block)
        end = match.end()
        char = match.group()
        if char == b'"':
            self.in_string, self.pending = True, False
            self.key = b"" if self.depth == 1 else None
        elif char in (b"[", b"{"):
            self.depth += 1
            self.containers += 1
            if self.depth > MAX_NESTING:
                raise ModelFileError(self.path, "corrupt JSON: nested too deeply")
            if self.pending and char == b"[" and self.depth == 2:
                if self.seen_weights:
                    raise ModelFileError(self.path, "the key 'weights' appears twice")
                self.in_weights = self.seen_weights = True
                self.containers -= 1
            elif self.containers > MAX_HEADER_CONTAINERS:
                raise ModelFileError(self.path, f"more than {MAX_HEADER_CONTAINERS} arrays and objects besides the "
                                                f"weights; a model file's spec, schema and meta hold far fewer")
            self.pending = False
        elif char in (b"]", b"}"):
            self.depth -= 1
            self.pending = False
        elif char == b":":
            self.pending = self.depth == 1 and self.last_key == b"weights"
        else:  # a comma
            self.pending, self.last_key = False, None
            self.items += 1
            if self.items > MAX_HEADER_ITEMS:
                raise ModelFileError(self.path, f"more than {MAX_HEADER_ITEMS} values besides the weights; a model "
                                                f"file's spec, schema and meta hold far fewer")
        return end

    def _string(self, block: bytes, pos: int) -> int:
        if self.escaped:
            self.escaped = False
            self._note_key(block[pos:pos + 1])
            return pos + 1
        match = _IN_STRING.search(block, pos)
        if match is None:
            self._note_key(block[pos:])
            return len(block)
        self._note_key(block[pos:match.start()])
        if match.group() == b"\\":
            self.key = None  # an escaped key is not the weights' (it stays in the header: bounded)
            self.escaped = True
        else:
            self.in_string = False
            self.last_key = self.key if self.depth == 1 else None
        return match.end()

    def _note_key(self, text: bytes) -> None:
        if self.key is not None:
            self.key = self.key + text if len(self.key) + len(text) <= 16 else None

    def _weights(self, block: bytes, pos: int) -> int:
        close = block.find(b"]", pos)
        end = len(block) if close < 0 else close
        text = self.tail + block[pos:end]
        if not _NUMBERS_ONLY.fullmatch(text):
            self._refuse(text)
        if close < 0:
            cut = text.rfind(b",") + 1
            self._numbers(text[:cut], last=False)
            self.tail = text[cut:]
            if len(self.tail) > 1000:
                raise ModelFileError(self.path, f"weights[{self.count}] is not a number: {len(self.tail)} characters")
            return end
        self._numbers(text, last=True)
        self.tail = b""
        self.in_weights = False
        self.keep(b"]")  # the header keeps "weights": [] in its place
        self.depth -= 1
        return close + 1

    def _numbers(self, text: bytes, last: bool) -> None:
        if not text.strip() and last and self.count == 0:
            return  # []
        tokens = text.split(b",")
        if not last:
            tokens = tokens[:-1]  # the text ends with a comma
        if self.count + len(tokens) > MAX_PARAMETERS:
            raise ModelFileError(self.path, f"more than {MAX_PARAMETERS} weights, the limit")
        try:  # the characters were checked (digits, signs, points, exponents): numpy parses the numbers
            values = np.array(tokens).astype(np.float64) if tokens else np.empty(0)
        except ValueError:
            for i, t in enumerate(tokens):
                if not _NUMBER.fullmatch(t):
                    self._refuse_token(self.count + i, t)
            raise ModelFileError(self.path, f"'weights' holds a value that is not a number near weights[{self.count}]"
                                 ) from None
        self.weights.append(values)
        self.count += len(tokens)

    def _refuse(self, text: bytes) -> None:
        for i, t in enumerate(text.split(b",")):
            if not _NUMBERS_ONLY.fullmatch(t) or not _NUMBER.fullmatch(t):
                self._refuse_token(self.count + i, t)
        raise ModelFileError(self.path, "'weights' must be a list of numbers")

    def _refuse_token(self, index: int, token: bytes) -> None:
        text = token.strip()
        if text in (b"NaN", b"Infinity", b"-Infinity"):
            raise ModelFileError(self.path, f"corrupt JSON: non-finite number {text.decode()} is not allowed")
        try:
            found = json.loads(text)
            what = {bool: "a boolean", str: "a string", type(None): "null"}.get(type(found), "a value")
            shown = short(found)
        except (ValueError, RecursionError):
            what, shown = "text", short(text.decode("utf-8", "replace"))
        if text[:1] in (b"[", b"{"):
            what, shown = ("a list", "[...]") if text[:1] == b"[" else ("an object", "{...}")
        raise ModelFileError(self.path, f"weights[{index}] must be a number, found {what} {shown}")

    def finish(self) -> tuple[Any, np.ndarray]:
        """``(document, weights)`` once the whole file was fed; a `ModelFileError` if it ended early."""
        if self.in_string or self.in_weights or self.depth != 0:
            raise ModelFileError(self.path, "corrupt or truncated JSON: the file ends before its last value does")
        try:
            text = b"".join(self.header).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFileError(self.path, f"not a JSON model file: not UTF-8 text ({exc.reason})") from None
        try:
            document = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise ModelFileError(self.path, f"corrupt or truncated JSON: {exc.msg} at line {exc.lineno} column "
                                            f"{exc.colno}") from None
        except RecursionError:
            raise ModelFileError(self.path, "corrupt JSON: nested too deeply") from None
        except ValueError as exc:  # a NaN/Infinity constant, or an integer with too many digits
            raise ModelFileError(self.path, f"corrupt JSON: {exc}") from None
        weights = np.concatenate(self.weights) if self.weights else np.empty(0)
        return document, weights


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


def read_json_bounded(path: Path) -> tuple[Any, Optional[np.ndarray]]:
    """``(document, weights)``: the parsed JSON with ``"weights"`` left as ``[]``, and the weights as float64
    (None when the file has no top-level ``"weights"`` array). A `ModelFileError` for anything else."""
    reader = _Reader(path)
    try:
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                reader.feed(block)
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    document, weights = reader.finish()
    return document, (weights if reader.seen_weights else None)


def parse_bounded(path: Path, text: bytes) -> Any:
    """JSON text (an ``.npz`` file's header) parsed with the same limits as a JSON model file's header."""
    reader = _Reader(path)
    for start in range(0, len(text), _BLOCK):
        reader.feed(text[start:start + _BLOCK])
    return reader.finish()[0]
