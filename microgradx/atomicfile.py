"""`write_atomically`: the one way microgradx writes a file (model files, predictions, pictures, pages).

A reader sees the old file or the whole new one, never a part: the bytes go to a temporary
file beside the path, are flushed to disk, and the temporary file is renamed over the path.
On any error the temporary file is removed and the path is left as it was. The file keeps
the mode of a file it replaces, and otherwise gets the mode a new file gets (``0666`` less
the process umask, which the operating system applies; the umask is never read or changed,
so other threads never see it change). ``tempfile.mkstemp``'s private ``0600`` is not used.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Union

__all__ = ["write_atomically"]


def write_atomically(path: Union[str, os.PathLike], write: Callable[[IO], Any], binary: bool = True) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path`` (see the module)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # (less the umask)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
