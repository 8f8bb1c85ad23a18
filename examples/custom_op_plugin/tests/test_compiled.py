"""The plugin's ops declare elementwise=True, so a compiled step batches them as it batches the bundled ops."""

from __future__ import annotations

import microgradx
import numpy as np
from microgradx import Value, ops


def test_compiled_softplus_and_huber_equal_eager_and_run_batched():
    rng = np.random.default_rng(0)
    w, delta = Value(0.7), Value(1.5)

    def loss(xs):  # one softplus and one huber node per column: each group runs as one numpy call
        return ops.lane_mean(ops.sum(*[ops.huber(ops.softplus(x * w) - 1.0, delta) for x in xs]))

    compiled = microgradx.compile(loss)
    for n in (8, 8, 3):
        X = rng.normal(size=(n, 4))
        eager = loss([Value(col) for col in X.T])
        eager.backward()
        want = (w.grad, delta.grad)
        w.grad = delta.grad = 0.0
        out = compiled(X)
        out.backward()
        np.testing.assert_allclose(out.data, eager.data, rtol=1e-12)
        np.testing.assert_allclose((w.grad, delta.grad), want, rtol=1e-10)
        w.grad = delta.grad = 0.0
    plan = next(iter(compiled._recordings.values())).plan
    batched = {k.op.name: len(k.gathers[0].rows) for k in plan.kernels if type(k).__name__ == "ElementwiseKernel"}
    assert batched["softplus"] == 4 and batched["huber"] == 4  # four nodes of each, one call each
