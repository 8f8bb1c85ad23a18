"""docs/lecture.md, the first read for the lecture's audience: its examples run and print what the
page shows (as docs/engine.md's do, `test_engine_doc.run_examples`), with the lecture's numbers."""

from __future__ import annotations

import re
from pathlib import Path

from test_engine_doc import blocks, examples, quote_problems, run_examples

DOC = Path(__file__).resolve().parents[1] / "docs" / "lecture.md"


def test_the_examples_run_and_print_what_the_page_shows(builtin_ops_only):
    text = DOC.read_text(encoding="utf-8")
    assert len(examples(text)) >= 7
    failures, report = run_examples(text, "docs/lecture.md")
    assert failures == 0, report
    assert quote_problems(text) == []


def test_every_python_block_is_an_example():
    for block in blocks(DOC.read_text(encoding="utf-8")):
        assert block.lang != "python" or block.code.startswith(">>> "), f"line {block.line}: not a >>> example"


def test_the_page_maps_the_lectures_names_and_uses_its_expressions():
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## The lecture's names"):text.index("## L = (a*b + c) * f")]
    for name in ("_prev", "_op", "_backward()", "draw_dot", "Neuron", "Layer", "MLP", "zero_grad", "label"):
        assert name in table, name
    assert "b = Value(6.8813735870195432, label='b')" in text  # the lecture's neuron
    assert "a = Value(2.0, label='a')" in text and "f = Value(-2.0, label='f')" in text  # L = (a*b + c) * f
    plain = next(b.code for b in examples(text) if "def backward(root):" in b.code)
    assert not re.search(r"RELEASED|check_seed|OPS\.visit|retain_graph", plain)  # the driver without its checks
    assert "engine.md" in text and "second derivative" in text


def test_engine_md_points_learners_here_first():
    engine = (DOC.parent / "engine.md").read_text(encoding="utf-8")
    assert "(lecture.md)" in engine[:1500]
