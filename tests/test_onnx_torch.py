"""Models exported by PyTorch's own exporter (optional: needs torch) read by netcalc: names come
from the module paths, outputs equal the PyTorch module's, and the numbers equal the same
network written as a spec by hand. TorchScript exporter at opsets 11, 13 (older decompositions:
hardswish as HardSigmoid·x, GELU through Erf) and 17; the dynamo exporter at opset 18."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="optional: pip install torch==2.13.0")
pytest.importorskip("onnx")

from torch import nn
from onnx_util import assert_close, layer_rows, read_and_run, torch_export

from helpers import analyze_spec
from netcalc.analysis import analyze_graph


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.act = nn.SiLU()
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)

    def forward(self, x):
        return self.pool(self.act(self.conv1(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.hs = nn.Hardswish()
        self.pw = nn.Conv2d(c, c, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.pw(self.hs(self.dw(x))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Stem()
        self.layer1 = nn.Sequential(Block(8), Block(8))
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.gelu = nn.GELU()
        self.resize = nn.Upsample(scale_factor=2, mode="bilinear")
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.head = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)
        self.leaky = nn.LeakyReLU()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        a = self.layer1(self.stem(x))
        b = self.avg(self.resize(self.gelu(self.up(a))))
        c = torch.cat([b, nn.functional.interpolate(a, scale_factor=2.0, mode="nearest")], dim=1)
        return self.softmax(self.leaky(self.fc(torch.flatten(self.head(c), 1))))


def export(module, tmp_path, opset, shape=(1, 3, 32, 32)):
    module.eval()
    torch.manual_seed(0)
    x = torch.randn(*shape)
    path = tmp_path / f"net{opset}.onnx"
    want = torch_export(module, x, path, opset)
    return path, x.numpy(), want


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_torchscript_export_reads_with_module_paths_and_equal_outputs(opset, tmp_path):
    torch.manual_seed(1)
    net = Net()
    path, x, want = export(net, tmp_path, opset)
    spec, graph, got = read_and_run(path, x)
    names = [d.name for d in spec.layers]
    for expected in ("stem.conv1", "stem.act", "stem.pool", "layer1.0.dw", "layer1.0.hs", "layer1.1.pw",
                     "up", "gelu", "resize", "avg", "head", "fc", "leaky", "softmax"):
        assert expected in names, (expected, names)
    assert_close(got, want, what="output")
    analysis = analyze_graph(graph)
    assert analysis.total("params") == sum(p.numel() for p in net.parameters())
    types = {layer.name: layer.type for layer in analysis.layers}
    assert types["stem.act"] == "silu" and types["layer1.0.hs"] == "hardswish" and types["gelu"] == "gelu"
    assert types["layer1.0.dw"] == "depthwise"


def test_torch_stem_numbers_equal_the_spec_written_by_hand(tmp_path):
    torch.manual_seed(2)
    net = nn.Sequential(Stem(), Block(8), Block(8))
    path, x, want = export(net, tmp_path, 17)
    spec, graph, got = read_and_run(path, x)
    assert_close(got, want, what="output")
    rows = layer_rows(analyze_graph(graph), with_names=False)
    assert rows == layer_rows(analyze_spec((3, 32, 32), _hand_spec()), with_names=False)


def _hand_spec():
    layers = [{"conv": {"out": 8, "kernel": 3, "stride": 2, "padding": 1}}, "silu",
              {"maxpool": {"kernel": 3, "stride": 2, "ceil_mode": True}, "name": "b0"}]
    for i in range(2):
        layers += [{"depthwise": {"kernel": 3, "padding": 1, "bias": False}}, "hardswish",
                   {"conv": {"out": 8, "kernel": 1}, "name": f"p{i}"},
                   {"add": None, "from": [f"b{i}", f"p{i}"]}, {"relu": None, "name": f"b{i + 1}"}]
    return layers


def test_batchnorm_folded_by_the_exporter_is_gone(tmp_path):
    """What the file holds is what netcalc counts: eval-mode export folds BN into the conv."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU())
    net.eval()
    net[1].running_mean.normal_()
    net[1].running_var.uniform_(0.5, 1.5)
    path, x, want = export(net, tmp_path, 17)
    _, graph, got = read_and_run(path, x)
    analysis = analyze_graph(graph)
    types = [layer.type for layer in analysis.layers]
    assert_close(got, want, what="output")
    if "batchnorm" not in types:
        assert types == ["conv", "relu"] and analysis.layers[0].params == 4 * 27 + 4


def test_dynamo_export_at_opset_18_reads_with_module_paths(tmp_path):
    """PyTorch's newer exporter names nodes after aten ops; netcalc takes the module paths from the
    name scopes it records in each node's metadata."""
    pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    torch.manual_seed(1)
    net = Net().eval()
    x = torch.randn(1, 3, 32, 32)
    path = tmp_path / "dynamo.onnx"
    want = torch_export(net, x, path, 18, dynamo=True)
    spec, graph, got = read_and_run(path, x.numpy())
    names = [d.name for d in spec.layers]
    for expected in ("stem.conv1", "stem.act", "layer1.0.dw", "layer1.0.hs", "layer1.1.add", "up", "gelu", "fc"):
        assert expected in names, (expected, names)
    assert_close(got, want, what="output")
    assert analyze_graph(graph).total("params") == sum(p.numel() for p in net.parameters())
