"""PyTorch's version of each bundled op, for the tests that compare with it (given torch and the inputs as tensors)."""

from __future__ import annotations


def _torch_dot(t, *xs):
    bias, k = len(xs) & 1, len(xs) >> 1
    total = xs[0] if bias else 0.0
    for w, x in zip(xs[bias:bias + k], xs[bias + k:]):
        total = total + w * x
    return total


#: op name -> its PyTorch counterpart, given torch and the inputs as tensors (a float input: a 0-d tensor)
TORCH = {
    "add": lambda t, x, y: x + y,
    "sub": lambda t, x, y: x - y,
    "neg": lambda t, x: -x,
    "mul": lambda t, x, y: x * y,
    "div": lambda t, x, y: x / y,
    "pow": lambda t, x, y: t.pow(x, y),
    "tanh": lambda t, x: t.tanh(x),
    "relu": lambda t, x: t.relu(x),
    "exp": lambda t, x: t.exp(x),
    "log": lambda t, x: t.log(x),
    "sigmoid": lambda t, x: t.sigmoid(x),
    "abs": lambda t, x: t.abs(x),
    "sign": lambda t, x: t.sign(x),
    "step": lambda t, x: (x > 0).to(x.dtype),  # (no gradient in PyTorch either)
    "lane_sum": lambda t, x: x.sum(),
    "lane_mean": lambda t, x: x.mean(),
    "lane_dot": lambda t, a, b: (a * b).sum(),
    "lane_fill": lambda t, g, x: g.expand(t.broadcast_shapes(g.shape, x.shape)),  # (x gives only the lanes)
    "dot": _torch_dot,
    "sum": lambda t, *xs: sum(xs[1:], xs[0]),
    "logsumexp": lambda t, *xs: t.logsumexp(t.stack(t.broadcast_tensors(*xs)), dim=0),
    "bce_logit": lambda t, z, y: t.nn.functional.binary_cross_entropy_with_logits(
        *t.broadcast_tensors(z, y), reduction="none"),
}
