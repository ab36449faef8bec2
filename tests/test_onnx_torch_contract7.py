"""PyTorch's own ONNX exporters on a small module using the layer types of contract §7 (optional:
needs torch): netcalc reads the file with the module's outputs, its parameter count, and the
numbers of the same network written as a spec by hand. TorchScript exporter at opsets 13 (layer
norm and friends written out) and 17; the dynamo exporter at opset 18 (it writes softplus's
threshold as Greater/Where, PRelu slopes as [1, C, 1, 1], circular padding as Pad 'wrap' and the
fixed scale/shift of an InstanceNorm2d without affine as initializers)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="optional: pip install torch==2.13.0")
pytest.importorskip("onnx")

from torch import nn
from onnx_util import assert_close, layer_rows, read_and_run, torch_export

from helpers import analyze_spec
from netcalc.analysis import analyze_graph


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's: LayerNorm over the channels, channels last between two permutes."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(c, 1, 1) + 0.5)

    def forward(self, x):
        return x * self.gamma


class ChannelShuffle(nn.Module):
    """ShuffleNetV2's (torchvision's channel_shuffle; nn.ChannelShuffle has no TorchScript export)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class Net7(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
        self.gn = nn.GroupNorm(2, 8)
        self.act1 = nn.Hardtanh(-1.0, 2.0)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, padding_mode="circular")
        self.ln = LayerNorm2d(8)
        self.scale = LayerScale(8)
        self.act2 = nn.ELU(0.5)
        self.down = nn.PixelUnshuffle(2)
        self.pw = nn.Conv2d(32, 16, 1)
        self.inorm = nn.InstanceNorm2d(16)
        self.act3 = nn.PReLU(16)
        self.shuffle = ChannelShuffle(4)
        self.pad = nn.ReplicationPad2d(1)
        self.conv2 = nn.Conv2d(16, 16, 3)
        self.act4 = nn.Mish()
        self.up = nn.PixelShuffle(2)
        self.act5 = nn.Softplus(beta=2.0)
        self.gate = nn.Hardsigmoid()
        self.act6 = nn.SELU()

    def forward(self, x):
        x = self.act2(self.scale(self.ln(self.dw(self.act1(self.gn(self.stem(x)))))))
        x = self.shuffle(self.act3(self.inorm(self.pw(self.down(x)))))
        x = self.up(self.act4(self.conv2(self.pad(x))))
        return self.act6(torch.cat([self.act5(x[:, :2]), self.gate(x[:, 2:])], dim=1))


HAND_SPEC = [
    {"conv": {"out": 8, "kernel": 3, "padding": 1, "padding_mode": "reflect"}},
    {"groupnorm": {"groups": 2}},
    {"hardtanh": {"min": -1.0, "max": 2.0}},
    {"depthwise": {"kernel": 3, "padding": 1, "padding_mode": "circular"}},
    "layernorm", "scale", {"elu": {"alpha": 0.5}},
    {"pixel_unshuffle": {"factor": 2}},
    {"conv": {"out": 16, "kernel": 1}},
    "instancenorm",
    {"prelu": {"per_channel": True}},
    {"channel_shuffle": {"groups": 4}},
    {"pad": {"padding": 1, "mode": "replicate"}},
    {"conv": {"out": 16, "kernel": 3}},
    "mish",
    {"pixel_shuffle": {"factor": 2}, "name": "up"},
    {"slice": {"end": 2}, "from": "up"}, {"softplus": {"beta": 2.0}, "name": "a"},
    {"slice": {"start": 2}, "from": "up"}, {"hardsigmoid": None, "name": "b"},
    {"concat": None, "from": ["a", "b"]},
    "selu",
]
EXPECTED_TYPES = {"conv", "groupnorm", "hardtanh", "depthwise", "layernorm", "scale", "elu", "pixel_unshuffle",
                  "instancenorm", "prelu", "channel_shuffle", "pad", "mish", "pixel_shuffle", "slice", "softplus",
                  "hardsigmoid", "concat", "selu"}


def _sorted_rows(analysis):
    return sorted(layer_rows(analysis, with_names=False), key=repr)


@pytest.mark.parametrize("opset, dynamo", [(13, False), (17, False), (18, True)],
                         ids=["torchscript-13", "torchscript-17", "dynamo-18"])
def test_contract_7_module_exported_by_pytorch_reads_with_equal_outputs_and_numbers(opset, dynamo, tmp_path):
    if dynamo:
        pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    torch.manual_seed(4)
    net = Net7().eval()
    x = torch.randn(2, 3, 16, 16)
    path = tmp_path / f"net7_{opset}.onnx"
    want = torch_export(net, x, path, opset, dynamo)
    spec, graph, got = read_and_run(path, x.numpy())
    assert_close(got, want, what="output")
    analysis = analyze_graph(graph)
    assert {layer.type for layer in analysis.layers} == EXPECTED_TYPES
    assert analysis.total("params") == sum(p.numel() for p in net.parameters())
    by_hand = analyze_spec((3, 16, 16), HAND_SPEC)
    assert _sorted_rows(analysis) == _sorted_rows(by_hand)
    padding_modes = {layer.type: layer.node.params.get("padding_mode") for layer in analysis.layers
                     if layer.type in ("conv", "depthwise") and layer.node.params.get("padding_mode") != "zeros"}
    assert padding_modes == {"conv": "reflect", "depthwise": "circular"}


def test_dynamo_exports_of_modules_torchscript_cannot_write(tmp_path):
    """nn.ChannelShuffle (no TorchScript export; dynamo: Reshapes with allowzero=1) and a softplus
    whose threshold matters (dynamo: Greater/Where; TorchScript drops the threshold)."""
    pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(3, 6, 1), nn.ChannelShuffle(3), nn.Softplus(beta=1.5, threshold=0.5)).eval()
    x = torch.randn(2, 3, 5, 5)
    path = tmp_path / "dyn.onnx"
    want = torch_export(net, x, path, 18, dynamo=True)
    spec, graph, got = read_and_run(path, x.numpy())
    assert_close(got, want, what="output")
    assert [(node.kind.name, {k: v for k, v in node.params.items() if k != "bias"}) for node in graph.nodes][1:] == \
        [("channel_shuffle", {"groups": 3}), ("softplus", {"beta": 1.5, "threshold": 0.5})]
