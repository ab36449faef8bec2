"""netcalc explain: golden outputs worked by hand from the seed formulas, and the seed notes'
top-down receptive-field recursion against the exact bottom-up fields (contract §5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from netcalc.analysis import analyze_graph
from netcalc.cli import cli
from netcalc.errors import SpecError
from netcalc.explain import classic, explain, render_plain, render_rich, top_down, top_down_sizes
from netcalc.graph import build_graph
from netcalc.spec import load_spec_text

HERE = Path(__file__).parent
DATA = HERE / "data" / "check"


def analysis_of(text: str):
    return analyze_graph(build_graph(load_spec_text(text, "t.yaml")))


def lines_of(text: str, name: str | None = None) -> str:
    a = analysis_of(text)
    return render_plain(explain(a, name), a)


def test_golden_seed_conv():
    """The seed's 5×5 input, 3×3 kernel, stride 1: 3×3 output, 17 FLOPs per output, 153 in all."""
    result = CliRunner().invoke(cli, ["explain", str(DATA / "seed_conv.yaml"), "--layer", "c"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (HERE / "golden" / "explain_seed_conv.txt").read_text()


def test_stem_224_k7_s2_p3():
    out = lines_of("input: [3, 224, 224]\nlayers:\n  - conv: {out: 64, kernel: 7, stride: 2, padding: 3}\n"
                   "  - maxpool: {kernel: 3, stride: 2, padding: 1}\n")
    assert "H: ⌊(224 + 2·3 − 1·(7 − 1) − 1) / 2⌋ + 1 = ⌊223 / 2⌋ + 1 = 112" in out
    assert "C_out·(C_in/g)·Πk + C_out = 64·(3/1)·7·7 + 64 = 9472" in out
    assert "= 64·112·112·(3/1)·7·7 = 118013952" in out
    # the seed's top-down recursion: pool k3 s2 → 3, then conv k7 s2 → (3 − 1)·2 + 7 = 11
    assert "maxpool1: (1 − 1)·2 + 1·(3 − 1) + 1 = 3; conv1: (3 − 1)·2 + 1·(7 − 1) + 1 = 11 → RF = 11" in out
    assert "bottom-up: size 11 × 11, jump 4 × 4" in out
    assert "⌊(112 + 2·1 − 1·(3 − 1) − 1) / 2⌋ + 1 = ⌊111 / 2⌋ + 1 = 56" in out
    assert "3·3 · 64·56·56 = 1806336" in out  # 9 compares per output


def test_ceil_mode_and_dropped_window():
    # ⌈(6 − 2 − 1) / 2⌉ + 1 = ⌈3/2⌉ + 1 = 3
    out = lines_of("input: [1, 6]\nlayers:\n  - maxpool: {kernel: 3, stride: 2, ceil_mode: true}\n")
    assert "L: ⌈(6 + 2·0 − 1·(3 − 1) − 1) / 2⌉ + 1 = ⌈3 / 2⌉ + 1 = 3" in out
    # 5, k2, s2, p1: ⌈5/2⌉ + 1 = 4, but window 3 would start at 6 ≥ 5 + 1 (in the right padding)
    out = lines_of("input: [1, 5]\nlayers:\n  - maxpool: {kernel: 2, stride: 2, padding: 1, ceil_mode: true}\n")
    assert "⌈(5 + 2·1 − 1·(2 − 1) − 1) / 2⌉ + 1 = ⌈5 / 2⌉ + 1 = 4, but the last window would start in the " \
           "right padding: dropped → 3" in out


def test_dilation_and_asymmetric_padding():
    out = lines_of("input: [1, 7, 8]\nlayers:\n  - conv: {out: 2, kernel: 3, dilation: 2, padding: [[1, 2], 0], "
                   "bias: false}\n")
    # H: ⌊(7 + 1 + 2 − 2·2 − 1) / 1⌋ + 1 = 6; W: ⌊(8 − 4 − 1)⌋ + 1 = 4
    assert "H: ⌊(7 + 1 + 2 − 2·(3 − 1) − 1) / 1⌋ + 1 = ⌊5 / 1⌋ + 1 = 6" in out
    assert "W: ⌊(8 + 2·0 − 2·(3 − 1) − 1) / 1⌋ + 1 = ⌊3 / 1⌋ + 1 = 4" in out
    assert "conv1: (1 − 1)·1 + 2·(3 − 1) + 1 = 5 → RF = 5" in out


def test_transposed_and_upsample_are_bottom_up_only():
    out = lines_of("input: [4, 4, 4]\nlayers:\n"
                   "  - conv_transpose: {out: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1}\n"
                   "  - upsample: {scale: 2}\n")
    # (4 − 1)·2 − 2 + 2 + 1 + 1 = 8, then ⌊8·2⌋ = 16
    assert "H: (4 − 1)·2 − (1 + 1) + 1·(3 − 1) + 1 + 1 = 8" in out
    assert "H: ⌊n·scale⌋ = ⌊8·2⌋ = 16" in out
    assert "top-down recursion applies to plain conv/pool chains only; 'conv_transpose1' (conv_transpose)" in out
    assert "params:\n    C_in·(C_out/g)·Πk + C_out = 4·(2/1)·3·3 + 2 = 74" in out


def test_merge_is_bottom_up_only():
    a = analysis_of("input: [2, 8, 8]\nlayers:\n  - conv: {out: 2, kernel: 3, padding: 1}\n"
                    "  - add:\n    from: [input, conv1]\n")
    steps, why = top_down(a, "add1")
    assert steps is None and "'add1' (add)" in why


def test_linear_and_pointwise_formulas():
    out = lines_of("input: [4, 2, 2]\nlayers:\n  - relu6\n  - flatten\n  - linear: {out: 3, bias: false}\n")
    assert "2 per element × elements 4·2·2 = 32" in out
    assert "4·2·2 = 16 → [16]" in out
    assert "in·out = 16·3 = 48" in out
    # (2·16 − 1)·3 = 93 without bias
    assert "(2·in − 1)·out = (2·16 − 1)·3 = 93" in out
    assert "none: the tensor is flat here" in out


def test_rich_rendering_runs():
    from rich.console import Console

    a = analysis_of((DATA / "seed_conv.yaml").read_text())
    console = Console(record=True, width=200, color_system=None)
    render_rich(explain(a), a, console)
    text = console.export_text()
    assert "× outputs 1·3·3 = 9 → 9·17 = 153" in text and "RF = 3" in text


def test_explain_unknown_layer_exit_2():
    result = CliRunner().invoke(cli, ["explain", str(DATA / "seed_conv.yaml"), "--layer", "cc"])
    assert result.exit_code == 2 and "no layer named 'cc' (did you mean 'c'?)" in result.stderr


def test_explain_bad_spec_exit_2(tmp_path):
    (tmp_path / "s.yaml").write_text("input: [1, 5, 5]\nlayers:\n  - conv: {out: 1, kernal: 3}\n")
    result = CliRunner().invoke(cli, ["explain", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2 and "did you mean 'kernel'" in result.stderr


# ---- top-down (seed notes) = bottom-up (rf.py) on random conv/pool chains ----

def seed_in_from_out(net):
    """The seed notes' inFromOut, with the dilation form F(i, j−1) = (F(i, j) − 1)·stride +
    dilation·(kernel − 1) + 1; `net` lists (kernel, stride, dilation) from the input up."""
    rf_size = 1
    for fsize, stride, dilation in reversed(net):
        rf_size = (rf_size - 1) * stride + dilation * (fsize - 1) + 1
    return rf_size


layer_st = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3),
              st.integers(0, 2)),
    st.tuples(st.just("maxpool"), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
              st.integers(0, 1)),
    st.tuples(st.just("avgpool"), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.just(1),
              st.integers(0, 1)),
    st.tuples(st.just("relu"), st.just(1), st.just(1), st.just(1), st.just(1), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(layer_st, min_size=1, max_size=6), st.integers(8, 200), st.booleans())
def test_top_down_equals_bottom_up(chain, size, ceil_mode):
    lines = [f"input: [2, {size}, {size + 3}]", "layers:"]
    net_h, net_w = [], []
    for kind, kh, kw, stride, dilation, pad in chain:
        if kind == "relu":
            lines.append("  - relu")
            continue
        pad = min(pad, kh // 2, kw // 2) if kind != "conv" else pad
        params = f"kernel: [{kh}, {kw}], stride: {stride}, padding: {pad}"
        if kind == "conv":
            params = f"out: 2, {params}, dilation: {dilation}"
        elif kind == "maxpool":
            params += f", dilation: {dilation}, ceil_mode: {str(ceil_mode).lower()}"
        lines.append(f"  - {kind}: {{{params}}}")
        net_h.append((kh, stride, dilation))
        net_w.append((kw, stride, dilation))
    try:
        a = analysis_of("\n".join(lines) + "\n")
    except SpecError:
        assume(False)
    last = a.layers[-1]
    bottom_up = last.rf.size
    assert top_down_sizes(a, last.name) == bottom_up
    assert bottom_up == [seed_in_from_out(net_h), seed_in_from_out(net_w)]
    # the classic arithmetic (with padding) gives the exact jump and start too
    steps = classic(a, last.name)
    assert [axis[-1].jump if axis else 1 for axis in steps] == last.rf.jump
    assert [axis[-1].start if axis else 0 for axis in steps] == last.rf.start


def test_padding_moves_start_not_size():
    # k3 s1: padding 0 → field of output 0 is [0, 2], centre 1; padding 1 → [−1, 1], centre 0
    for pad, start in ((0, "1"), (1, "0"), (2, "-1")):
        out = lines_of(f"input: [1, 9]\nlayers:\n  - conv: {{out: 1, kernel: 3, padding: {pad}}}\n")
        assert f"start 0 + (1·(3 − 1)/2 − {pad})·1 = {start}" in out
        assert f"bottom-up: size 3, jump 1, start {start} (exact" in out


def test_transposed_2x2_stride_2_flops():
    # each of the 4×4 outputs receives exactly one product: 2·1 − 1 = 1 FLOP each, 16 in all
    out = lines_of("input: [1, 2, 2]\nlayers:\n  - conv_transpose: {out: 1, kernel: 2, stride: 2, bias: false}\n")
    assert "H: 4 kernel taps land on the 4 outputs, 4 of them reached" in out
    assert "C_out·(2·(C_in/g)·Π landed − Π reached) = 1·(2·(1/1)·16 − 16) = 16" in out
    assert "C_in·Π(in spatial)·(C_out/g)·Πk = 1·2·2·(1/1)·2·2 = 16" in out


def test_adaptive_bins_flops():
    # 5 → 2 per axis: bins [0, 3) and [2, 5), 3 + 3 = 6 per axis; 2 channels: 2·6·6 = 72
    out = lines_of("input: [2, 5, 5]\nlayers:\n  - adaptive_avgpool: {out: 2}\n")
    assert "C · Π(per axis: Σ bin sizes) = 2·6·6 = 72" in out
    # global pooling: one per input element, 2·5·5 = 50
    out = lines_of("input: [2, 5, 5]\nlayers:\n  - global_maxpool\n")
    assert "= 2·5·5 = 50" in out
