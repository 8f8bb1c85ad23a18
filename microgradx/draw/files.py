"""Picture files: `draw` writes DOT text and an SVG, PNG or PDF picture, atomically.

SVG, PNG and PDF come from Graphviz's ``dot`` program where it is installed. Without it an
SVG still comes from the built-in layout (`microgradx.draw.layout`, the same one the
explorer page uses); a PNG or PDF needs Graphviz, so `draw` writes an SVG instead and warns.
Files get the usual mode for new files (``0666`` less the umask), never a private ``0600``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

from microgradx.atomicfile import write_atomically
from microgradx.draw.dot import to_dot
from microgradx.draw.svg import to_svg
from microgradx.engine.value import Value

#: Picture formats `draw` writes (SVG with or without Graphviz; PNG and PDF need it).
FORMATS = ("svg", "png", "pdf")
#: Suffixes of the DOT-only output.
DOT_SUFFIXES = (".dot", ".gv")
#: What `draw(engine=...)` accepts.
ENGINES = ("auto", "graphviz", "builtin")
INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
    "others: https://graphviz.org/download/)"
)


class GraphvizNotFoundWarning(UserWarning):
    """Graphviz's ``dot`` program is not installed: a PNG or PDF was asked for and an SVG was written instead."""


def find_dot() -> Optional[str]:
    """Path of Graphviz's ``dot`` program on ``PATH``, or None when it is not installed."""
    return shutil.which("dot")


def draw(value: Union[Value, Sequence[Value]], path: Union[str, os.PathLike], *, format: Optional[str] = None,
         engine: str = "auto", timeout: float = 60.0, **to_dot_options: Any) -> Path:
    """Write the graph behind ``value`` to ``path``; returns the path of the picture written.

    Always writes the DOT text next to ``path`` (same name, suffix ``.dot``). The picture
    format is ``format`` or else ``path``'s suffix: ``.svg``, ``.png``, ``.pdf``; ``.dot``/``.gv``
    writes only the DOT text; no suffix means SVG.

    ``engine`` picks who lays the picture out: ``"graphviz"`` runs Graphviz's ``dot`` program
    (without a shell, with a ``timeout`` in seconds); ``"builtin"`` lays it out in Python
    (`microgradx.draw.to_svg`, SVG only, no Graphviz needed); ``"auto"`` (the default) uses
    Graphviz where it is installed and the built-in layout otherwise. Without Graphviz a PNG
    or PDF cannot be made: ``"auto"`` then writes the SVG (same name, suffix ``.svg``), warns
    with `GraphvizNotFoundWarning` (saying how to install Graphviz) and returns the SVG's path.
    ``to_dot_options`` (``max_nodes``, ``collapse``, ``by``, ``rankdir``, ``precision``, ``title``) go to
    `to_dot` and `to_svg` alike.

    Raises ``ValueError`` for an unknown format or engine, a suffix that contradicts ``format``
    or a PNG asked of the built-in engine; ``RuntimeError`` when ``dot`` is missing for
    ``engine="graphviz"``, fails or times out (with its message).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    if format is not None:
        fmt = str(format).lower().lstrip(".")
        if fmt not in (*FORMATS, "dot", "gv"):
            raise ValueError(f"format must be one of {', '.join((*FORMATS, 'dot'))}, got {format!r}")
        if not suffix:
            path = path.with_suffix(f".{fmt}")
        elif suffix.lstrip(".") != fmt:
            raise ValueError(f"format={format!r} contradicts the file name {path.name!r}: use a .{fmt} suffix")
    elif not suffix:
        fmt, path = "svg", path.with_suffix(".svg")
    elif suffix in DOT_SUFFIXES or suffix.lstrip(".") in FORMATS:
        fmt = suffix.lstrip(".")
    else:
        raise ValueError(
            f"cannot tell the picture format from {path.name!r}: use a suffix .svg, .png, .pdf or .dot, or format="
        )
    if engine == "builtin" and fmt in ("png", "pdf"):
        raise ValueError(f"the built-in layout writes SVG only, not {fmt.upper()}: use a .svg suffix, or "
                         f"engine='graphviz' (needs Graphviz's dot)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    text = to_dot(value, **to_dot_options)
    dot_path = path if fmt in ("dot", "gv") else path.with_suffix(".dot")
    write_atomic(dot_path, text.encode("utf-8"))
    if fmt in ("dot", "gv"):
        return dot_path
    program = find_dot() if engine != "builtin" else None
    if program is None and engine == "graphviz":
        raise RuntimeError(f"engine='graphviz' needs Graphviz's `dot` program, which is not on PATH: {INSTALL_HINT} "
                           f"(or use engine='auto' for the built-in SVG layout)")
    if program is not None:
        write_atomic(path, run_dot(program, text, fmt, timeout, dot_path))
        return path
    svg_path = path.with_suffix(".svg")
    write_atomic(svg_path, to_svg(value, **to_dot_options).encode("utf-8"))
    if fmt != "svg":
        warnings.warn(
            f"Graphviz's `dot` program is not on PATH, so {path} was not written; {svg_path} was drawn "
            f"by the built-in layout instead (SVG only) and the graph is also in {dot_path} (DOT text). "
            f"For {fmt.upper()} pictures, {INSTALL_HINT}; then run: dot -T{fmt} {dot_path} -o {path}",
            GraphvizNotFoundWarning, stacklevel=2)
    return svg_path


def run_dot(program: str, source: str, fmt: str, timeout: float, what: Any = "the graph") -> bytes:
    """The picture Graphviz's ``dot`` (at ``program``) draws of the DOT text ``source`` in format ``fmt``.

    Run without a shell, the text on its standard input; ``RuntimeError`` (naming ``what``, and
    ``dot``'s own message) when it fails or takes more than ``timeout`` seconds.
    """
    try:
        proc = subprocess.run([program, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Graphviz's dot took more than {timeout:g} s to draw {what}; draw fewer nodes "
                           f"(max_nodes=, or collapse= a model's neurons)") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"Graphviz's dot failed ({proc.returncode}) drawing {what}: {message}")
    return proc.stdout


def write_atomic(path: Union[str, os.PathLike], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (`microgradx.atomicfile.write_atomically`, the one writer)."""
    write_atomically(path, lambda f: f.write(data))
