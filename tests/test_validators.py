"""Settings are checked by attrs' validators with one message (issue 24): microgradx.validators.must_be."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import attrs
import numpy as np
import pytest
from attrs.validators import ge, instance_of

from microgradx import Op, Parameter, UnknownComponentError
from microgradx.datasets import Dataset
from microgradx.datasets.encoding import InputColumn
from microgradx.validators import finite, integer, must_be, satisfies
from microgradx_plugins.callbacks import Checkpoint, EarlyStopping, Log, Progress
from microgradx_plugins.layers import MLP, Layer, Neuron
from microgradx_plugins.losses import BCE, MSE, Hinge, SoftmaxCE
from microgradx_plugins.optimizers import SGD, Adam
from microgradx_plugins.schedules import Cosine, InvScaling, LinearDecay

ROOT = Path(__file__).resolve().parent.parent


@attrs.define
class Knob:
    rate: float = attrs.field(default=0.5, validator=must_be("a finite number >= 0", finite, ge(0)))
    kind: str = attrs.field(default="a", validator=must_be("a str", instance_of(str), error=TypeError))
    count: int = attrs.field(default=1, validator=must_be("an int >= 1", integer, ge(1), error=None))


@attrs.frozen
class Named:
    name: str
    size: int = attrs.field(default=1, validator=must_be("an int >= 1", integer, ge(1)))


def test_the_message_names_the_class_the_setting_what_it_must_be_and_the_value():
    with pytest.raises(ValueError) as info:
        Knob(rate=-1)
    assert str(info.value) == "Knob: rate must be a finite number >= 0, got -1"
    assert info.value.__cause__ is None and info.value.__suppress_context__  # attrs' own wording is not repeated


@pytest.mark.parametrize("rate", [math.nan, math.inf, -math.inf, True, "0.5", None])
def test_finite_refuses_what_is_not_a_finite_real_number(rate):
    with pytest.raises(ValueError, match=r"^Knob: rate must be a finite number >= 0, got "):
        Knob(rate=rate)


def test_finite_and_integer_take_numpy_numbers_but_not_bools():
    assert Knob(rate=np.float64(0.25), count=np.int64(3)).count == 3
    with pytest.raises(ValueError, match="count must be an int >= 1, got True"):  # a bool is no count (error=None:
        Knob(count=True)  # not_(instance_of(bool)) raises ValueError)
    with pytest.raises(TypeError, match=r"^Knob: count must be an int >= 1, got 2\.0$"):  # instance_of: TypeError
        Knob(count=2.0)
    with pytest.raises(ValueError, match=r"^Knob: count must be an int >= 1, got 0$"):  # ge: ValueError
        Knob(count=0)


def test_the_error_class_is_the_settings():
    with pytest.raises(TypeError, match=r"^Knob: kind must be a str, got 3$"):
        Knob(kind=3)


def test_assignment_is_checked_too_and_leaves_the_old_value():
    knob = Knob()
    with pytest.raises(ValueError, match=r"^Knob: rate must be a finite number >= 0, got -0\.1$"):
        knob.rate = -0.1
    assert knob.rate == 0.5


def test_a_class_with_a_name_field_is_named_in_the_message():
    with pytest.raises(ValueError, match=r"^Named 'width': size must be an int >= 1, got 0$"):
        Named("width", size=0)


def test_values_are_shown_short():
    @attrs.define
    class Box:
        items: object = attrs.field(validator=must_be("empty", satisfies(lambda v: len(v) == 0)))

    with pytest.raises(ValueError) as info:
        Box(list(range(1000)))
    assert str(info.value) == "Box: items must be empty, got [0, 1, 2, 3, 4, 5, 6, 7, ...]"
    with pytest.raises(ValueError, match=r"got an array of shape \(1000, 3\) and dtype float32$"):
        Box(np.ones((1000, 3), dtype=np.float32))
    with pytest.raises(ValueError) as info:
        Box("x" * 500)
    assert len(str(info.value)) < 120


def test_a_predicate_may_say_why_and_its_reason_follows_the_message():
    def known(key):
        if key not in ("a", "b"):
            raise LookupError(f"no key {key!r}; the keys: a, b")
        return True

    @attrs.define
    class Pick:
        choice: str = attrs.field(validator=must_be("a known key", instance_of(str), satisfies(known), error=None))

    assert Pick("b").choice == "b"
    with pytest.raises(LookupError) as info:  # error=None: the predicate's own class
        Pick("c")
    assert str(info.value) == "Pick: choice must be a known key, got 'c': no key 'c'; the keys: a, b"
    with pytest.raises(TypeError) as info:  # attrs' own wording is never appended
        Pick(3)
    assert str(info.value) == "Pick: choice must be a known key, got 3"


def test_satisfies_alone_and_errors_that_are_bugs():
    @attrs.define
    class Plain:
        word: str = attrs.field(validator=satisfies(str.isidentifier))

    with pytest.raises(ValueError, match=r"'word' must satisfy isidentifier \(got 'a b'\)"):
        Plain("a b")
    with pytest.raises(TypeError):  # the predicate's own error: str.isidentifier(3)
        Plain(3)

    def broken(value):
        raise RuntimeError("a bug in the rule")

    @attrs.define
    class Buggy:
        x: int = attrs.field(validator=must_be("fine", satisfies(broken)))

    with pytest.raises(RuntimeError, match="a bug in the rule"):  # not reported as a bad setting
        Buggy(1)


# -- every bundled component's settings: one message shape, the error class they always raised ----------

X, Y = np.zeros((4, 2)), np.array([0, 1, 0, 1])


def _params():
    return [Parameter(1.0), Parameter(2.0)]


def _op(**settings):
    return Op(**{"name": "twice", "forward": abs, "backward": abs, **settings})


BAD = [  # (make, owner, setting, error, value as shown)
    (lambda: _op(name="two words"), "Op", "name", ValueError, "'two words'"),
    (lambda: _op(name="_hidden"), "Op", "name", ValueError, "'_hidden'"),
    (lambda: _op(arity=0), "Op 'twice'", "arity", ValueError, "0"),
    (lambda: _op(backward=None), "Op 'twice'", "backward", TypeError, "None"),
    (lambda: _op(check=3), "Op 'twice'", "check", TypeError, "3"),
    (lambda: _op(symbol=""), "Op 'twice'", "symbol", TypeError, "''"),
    (lambda: Dataset("d", X.astype(np.float32), Y, X, Y, task="binary", n_classes=2), "Dataset 'd'", "X_train",
     TypeError, "an array of shape (4, 2) and dtype float32"),
    (lambda: Dataset("d", X[:0], Y[:0], X, Y, task="binary", n_classes=2), "Dataset 'd'", "X_train", ValueError,
     "an array of shape (0, 2) and dtype float64"),
    (lambda: Dataset("d", X, X, X, Y, task="binary", n_classes=2), "Dataset 'd'", "y_train", TypeError,
     "an array of shape (4, 2) and dtype float64"),
    (lambda: Dataset("d", X, Y, X, Y, task="clustering", n_classes=2), "Dataset 'd'", "task", ValueError,
     "'clustering'"),
    (lambda: InputColumn("age", kind="date"), "InputColumn 'age'", "kind", ValueError, "'date'"),
    (lambda: InputColumn("age", unknown="skip"), "InputColumn 'age'", "unknown", ValueError, "'skip'"),
    (lambda: Neuron(0), "Neuron", "nin", ValueError, "0"),
    (lambda: Layer(2, True), "Layer", "nout", ValueError, "True"),
    (lambda: MLP(2, (4, 0)), "MLP", "nouts", ValueError, "[4, 0]"),
    (lambda: MLP(2, 4), "MLP", "nouts", TypeError, "4"),
    (lambda: MLP(2, [1], activation="add"), "MLP", "activation", ValueError, "'add'"),
    (lambda: MLP(2, [1], activation=len), "MLP", "activation", TypeError, "<built-in function len>"),
    (lambda: MLP(2, [1], last_activation="nope"), "MLP", "last_activation", UnknownComponentError, "'nope'"),
    (lambda: MLP(2, [1], seed=-1), "MLP", "seed", ValueError, "-1"),
    (lambda: MLP(2, [1], fused=1), "MLP", "fused", TypeError, "1"),
    (lambda: Progress(width=0), "Progress", "width", ValueError, "0"),
    (lambda: Progress(stream="stderr"), "Progress", "stream", TypeError, "'stderr'"),
    (lambda: Log(path=""), "Log", "path", ValueError, "''"),
    (lambda: Log(format="xml"), "Log", "format", ValueError, "'xml'"),
    (lambda: EarlyStopping(patience=2.5), "EarlyStopping", "patience", ValueError, "2.5"),
    (lambda: EarlyStopping(min_delta=math.inf), "EarlyStopping", "min_delta", ValueError, "inf"),
    (lambda: EarlyStopping(mode="up"), "EarlyStopping", "mode", ValueError, "'up'"),
    (lambda: EarlyStopping(monitor=""), "EarlyStopping", "monitor", ValueError, "''"),
    (lambda: EarlyStopping(restore_best="yes"), "EarlyStopping", "restore_best", TypeError, "'yes'"),
    (lambda: Checkpoint(path=None), "Checkpoint", "path", ValueError, "None"),
    (lambda: Checkpoint(save_best_only=0), "Checkpoint", "save_best_only", TypeError, "0"),
    (lambda: SGD(_params(), lr=-1), "SGD", "lr", ValueError, "-1"),
    (lambda: SGD(_params(), lr="0.1"), "SGD", "lr", ValueError, "'0.1'"),
    (lambda: SGD(_params(), momentum=1), "SGD", "momentum", ValueError, "1"),
    (lambda: SGD(_params(), nesterov="no"), "SGD", "nesterov", TypeError, "'no'"),
    (lambda: SGD([]), "SGD", "params", ValueError, "[]"),
    (lambda: Adam(_params(), eps=0), "Adam", "eps", ValueError, "0"),
    (lambda: Adam(_params(), beta2=math.nan), "Adam", "beta2", ValueError, "nan"),
    (lambda: LinearDecay(end_factor=1.5), "LinearDecay", "end_factor", ValueError, "1.5"),
    (lambda: Cosine(min_factor=-0.1), "Cosine", "min_factor", ValueError, "-0.1"),
    (lambda: InvScaling(power_t=-1), "InvScaling", "power_t", ValueError, "-1"),
    (lambda: InvScaling(examples_per_step=math.inf), "InvScaling", "examples_per_step", ValueError, "inf"),
    (lambda: MSE(l2=-1), "MSE", "l2", ValueError, "-1"),
    (lambda: BCE(l2=True), "BCE", "l2", ValueError, "True"),
    (lambda: Hinge(l2=math.nan), "Hinge", "l2", ValueError, "nan"),
    (lambda: SoftmaxCE(l2="0"), "SoftmaxCE", "l2", ValueError, "'0'"),
]


@pytest.mark.parametrize("make, owner, setting, error, value", BAD, ids=[f"{b[1]}.{b[2]}={b[4]}" for b in BAD])
def test_every_bundled_setting_fails_at_construction_in_one_shape(make, owner, setting, error, value):
    with pytest.raises(error) as info:
        make()
    assert type(info.value) is error
    shape = rf"{re.escape(owner)}: {setting} must be .+, got {re.escape(value)}(: .+)?"  # (: a predicate's reason)
    assert re.fullmatch(shape, str(info.value)), str(info.value)


@pytest.mark.parametrize("make, setting, value", [
    (lambda: SGD(_params()), "weight_decay", -1.0),
    (lambda: Adam(_params()), "beta1", 1.0),
    (lambda: LinearDecay(), "end_factor", 2.0),
    (lambda: EarlyStopping(), "patience", 0),
    (lambda: Log(), "format", "xml"),
    (lambda: MSE(), "l2", -1.0),
])
def test_settings_are_checked_on_assignment_and_keep_their_value(make, setting, value):
    component = make()
    before = getattr(component, setting)
    with pytest.raises(ValueError, match=rf"^{type(component).__name__}: {setting} must be .+, got {value!r}$"):
        setattr(component, setting, value)
    assert getattr(component, setting) == before


def test_an_activation_is_refused_with_the_reason():
    with pytest.raises(UnknownComponentError, match=r"^Neuron: activation must be .*, got 'nope': no op named 'nope' "
                                                    r"is registered; registered ops: .*relu"):
        Neuron(2, activation="nope")
    with pytest.raises(ValueError, match=r"^Layer: activation must be .*, got 'lane_sum': 'lane_sum' is a lane "
                                         "reduction"):
        Layer(2, 2, activation="lane_sum")


def test_no_hand_written_validators_are_left():
    """Validators are compositions of attrs.validators through must_be; a function taking
    ``(instance, attribute: attrs.Attribute, value)`` lives only in microgradx/validators.py (and
    layers.py's on_setattr hook that refuses any change of the architecture)."""
    allowed = {("validators.py", "__call__"), ("layers.py", "_fixed")}
    found = []
    for path in [*(ROOT / "microgradx").rglob("*.py"), *(ROOT / "microgradx_plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef) or (path.name, node.name) in allowed:
                continue
            args = [a for a in node.args.args if a.arg != "self"]
            middle = ast.unparse(args[1].annotation) if len(args) == 3 and args[1].annotation else ""
            shaped = middle.endswith("Attribute")  # (instance, attribute: attrs.Attribute, value)
            decorated = any(ast.unparse(d).endswith(".validator") for d in node.decorator_list)  # @field.validator
            if shaped or decorated:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert found == [], found


def test_the_helper_sits_below_every_layer_and_imports_no_microgradx_module():
    source = (ROOT / "microgradx" / "validators.py").read_text()
    modules = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import) for a in n.names}
    assert {m.split(".")[0] for m in modules} <= {"__future__", "attrs", "numpy", "math", "numbers", "reprlib",
                                                  "collections", "typing"}, modules
