"""netcalc solve: hand-worked inverse questions, every answer re-analysed as a real layer, and
completeness against brute-force enumerations written here (window placements, transposed-conv
scatters, the classic rf recurrence over every chain)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import analyze_spec, one_layer
from netcalc.cli import cli
from netcalc.solve import LayerQuestion, MenuItem, StackQuestion, solve_layer, solve_stack
from test_properties import naive_window_count


def run(*args):
    return CliRunner().invoke(cli, ["solve", *map(str, args)])


def keys(answer):
    return [tuple(s.to_dict().values()) for s in answer.solutions]


# ---- hand-worked one-layer questions ----

def test_paddings_from_112_to_56_at_stride_2():
    # ⌊(112 + 2p − k)/2⌋ + 1 = 56  ⇔  110 ≤ 112 + 2p − k ≤ 111  ⇔  2p ∈ {k − 2, k − 1}: exactly one p per
    # kernel: k odd → p = (k − 1)/2, k even → p = (k − 2)/2 (k = 1 → p = 0); p ≤ k − 1 always holds
    answer = solve_layer(LayerQuestion("conv", 112, 56, stride=range(2, 3)))
    expected = [(k, 2, (k - 1) // 2 if k % 2 else (k - 2) // 2, 1) for k in range(1, 12)]
    assert keys(answer) == expected


def test_contract_example_kernel_7_from_224_to_112():
    # s = 2: ⌊(217 + 2p)/2⌋ = 111 ⇔ 2p ∈ {5, 6} ⇔ p = 3. s = 1 needs p < 0; s = 3 needs p ≥ 58 > 6;
    # s = 4: ⌊(217 + 2p)/4⌋ = 111 needs 2p ≥ 227
    answer = solve_layer(LayerQuestion("conv", 224, 112, kernel=range(7, 8)))
    assert keys(answer) == [(7, 2, 3, 1)]
    assert answer.solutions[0].formula.endswith("= 112")


def test_transposed_conv_doubling_with_kernel_4():
    # (56 − 1)·2 − 2p + 3 + op + 1 = 112 ⇔ 2p − op = 2 with op < 2 ⇔ p = 1, op = 0
    answer = solve_layer(LayerQuestion("conv_transpose", 56, 112, kernel=range(4, 5), stride=range(2, 3)))
    assert [s.to_dict() for s in answer.solutions] == [
        {"kernel": 4, "stride": 2, "padding": 1, "dilation": 1, "output_padding": 0}]


def test_dilation_range():
    # 3×3 at dilation d spans 2d + 1: ⌊(32 + 2p − 2d − 1)/1⌋ + 1 = 32 ⇔ p = d, for d = 1..3 (p ≤ 2 = k − 1)
    answer = solve_layer(LayerQuestion("conv", 32, 32, kernel=range(3, 4), stride=range(1, 2),
                                       dilation=range(1, 4)))
    assert keys(answer) == [(3, 1, 1, 1), (3, 1, 2, 2)]  # p = 3 for d = 3 is outside 0..k−1
    wider = solve_layer(LayerQuestion("conv", 32, 32, kernel=range(3, 4), stride=range(1, 2),
                                      dilation=range(1, 4), padding=range(0, 4)))
    assert keys(wider) == [(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 3, 3)]


def test_max_pool_ceil_mode():
    # kernel 2, stride 2 on 7: floor: p = 0 → ⌊5/2⌋ + 1 = 3, p = 1 → ⌊7/2⌋ + 1 = 4.
    # ceil: p = 0 → ⌈5/2⌉ + 1 = 4; p = 1 → ⌈7/2⌉ + 1 = 5 but window 4 starts at 8 ≥ 7 + 1 → dropped → 4
    floor = solve_layer(LayerQuestion("maxpool", 7, 4, kernel=range(2, 3), stride=range(2, 3)))
    ceil = solve_layer(LayerQuestion("maxpool", 7, 4, kernel=range(2, 3), stride=range(2, 3), ceil_mode=True))
    assert [s.to_dict() for s in floor.solutions] == [
        {"kernel": 2, "stride": 2, "padding": 1, "dilation": 1, "ceil_mode": False}]
    assert [s.padding for s in ceil.solutions] == [0, 1]
    assert all(s.ceil_mode is True for s in ceil.solutions)
    assert "dropped → 4" in ceil.solutions[1].formula


def test_pooling_padding_over_half_the_window_is_no_answer():
    # 4 + 2p − 3 + 1 = 6 ⇔ p = 2: a conv may pad 2, a 3-window pool may not (PyTorch: p ≤ 3 // 2)
    conv = solve_layer(LayerQuestion("conv", 4, 6, kernel=range(3, 4), stride=range(1, 2), padding=range(0, 4)))
    pool = solve_layer(LayerQuestion("maxpool", 4, 6, kernel=range(3, 4), stride=range(1, 2), padding=range(0, 4)))
    assert keys(conv) == [(3, 1, 2, 1)]
    assert pool.solutions == []


def test_nothing_fits_gives_the_nearest_sizes():
    # kernel 3, stride 2 on 112: ⌊(109 + 2p)/2⌋ + 1 = 55 (p = 0), 56 (p = 1), 57 (p = 2): 58 is unreachable
    answer = solve_layer(LayerQuestion("conv", 112, 58, kernel=range(3, 4), stride=range(2, 3)))
    assert answer.solutions == []
    assert [(s.out, s.padding) for s in answer.nearest] == [(57, 2)]
    below = solve_layer(LayerQuestion("conv", 112, 54, kernel=range(3, 4), stride=range(2, 3), padding=range(1, 3)))
    assert [(s.out, s.padding) for s in below.nearest] == [(56, 1)]


# ---- every answer is a real layer with that output ----

@pytest.mark.parametrize("layer, n, m, extra", [
    ("conv", 224, 112, {}), ("conv", 28, 28, {"dilation": range(1, 3)}), ("maxpool", 112, 56, {}),
    ("maxpool", 13, 7, {"ceil_mode": True}), ("avgpool", 9, 5, {"ceil_mode": True}),
    ("conv_transpose", 16, 32, {}), ("conv_transpose", 7, 15, {"dilation": range(1, 3)}),
])
def test_each_answer_analysed_as_a_layer(layer, n, m, extra):
    answer = solve_layer(LayerQuestion(layer, n, m, **extra))
    assert answer.solutions
    for s in answer.solutions:
        params = {k: v for k, v in s.to_dict().items() if not (layer == "avgpool" and k == "dilation")}
        if layer.startswith("conv"):
            params["out"] = 2
        result = one_layer([3, n, n], {layer: params})
        assert result.output[1:] == (m, m), s


# ---- completeness: brute force over the same ranges ----

def naive_scatter_length(n, k, s, d, pad, output_padding):
    """Scatter every input through every tap (i·s + t·d), take the full length, crop the padding on
    both sides and add output_padding at the end (PyTorch's ConvTranspose)."""
    full = max(i * s + t * d for i in range(n) for t in range(k)) + 1
    return full - 2 * pad + output_padding


def brute_force(layer, n, m, kernels, strides, paddings, dilations, ceil_mode):
    found = set()
    for k, s, d in itertools.product(kernels, strides, dilations):
        for p in paddings if paddings is not None else range(k):
            span = d * (k - 1) + 1
            if layer == "conv_transpose":
                for op in range(max(s, d)):  # PyTorch: output_padding < max(stride, dilation)
                    if naive_scatter_length(n, k, s, d, p, op) == m:
                        found.add((k, s, p, d, op))
                continue
            if layer in ("maxpool", "avgpool") and p > span // 2:
                continue  # PyTorch: padding at most half the window
            if naive_window_count(n, k, s, d, p, p, ceil_mode and layer != "conv") == m:
                found.add((k, s, p, d, ceil_mode) if layer != "conv" else (k, s, p, d))
    return found


@settings(max_examples=60, deadline=None)
@given(layer=st.sampled_from(["conv", "maxpool", "avgpool", "conv_transpose"]), n=st.integers(1, 24),
       m=st.integers(1, 30), k_hi=st.integers(1, 6), s_hi=st.integers(1, 3), d_hi=st.integers(1, 2),
       pads=st.one_of(st.none(), st.tuples(st.integers(0, 2), st.integers(0, 3))), ceil_mode=st.booleans())
def test_complete_against_brute_force(layer, n, m, k_hi, s_hi, d_hi, pads, ceil_mode):
    if layer == "avgpool":
        d_hi = 1
    if layer not in ("maxpool", "avgpool"):
        ceil_mode = False
    paddings = None if pads is None else range(min(pads), max(pads) + 1)
    answer = solve_layer(LayerQuestion(layer, n, m, kernel=range(1, k_hi + 1), stride=range(1, s_hi + 1),
                                       padding=paddings, dilation=range(1, d_hi + 1), ceil_mode=ceil_mode))
    got = keys(answer)
    assert len(got) == len(set(got)), "no duplicates"
    assert set(got) == brute_force(layer, n, m, range(1, k_hi + 1), range(1, s_hi + 1), paddings,
                                   range(1, d_hi + 1), ceil_mode)


# ---- stacks ----

def test_stack_hand_worked():
    # menu 3×3 (s1) and 3×3 s2, rf 7 at total stride 2, ≤ 3 layers: rf grows by 2·jump per conv and the
    # s2 doubles the jump after it. One s2 is needed: [s2, c] 3 → 7 ✓; [c, s2] 3 → 5; [c, c, s2] 3, 5, 7 ✓;
    # [c, s2, c] → 9; [s2, c, c] → 11; [s2] → 3.
    q = StackQuestion(7, 2, [MenuItem.parse("conv3"), MenuItem.parse("conv3s2")], max_layers=3, size=32,
                      channels=3, widths=[64])
    answer = solve_stack(q)
    assert [[item.text for item in s.chain] for s in answer.stacks] == [["conv3s2", "conv3"],
                                                                      ["conv3", "conv3", "conv3s2"]]
    # params: 3·64·9 + 64 = 1,792 and 64·64·9 + 64 = 36,928 per later conv
    assert [s.params for s in answer.stacks] == [1792 + 36928, 1792 + 2 * 36928]
    # MACs at 32×32 (padding 1): [s2, c]: 64·16²·27 + 64·16²·576; [c, c, s2]: 64·32²·27 + 64·32²·576 + 64·16²·576
    assert [s.macs for s in answer.stacks] == [64 * 256 * 27 + 64 * 256 * 576,
                                              64 * 1024 * 27 + 64 * 1024 * 576 + 64 * 256 * 576]
    by_macs = solve_stack(StackQuestion(7, 2, q.menu, 3, 32, 3, [64], "macs"))
    assert [s.macs for s in by_macs.stacks] == sorted(s.macs for s in answer.stacks)


def test_stack_widths_per_conv():
    # widths 16, 32: the first conv 3 → 16 (3·16·9 + 16 = 448), the second 16 → 32 (16·32·9 + 32 = 4,640)
    q = StackQuestion(5, 1, [MenuItem.parse("conv3")], max_layers=3, size=8, channels=3, widths=[16, 32])
    (stack,) = solve_stack(q).stacks
    assert stack.params == 448 + 4640 and stack.output == (32, 8, 8)


def classic_rf(chain):
    """The seed notes' recursion, top-down: RF_(l−1) = (RF_l − 1)·s + d·(k − 1) + 1 from 1."""
    size = 1
    for item in reversed(chain):
        size = (size - 1) * item.stride + item.dilation * (item.kernel - 1) + 1
    stride = 1
    for item in chain:
        stride *= item.stride
    return size, stride


@settings(max_examples=25, deadline=None)
@given(menu=st.lists(st.sampled_from(["conv1", "conv3", "conv3s2", "conv5", "conv3d2", "maxpool2", "maxpool3s2p1",
                                      "avgpool2", "conv2s2"]), min_size=1, max_size=3, unique=True),
       max_layers=st.integers(1, 4), target=st.integers(1, 40), stride=st.sampled_from([None, 1, 2, 4, 8]))
def test_stack_complete_against_every_chain(menu, max_layers, target, stride):
    items = [MenuItem.parse(m) for m in menu]
    answer = solve_stack(StackQuestion(target, stride, items, max_layers, 64, 2, [4]))
    expected = set()
    for length in range(1, max_layers + 1):
        for chain in itertools.product(items, repeat=length):
            size, total = classic_rf(chain)
            if size == target and (stride is None or total == stride):
                expected.add(tuple(item.text for item in chain))
    got = [tuple(item.text for item in s.chain) for s in answer.stacks]
    assert len(got) == len(set(got))
    assert set(got) == expected  # 64×64 is large enough for every chain of ≤ 4 of these layers
    for s in answer.stacks[:3]:  # each answer, analysed as a real spec, has that field and stride
        layers = [{kind: params} for kind, params in s.entries]
        last = analyze_spec([2, 64, 64], layers).layers[-1]
        assert last.rf.size == [target, target] and last.rf.jump[0] == s.stride


# ---- the command line ----

def test_cli_json_and_exit_0():
    result = run("--layer", "conv", "--in", 112, "--out", 56, "--kernel", 3, "--stride", 2, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"layer": "conv", "in": 112, "out": 56, "solutions": [
        {"kernel": 3, "stride": 2, "padding": 1, "dilation": 1}]}


def test_cli_table_shows_the_worked_formula():
    result = run("--layer", "conv", "--in", 112, "--out", 56, "--kernel", "3", "--stride", "2")
    assert "kernel 3, stride 2, padding 1, dilation 1: ⌊(112 + 2·1 − 1·(3 − 1) − 1) / 2⌋ + 1 = ⌊111 / 2⌋ + 1 = 56" \
        in result.stdout


def test_cli_exit_1_with_nearest():
    result = run("--layer", "conv", "--in", 112, "--out", 58, "--kernel", 3, "--stride", 2, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["solutions"] == [] and data["nearest"] == [
        {"out": 57, "kernel": 3, "stride": 2, "padding": 2, "dilation": 1}]


def test_cli_stack_exit_1_with_nearest():
    # reachable at total stride 2 with ≤ 3 layers (see test_stack_hand_worked): rf 3, 5, 7, 9, 11
    result = run("--rf", 8, "--total-stride", 2, "--max-layers", 3, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["nearest"] == [{"rf": 7, "total_stride": 2}, {"rf": 9, "total_stride": 2}]
    text = run("--rf", 8, "--total-stride", 2, "--max-layers", 3)
    assert "nearest reachable: rf 7 at total stride 2; rf 9 at total stride 2" in text.stdout


def test_cli_stack_json():
    result = run("--rf", 7, "--total-stride", 2, "--max-layers", 3, "--in", 32, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["count"] == 2 and data["solutions"][0]["layers"] == ["conv3s2", "conv3"]
    assert data["solutions"][0]["spec"][0] == {"conv": {"out": 64, "kernel": 3, "stride": 2, "padding": 1,
                                                        "dilation": 1}}


@pytest.mark.parametrize("args, message", [
    (["--layer", "conv", "--in", "112", "--out", "x"], "--out must be a whole number"),
    (["--layer", "conv", "--in", "112"], "needs --in N and --out M"),
    (["--layer", "dense", "--in", "8", "--out", "4"], "--layer must be one of"),
    (["--layer", "conv", "--in", "8", "--out", "4", "--kernel", "7..1"], "is empty"),
    (["--layer", "conv", "--in", "8", "--out", "4", "--kernel", "0..3"], "--kernel must be ≥ 1"),
    (["--layer", "avgpool", "--in", "8", "--out", "4", "--dilation", "2"], "avgpool has no dilation"),
    (["--layer", "conv", "--in", "8", "--out", "4", "--ceil-mode"], "--ceil-mode applies to maxpool"),
    (["--layer", "conv", "--in", "8", "--out", "4", "--output-padding", "1"], "conv_transpose only"),
    (["--layer", "conv", "--in", "8", "--out", "4", "--rf", "5"], "not both"),
    (["--layer", "conv", "--in", "8", "--out", "4", "--kernel", "1..999", "--dilation", "1..999"], "narrow them"),
    (["--rf", "7", "--menu", "conv3x"], "menu item 'conv3x' is not understood"),
    (["--rf", "7", "--max-layers", "13"], "--max-layers must be between 1 and 12"),
    (["--rf", "7", "--out", "3"], "--out belongs to one-layer questions"),
    ([], "ask a one-layer question"),
])
def test_cli_bad_question_one_line_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netcalc: error: ") and message in lines[0], result.stderr


def test_readme_examples_are_current():
    # README.md shows these outputs verbatim; they must stay what solve prints
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for args in (["--layer", "conv", "--in", "112", "--out", "56", "--stride", "2", "--kernel", "3..5"],
                 ["--layer", "maxpool", "--in", "113", "--out", "60", "--kernel", "2..3"],
                 ["--rf", "31", "--total-stride", "8", "--menu", "conv3,conv3s2,maxpool2", "--max-layers", "6",
                  "--top", "3"]):
        for line in run(*args).stdout.splitlines():
            assert line in readme, line
