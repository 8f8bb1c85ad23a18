"""Reading and writing model files' bytes: JSON or ``.npz`` (no pickle), and atomic writes."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from microgradx.atomicfile import write_atomically
from microgradx.modelfile import checks
from microgradx.modelfile.checks import MAX_PARAMETERS, ModelFileError, json_type, short
from microgradx.modelfile.jsonread import MAX_HEADER_BYTES, parse_bounded, read_json_bounded

NPZ_MEMBERS = {"header.npy", "weights.npy"}


def atomic_write(path: Path, write: Callable[[IO], Any], binary: bool) -> None:
    """`microgradx.atomicfile.write_atomically` for a model file: a missing directory or an `OSError` is a
    `ModelFileError`."""
    directory = path.parent
    if not directory.is_dir():
        raise ModelFileError(path, f"cannot write: directory {str(directory)!r} does not exist")
    try:
        write_atomically(path, write, binary)
    except OSError as exc:
        raise ModelFileError(path, f"cannot write: {exc.strerror or exc}") from exc


def read_json(path: Path) -> tuple[Any, Any]:
    """The header (every key but ``weights``) and the weights of a JSON model file, checked as plain numbers.

    Read in bounded memory (`microgradx.modelfile.jsonread`): a hostile file is refused before it
    costs more than a few times the header budget and the weights it holds.
    """

    document, streamed = read_json_bounded(path)
    if not isinstance(document, dict):
        raise ModelFileError(path, f"expected a JSON object at the top level, found {json_type(document)}")
    weights = document.get("weights")
    header = {k: v for k, v in document.items() if k != "weights"}
    if "weights" not in document:
        raise ModelFileError(path, "missing key 'weights'")
    if streamed is not None:
        return header, streamed
    if not isinstance(weights, list):
        raise ModelFileError(path, f"'weights' must be a list of numbers, found {json_type(weights)}")
    if len(weights) > MAX_PARAMETERS:
        raise ModelFileError(path, f"{len(weights)} weights is more than the limit of {MAX_PARAMETERS}")
    for i, w in enumerate(weights):
        if w.__class__ is not float and (w.__class__ is not int or abs(w) > 2**53):
            raise ModelFileError(path, f"weights[{i}] must be a number, found {json_type(w)} {short(w)}")
    return header, np.array(weights, dtype=np.float64)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


def read_npz(path: Path) -> tuple[Any, Any]:
    """The header and the weights of a ``.npz`` model file, read without unpickling anything."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if names != NPZ_MEMBERS:
                raise ModelFileError(path, f"not a microgradx .npz model: it holds {sorted(names)}, "
                                           f"expected {sorted(NPZ_MEMBERS)}")
            header_array = _read_npy(path, zf, "header.npy", 4 * MAX_HEADER_BYTES + 4)  # UCS-4: 4 bytes a char
            weights = _read_npy(path, zf, "weights.npy", 8 * MAX_PARAMETERS)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(path, f"corrupt or truncated .npz archive: {exc}") from None
    if header_array.dtype.kind != "U" or header_array.shape != ():
        raise ModelFileError(path, f"header.npy must hold one string, found dtype {header_array.dtype} "
                                   f"shape {header_array.shape}")

    try:
        text = str(header_array).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ModelFileError(path, f"corrupt header in header.npy: {exc.reason}") from None
    try:
        header = parse_bounded(path, text)
    except ModelFileError as exc:
        raise ModelFileError(path, f"header.npy: {exc.problem}") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, f"header.npy must hold a JSON object, found {json_type(header)}")
    if "weights" in header:
        raise ModelFileError(path, "unexpected key 'weights' in header.npy (weights belong in weights.npy)")
    if weights.dtype != np.float64 or weights.ndim != 1:
        raise ModelFileError(path, f"weights.npy must be a 1-D float64 array, found dtype {weights.dtype} "
                                   f"shape {weights.shape}")
    return header, weights


def _read_npy(path: Path, zf: zipfile.ZipFile, name: str, limit: int) -> np.ndarray:
    """One array from an archive member, checking its declared shape and size (at most ``limit`` bytes of
    data) before reading any of it (no pickle)."""
    fmt = np.lib.format
    info = zf.getinfo(name)
    if info.file_size > checks.MAX_FILE_BYTES:
        raise ModelFileError(path, f"{name} is {info.file_size} bytes, larger than the limit of "
                                   f"{checks.MAX_FILE_BYTES}")
    with zf.open(info) as fp:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ModelFileError(path, f"{name}: unsupported .npy format version {version}")
        if dtype.hasobject:
            raise ModelFileError(path, f"{name} holds Python objects (dtype {dtype}); refusing to unpickle")
        if any(d.__class__ is not int or d < 0 for d in shape):
            raise ModelFileError(path, f"{name} declares shape {short(shape)}, with a negative dimension")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes > limit:
            what = f"{count} weights, more than the limit of {MAX_PARAMETERS}" if name == "weights.npy" else \
                f"{nbytes} bytes, more than the limit of {limit}"
            raise ModelFileError(path, f"{name} declares shape {short(shape)}: {what}")
        if nbytes > info.file_size:
            raise ModelFileError(path, f"{name} declares shape {shape} ({nbytes} bytes) but holds only "
                                       f"{info.file_size} bytes")
        data = fp.read(nbytes)
    if len(data) != nbytes:
        raise ModelFileError(path, f"{name} is truncated: expected {nbytes} bytes of data, found {len(data)}")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C").copy()


