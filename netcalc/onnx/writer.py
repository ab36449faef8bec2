"""A resolved graph → an ONNX model (`netcalc export`): the sibling of the reporters.

One emit function per layer type in EMIT (the layer type's name → function). Each writes one
node named after the layer (helper nodes of a small group are named `<layer>/<role>`), reading
the layer's input tensors and writing a tensor named like the layer, and returns nothing.
Weights become initializers under their PyTorch names (`<layer>.weight`, …), in the layouts
netcalc's `run` uses — which are ONNX's own for Conv, ConvTranspose, Gemm (transB) and
BatchNormalization; per-channel [C] weights that ONNX must broadcast over [N, C, s…] (PRelu, a
scale, a norm's affine map after Reshapes) are written as [C, 1, …]. Where a layer has a form
PyTorch's exporters also write, it is that one, so that one reader pattern serves both.
"""

from __future__ import annotations

from netcalc.errors import SpecError
from netcalc.onnx import file_loc

DEFAULT_OPSET = 17
MAX_MODEL_BYTES = 2**31 - 2**24  # protobuf's 2 GiB limit, less room for the graph itself
MIN_OPSET, MAX_OPSET = 13, 21

EMIT: dict = {}


def emits(*type_names):
    def register(fn):
        for name in type_names:
            EMIT[name] = fn
        return fn
    return register


class Writer:
    def __init__(self, graph, weights: dict, opset: int):
        self.graph, self.weights, self.opset = graph, weights, opset
        self.nodes, self.initializers = [], []
        self.tensor = {"input": "input"}  # layer name → the tensor holding its output

    def ins(self, node) -> list[str]:
        return [self.tensor[name] for name in node.inputs]

    def add(self, op_type: str, inputs, outputs, name: str, **attrs):
        from onnx import helper

        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs), name=name, **attrs))
        return outputs[0]

    def out(self, node, op_type: str, inputs, **attrs):
        """The layer's own node: named like the layer, writing the tensor named like the layer."""
        self.tensor[node.name] = node.name
        return self.add(op_type, inputs, [node.name], node.name, **attrs)

    def weight(self, node, key: str, shape=None) -> str:
        """The initializer `<layer>.<key>`, reshaped to `shape` when ONNX broadcasts it differently
        (a per-channel [C] as [C, 1, …])."""
        import numpy as np
        from onnx import numpy_helper

        name = f"{node.name}.{key}"
        array = np.asarray(self.weights[name], dtype=np.float32)
        if shape is not None:
            array = array.reshape(shape)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def const(self, name: str, values, dtype="int64") -> str:
        import numpy as np
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def reduce(self, op_type: str, x: str, axes: list[int], out: str, name: str) -> str:
        """ReduceMean/ReduceMax with keepdims over `axes` (an attribute before opset 18, an input after)."""
        if self.opset >= 18:
            return self.add(op_type, [x, self.const(f"{name}.axes", axes)], [out], name, keepdims=1)
        return self.add(op_type, [x], [out], name, axes=axes, keepdims=1)


def _pads(node) -> list[int]:
    pads = node.geometry.pads
    return [b for b, _ in pads] + [a for _, a in pads]


# ---- convolutions and pooling --------------------------------------------------------------------
@emits("conv", "depthwise")
def conv(w, node):
    p = node.params
    x, pads = w.ins(node), _pads(node)
    if node.geometry.padding_mode != "zeros":  # as PyTorch exports it: a Pad `<layer>/pad`, then the Conv
        x, pads = [_pad(w, node, x[0], node.geometry.pads, node.geometry.padding_mode, f"{node.name}/pad")], None
    inputs = x + [w.weight(node, "weight")] + ([w.weight(node, "bias")] if p["bias"] else [])
    w.out(node, "Conv", inputs, kernel_shape=list(p["kernel"]), strides=list(p["stride"]),
          pads=pads, dilations=list(p["dilation"]), group=node.geometry.groups)


@emits("conv_transpose")
def conv_transpose(w, node):
    p = node.params
    inputs = w.ins(node) + [w.weight(node, "weight")] + ([w.weight(node, "bias")] if p["bias"] else [])
    w.out(node, "ConvTranspose", inputs, kernel_shape=list(p["kernel"]), strides=list(p["stride"]),
          pads=_pads(node), dilations=list(p["dilation"]), group=p["groups"],
          output_padding=list(p["output_padding"]))


@emits("maxpool", "avgpool")
def pool(w, node):
    g = node.geometry
    kernel, stride, dilation = g.kernel, g.stride, g.dilation
    p = node.params
    if node.kind.name == "maxpool":
        w.out(node, "MaxPool", w.ins(node), kernel_shape=list(kernel), strides=list(stride), pads=_pads(node),
              dilations=list(dilation), ceil_mode=int(p["ceil_mode"]))
    else:
        w.out(node, "AveragePool", w.ins(node), kernel_shape=list(kernel), strides=list(stride), pads=_pads(node),
              ceil_mode=int(p["ceil_mode"]), count_include_pad=int(p["count_include_pad"]))


@emits("global_avgpool", "global_maxpool")
def global_pool(w, node):
    w.out(node, "GlobalAveragePool" if "avg" in node.kind.name else "GlobalMaxPool", w.ins(node))


def _adaptive(w, node, x: str, target, mode: str, out: str, name: str) -> str:
    """PyTorch's adaptive bins: one pooling node when every axis divides evenly, else per axis a
    Slice + Reduce per bin and a Concat (bins are products of per-axis intervals, and both mean
    and max of a box are a mean/max over one axis of the per-axis results)."""
    from netcalc import window

    spatial = node.in_shape[1:]
    if all(n % m == 0 for n, m in zip(spatial, target)):
        if all(m == 1 for m in target):
            return w.add("GlobalAveragePool" if mode == "avg" else "GlobalMaxPool", [x], [out], name)
        kernel = [n // m for n, m in zip(spatial, target)]
        return w.add("AveragePool" if mode == "avg" else "MaxPool", [x], [out], name,
                     kernel_shape=kernel, strides=kernel)
    reduce = "ReduceMean" if mode == "avg" else "ReduceMax"
    current = x
    for axis, (n, m) in enumerate(zip(spatial, target)):
        pieces = []
        for o in range(m):
            start, end = window.adaptive_bin(o, n, m)
            tag = f"{name}/axis{axis}_bin{o}"
            sliced = w.add("Slice", [current, w.const(f"{tag}.starts", [start]), w.const(f"{tag}.ends", [end]),
                                     w.const(f"{tag}.axes", [2 + axis])], [f"{tag}.slice"], f"{tag}/slice")
            pieces.append(w.reduce(reduce, sliced, [2 + axis], f"{tag}.pooled", f"{tag}/pool"))
        last_axis = axis == len(spatial) - 1
        current = w.add("Concat", pieces, [out if last_axis else f"{name}/axis{axis}"],
                        name if last_axis else f"{name}/axis{axis}_concat", axis=2 + axis)
    return current


@emits("adaptive_avgpool", "adaptive_maxpool")
def adaptive_pool(w, node):
    w.tensor[node.name] = node.name
    _adaptive(w, node, w.ins(node)[0], node.params["out"], "max" if "max" in node.kind.name else "avg",
              node.name, node.name)


@emits("spp")
def spp(w, node):
    x, ndim = w.ins(node)[0], len(node.in_shape) - 1
    flat = []
    for level in node.params["levels"]:
        tag = f"{node.name}/level{level}"
        pooled = _adaptive(w, node, x, (level,) * ndim, node.params["mode"], f"{tag}.pooled", tag)
        flat.append(w.add("Flatten", [pooled], [f"{tag}.flat"], f"{tag}/flatten", axis=1))
    w.out(node, "Concat", flat, axis=1)


# ---- dense ---------------------------------------------------------------------------------------
@emits("linear")
def linear(w, node):
    inputs = w.ins(node) + [w.weight(node, "weight")] + ([w.weight(node, "bias")] if node.params["bias"] else [])
    w.out(node, "Gemm", inputs, transB=1)


@emits("flatten")
def flatten(w, node):
    w.out(node, "Flatten", w.ins(node), axis=1)


@emits("batchnorm")
def batchnorm(w, node):
    inputs = w.ins(node) + [w.weight(node, k) for k in ("weight", "bias", "running_mean", "running_var")]
    w.out(node, "BatchNormalization", inputs, epsilon=node.params["eps"])


@emits("lrn")
def lrn(w, node):
    p = node.params
    w.out(node, "LRN", w.ins(node), size=p["size"], alpha=p["alpha"], beta=p["beta"], bias=p["k"])


# ---- element-wise --------------------------------------------------------------------------------
_SIMPLE = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "identity": "Identity"}


@emits(*_SIMPLE)
def simple(w, node):
    w.out(node, _SIMPLE[node.kind.name], w.ins(node))


@emits("relu6")
def relu6(w, node):
    w.out(node, "Clip", w.ins(node) + [w.const(f"{node.name}.min", 0.0, "float32"),
                                       w.const(f"{node.name}.max", 6.0, "float32")])


@emits("leaky_relu")
def leaky_relu(w, node):
    w.out(node, "LeakyRelu", w.ins(node), alpha=0.01)


def _gated(w, node, gate_op: str, **attrs):
    """x · gate(x): a helper node `<layer>/<gate>` and the layer's Mul."""
    x, name = w.ins(node)[0], f"{node.name}/{gate_op.lower()}"
    w.out(node, "Mul", [x, w.add(gate_op, [x], [name], name, **attrs)])


@emits("silu")
def silu(w, node):
    _gated(w, node, "Sigmoid")  # ONNX has no SiLU op


@emits("hardswish")
def hardswish(w, node):
    if w.opset >= 14:
        w.out(node, "HardSwish", w.ins(node))
    else:
        _gated(w, node, "HardSigmoid", alpha=1 / 6, beta=0.5)


@emits("gelu")
def gelu(w, node):
    if w.opset >= 20:
        w.out(node, "Gelu", w.ins(node))
        return
    x, n = w.ins(node)[0], node.name
    scaled = w.add("Div", [x, w.const(f"{n}.sqrt2", 2 ** 0.5, "float32")], [f"{n}/div"], f"{n}/div")
    erf = w.add("Erf", [scaled], [f"{n}/erf"], f"{n}/erf")
    one = w.add("Add", [erf, w.const(f"{n}.one", 1.0, "float32")], [f"{n}/add"], f"{n}/add")
    prod = w.add("Mul", [x, one], [f"{n}/mul"], f"{n}/mul")
    w.out(node, "Mul", [prod, w.const(f"{n}.half", 0.5, "float32")])


@emits("softmax")
def softmax(w, node):
    w.out(node, "Softmax", w.ins(node), axis=1)


@emits("dropout")
def dropout(w, node):
    w.out(node, "Dropout", w.ins(node) + [w.const(f"{node.name}.ratio", node.params["p"], "float32")])


@emits("upsample")
def upsample(w, node):
    p = node.params
    attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"} \
        if p["mode"] == "nearest" else {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    if p["scale"] is not None:
        scales = w.const(f"{node.name}.scales", [1.0, 1.0, *(float(s) for s in p["scale"])], "float32")
        w.out(node, "Resize", w.ins(node) + ["", scales], **attrs)
    else:
        c = node.in_shape[0]
        # sizes carry the batch; a Shape → Slice of the input keeps the model batch-agnostic
        x, n = w.ins(node)[0], node.name
        shape = w.add("Shape", [x], [f"{n}/shape"], f"{n}/shape")
        batch = w.add("Slice", [shape, w.const(f"{n}.b0", [0]), w.const(f"{n}.b1", [1])], [f"{n}/batch"], f"{n}/batch")
        sizes = w.add("Concat", [batch, w.const(f"{n}.rest", [c, *p["size"]])], [f"{n}/sizes"], f"{n}/sizes", axis=0)
        w.out(node, "Resize", [x, "", "", sizes], **attrs)


# ---- merges --------------------------------------------------------------------------------------
@emits("add", "mul")
def merge(w, node):
    """Add of two inputs, Sum of more (one node); Mul of more inputs is a chain (ONNX has no n-ary
    product): helper nodes `<name>/mul<k>`, the last one named like the layer."""
    op_type = "Add" if node.kind.name == "add" else "Mul"
    inputs = w.ins(node)
    if op_type == "Add" and len(inputs) > 2:
        w.out(node, "Sum", inputs)
        return
    current = inputs[0]
    for i, other in enumerate(inputs[1:-1], 1):
        current = w.add(op_type, [current, other], [f"{node.name}/{op_type.lower()}{i}"],
                        f"{node.name}/{op_type.lower()}{i}")
    w.out(node, op_type, [current, inputs[-1]])


@emits("concat")
def concat(w, node):
    w.out(node, "Concat", w.ins(node), axis=1)


# ---- contract §7 types ---------------------------------------------------------------------------
@emits("hardsigmoid")
def hardsigmoid(w, node):
    w.out(node, "HardSigmoid", w.ins(node), alpha=1 / 6, beta=0.5)  # PyTorch's: relu6(x + 3) / 6


def _rearranged(w, node, split: list[int], perm: list[int], joined: list[int]):
    """Reshape to `split` → Transpose(perm) → Reshape to `joined` (both shapes per sample, the batch
    copied with 0): helper nodes `<layer>/split`, `<layer>/transpose`, the last one the layer."""
    x, n = w.ins(node)[0], node.name
    a = w.add("Reshape", [x, w.const(f"{n}.split", [0, *split])], [f"{n}/split"], f"{n}/split")
    b = w.add("Transpose", [a], [f"{n}/transpose"], f"{n}/transpose", perm=list(perm))
    w.out(node, "Reshape", [b, w.const(f"{n}.joined", [0, *joined])])


def interleaved(d: int) -> list[int]:
    """pixel_shuffle's axis order: (N, C, r₁…r_d, s₁…s_d) → (N, C, s₁, r₁, …, s_d, r_d)."""
    return [0, 1] + [a for k in range(d) for a in (2 + d + k, 2 + k)]


def deinterleaved(d: int) -> list[int]:
    """pixel_unshuffle's: (N, C, s₁, r₁, …, s_d, r_d) → (N, C, r₁…r_d, s₁…s_d) (PyTorch's export)."""
    return [0, 1] + [3 + 2 * k for k in range(d)] + [2 + 2 * k for k in range(d)]


@emits("pixel_shuffle")
def pixel_shuffle(w, node):
    """2-D: DepthToSpace in CRD mode (PyTorch's channel order); 1-D and 3-D (DepthToSpace is 4-D
    only): the same permutation as Reshape → Transpose → Reshape."""
    r, spatial = node.geometry.factor, list(node.spatial_in)
    d, c = len(spatial), node.out_shape[0]
    if d == 2:
        w.out(node, "DepthToSpace", w.ins(node), blocksize=r, mode="CRD")
        return
    _rearranged(w, node, [c, *[r] * d, *spatial], interleaved(d), list(node.out_shape))


@emits("hardtanh")
def hardtanh(w, node):
    p, n = node.params, node.name
    w.out(node, "Clip", w.ins(node) + [w.const(f"{n}.min", p["min"], "float32"), w.const(f"{n}.max", p["max"], "float32")])


@emits("elu")
def elu(w, node):
    w.out(node, "Elu", w.ins(node), alpha=float(node.params["alpha"]))


@emits("selu")
def selu(w, node):
    w.out(node, "Selu", w.ins(node))  # ONNX's default alpha and gamma are PyTorch's constants


@emits("prelu")
def prelu(w, node):
    # ONNX broadcasts the slope from the last axis: one per channel is [C, 1, …]
    slopes = node.geometry.count  # 1, or one per channel
    w.out(node, "PRelu", w.ins(node) + [w.weight(node, "weight", (slopes,) + (1,) * len(node.spatial_in))])


@emits("mish")
def mish(w, node):
    if w.opset >= 18:
        w.out(node, "Mish", w.ins(node))
        return
    x, n = w.ins(node)[0], node.name
    sp = w.add("Softplus", [x], [f"{n}/softplus"], f"{n}/softplus")
    w.out(node, "Mul", [x, w.add("Tanh", [sp], [f"{n}/tanh"], f"{n}/tanh")])


SOFTPLUS_THRESHOLD = 20.0  # PyTorch's default; ONNX's Softplus has none (the difference is < 3e-9)


@emits("softplus")
def softplus(w, node):
    """Softplus(β·x)/β as PyTorch's exporters write it (Mul and Div only when β ≠ 1); with a threshold
    other than 20, also their Greater(β·x, threshold) → Where(·, x, softplus)."""
    p, x, n = node.params, w.ins(node)[0], node.name
    beta, threshold = float(p["beta"]), float(p["threshold"])
    exact = threshold != SOFTPLUS_THRESHOLD
    z = x if beta == 1 else w.add("Mul", [x, w.const(f"{n}.beta", beta, "float32")], [f"{n}/mul"], f"{n}/mul")
    if beta == 1 and not exact:
        w.out(node, "Softplus", [x])
        return
    sp = w.add("Softplus", [z], [f"{n}/softplus"], f"{n}/softplus")
    if beta != 1:
        div = [sp, w.const(f"{n}.beta_div", beta, "float32")]
        if not exact:
            w.out(node, "Div", div)
            return
        sp = w.add("Div", div, [f"{n}/div"], f"{n}/div")
    above = w.add("Greater", [z, w.const(f"{n}.threshold", threshold, "float32")], [f"{n}/greater"], f"{n}/greater")
    w.out(node, "Where", [above, x, sp])
# ---- padding, channel reordering and slicing (contract §7) ----------------------------------------
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(w, node, x: str, pads, mode: str, out: str, value: float = 0.0) -> str:
    """x padded by (before, after) per spatial axis in netcalc's `mode`, written to tensor `out` by a
    node named `out`: a Pad node; circular below opset 19 (Pad has no 'wrap' mode there) as PyTorch's
    TorchScript exporter writes it, per padded axis Concat(x[−before:], x, x[:after]) of two Slices."""
    if mode == "circular" and w.opset < 19:
        return _wrapped(w, x, pads, node.spatial_in, out)
    inputs = [x, w.const(f"{out}.pads", [0, 0, *(b for b, _ in pads), 0, 0, *(a for _, a in pads)])]
    if value:
        inputs.append(w.const(f"{out}.value", value, "float32"))
    return w.add("Pad", inputs, [out], out, mode=_PAD_MODES[mode])


def _sliced(w, x: str, start: int, end: int, axis: int, name: str) -> str:
    inputs = [x] + [w.const(f"{name}.{key}", [v]) for key, v in (("starts", start), ("ends", end), ("axes", axis))]
    return w.add("Slice", inputs, [name], name)


def _wrapped(w, x: str, pads, spatial, out: str) -> str:
    axes = [k for k, (b, a) in enumerate(pads) if b or a]
    if not axes:
        return w.add("Identity", [x], [out], out)
    current = x
    for k in axes:
        (before, after), tag = pads[k], f"{out}/axis{k}"
        pieces = [current]
        if before:  # the last `before` positions go in front
            pieces.insert(0, _sliced(w, current, -before, spatial[k], 2 + k, f"{tag}_before"))
        if after:  # the first `after` positions go behind
            pieces.append(_sliced(w, current, 0, after, 2 + k, f"{tag}_after"))
        name = out if k == axes[-1] else tag
        current = w.add("Concat", pieces, [name], name, axis=2 + k)
    return current


@emits("pad")
def pad(w, node):
    g = node.geometry
    w.tensor[node.name] = _pad(w, node, w.ins(node)[0], g.pads, g.mode, node.name, g.value)


@emits("slice")
def slice_(w, node):
    p = node.params  # as written (a negative start counts from the end in ONNX too)
    end = node.in_shape[0] if p["end"] is None else p["end"]
    starts, ends, axes = (w.const(f"{node.name}.{key}", [v]) for key, v in (("starts", p["start"]), ("ends", end),
                                                                            ("axes", 1)))
    w.out(node, "Slice", w.ins(node) + [starts, ends, axes])


@emits("channel_shuffle")
def channel_shuffle(w, node):
    """ShuffleNet's Reshape [N, g, C/g, …] → Transpose (1, 2) → Reshape [N, C, …]."""
    g, spatial = node.geometry, list(node.spatial_in)
    _rearranged(w, node, [g.groups, g.per_group, *spatial], [0, 2, 1, *range(3, 3 + len(spatial))],
                list(node.out_shape))


@emits("pixel_unshuffle")
def pixel_unshuffle(w, node):
    """PyTorch's export: Reshape [N, C, s₁/r, r, …] → Transpose to [N, C, r…, s/r…] → Reshape (in any
    dimension; SpaceToDepth orders the channels block-first: PyTorch's order only for one channel)."""
    r, d = node.geometry.factor, len(node.spatial_in)
    split = [node.in_shape[0], *(v for n in node.spatial_out for v in (n, r))]
    _rearranged(w, node, split, deinterleaved(d), list(node.out_shape))


# ---- normalisation and residual helpers (contract §7) ---------------------------------------------
def _fixed(w, name: str, size: int, fill: float) -> str:
    """A Constant node `name` of `size` copies of `fill`: a fixed scale or shift, not a parameter
    (netcalc reads Constant nodes of ones and zeros back as no affine map, as PyTorch exports them)."""
    import numpy as np
    from onnx import numpy_helper

    return w.add("Constant", [], [name], name, value=numpy_helper.from_array(np.full(size, fill, np.float32)))


def _per_channel(node) -> tuple[int, ...]:
    """A [C] weight as ONNX broadcasts it over [N, C, s…]: [C, 1, …]."""
    return (node.in_shape[0],) + (1,) * len(node.spatial_in)


def _affine(w, node, x: str, out_name: str | None = None, bias: bool = True) -> None:
    """x · weight [+ bias] per channel: `<layer>/mul` then the layer's Add (or the layer's Mul)."""
    n, shape = node.name, _per_channel(node)
    if not bias:
        w.out(node, "Mul", [x, w.weight(node, "weight", shape)])
        return
    scaled = w.add("Mul", [x, w.weight(node, "weight", shape)], [f"{n}/mul"], f"{n}/mul")
    w.out(node, "Add", [scaled, w.weight(node, "bias", shape)])


@emits("instancenorm")
def instancenorm(w, node):
    """InstanceNormalization; without affine its scale 1 and bias 0 are Constant nodes `<layer>/scale`,
    `<layer>/bias` (fixed values, not parameters: read back as affine false)."""
    c, n = node.in_shape[0], node.name
    if node.params["affine"]:
        scale, bias = w.weight(node, "weight"), w.weight(node, "bias")
    else:
        scale, bias = _fixed(w, f"{n}/scale", c, 1.0), _fixed(w, f"{n}/bias", c, 0.0)
    w.out(node, "InstanceNormalization", w.ins(node) + [scale, bias], epsilon=node.params["eps"])


@emits("groupnorm")
def groupnorm(w, node):
    """Opset 21 with affine: GroupNormalization. Otherwise as PyTorch exports GroupNorm: Reshape to
    [N, groups, −1] → InstanceNormalization (fixed scale 1, shift 0) → Reshape back [→ Mul weight
    → Add bias, per channel]."""
    p, x, n = node.params, w.ins(node)[0], node.name
    groups = node.geometry.groups
    if w.opset >= 21 and p["affine"]:
        w.out(node, "GroupNormalization", [x, w.weight(node, "weight"), w.weight(node, "bias")],
              num_groups=groups, epsilon=p["eps"])
        return
    grouped = w.add("Reshape", [x, w.const(f"{n}.grouped", [0, groups, -1])], [f"{n}/grouped"], f"{n}/grouped")
    normed = w.add("InstanceNormalization", [grouped, _fixed(w, f"{n}/scale", groups, 1.0),
                                            _fixed(w, f"{n}/bias", groups, 0.0)],
                   [f"{n}/norm"], f"{n}/norm", epsilon=p["eps"])
    back = [normed, w.const(f"{n}.shape", [0, *node.in_shape])]
    if not p["affine"]:
        w.out(node, "Reshape", back)
        return
    _affine(w, node, w.add("Reshape", back, [f"{n}/ungrouped"], f"{n}/ungrouped"))


def _layernorm_written_out(w, node, x: str):
    """Over the channels (axis 1), as PyTorch writes LayerNorm before opset 17: ReduceMean → Sub →
    Pow 2 → ReduceMean → Add eps → Sqrt → Div [→ Mul weight → Add bias]."""
    p, n = node.params, node.name
    mean = w.reduce("ReduceMean", x, [1], f"{n}/mean", f"{n}/mean")
    centred = w.add("Sub", [x, mean], [f"{n}/sub"], f"{n}/sub")
    square = w.add("Pow", [centred, w.const(f"{n}.two", 2.0, "float32")], [f"{n}/pow"], f"{n}/pow")
    var = w.reduce("ReduceMean", square, [1], f"{n}/var", f"{n}/var")
    shifted = w.add("Add", [var, w.const(f"{n}.eps", p["eps"], "float32")], [f"{n}/add_eps"], f"{n}/add_eps")
    std = w.add("Sqrt", [shifted], [f"{n}/sqrt"], f"{n}/sqrt")
    div = [centred, std]
    if not p["affine"]:
        w.out(node, "Div", div)
        return
    _affine(w, node, w.add("Div", div, [f"{n}/div"], f"{n}/div"), bias=p["bias"])


@emits("layernorm")
def layernorm(w, node):
    """From opset 17 with affine: LayerNormalization, between two Transposes (channels last and back)
    when there are spatial dims; otherwise written out over axis 1."""
    p, x, n = node.params, w.ins(node)[0], node.name
    if w.opset < 17 or not p["affine"]:
        _layernorm_written_out(w, node, x)
        return
    inputs = [w.weight(node, "weight")] + ([w.weight(node, "bias")] if p["bias"] else [])
    d = len(node.spatial_in)
    if not d:
        w.out(node, "LayerNormalization", [x, *inputs], axis=-1, epsilon=p["eps"])
        return
    last = w.add("Transpose", [x], [f"{n}/to_last"], f"{n}/to_last", perm=[0, *range(2, d + 2), 1])
    normed = w.add("LayerNormalization", [last, *inputs], [f"{n}/norm"], f"{n}/norm", axis=-1, epsilon=p["eps"])
    w.out(node, "Transpose", [normed], perm=[0, d + 1, *range(1, d + 1)])


@emits("scale")
def scale(w, node):
    _affine(w, node, w.ins(node)[0], bias=node.params["bias"])


@emits("drop_path")
def drop_path(w, node):
    w.out(node, "Identity", w.ins(node))  # identity at inference; nothing in the file says it was there


# ---- the model -----------------------------------------------------------------------------------
def build_model(graph, weights: dict, opset: int = DEFAULT_OPSET):
    """The ONNX ModelProto of a resolved graph, checked with the onnx checker."""
    from onnx import TensorProto, checker, helper

    from netcalc import __version__

    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise SpecError(f"--opset {opset}: netcalc writes opsets {MIN_OPSET} to {MAX_OPSET}")
    size = 4 * sum(int(getattr(v, "size", 0)) for v in weights.values())
    if size > MAX_MODEL_BYTES:
        raise SpecError(f"the weights take {size:,} bytes as float32; one ONNX file holds at most 2 GiB "
                        f"(protobuf's limit), so netcalc cannot write this model")
    w = Writer(graph, weights, opset)
    for node in graph.nodes:
        emit = EMIT.get(node.kind.name)
        if emit is None:
            raise SpecError(f"netcalc cannot write layer type '{node.kind.name}' to ONNX yet", node.loc, node.name)
        emit(w, node)
    read = {name for node in graph.nodes for name in node.inputs}
    sinks = [node for node in graph.nodes if node.name not in read]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *graph.input_shape])]
    outputs = [helper.make_tensor_value_info(w.tensor[n.name], TensorProto.FLOAT, ["batch", *n.out_shape])
               for n in sinks]
    onnx_graph = helper.make_graph(w.nodes, graph.spec.name, inputs, outputs, w.initializers)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="netcalc", producer_version=__version__)
    model.ir_version = min(model.ir_version, 8 if opset <= 17 else 9 if opset <= 20 else 10)
    checker.check_model(model)
    return model


def export(graph, path, weights: dict, opset: int = DEFAULT_OPSET) -> int:
    """Write the model to `path`; returns the file size in bytes."""
    model = build_model(graph, weights, opset)
    data = model.SerializeToString()
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise SpecError(f"cannot write the model: {exc.strerror or exc}", file_loc(path)) from None
    return len(data)
