"""hardsigmoid (contract §7): values and gradients worked by hand from PyTorch's definition
relu6(x + 3) / 6, the rf probe, and (optional) PyTorch itself."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import analyze_spec, one_layer
from netcalc.executor import Executor
from netcalc.layers import lookup

HARDSIGMOID = lookup("hardsigmoid")


def test_values_and_gradient_by_hand():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    # (x + 3)/6 clipped to [0, 1]: −4 → 0, −3 → 0, −1.5 → 0.25, 0 → 0.5, 1.5 → 0.75, 3 → 1, 4 → 1
    np.testing.assert_allclose(HARDSIGMOID.fn(x), [0, 0, 0.25, 0.5, 0.75, 1, 1])
    # PyTorch's backward: 1/6 strictly inside (−3, 3), 0 at and beyond ±3
    np.testing.assert_allclose(HARDSIGMOID.grad(x, None, np.ones_like(x)), [0, 0, 1 / 6, 1 / 6, 1 / 6, 0, 0])


def test_counts_and_shape():
    layer = one_layer([4, 5], "hardsigmoid")
    assert list(layer.output) == [4, 5] and layer.params == 0 and layer.macs == 0
    assert layer.flops == 4 * 20  # 4 per element


def test_rf_is_pointwise_and_probe_passes_through():
    a = analyze_spec([1, 9], [{"conv": {"out": 1, "kernel": 3}}, "hardsigmoid"])
    assert a.layers[1].rf.size == a.layers[0].rf.size == [3]
    # saturated far out: the probe must not lose the gradient there
    assert HARDSIGMOID.probe is not None
    ex = Executor(a.graph, dtype=np.float64, probe=True)
    x = np.full((1, 1, 9), 100.0)
    g = ex.gradient(x, "hardsigmoid1", (0, 0, 3))
    assert np.count_nonzero(g.input) == 3


def test_against_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 5)) * 4
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.hardsigmoid(xt)
    dy = np.random.default_rng(1).standard_normal(x.shape)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(HARDSIGMOID.fn(x), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    # PyTorch multiplies by a float32 1/6 in the backward: agreement to ~3e-8 relative
    np.testing.assert_allclose(HARDSIGMOID.grad(x, None, dy), xt.grad.numpy(), rtol=1e-7, atol=1e-12)
    assert (HARDSIGMOID.grad(x, None, dy) == 0).tolist() == (xt.grad.numpy() == 0).tolist()
