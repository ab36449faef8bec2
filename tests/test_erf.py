"""netcalc erf: the effective receptive field from the executor's real backward pass.

Facts checked: gradients worked by hand for weight-free layers (average pooling: 1/k² per tap,
binomial after a chain); the radii of a hand-made profile; all gradient mass inside netcalc's
calculated field on random specs (a pixel outside the field cannot reach the unit); the √n
growth of the 95 % radius on chains of 3×3 convs (Luo et al. 2016); the JSON contract (§10);
pictures for 1-D, 2-D and 3-D specs; one-line errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from math import sqrt
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import analyze_spec
from netcalc import erf
from netcalc.cli import cli
from netcalc.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


# ---------------------------------------------------------------------------
# Hand-worked gradients
# ---------------------------------------------------------------------------

def test_average_pooling_chain_gives_the_binomial_profile():
    """Four 2-wide, stride-1 average pools in 1-D: the output at 0 is Σ C(4, i)/16 · x[i], so the
    gradient is [1, 4, 6, 4, 1]/16 per channel (3 channels, summed), whatever the input or seed."""
    analysis = analyze_spec([3, 9], [{"avgpool": {"kernel": 2, "stride": 1}}] * 4)
    result = erf.measure(analysis, samples=2, seed=5)
    assert result.layer == "avgpool4" and result.unit == [2]  # 5 outputs, the centre is 2
    expected = np.zeros(9)
    expected[2:7] = np.array([1, 4, 6, 4, 1]) / 16 * 3
    np.testing.assert_allclose(result.magnitude, expected, rtol=1e-6)
    assert (result.lo, result.hi) == ([2], [6])
    d = result.to_dict()
    # centre 4: |i − 4| ≤ 0 holds 6/16 = 37.5 %, ≤ 1 holds 14/16 = 87.5 %, ≤ 2 holds all
    assert d["radius50"] == [1] and d["radius95"] == [2] and d["mass_inside"] == pytest.approx(1.0)


def test_average_pooling_in_2d_is_uniform_over_its_window():
    analysis = analyze_spec([2, 8, 8], [{"avgpool": {"kernel": 4, "stride": 4}}])
    result = erf.measure(analysis, samples=1)
    assert result.unit == [0, 0]  # a 2×2 output: the centre is (0, 0)
    expected = np.zeros((8, 8))
    expected[:4, :4] = 2 / 16
    np.testing.assert_allclose(result.magnitude, expected, rtol=1e-6)
    # centre 1.5: distances 0.5 (rows 1, 2) hold half, 1.5 (rows 0..3) all of it
    assert result.to_dict()["radius50"] == [0.5, 0.5] and result.to_dict()["radius95"] == [1.5, 1.5]


def test_max_pooling_routes_all_gradient_to_one_pixel_per_channel_inside_its_window():
    analysis = analyze_spec([4, 6, 6], [{"maxpool": {"kernel": 3, "stride": 3}}])
    result = erf.measure(analysis, samples=1, seed=3)
    assert result.magnitude.sum() == pytest.approx(4.0)  # one 1 per channel
    assert result.magnitude[:3, :3].sum() == pytest.approx(4.0)
    assert np.count_nonzero(result.magnitude) <= 4


@pytest.mark.parametrize("profile, centre, share, expected", [
    ([0, 1, 2, 1, 0], 2, 0.5, 0),            # the centre pixel holds exactly half
    ([0, 1, 2, 1, 0], 2, 0.95, 1),
    ([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], Fraction(9, 2), 0.5, Fraction(5, 2)),  # 2 of 10 per half pixel
    ([5, 0, 0, 0, 0], 2, 0.5, 2),            # mass off-centre: the window grows to reach it
    ([1, 0, 0, 0, 1], 2, 0.5, 2),            # both ends at the same distance join together
])
def test_radius_of_hand_made_profiles(profile, centre, share, expected):
    assert erf.radius_holding(profile, Fraction(centre), share) == expected


# ---------------------------------------------------------------------------
# All mass inside the calculated field (random specs)
# ---------------------------------------------------------------------------

@st.composite
def random_specs(draw):
    dims = draw(st.integers(1, 2))
    size = draw(st.integers(10, 18))
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "relu", "tanh", "batchnorm",
                                     "residual", "conv_transpose", "upsample"]))
        if kind == "conv":
            k = draw(st.integers(1, 3))
            layers.append({"conv": {"out": draw(st.integers(1, 3)), "kernel": k, "stride": draw(st.integers(1, 2)),
                                    "dilation": draw(st.integers(1, 2)), "padding": draw(st.integers(0, k))}})
        elif kind in ("maxpool", "avgpool"):
            k = draw(st.integers(2, 3))
            layers.append({kind: {"kernel": k, "stride": draw(st.integers(1, k)), "padding": draw(st.integers(0, 1))}})
        elif kind == "residual":
            n = len(layers)
            layers.append({"conv": {"out": 2, "kernel": 3, "padding": 1}, "name": f"r{n}a"})
            layers.append({"conv": {"out": 2, "kernel": 3, "padding": 2, "dilation": 2}, "name": f"r{n}b"})
            layers.append({"add": None, "from": [f"r{n}a", f"r{n}b"]})
        elif kind == "conv_transpose":
            layers.append({"conv_transpose": {"out": 2, "kernel": draw(st.integers(2, 3)), "stride": 2}})
        elif kind == "upsample":
            layers.append({"upsample": {"scale": 2, "mode": draw(st.sampled_from(["nearest", "linear"]))}})
        else:
            layers.append(kind)
    return [draw(st.integers(1, 2)), *[size] * dims], layers, draw(st.integers(0, 10**6))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs())
def test_all_gradient_mass_lies_inside_the_calculated_field(case):
    shape, layers, seed = case
    try:
        analysis = analyze_spec(shape, layers)
    except SpecError:
        return  # sizes that do not fit (the spec itself is refused)
    for layer in [a for a in analysis.layers if a.rf is not None][-2:]:
        result = erf.measure(analysis, layer.name, samples=2, seed=seed)
        window = tuple(slice(max(lo, 0), max(hi + 1, 0)) for lo, hi in zip(result.lo, result.hi))
        outside = result.magnitude.copy()
        outside[window] = 0
        assert not outside.any(), f"gradient outside the field of {layer.name}"  # exactly zero
        if result.total > 0:
            assert result.mass_inside == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------------
# √n growth on chains of 3×3 convs
# ---------------------------------------------------------------------------

def test_radius95_grows_like_the_square_root_of_depth():
    """Luo et al.: on a chain of n 3×3 convs with random weights the effective field is close to
    a Gaussian whose width grows like √n (the theoretical field grows like n). Two channels per
    layer, the last conv to one channel; valid convs on a 2n + 3 input leave a 3×3 output whose
    centre sees the whole input but its border. The measured r95 (the two axes are alike, so
    their mean) must be within 15 % of a·√n for n = 4, 16, 64, with a fitted in log space, and far
    below the theoretical half-width n. (Expected for Gaussian gradients: 4, 9, 18, i.e. a·√n
    within 8 %; over 16 seeds the worst measured deviation was 12 %.)"""
    radii = {}
    for n in (4, 16, 64):
        size = 2 * n + 3
        layers = [{"conv": {"out": 2, "kernel": 3}}] * (n - 1) + [{"conv": {"out": 1, "kernel": 3}}]
        result = erf.measure(analyze_spec([1, size, size], layers), samples=8, seed=0)
        assert result.unit == [1, 1] and result.lo == [1, 1] and result.hi == [2 * n + 1] * 2
        radii[n] = float(np.mean([float(r) for r in result.radius(0.95)]))
    scaled = {n: r / sqrt(n) for n, r in radii.items()}
    a = np.exp(np.mean(np.log(list(scaled.values()))))  # the best a in r95 ≈ a·√n
    for n, value in scaled.items():
        assert abs(value / a - 1) <= 0.15, radii
    assert radii[64] < 0.4 * 64, radii  # the effective field is a fraction of the theoretical one


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

def test_json_follows_the_contract():
    result = invoke("erf", ROOT / "specs" / "lenet5.yaml", "--format", "json", "--samples", "2")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) >= {"layer", "unit", "theoretical", "mass_inside", "radius50", "radius95"}
    assert doc["layer"] == "s4" and doc["unit"] == [2, 2]  # lenet5's last map is 16×5×5
    # s4: size 16, jump 4, start 7.5 (hand: c1 2, s2 2.5, c3 6.5, s4 7.5) → unit 2: 15.5 ± 7.5 = [8, 23]
    assert doc["theoretical"]["lo"] == [8, 8] and doc["theoretical"]["hi"] == [23, 23]
    assert doc["mass_inside"] == pytest.approx(1.0)
    for key in ("radius50", "radius95"):
        assert len(doc[key]) == 2 and all(0 <= r <= 7.5 for r in doc[key])
    assert doc["radius50"][0] <= doc["radius95"][0]


def test_layer_may_be_an_entry_name_and_the_text_summary_names_it():
    result = invoke("erf", ROOT / "specs" / "tiny_segnet.yaml", "--layer", "separable1", "--samples", "1")
    assert result.exit_code == 0, result.output
    assert "separable1.pointwise" in result.stdout and "radius holding 95%" in result.stdout


def test_seeded_runs_are_reproducible():
    a = invoke("erf", ROOT / "specs" / "lenet5.yaml", "--format", "json", "--samples", "2", "--seed", "7")
    b = invoke("erf", ROOT / "specs" / "lenet5.yaml", "--format", "json", "--samples", "2", "--seed", "7")
    assert a.stdout == b.stdout


@pytest.mark.parametrize("args, words", [
    (["--layer", "c33"], ["no layer named 'c33'", "did you mean 'c3'"]),
    (["--layer", "f6"], ["'f6' has no spatial dims"]),
    (["--samples", "0"], ["--samples"]),
])
def test_bad_requests_are_one_line_errors(args, words):
    result = invoke("erf", ROOT / "specs" / "lenet5.yaml", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert all(word in result.stderr for word in words), result.stderr


def test_flat_network_and_too_large_runs_are_refused(tmp_path):
    flat = tmp_path / "mlp.yaml"
    flat.write_text("input: [16]\nlayers:\n  - linear: {out: 4}\n")
    result = invoke("erf", flat)
    assert result.exit_code == 2 and "flat" in result.stderr and result.stderr.count("\n") == 1
    result = invoke("erf", ROOT / "specs" / "vgg16.yaml", "--max-memory", "1MB")
    assert result.exit_code == 2 and "nothing was allocated" in result.stderr


def png_colours(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    from matplotlib.image import imread

    image = imread(path)
    return width, height, len({tuple(px) for px in image.reshape(-1, image.shape[-1])[::5].tolist()})


@pytest.mark.parametrize("shape, layers", [
    ([1, 40], [{"conv": {"out": 2, "kernel": 5}}, "relu", {"maxpool": {"kernel": 2}}, {"conv": {"out": 2, "kernel": 3}}]),
    ([2, 24, 24], [{"conv": {"out": 3, "kernel": 3, "padding": 1}}, "relu", {"conv": {"out": 3, "kernel": 3, "stride": 2}}]),
    ([1, 8, 12, 12], [{"conv": {"out": 2, "kernel": 3}}, "tanh", {"conv": {"out": 2, "kernel": 3}}]),
])
def test_pictures_of_1d_2d_and_3d_specs_are_real_pngs(tmp_path, shape, layers):
    pytest.importorskip("matplotlib", reason="pictures need netcalc[plot] (.ci/run installs it)")
    import yaml

    spec = tmp_path / "net.yaml"
    spec.write_text(yaml.safe_dump({"input": shape, "layers": layers}))
    out = tmp_path / "erf.png"
    result = invoke("erf", spec, "-o", out, "--samples", "2")
    assert result.exit_code == 0, result.output
    width, height, colours = png_colours(out)
    assert width >= 600 and height >= 400 and colours >= 30


def test_without_matplotlib_the_picture_is_a_one_line_error(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from netcalc.cli import main; sys.argv = ['netcalc', 'erf', sys.argv[1], '-o', sys.argv[2]]; main()")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "specs" / "lenet5.yaml"), str(tmp_path / "e.png")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "pip install 'netcalc[plot]'" in done.stderr and not (tmp_path / "e.png").exists()


def test_commands_that_draw_nothing_never_import_matplotlib():
    code = ("import sys; from click.testing import CliRunner; from netcalc.cli import cli\n"
            f"CliRunner().invoke(cli, ['analyze', {str(ROOT / 'specs' / 'lenet5.yaml')!r}, '--format', 'json'])\n"
            f"CliRunner().invoke(cli, ['erf', {str(ROOT / 'specs' / 'lenet5.yaml')!r}, '--samples', '1'])\n"
            f"CliRunner().invoke(cli, ['draw', {str(ROOT / 'specs' / 'lenet5.yaml')!r}])\n"
            "print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "False", done.stderr
