"""Laws checked on random cases (hypothesis) against brute-force counts written here."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from helpers import analyze_spec, one_layer
from netcalc.errors import SpecError


def naive_window_count(n, k, s, d, before, after, ceil_mode):
    """Slide a window over the padded input one position at a time and count the placements:
    every window that fits; with ceil_mode also a last one hanging past the end by less than a
    stride, provided it starts inside the input or the left padding (PyTorch)."""
    span = d * (k - 1) + 1
    padded = n + before + after
    count, start = 0, 0
    while True:
        fits = start + span <= padded
        hangs = ceil_mode and 0 < start + span - padded < s and start < n + before
        if not (fits or hangs):
            break
        count += 1
        if hangs:
            break
        start += s
    return count


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 3),
       before=st.integers(0, 3), after=st.integers(0, 3), ceil_mode=st.booleans(), pool=st.booleans())
def test_output_size_equals_naive_window_count(n, k, s, d, before, after, ceil_mode, pool):
    if pool:
        assume(max(before, after) <= (d * (k - 1) + 1) // 2)
        entry = {"maxpool": {"kernel": k, "stride": s, "dilation": d, "padding": [[before, after]],
                             "ceil_mode": ceil_mode}}
    else:
        assume(not ceil_mode)
        entry = {"conv": {"out": 1, "kernel": k, "stride": s, "dilation": d, "padding": [[before, after]]}}
    expected = naive_window_count(n, k, s, d, before, after, ceil_mode)
    try:
        layer = one_layer([1, n], entry)
    except SpecError:
        assert expected == 0
        return
    assert layer.output[1] == expected


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 8), k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 2),
       before=st.integers(0, 3), after=st.integers(0, 3), c_in=st.integers(1, 3), c_out=st.integers(1, 3),
       bias=st.booleans())
def test_transposed_conv_flops_and_macs_equal_a_product_count(n, k, s, d, before, after, c_in, c_out, bias):
    """Scatter every (input, tap) product onto the output line, count what lands, and apply
    contract §4 (2n − 1 per reached output, + 1 per output with bias)."""
    entry = {"conv_transpose": {"out": c_out, "kernel": k, "stride": s, "dilation": d,
                                "padding": [[before, after]], "bias": bias}}
    try:
        layer = one_layer([c_in, n], entry)
    except SpecError:
        return
    n_out = layer.output[1]
    landed = [0] * n_out
    products = 0
    for i in range(n):
        for t in range(k):
            products += 1
            position = i * s + t * d - before
            if 0 <= position < n_out:
                landed[position] += 1
    per_channel = sum(2 * c_in * m - 1 for m in landed if m) + (n_out if bias else 0)
    assert layer.flops == c_out * per_channel
    assert layer.macs == products * c_in * c_out


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["relu", "batchnorm", {"conv": {"out": 4, "kernel": 3, "padding": 1}},
                                 {"maxpool": {"kernel": 2, "ceil_mode": True}}]), min_size=1, max_size=8))
def test_totals_are_the_sum_of_the_rows(layers):
    a = analyze_spec([4, 16, 16], layers)
    for metric in ("params", "buffers", "macs", "flops"):
        assert a.total(metric) == sum(getattr(layer, metric) for layer in a.layers)
