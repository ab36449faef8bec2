"""netcalc's training memory against PyTorch itself (optional: skipped without torch; CI installs
torch==2.13.0). The bundled specs are rebuilt in PyTorch from the resolved graph, run in training
mode, and every tensor autograd saves for backward is caught with
torch.autograd.graph.saved_tensors_hooks: the distinct storages that are not parameters or
buffers must add up to netcalc's `saved` within 1 %. Gradients and the Adam state must be what
netcalc says."""

from __future__ import annotations

from math import prod
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is an optional reference: pip install 'netcalc[torch-tests]' (torch==2.13.0)")
F = torch.nn.functional

from netcalc.analysis import analyze_graph  # noqa: E402
from netcalc.graph import build_graph  # noqa: E402
from netcalc.memory import Setting  # noqa: E402
from netcalc.spec import load_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def _sym_padding(node, key="padding"):
    """A symmetric per-axis padding for PyTorch's functional ops (its own padding='same' would
    pad asymmetric totals with a separate, saved copy)."""
    p = node.params
    pad = p[key]
    ndim = len(node.spatial_in)
    if pad == "valid":
        return [0] * ndim
    if pad == "same":
        out = []
        for k, d in zip(p["kernel"], p["dilation"]):
            if (d * (k - 1)) % 2:
                pytest.skip(f"{node.name}: asymmetric 'same' padding")
            out.append(d * (k - 1) // 2)
        return out
    if isinstance(pad, int):
        return [pad] * ndim
    out = []
    for item in pad:
        if isinstance(item, (list, tuple)):
            if item[0] != item[1]:
                pytest.skip(f"{node.name}: asymmetric padding")
            item = item[0]
        out.append(item)
    return out


def _dims(value, ndim):
    return [value] * ndim if isinstance(value, int) else list(value)


class TorchNet:
    """The graph as PyTorch functional calls with zero-initialised parameters (values do not
    change what autograd saves); dropout as torch.native_dropout, which keeps a 1-byte mask (as
    PyTorch's CUDA dropout does; its CPU F.dropout keeps a float mask)."""

    def __init__(self, graph):
        self.graph = graph
        self.params, self.buffers = [], []
        self.w = {}
        for node in graph.nodes:
            for key, shape in node.kind.weight_shapes(node).items():
                if key.startswith("running"):
                    t = torch.ones(shape) if key == "running_var" else torch.zeros(shape)
                    self.buffers.append(t)
                else:
                    t = torch.nn.Parameter(torch.zeros(shape) + 0.01)
                    self.params.append(t)
                self.w[f"{node.name}.{key}"] = t

    def forward(self, x):
        values = {"input": x}
        for node in self.graph.nodes:
            values[node.name] = self.layer(node, [values[name] for name in node.inputs])
        return values[self.graph.nodes[-1].name]

    def layer(self, node, xs):
        t, p, x = node.kind.name, node.params, xs[0]
        d = len(node.spatial_in) if len(node.in_shape) > 1 else 0
        w = lambda key: self.w.get(f"{node.name}.{key}")  # noqa: E731
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}.get(d)
        if t in ("conv", "depthwise"):
            groups = x.shape[1] if t == "depthwise" else p["groups"]
            return conv(x, w("weight"), w("bias"), p["stride"], _sym_padding(node), p["dilation"], groups)
        if t == "conv_transpose":
            tconv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[d]
            return tconv(x, w("weight"), w("bias"), p["stride"], _sym_padding(node), p["output_padding"],
                         p["groups"], p["dilation"])
        if t == "linear":
            return F.linear(x, w("weight"), w("bias"))
        if t == "batchnorm":
            return F.batch_norm(x, w("running_mean"), w("running_var"), w("weight"), w("bias"), True,
                                p["momentum"], p["eps"])
        if t == "maxpool":
            pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[d]
            return pool(x, p["kernel"], p["stride"] or p["kernel"], _sym_padding(node), p["dilation"],
                        p["ceil_mode"])
        if t == "avgpool":
            pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[d]
            return pool(x, p["kernel"], p["stride"] or p["kernel"], _sym_padding(node), p["ceil_mode"],
                        p["count_include_pad"])
        if t in ("adaptive_avgpool", "global_avgpool", "adaptive_maxpool", "global_maxpool"):
            kind = "avg" if "avg" in t else "max"
            pool = getattr(F, f"adaptive_{kind}_pool{d}d")
            return pool(x, list(node.spatial_out))
        if t == "spp":
            pool = getattr(F, f"adaptive_{p['mode']}_pool{d}d")
            return torch.cat([pool(x, [n] * d).flatten(1) for n in p["levels"]], dim=1)
        if t == "upsample":
            mode = "nearest" if p["mode"] == "nearest" else {1: "linear", 2: "bilinear", 3: "trilinear"}[d]
            extra = {} if mode == "nearest" else {"align_corners": False}
            return F.interpolate(x, size=list(node.spatial_out), mode=mode, **extra)
        if t == "flatten":
            return x.flatten(1)
        if t == "identity":
            return x
        if t == "dropout":
            return torch.native_dropout(x, p["p"], True)[0]
        if t == "add":
            out = xs[0]
            for other in xs[1:]:
                out = out + other
            return out
        if t == "mul":
            return xs[0] * xs[1]
        if t == "concat":
            return torch.cat(xs, dim=1)
        if t == "softmax":
            return F.softmax(x, dim=1)
        if t == "lrn":
            return F.local_response_norm(x, p["size"], p["alpha"], p["beta"], p["k"])
        if t == "pixel_shuffle" and d == 2:
            return F.pixel_shuffle(x, p["factor"])
        if t == "pixel_unshuffle" and d == 2:
            return F.pixel_unshuffle(x, p["factor"])
        if t == "channel_shuffle":
            return F.channel_shuffle(x, p["groups"])
        if t == "slice":
            return x[:, p["start"]:p["end"]]
        if t == "pad":
            pads = []
            for item in reversed(_dims(p["padding"], d)):  # F.pad lists the last axis first
                pads += list(item) if isinstance(item, (list, tuple)) else [item, item]
            mode = {"zeros": "constant"}.get(p["mode"], p["mode"])
            return F.pad(x, pads, mode, p["value"]) if mode == "constant" else F.pad(x, pads, mode)
        per_channel = lambda t_: t_.view(1, -1, *([1] * d))  # noqa: E731
        if t == "layernorm":
            if d == 0:
                return F.layer_norm(x, x.shape[1:], w("weight"), w("bias"), p["eps"])
            return F.layer_norm(x.movedim(1, -1), x.shape[1:2], w("weight"), w("bias"), p["eps"]).movedim(-1, 1)
        if t == "groupnorm":
            return F.group_norm(x, p["groups"], w("weight"), w("bias"), p["eps"])
        if t == "instancenorm":
            return F.instance_norm(x, weight=w("weight"), bias=w("bias"), use_input_stats=True, eps=p["eps"])
        if t == "scale":
            y = x * per_channel(w("weight"))
            return y + per_channel(w("bias")) if w("bias") is not None else y
        if t == "drop_path":  # torchvision's stochastic_depth in training
            if p["p"] == 0:
                return x
            noise = x.new_empty([x.shape[0]] + [1] * (x.ndim - 1)).bernoulli_(1 - p["p"]).div_(1 - p["p"])
            return x * noise
        if t == "prelu":
            return F.prelu(x, w("weight"))
        if t == "elu":
            return F.elu(x, p["alpha"])
        if t == "hardtanh":
            return F.hardtanh(x, p["min"], p["max"])
        if t == "softplus":
            return F.softplus(x, p["beta"], p["threshold"])
        simple = {"selu": F.selu, "mish": F.mish, "hardsigmoid": F.hardsigmoid, "relu": F.relu, "relu6": F.relu6, "leaky_relu": F.leaky_relu, "sigmoid": torch.sigmoid,
                  "tanh": torch.tanh, "gelu": F.gelu, "silu": F.silu, "hardswish": F.hardswish}
        if t in simple:
            return simple[t](x)
        pytest.skip(f"no PyTorch mapping for layer type {t} in this test")


def saved_bytes(net: TorchNet, x) -> int:
    """Bytes of the distinct storages autograd saves for backward, parameters and buffers excluded."""
    excluded = {t.untyped_storage().data_ptr() for t in (*net.params, *net.buffers)}
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net.forward(x)
    return sum(storages.values()), out


CASES = [  # spec, batch (2 where batchnorm sees 1×1 maps), input override for the heaviest specs
    ("lenet5", 2, None), ("lenet5_homework", 2, None), ("tiny_segnet", 2, None), ("audio_m5", 2, None),
    ("resnet18", 2, None), ("resnet50", 1, [3, 160, 160]), ("mobilenet_v1", 1, None), ("mobilenet_v2", 1, None),
    ("googlenet", 1, None), ("deeplab_aspp", 2, None), ("alexnet", 2, None), ("zfnet", 2, None),
    ("vgg16", 1, None), ("video_c3d", 1, [3, 16, 64, 64]), ("unet", 1, [1, 128, 128]),
    ("shufflenet_v2_x1_0", 2, None),  # slices (views) kept by convs: the whole source is kept
    ("mobilenet_v3_small", 2, None), ("espcn", 2, None),
    ("tests/data/schema/zoo.yaml", 2, None),  # every layer type once, lrn and spp among them
    ("newer", 2, None),
]


NEWER = """\
input: [8, 8, 8]
layers:
  - conv: {out: 16, kernel: 3, padding: 1}
  - hardsigmoid
  - pixel_shuffle: {factor: 2}
  - conv: {out: 8, kernel: 3, stride: 2, padding: 1}
  - elu
  - layernorm
  - conv: {out: 8, kernel: 1}
  - groupnorm: {groups: 2}
  - selu
  - instancenorm: {affine: true}
  - mish
  - scale: {bias: true}
  - softplus
  - prelu: {per_channel: true}
  - hardtanh
  - drop_path: {p: 0.2}
  - channel_shuffle: {groups: 2}
  - pixel_unshuffle: {factor: 2}
  - pad: {padding: 1, mode: reflect}
  - conv: {out: 8, kernel: 3}
  - slice: {start: 0, end: 4}
  - conv: {out: 4, kernel: 1}
  - instancenorm
  - pad: {padding: [[1, 0], [0, 1]]}
  - conv: {out: 2, kernel: 3}
  - flatten
  - layernorm
"""


def _graph(name, input_shape):
    if name == "newer":  # types added after the bundled specs were written
        from netcalc.spec import load_spec_text

        return build_graph(load_spec_text(NEWER, "newer.yaml"))
    spec = load_spec(SPECS / f"{name}.yaml" if "/" not in name else ROOT / name)
    if input_shape is not None:
        spec.input_shape = tuple(input_shape)
    return build_graph(spec)


@pytest.mark.parametrize("name, batch, input_shape", CASES, ids=[Path(c[0]).stem for c in CASES])
def test_saved_equals_what_autograd_saves(name, batch, input_shape):
    torch.manual_seed(0)
    graph = _graph(name, input_shape)
    calculated = analyze_graph(graph, Setting(batch)).memory.training.saved
    net = TorchNet(graph)
    x = torch.randn(batch, *graph.input_shape)
    measured, out = saved_bytes(net, x)
    assert tuple(out.shape[1:]) == tuple(graph.nodes[-1].out_shape)
    assert abs(calculated - measured) <= 0.01 * measured, (calculated, measured)


@pytest.mark.parametrize("name", ["lenet5", "tiny_segnet", "tests/data/schema/zoo.yaml"])
def test_gradients_and_adam_state_are_what_an_adam_step_allocates(name):
    graph = _graph(name, None)
    training = analyze_graph(graph, Setting(2, optimizer="adam")).memory.training
    net = TorchNet(graph)
    net.forward(torch.randn(2, *graph.input_shape)).sum().backward()
    grads = sum(p.grad.nbytes for p in net.params)
    optimizer = torch.optim.Adam(net.params)
    optimizer.step()
    state = [s for p in net.params for s in optimizer.state[p].items()]
    moments = sum(v.nbytes for k, v in state if k in ("exp_avg", "exp_avg_sq"))
    steps = sum(v.nbytes for k, v in state if k == "step")  # one float32 counter per tensor
    assert grads == training.gradients
    assert moments == training.optimizer
    assert steps == 4 * len(net.params) and steps < 1e-4 * training.optimizer + 1024
