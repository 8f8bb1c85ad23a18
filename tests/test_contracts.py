"""check_loss and check_optimizer (issue 14, item 7): they pass the bundled components and catch broken ones."""

from __future__ import annotations

import numpy as np
import pytest

from microgradx import Value, ops
from microgradx.testing import ContractError, GradcheckError, check_loss, check_optimizer
from microgradx.train import FastPathWarning

# -- losses ---------------------------------------------------------------------------------------


class MeanSquares:
    """A correct regression loss on one output: mean of (output - target) ** 2, plus l2 * sum(p * p)."""

    task = "regression"

    def __init__(self, l2: float = 0.0) -> None:
        self.l2 = l2

    def residual(self, outputs, targets):
        o = outputs[0]
        t = np.asarray(targets, dtype=np.float64)
        n = o.data.size if o.is_lanes else 1
        if t.shape[0] != n:
            raise ValueError(f"{t.shape[0]} targets for {n} examples")
        return o - (t if o.is_lanes else float(t[0]))

    def reduce(self, per_example, outputs):
        return per_example.lane_mean() if outputs[0].is_lanes else per_example

    def __call__(self, outputs, targets, params=None):
        d = self.residual(outputs, targets)
        loss = self.reduce(d * d, outputs)
        if params and self.l2:
            loss = loss + self.l2 * ops.dot(*params, *params)
        return loss

    def predict(self, outputs):
        return np.atleast_1d(outputs[0].data)


class SumNotMean(MeanSquares):
    def reduce(self, per_example, outputs):
        return per_example.lane_sum() if outputs[0].is_lanes else per_example


class ForgetsTheMean(MeanSquares):
    def reduce(self, per_example, outputs):
        return per_example


class WrongPenalty(MeanSquares):
    def __call__(self, outputs, targets, params=None):
        d = self.residual(outputs, targets)
        loss = self.reduce(d * d, outputs)
        return loss + self.l2 * ops.sum(*params) if params and self.l2 else loss


class Broadcasts(MeanSquares):
    def residual(self, outputs, targets):
        o = outputs[0]
        t = np.asarray(targets, dtype=np.float64)
        return o - (float(np.mean(t)) if o.is_lanes and t.shape[0] != o.data.size else
                    (t if o.is_lanes else float(t[0])))


class WrongGradient(MeanSquares):
    def __call__(self, outputs, targets, params=None):
        from microgradx import Op
        from microgradx.engine.value import apply

        half_square = Op(name="half_square", forward=lambda x: x * x, backward=lambda g, out, x: (g * x,))
        return self.reduce(apply(half_square, self.residual(outputs, targets)), outputs)


class EditsTargets(MeanSquares):
    def __call__(self, outputs, targets, params=None):
        loss = super().__call__(outputs, targets, params)
        targets += 1.0
        return loss


class NoTask(MeanSquares):
    task = "ranking"


@pytest.mark.parametrize("name", ["mse", "hinge", "bce", "softmax_ce"])
def test_check_loss_passes_the_bundled_losses(name):
    result = check_loss(name)
    assert result.ok and result.max_error < 1e-6
    assert check_loss(name, settings={"l2": 0.1}, n=4).ok


def test_check_loss_passes_a_correct_class_and_instance_and_several_outputs():
    with pytest.warns(FastPathWarning, match="lacks encode_targets, build, per_example, penalised"):
        assert check_loss(MeanSquares).ok  # (correct, but the Trainer's compiled path needs more: it says so)
    with pytest.warns(FastPathWarning):
        assert check_loss(MeanSquares(l2=0.5)).ok
    assert check_loss("mse", n_outputs=2).ok


@pytest.mark.parametrize("loss, error, message", [
    (SumNotMean, ContractError, r"is not the mean .* of their scalar-mode values"),
    (ForgetsTheMean, ContractError, r"must return a Value holding a finite float, got a Value holding array"),
    (WrongPenalty, ContractError, r"with l2=0.25 and params \[0.5, -1.5\], the value is"),
    (Broadcasts, ContractError, r"accepted 5 targets for 6 examples"),
    (WrongGradient, GradcheckError, r"lane-mode gradient with respect to the outputs: gradcheck failed"),
    (EditsTargets, ContractError, r"modified the targets array in place"),
    (NoTask, ContractError, r"task must be one of binary, multiclass, regression, got 'ranking'"),
])
def test_check_loss_catches_a_broken_loss(loss, error, message):
    with pytest.raises(error, match=message):
        check_loss(loss)


def test_check_loss_reports_a_loss_that_cannot_be_built():
    with pytest.raises(ContractError, match=r"could not be built with settings \{'l2': -1.0\}"):
        check_loss("mse", settings={"l2": -1.0})


# -- optimizers ---------------------------------------------------------------------------------------


class PlainSGD:
    """A correct optimizer: p -= lr * grad; lr validated."""

    def __init__(self, params, lr=0.1, momentum=0.0):
        if not lr >= 0.0:  # also rejects nan
            raise ValueError(f"PlainSGD: lr must be >= 0, got {lr!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"PlainSGD: momentum must be in [0, 1), got {momentum!r}")
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.buf = [0.0] * len(self.params)

    def step(self):
        for i, p in enumerate(self.params):
            self.buf[i] = self.momentum * self.buf[i] + p.grad
            p.data -= self.lr * self.buf[i]

    def zero_grad(self):
        for p in self.params:
            p.grad = 0.0


class Ascends(PlainSGD):
    def step(self):
        for p in self.params:
            p.data += self.lr * p.grad


class FixedStep(PlainSGD):
    def step(self):
        for p in self.params:
            p.data -= 0.01 * (1.0 if p.grad > 0 else -1.0)


class MovesAtLrZero(PlainSGD):
    def step(self):
        for p in self.params:
            p.data -= (self.lr or 0.01) * p.grad  # the bug: lr=0 taken as "use the default"


class NoValidation(PlainSGD):
    def __init__(self, params, lr=0.1, momentum=0.0):
        self.params, self.lr, self.momentum, self.buf = list(params), lr, momentum, [0.0] * len(params)


class SwallowsSettings(PlainSGD):
    def __init__(self, params, lr=0.1, **ignored):
        super().__init__(params, lr)
        del self.momentum


class KeepsGrads(PlainSGD):
    def zero_grad(self):
        pass


def test_check_optimizer_passes_the_bundled_optimizers_and_their_settings():
    result = check_optimizer("sgd")
    assert result.ok and len(result.first_step) == 5
    assert check_optimizer("sgd", settings={"momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
                           invalid=[{"momentum": 1.5}, {"nesterov": "yes"}, {"weight_decay": -1.0}]).ok
    assert check_optimizer("adam", settings={"beta1": 0.8, "beta2": 0.99},
                           invalid=[{"beta1": 1.0}, {"eps": 0.0}]).ok


def test_check_optimizer_passes_a_correct_class():
    assert check_optimizer(PlainSGD, settings={"momentum": 0.5}, invalid=[{"momentum": 1.0}]).ok


@pytest.mark.parametrize("cls, kwargs, message", [
    (Ascends, {}, r"a step moved parameter 0 .* it must move against the gradient"),
    (FixedStep, {}, r"with lr=0.1 the first step moved parameter 0 by .* not twice"),
    (MovesAtLrZero, {}, r"a step with lr=0 moved the parameters"),
    (NoValidation, {}, r"accepted the invalid settings \{'lr': -1.0\}"),
    (PlainSGD, {"invalid": [{"momentum": 0.5}]}, r"accepted the invalid settings \{'momentum': 0.5\}"),
    (SwallowsSettings, {"settings": {"momentum": 0.5}}, r"the setting momentum=0.5 is not kept as the attribute"),
    (KeepsGrads, {}, r"zero_grad\(\) left grads"),
])
def test_check_optimizer_catches_a_broken_optimizer(cls, kwargs, message):
    with pytest.raises(ContractError, match=message):
        check_optimizer(cls, **kwargs)


def test_check_optimizer_reports_an_optimizer_that_cannot_be_built():
    with pytest.raises(ContractError, match=r"optimizer 'PlainSGD': could not be built with lr=0.05"):
        check_optimizer(PlainSGD, settings={"nesterov": True})


def test_a_lane_parameter_is_not_what_check_optimizer_makes():
    """The parameters are float Values, as models' parameters are."""
    seen = []

    class Recording(PlainSGD):
        def __init__(self, params, lr=0.1, momentum=0.0):
            seen.extend(params)
            super().__init__(params, lr, momentum)

    check_optimizer(Recording)
    assert seen and all(isinstance(p, Value) and isinstance(p.data, float) for p in seen)
