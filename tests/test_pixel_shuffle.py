"""pixel_shuffle (contract §7): PyTorch's channel order worked by hand, the receptive field
(input ⌊o / r⌋ per axis), located errors, verify --rf, and (optional) PyTorch itself."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import naive
from helpers import analyze_spec
from netcalc.cli import cli
from netcalc.executor import Executor


def run_one(x, factor):
    a = analyze_spec(list(x.shape[1:]), [{"pixel_shuffle": {"factor": factor}}])
    ex = Executor(a.graph, dtype=np.float64)
    return a, ex, ex.forward(x, keep=True, _caches=True)


def test_channel_order_by_hand():
    # 2-D, r = 2: channel c·4 + i·2 + j goes to offset (i, j): channels 0, 1, 2, 3 of one pixel
    # become the 2×2 block [[0, 1], [2, 3]]
    x = np.arange(4.0).reshape(1, 4, 1, 1)
    _, _, fwd = run_one(x, 2)
    np.testing.assert_array_equal(fwd.outputs["pixel_shuffle1"][0, 0], [[0, 1], [2, 3]])
    # 1-D, r = 3, 2 output channels, 2 positions: channel 3c + i at position p → output 3p + i
    x = np.arange(12.0).reshape(1, 6, 2)
    _, _, fwd = run_one(x, 3)
    np.testing.assert_array_equal(fwd.outputs["pixel_shuffle1"][0], [[0, 2, 4, 1, 3, 5], [6, 8, 10, 7, 9, 11]])


def test_backward_is_the_inverse_permutation():
    x = np.random.default_rng(0).standard_normal((2, 8, 2, 3))
    a, ex, fwd = run_one(x, 2)
    y = fwd.outputs["pixel_shuffle1"]
    grads = ex.backward(x, fwd, "pixel_shuffle1", y)  # dy = y: dx must be x itself
    np.testing.assert_array_equal(grads.input, x)


def test_receptive_field_is_like_nearest_upsampling():
    a = analyze_spec([8, 9, 9], [{"conv": {"out": 8, "kernel": 3}}, {"pixel_shuffle": {"factor": 2}}])
    rf = a.layers[1].rf
    # output o reads conv output ⌊o/2⌋: size stays 3, jump 1/2
    assert rf.size == [3, 3] and [float(j) for j in rf.jump] == [0.5, 0.5]


def test_verify_rf_agrees(tmp_path):
    spec = tmp_path / "ps.yaml"
    spec.write_text("input: [4, 10]\nlayers:\n  - conv: {out: 8, kernel: 3}\n  - pixel_shuffle: {factor: 2}\n"
                    "  - conv: {out: 2, kernel: 3}\n")
    result = CliRunner().invoke(cli, ["verify", str(spec), "--rf"])
    assert result.exit_code == 0, result.output
    assert "receptive fields: 3/3 agree" in result.output


@pytest.mark.parametrize("text,line,words", [
    ("input: [6, 4, 4]\nlayers:\n  - relu\n  - pixel_shuffle: {factor: 2}\n", 4,
     ["pixel_shuffle1", "divisible by 2^2 = 4", "got 6"]),
    ("input: [8, 4]\nlayers:\n  - pixel_shuffle:\n      factor: 0\n", 4, ["'factor' must be ≥ 1"]),
    ("input: [8, 4]\nlayers:\n  - pixel_shuffle\n", 3, ["needs parameter 'factor'"]),
    ("input: [8]\nlayers:\n  - pixel_shuffle: {factor: 2}\n", 3, ["spatial dims"]),
])
def test_errors_are_one_located_line(tmp_path, text, line, words):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(cli, ["analyze", str(spec)])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"bad.yaml:{line}" in message, message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("shape,factor", [((1, 16, 2, 1, 3), 2), ((2, 9, 4), 3)])
def test_3d_and_1d_match_the_naive_loops(shape, factor):
    """PyTorch's op is 2-D only; the contract extends its order, checked against tests/naive.py."""
    x = np.random.default_rng(3).standard_normal(shape)
    _, _, fwd = run_one(x, factor)
    np.testing.assert_array_equal(fwd.outputs["pixel_shuffle1"], naive.pixel_shuffle(x, factor))


@pytest.mark.parametrize("shape,factor", [((2, 8, 3, 2), 2), ((1, 27, 2, 2), 3)])
def test_against_torch(shape, factor):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal(shape)
    _, ex, fwd = run_one(x, factor)
    y = fwd.outputs["pixel_shuffle1"]
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.pixel_shuffle(xt, factor)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    dy = np.random.default_rng(2).standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    np.testing.assert_array_equal(ex.backward(x, fwd, "pixel_shuffle1", dy).input, xt.grad.numpy())
