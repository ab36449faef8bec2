"""The MobileNetV3, DeepLabV3 and ESPCN specs against PyTorch (optional: skipped without torch).

Equal parameter counts do not prove the wiring (which tensor the squeeze-excitation gate scales,
which blocks add their input, where h-swish replaces ReLU, which features the aux head reads). Here
torchvision's own description, transcribed from its _mobilenet_v3_conf tables and its
InvertedResidual / DeepLabHead / FCNHead code (not from the YAML), is run with torch.nn.functional
on the executor's weights, and the outputs must agree. The specs are run at a small input (their
fixed upsampling sizes scaled with it) to keep the test fast.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from netcalc.analysis import analyze_graph
from netcalc.executor import Executor
from netcalc.graph import build_graph
from netcalc.spec import load_spec_text

torch = pytest.importorskip("torch", reason="PyTorch is an optional test extra: pip install -e '.[torch]'")
F = torch.nn.functional

SPECS = Path(__file__).resolve().parents[1] / "specs"

# torchvision.models.mobilenetv3._mobilenet_v3_conf: input, kernel, expanded, out, SE, NL, stride
LARGE = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
         (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
         (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
         (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
         (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1)]
SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
         (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
         (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
         (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision.models._utils._make_divisible."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def run_spec(name: str, size: int, replace=()):
    """The executor's outputs (float64, seeded weights) for the spec at a size×size input, and its
    input and weights as tensors."""
    text, count = re.subn(r"^input: \[(\d+), \d+, \d+\]$", rf"input: [\1, {size}, {size}]",
                          (SPECS / f"{name}.yaml").read_text(encoding="utf-8"), flags=re.M)
    assert count == 1
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    analysis = analyze_graph(build_graph(load_spec_text(text, f"{name}.yaml")))
    ex = Executor(analysis.graph, dtype=np.float64, seed=1)
    x = ex.random_input(2, seed=2)
    outputs = ex.forward(x, keep=True).outputs
    weights = {k: torch.tensor(v) for k, v in ex.weights.items()}
    return torch.tensor(x), weights, outputs


def features(x, W, conf, dilated=False):
    """mobilenet_v3(...).features; with dilated=True the C4 stage (from the last stride-2 row on)
    has dilation 2 and, being dilated, stride 1 (torchvision's InvertedResidual)."""

    def bn(t, name):
        return F.batch_norm(t, W[f"{name}.running_mean"], W[f"{name}.running_var"], W[f"{name}.weight"],
                            W[f"{name}.bias"], False, 0.0, 0.001)

    def act(t, nl):
        return F.hardswish(t) if nl == "HS" else F.relu(t)

    c4 = max(i for i, row in enumerate(conf) if row[6] == 2)
    x = F.hardswish(bn(F.conv2d(x, W["stem.weight"], stride=2, padding=1), "stem_bn"))
    taps = {}
    for i, (inp, k, exp, out, se, nl, stride) in enumerate(conf):
        b = f"b{i + 1}"
        dilation = 2 if dilated and i >= c4 else 1
        y = x
        if exp != inp:
            y = act(bn(F.conv2d(y, W[f"{b}.expand.conv.weight"]), f"{b}.expand.bn"), nl)
        y = F.conv2d(y, W[f"{b}.dw.weight"], stride=1 if dilation > 1 else stride, padding=(k - 1) // 2 * dilation,
                     dilation=dilation, groups=exp)
        y = act(bn(y, f"{b}.dw_bn"), nl)
        if se:
            assert W[f"{b}.se_fc1.weight"].shape[0] == make_divisible(exp // 4)
            g = F.relu(F.conv2d(F.adaptive_avg_pool2d(y, 1), W[f"{b}.se_fc1.weight"], W[f"{b}.se_fc1.bias"]))
            y = y * F.hardsigmoid(F.conv2d(g, W[f"{b}.se_fc2.weight"], W[f"{b}.se_fc2.bias"]))
        y = bn(F.conv2d(y, W[f"{b}.project.weight"]), f"{b}.project_bn")
        x = y + x if stride == 1 and inp == out else y
        taps[b] = x
    return F.hardswish(bn(F.conv2d(x, W["last.weight"]), "last_bn")), taps


@pytest.mark.parametrize("name, conf", [("mobilenet_v3_large", LARGE), ("mobilenet_v3_small", SMALL)])
def test_mobilenet_v3_matches_torchvisions_description(name, conf):
    x, W, outputs = run_spec(name, 64)
    y, _ = features(x, W, conf)
    y = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
    y = F.hardswish(F.linear(y, W["fc1.weight"], W["fc1.bias"]))  # dropout: identity at inference
    y = F.linear(y, W["classifier.weight"], W["classifier.bias"])
    np.testing.assert_allclose(outputs["classifier"], y.numpy(), rtol=1e-9, atol=1e-12)


def test_deeplabv3_mobilenet_v3_large_matches_torchvisions_description():
    # 96×96 instead of 520×520: C5 at output stride 16 is 6×6; the spec's fixed sizes follow
    x, W, outputs = run_spec("deeplabv3_mobilenet_v3_large", 96,
                             [("size: [33, 33]", "size: [6, 6]"), ("size: [520, 520]", "size: [96, 96]")])

    def cbr(t, name, **conv):
        t = F.conv2d(t, W[f"{name}.conv.weight"], **conv)
        t = F.batch_norm(t, W[f"{name}.bn.running_mean"], W[f"{name}.bn.running_var"], W[f"{name}.bn.weight"],
                         W[f"{name}.bn.bias"], False, 0.0, 1e-5)
        return F.relu(t)

    def resize(t):
        return F.interpolate(t, size=x.shape[-2:], mode="bilinear", align_corners=False)

    c5, taps = features(x, W, LARGE, dilated=True)
    assert c5.shape[-2:] == (6, 6)
    # FCNHead(40, 21) on C2 = the output of the fourth block (stride 8), then resized
    aux = cbr(taps["b4"], "aux_head", padding=1)
    aux = resize(F.conv2d(aux, W["aux_classifier.weight"], W["aux_classifier.bias"]))
    # DeepLabHead(960, 21): ASPP (1×1, rates 12/24/36, image pooling), projection, 3×3, 1×1
    branches = [cbr(c5, "aspp0")] + [cbr(c5, f"aspp{i}", padding=r, dilation=r) for i, r in enumerate((12, 24, 36), 1)]
    pooled = cbr(F.adaptive_avg_pool2d(c5, 1), "aspp_pool_conv")
    branches.append(F.interpolate(pooled, size=c5.shape[-2:], mode="bilinear", align_corners=False))
    y = cbr(torch.cat(branches, 1), "aspp_project")
    y = cbr(y, "head", padding=1)
    y = resize(F.conv2d(y, W["classifier.weight"], W["classifier.bias"]))
    np.testing.assert_allclose(outputs["out"], y.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(outputs["aux_out"], aux.numpy(), rtol=1e-9, atol=1e-12)


def test_espcn_matches_pytorchs_example():
    # examples/super_resolution/model.py: relu(conv1), relu(conv2), relu(conv3), pixel_shuffle(conv4)
    x, W, outputs = run_spec("espcn", 20)
    y = x
    for i, pad in ((1, 2), (2, 1), (3, 1)):
        y = F.relu(F.conv2d(y, W[f"conv{i}.weight"], W[f"conv{i}.bias"], padding=pad))
    y = F.pixel_shuffle(F.conv2d(y, W["conv4.weight"], W["conv4.bias"], padding=1), 3)
    assert y.shape[1:] == (1, 60, 60)
    np.testing.assert_allclose(outputs["pixel_shuffle"], y.numpy(), rtol=1e-9, atol=1e-12)
