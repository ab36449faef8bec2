"""The structural types of contract §7 — channel_shuffle, pixel_unshuffle, pad, slice: values and
gradients worked by hand from PyTorch's definitions, the naive loops of tests/naive.py in 1-D to
3-D, receptive fields, `verify --rf`, `explain`, one located line per bad parameter, and
(optional) PyTorch itself. The registry-completeness test (tests/test_registry.py) adds the
finite-difference gradient and brute-force field of one 1-D sample of each."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import naive
from helpers import analyze_spec
from netcalc.cli import cli
from netcalc.executor import Executor

MODES = ("zeros", "reflect", "replicate", "circular")


def run(x, entries, dtype=np.float64):
    """(analysis, executor, forward) of a spec of `entries` on x's per-sample shape."""
    a = analyze_spec(list(x.shape[1:]), entries)
    ex = Executor(a.graph, dtype=dtype)
    return a, ex, ex.forward(x, keep=True, _caches=True)


def verify_rf_agrees(tmp_path, text: str, layers: int) -> None:
    """`netcalc verify --rf` on the spec `text`: exit 0, every layer's field agrees."""
    spec = tmp_path / "rf.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(cli, ["verify", str(spec), "--rf"])
    assert result.exit_code == 0, result.output
    assert f"receptive fields: {layers}/{layers} agree" in result.output


def one(x, entry):
    """(y, dx for dy = d) of a one-layer spec: d → its input gradient."""
    a, ex, fwd = run(x, [entry])
    name = a.layers[-1].name
    return fwd.outputs[name], lambda dy: ex.backward(x, fwd, name, dy).input


# ---- channel_shuffle ----------------------------------------------------------------------------

def test_channel_shuffle_order_by_hand():
    # 6 channels as 2 groups of 3 [[0, 1, 2], [3, 4, 5]], read by column: 0, 3, 1, 4, 2, 5
    x = np.arange(6.0).reshape(1, 6, 1)
    y, back = one(x, {"channel_shuffle": {"groups": 2}})
    assert y[0, :, 0].tolist() == [0, 3, 1, 4, 2, 5]
    # 3 groups of 2 [[0, 1], [2, 3], [4, 5]]: 0, 2, 4, 1, 3, 5
    y3, _ = one(x, {"channel_shuffle": {"groups": 3}})
    assert y3[0, :, 0].tolist() == [0, 2, 4, 1, 3, 5]
    # the backward is the inverse permutation: dy = y gives back x
    np.testing.assert_array_equal(back(y), x)


@pytest.mark.parametrize("shape,groups", [((2, 12, 3, 2), 4), ((1, 6, 2, 2, 3), 2), ((2, 8), 8), ((1, 5, 4), 1)])
def test_channel_shuffle_matches_the_naive_loops(shape, groups):
    x = np.random.default_rng(0).standard_normal(shape)
    y, _ = one(x, {"channel_shuffle": {"groups": groups}})
    np.testing.assert_array_equal(y, naive.channel_shuffle(x, groups))


# ---- pixel_unshuffle ----------------------------------------------------------------------------

def test_pixel_unshuffle_order_by_hand():
    # 4×4 image 0…15, r = 2: channel i·2 + j holds offset (i, j) of each 2×2 block
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y, back = one(x, {"pixel_unshuffle": {"factor": 2}})
    assert y[0].tolist() == [[[0, 2], [8, 10]], [[1, 3], [9, 11]], [[4, 6], [12, 14]], [[5, 7], [13, 15]]]
    np.testing.assert_array_equal(back(y), x)


@pytest.mark.parametrize("shape,factor", [((2, 3, 4, 6), 2), ((1, 2, 9), 3), ((1, 2, 2, 4, 6), 2)])
def test_pixel_unshuffle_matches_the_naive_loops(shape, factor):
    x = np.random.default_rng(1).standard_normal(shape)
    y, _ = one(x, {"pixel_unshuffle": {"factor": factor}})
    np.testing.assert_array_equal(y, naive.pixel_unshuffle(x, factor))


def test_pixel_unshuffle_undoes_pixel_shuffle():
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 4))
    a, _, fwd = run(x, [{"pixel_unshuffle": {"factor": 2}}, {"pixel_shuffle": {"factor": 2}}])
    assert a.layers[0].output == (12, 3, 2)
    np.testing.assert_array_equal(fwd.outputs["pixel_shuffle1"], x)


def test_pixel_unshuffle_receptive_field_is_an_r_window():
    # covers [2·o, 2·o + 1] per axis: size 2, jump 2; after a 3×3 conv: 3 + (2 − 1)·1 = 4, jump 2
    a = analyze_spec([2, 8, 8], [{"conv": {"out": 2, "kernel": 3, "padding": 1}}, {"pixel_unshuffle": {"factor": 2}}])
    rf = a.layers[1].rf
    assert rf.size == [4, 4] and rf.jump == [2, 2]


# ---- pad ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,padding,expected", [
    # PyTorch's documentation examples, on [0, 1, 2, 3] (and [0, 1, 2] for circular)
    ("reflect", [[3, 3]], [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]),      # mirror, edge not repeated
    ("replicate", [[2, 1]], [0, 0, 0, 1, 2, 3, 3]),             # edge repeated
    ("circular", [[4, 0]], [0, 1, 2, 3, 0, 1, 2, 3]),           # wrap, pad = size allowed
    ("zeros", [[1, 2]], [0, 0, 1, 2, 3, 0, 0]),
])
def test_pad_values_by_hand(mode, padding, expected):
    y, _ = one(np.arange(4.0).reshape(1, 1, 4), {"pad": {"padding": padding, "mode": mode}})
    assert y[0, 0].tolist() == expected


def test_pad_constant_value_and_circular_by_hand():
    y, _ = one(np.arange(3.0).reshape(1, 1, 3), {"pad": {"padding": [[1, 2]], "mode": "circular"}})
    assert y[0, 0].tolist() == [2, 0, 1, 2, 0, 1]
    y, _ = one(np.ones((1, 1, 2)), {"pad": {"padding": 1, "mode": "constant", "value": -2}})
    assert y[0, 0].tolist() == [-2, 1, 1, -2]


@pytest.mark.parametrize("mode,expected", [
    # [a, b, c] padded by 1 and 1, dy = 1 everywhere: each input gets 1 + the copies made of it
    ("reflect", [1, 3, 1]),      # [b, a, b, c, b]: b three times
    ("replicate", [2, 1, 2]),    # [a, a, b, c, c]
    ("circular", [2, 1, 2]),     # [c, a, b, c, a]
    ("zeros", [1, 1, 1]),        # [0, a, b, c, 0]
])
def test_pad_gradient_by_hand(mode, expected):
    _, back = one(np.arange(3.0).reshape(1, 1, 3), {"pad": {"padding": 1, "mode": mode}})
    assert back(np.ones((1, 1, 5)))[0, 0].tolist() == expected


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,padding", [((2, 2, 4, 5), [[3, 1], [0, 4]]), ((1, 2, 3, 3, 4), [1, [2, 0], 3])])
def test_pad_matches_the_naive_loops_and_finite_differences(mode, shape, padding):
    x = np.random.default_rng(3).standard_normal(shape)
    entry = {"pad": {"padding": padding, "mode": mode}}
    a, ex, fwd = run(x, [entry])
    node = a.layers[0].node
    y = fwd.outputs["pad1"]
    np.testing.assert_array_equal(y, naive.pad(x, node.params["padding"], mode))
    dy = np.random.default_rng(4).standard_normal(y.shape)
    dx = ex.backward(x, fwd, "pad1", dy).input
    numeric = naive.numerical_grad(lambda _: float(np.sum(dy * ex.forward(x, keep=True).outputs["pad1"])), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


def test_pad_receptive_field_and_verify_rf(tmp_path):
    # pad maps output o to coordinate o − before: size 1, start −before; a 3×3 conv after it
    # (no padding of its own) sees 3 pixels from −2 on
    a = analyze_spec([1, 8, 8], [{"pad": {"padding": [[2, 0], 1], "mode": "reflect"}}, {"conv": {"out": 1, "kernel": 3}}])
    pad, conv = a.layers
    assert pad.rf.size == [1, 1] and [float(s) for s in pad.rf.start] == [-2, -1]
    assert conv.rf.size == [3, 3] and [float(s) for s in conv.rf.start] == [-1, 0]
    verify_rf_agrees(tmp_path, "input: [2, 12, 12]\nlayers:\n"
                     "  - pad: {padding: 3, mode: reflect}\n  - conv: {out: 4, kernel: 7}\n"
                     "  - pad: {padding: [[1, 0], [0, 1]], mode: replicate}\n  - conv: {out: 4, kernel: 3, stride: 2}\n"
                     "  - pad: {padding: 2, mode: circular}\n  - maxpool: {kernel: 2}\n", 6)


def test_pad_probe_keeps_gradients_on_their_coordinates():
    # in reflect mode output 0 of a pad by 2 copies input 2; the rf probe (zero padding) gives
    # it no input gradient, as its field (coordinate −2) is outside the input
    a = analyze_spec([1, 6], [{"pad": {"padding": 2, "mode": "reflect"}}])
    x = np.random.default_rng(0).uniform(0.5, 1.5, (1, 1, 6))
    real = Executor(a.graph, dtype=np.float64).gradient(x, "pad1", (0, 0, 0)).input
    probe = Executor(a.graph, dtype=np.float64, probe=True).gradient(x, "pad1", (0, 0, 0)).input
    assert real[0, 0].tolist() == [0, 0, 1, 0, 0, 0] and not probe.any()


# ---- slice -------------------------------------------------------------------------------------

def test_slice_by_hand():
    x = np.arange(10.0).reshape(1, 10, 1)
    for params, kept in [({"start": 2, "end": 7}, [2, 3, 4, 5, 6]), ({"start": -3}, [7, 8, 9]),
                         ({"end": -8}, [0, 1]), ({"start": -10, "end": 10}, list(range(10)))]:
        y, back = one(x, {"slice": params})
        assert y[0, :, 0].tolist() == kept
    # the gradient goes back to the kept channels, zero elsewhere
    y, back = one(x, {"slice": {"start": 2, "end": 4}})
    assert back(np.ones((1, 2, 1)))[0, :, 0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]


def test_channel_split_then_concat_restores_the_input():
    # ShuffleNetV2's x.chunk(2, dim=1) as two slices; concatenated again they are the input
    x = np.random.default_rng(5).standard_normal((2, 6, 3, 3))
    _, _, fwd = run(x, [{"slice": {"end": 3}, "name": "a"}, {"slice": {"start": 3}, "name": "b", "from": "input"},
                        {"concat": None, "from": ["a", "b"]}])
    np.testing.assert_array_equal(fwd.outputs["concat1"], x)


# ---- explain -----------------------------------------------------------------------------------

def test_explain_substitutes_the_numbers(tmp_path):
    spec = tmp_path / "e.yaml"
    spec.write_text("input: [8, 6, 4]\nlayers:\n  - pad: {padding: [[1, 2], [2, 3]], mode: reflect}\n"
                    "  - slice: {start: -6}\n  - pixel_unshuffle: {factor: 3}\n  - channel_shuffle: {groups: 2}\n")
    result = CliRunner().invoke(cli, ["explain", str(spec)])
    assert result.exit_code == 0, result.output
    for line in ["H: n + before + after = 6 + 1 + 2 = 9", "W: n + before + after = 4 + 2 + 3 = 9",
                 "padding mode reflect", "start -6 counts from the end: 8 − 6 = 2",
                 "C = end − start = 8 − 2 = 6 (channels [2, 8) of 8)", "C = C_in·r^d = 6·3^2 = 54",
                 "H: n / r = 9 / 3 = 3", "output channel i·2 + k is input channel k·27 + i"]:
        assert line in result.output, line


# ---- one located line, exit 2 ------------------------------------------------------------------

@pytest.mark.parametrize("text,line,words", [
    ("input: [6, 4, 4]\nlayers:\n  - relu\n  - channel_shuffle: {groups: 4}\n", 4,
     ["channel_shuffle1", "groups=4 does not divide the 6 input channels"]),
    ("input: [6, 4]\nlayers:\n  - channel_shuffle\n", 3, ["needs parameter 'groups'"]),
    ("input: [2, 6, 5]\nlayers:\n  - pixel_unshuffle:\n      factor: 2\n", 4,
     ["pixel_unshuffle1", "divisible by 2", "W is 5"]),
    ("input: [8]\nlayers:\n  - pixel_unshuffle: {factor: 2}\n", 3, ["spatial dims"]),
    ("input: [1, 3, 3]\nlayers:\n  - pad:\n      padding: 3\n      mode: reflect\n", 4,
     ["pad1", "reflect padding [3, 3] must be smaller than the input size 3 along H"]),
    ("input: [1, 4]\nlayers:\n  - pad:\n      padding: [[5, 0]]\n      mode: circular\n", 4,
     ["circular padding [5, 0] must not exceed the input size 4 along L"]),
    ("input: [1, 4]\nlayers:\n  - pad: {padding: same}\n", 3, ["explicit sizes", "not 'same'"]),
    ("input: [1, 4]\nlayers:\n  - pad:\n      padding: 1\n      mode: reflect\n      value: 2\n", 6,
     ["mode reflect", "takes no 'value'"]),
    ("input: [1, 4]\nlayers:\n  - pad:\n      padding: 1\n      mode: reflection\n", 5,
     ["'mode' must be one of", "did you mean 'reflect'"]),
    ("input: [1, 4]\nlayers:\n  - pad\n", 3, ["needs parameter 'padding'"]),
    ("input: [4, 3]\nlayers:\n  - slice:\n      start: 3\n      end: -1\n", 5, ["slice1", "slice [3, 3) of the 4 channels is empty"]),
    ("input: [4, 3]\nlayers:\n  - slice:\n      start: 4\n", 4, ["slice [4, 4) of the 4 channels is empty"]),
    ("input: [4, 3]\nlayers:\n  - slice:\n      end: 9\n", 4, ["slice end 9 is outside the 4 channels (−4 … 4)"]),
    ("input: [4, 3]\nlayers:\n  - slice: {start: 1.5}\n", 3, ["'start' must be an integer"]),
    ("input: [1, 5, 5]\nlayers:\n  - conv:\n      out: 2\n      kernel: 3\n      padding: 5\n"
     "      padding_mode: reflect\n", 7, ["conv1", "reflect padding [5, 5] must be smaller than the input size 5"]),
    ("input: [1, 5, 5]\nlayers:\n  - separable: {out: 2, kernel: 3, padding_mode: mirror}\n", 3,
     ["'padding_mode' must be one of zeros, reflect, replicate, circular"]),
    ("input: [1, 5]\nlayers:\n  - conv_transpose: {out: 2, kernel: 3, padding_mode: reflect}\n", 3,
     ["unknown parameter 'padding_mode' for conv_transpose"]),
])
def test_errors_are_one_located_line(tmp_path, text, line, words):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(cli, ["analyze", str(spec)])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"bad.yaml:{line}" in message, message
    for word in words:
        assert word in message, message


# ---- PyTorch (optional; never the only proof) --------------------------------------------------

def _torch_pair(torch, x, entry, module):
    """netcalc's output and input gradient against the PyTorch module's, for one random dy."""
    y, back = one(x, entry)
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    dy = np.random.default_rng(7).standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back(dy), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,groups", [((2, 12, 3, 4), 3), ((1, 8, 5), 4)])
def test_channel_shuffle_against_torch(shape, groups):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal(shape)
    _torch_pair(torch, x, {"channel_shuffle": {"groups": groups}}, torch.nn.ChannelShuffle(groups))


@pytest.mark.parametrize("shape,factor", [((2, 3, 6, 4), 2), ((1, 2, 9, 3), 3)])
def test_pixel_unshuffle_against_torch(shape, factor):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(9).standard_normal(shape)
    _torch_pair(torch, x, {"pixel_unshuffle": {"factor": factor}}, torch.nn.PixelUnshuffle(factor))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,padding", [((2, 3, 7), [[3, 2]]), ((1, 2, 4, 5), [[1, 3], [4, 0]]),
                                           ((1, 2, 3, 4, 5), [[2, 1], [0, 3], [4, 4]])])
def test_pad_against_torch(mode, shape, padding):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(10).standard_normal(shape)
    torch_pads = [p for pair in reversed(padding) for p in pair]  # F.pad: last axis first
    _torch_pair(torch, x, {"pad": {"padding": padding, "mode": mode}},
                lambda t: torch.nn.functional.pad(t, torch_pads, mode=mode))


def test_slice_against_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(11).standard_normal((2, 7, 3, 3))
    _torch_pair(torch, x, {"slice": {"start": -5, "end": 6}}, lambda t: t[:, -5:6])


def test_readme_example_analyses_with_the_shapes_its_comments_give():
    import pathlib
    import re

    from netcalc.analysis import analyze_graph
    from netcalc.graph import build_graph
    from netcalc.spec import load_spec_text

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Reordering, splitting and padding"):]
    text = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    a = analyze_graph(build_graph(load_spec_text(text, "readme.yaml")))
    assert [layer.output for layer in a.layers] == [(3, 262, 262), (64, 256, 256), (64, 256, 256), (256, 128, 128),
                                                    (256, 128, 128), (128, 128, 128), (128, 128, 128)]


@pytest.mark.parametrize("entry", [{"channel_shuffle": {"groups": 1}}, {"channel_shuffle": {"groups": 4}},
                                   {"pixel_unshuffle": {"factor": 1}}, {"pixel_shuffle": {"factor": 1}},
                                   {"slice": {}}, {"pad": {"padding": 0, "mode": "reflect"}}, {"pad": {"padding": 0}}])
def test_outputs_never_share_memory_with_the_input(entry):
    # the executor may overwrite a dead input in place (relu): an output that were a view of its
    # input would change under it, so even the identity cases return a new array
    x = np.random.default_rng(12).standard_normal((1, 4, 4, 4))
    y, _ = one(x, entry)
    assert not np.shares_memory(x, y)
