"""A resolved graph → an ONNX model (`netcalc export`): the sibling of the reporters.

One emit function per layer type in EMIT (the layer type's name → function). Each writes one
node named after the layer (helper nodes of a small group are named `<layer>/<role>`), reading
the layer's input tensors and writing a tensor named like the layer, and returns nothing.
Weights become initializers under their PyTorch names (`<layer>.weight`, …), in the layouts
netcalc's `run` uses — which are ONNX's own for Conv, ConvTranspose, Gemm (transB) and
BatchNormalization.
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

    def weight(self, node, key: str) -> str:
        import numpy as np
        from onnx import numpy_helper

        name = f"{node.name}.{key}"
        self.initializers.append(numpy_helper.from_array(np.asarray(self.weights[name], dtype=np.float32), name))
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


# ---- contract §7 activations and pixel_shuffle (issue 9; the reader maps each back) ----
@emits("hardsigmoid")
def hardsigmoid(w, node):
    w.out(node, "HardSigmoid", w.ins(node), alpha=1 / 6, beta=0.5)


@emits("hardtanh")
def hardtanh(w, node):
    w.out(node, "Clip", w.ins(node) + [w.const(f"{node.name}.min", node.params["min"], "float32"),
                                       w.const(f"{node.name}.max", node.params["max"], "float32")])


@emits("elu")
def elu(w, node):
    w.out(node, "Elu", w.ins(node), alpha=node.params["alpha"])


@emits("selu")
def selu(w, node):
    w.out(node, "Selu", w.ins(node))  # ONNX's default alpha and gamma are PyTorch's constants


@emits("prelu")
def prelu(w, node):
    import numpy as np

    # ONNX broadcasts the slope from the right: [C, 1, …] reaches the channel axis ([C] on a flat [F])
    slope = np.asarray(w.weights[f"{node.name}.weight"], dtype=np.float32)
    shape = (slope.size,) + (1,) * (len(node.in_shape) - 1) if slope.size > 1 else (1,)
    w.out(node, "PRelu", w.ins(node) + [w.const(f"{node.name}.weight", slope.reshape(shape), "float32")])


@emits("mish")
def mish(w, node):
    if w.opset >= 18:
        w.out(node, "Mish", w.ins(node))
        return
    x, n = w.ins(node)[0], node.name
    soft = w.add("Softplus", [x], [f"{n}/softplus"], f"{n}/softplus")
    w.out(node, "Mul", [x, w.add("Tanh", [soft], [f"{n}/tanh"], f"{n}/tanh")])


@emits("softplus")
def softplus(w, node):
    beta, threshold = node.params["beta"], node.params["threshold"]
    if (beta, threshold) != (1.0, 20.0):
        raise SpecError(f"softplus with beta {beta:g} and threshold {threshold:g}: ONNX's Softplus has "
                        f"PyTorch's defaults (1, 20) only", node.loc, node.name)
    w.out(node, "Softplus", w.ins(node))  # above x = 20 ONNX's log(1 + eˣ) differs from x by < 3e-9


@emits("pixel_shuffle")
def pixel_shuffle(w, node):
    if len(node.in_shape) != 3:
        raise SpecError(f"pixel_shuffle on a {len(node.in_shape) - 1}-D tensor: ONNX's DepthToSpace is 2-D only",
                        node.loc, node.name)
    w.out(node, "DepthToSpace", w.ins(node), blocksize=node.params["factor"], mode="CRD")


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


# ---- normalisation by the sample's statistics, residual helpers (contract §7, issue 9) ------------
# Written so that netcalc's reader (patterns.py) reads each back as the same layer: the statistics as
# ReduceMean → Sub → Pow 2 → ReduceMean → Add eps → Sqrt → Div over the normalised axes, the affine
# map as Mul γ → Add β with [C, 1, …] initializers; the last node is the layer's own.
def _chain(w, node, x, steps):
    """x (op other)… : every step but the last a helper `<layer>/<op>`, the last the layer's node."""
    for op_type, other in steps[:-1]:
        name = f"{node.name}/{op_type.lower()}"
        x = w.add(op_type, [x, other], [name], name)
    w.out(node, steps[-1][0], [x, steps[-1][1]])


def _statistics(w, node, x, axes) -> tuple[str, str]:
    """(x − mean, sqrt(var + eps)) over `axes`: the Div of the two is the normalised x."""
    n = node.name
    mean = w.reduce("ReduceMean", x, axes, f"{n}/mean", f"{n}/mean")
    centred = w.add("Sub", [x, mean], [f"{n}/sub"], f"{n}/sub")
    square = w.add("Pow", [centred, w.const(f"{n}.two", 2.0, "float32")], [f"{n}/pow"], f"{n}/pow")
    var = w.reduce("ReduceMean", square, axes, f"{n}/var", f"{n}/var")
    shifted = w.add("Add", [var, w.const(f"{n}.eps", node.params["eps"], "float32")], [f"{n}/eps"], f"{n}/eps")
    return centred, w.add("Sqrt", [shifted], [f"{n}/sqrt"], f"{n}/sqrt")


def _affine_steps(w, node) -> list:
    """[("Mul", γ), ("Add", β)] for the per-channel weights the layer has, as [C, 1, …] initializers."""
    import numpy as np

    ndim = len(node.in_shape) + 1
    steps = []
    for op_type, key in (("Mul", "weight"), ("Add", "bias")):
        if key in node.kind.weight_shapes(node):
            value = np.asarray(w.weights[f"{node.name}.{key}"], dtype=np.float32).reshape((-1,) + (1,) * (ndim - 2))
            steps.append((op_type, w.const(f"{node.name}.{key}", value, "float32")))
    return steps


@emits("layernorm")
def layernorm(w, node):
    centred, std = _statistics(w, node, w.ins(node)[0], [1])
    _chain(w, node, centred, [("Div", std)] + _affine_steps(w, node))


# ---- padding, channel reordering and slicing (contract §7) ----------------------------------------
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(w, node, x: str, pads, mode: str, out: str, value: float = 0.0) -> str:
    """A Pad node of x by (before, after) per spatial axis in netcalc's `mode` (wrap needs opset 19)."""
    if mode == "circular" and w.opset < 19:
        raise SpecError(f"circular padding needs ONNX opset 19 or later (Pad mode 'wrap'); got --opset {w.opset}",
                        node.loc, node.name)
    inputs = [x, w.const(f"{out}.pads", [0, 0, *(b for b, _ in pads), 0, 0, *(a for _, a in pads)])]
    if value:
        inputs.append(w.const(f"{out}.value", value, "float32"))
    return w.add("Pad", inputs, [out], out, mode=_PAD_MODES[mode])


@emits("pad")
def pad(w, node):
    g = node.geometry
    w.tensor[node.name] = _pad(w, node, w.ins(node)[0], g.pads, g.mode, node.name, g.value)


@emits("slice")
def slice_(w, node):
    g = node.geometry
    starts, ends, axes = (w.const(f"{node.name}.{key}", [v]) for key, v in (("starts", g.start), ("ends", g.end),
                                                                            ("axes", 1)))
    w.out(node, "Slice", w.ins(node) + [starts, ends, axes])


def _regroup(w, node, x: str, shape, perm, out: str) -> str:
    """Reshape x to [batch, *shape] (0 keeps the batch), Transpose by perm: `<out>/reshape`,
    `<out>/transpose`."""
    n = out
    grouped = w.add("Reshape", [x, w.const(f"{n}.grouped", [0, *shape])], [f"{n}/reshape"], f"{n}/reshape")
    return w.add("Transpose", [grouped], [f"{n}/transpose"], f"{n}/transpose", perm=list(perm))


@emits("channel_shuffle")
def channel_shuffle(w, node):
    """ShuffleNet's Reshape [N, g, C/g, …] → Transpose (1, 2) → Reshape [N, C, …] (netcalc reads it back)."""
    g, spatial = node.geometry, list(node.spatial_in)
    rank = 3 + len(spatial)
    moved = _regroup(w, node, w.ins(node)[0], [g.groups, g.per_group, *spatial], [0, 2, 1, *range(3, rank)],
                     node.name)
    w.out(node, "Reshape", [moved, w.const(f"{node.name}.shape", [0, *node.out_shape])])


@emits("pixel_unshuffle")
def pixel_unshuffle(w, node):
    """PyTorch's order: Reshape [N, C, s₁/r, r, …] → Transpose to [N, C, r…, s/r…] → Reshape (SpaceToDepth
    puts the offset before the channel, so it is PyTorch's order only for one channel)."""
    r, d = node.geometry.factor, len(node.spatial_in)
    split = [v for n in node.spatial_out for v in (n, r)]
    perm = [0, 1, *(3 + 2 * k for k in range(d)), *(2 + 2 * k for k in range(d))]
    moved = _regroup(w, node, w.ins(node)[0], [node.in_shape[0], *split], perm, node.name)
    w.out(node, "Reshape", [moved, w.const(f"{node.name}.shape", [0, *node.out_shape])])


@emits("instancenorm")
def instancenorm(w, node):
    if node.params["affine"]:
        inputs = w.ins(node) + [w.weight(node, "weight"), w.weight(node, "bias")]
        w.out(node, "InstanceNormalization", inputs, epsilon=node.params["eps"])
        return
    centred, std = _statistics(w, node, w.ins(node)[0], list(range(2, len(node.in_shape) + 1)))
    _chain(w, node, centred, [("Div", std)])


@emits("groupnorm")
def groupnorm(w, node):
    p, n = node.params, node.name
    if w.opset >= 21 and p["affine"]:
        inputs = w.ins(node) + [w.weight(node, "weight"), w.weight(node, "bias")]
        w.out(node, "GroupNormalization", inputs, num_groups=p["groups"], epsilon=p["eps"])
        return
    # before opset 21 (whose GroupNormalization scales per group): [N, G, C/G·Πs], normalised over
    # its last axis, reshaped back, then the per-channel affine map
    grouped = w.add("Reshape", [w.ins(node)[0], w.const(f"{n}.grouped", [0, p["groups"], -1])], [f"{n}/grouped"],
                    f"{n}/grouped")
    centred, std = _statistics(w, node, grouped, [2])
    normed = w.add("Div", [centred, std], [f"{n}/div"], f"{n}/div")
    back = w.const(f"{n}.shape", [0, *node.in_shape])
    steps = _affine_steps(w, node)
    if not steps:
        w.out(node, "Reshape", [normed, back])
        return
    _chain(w, node, w.add("Reshape", [normed, back], [f"{n}/reshape"], f"{n}/reshape"), steps)


@emits("scale")
def scale(w, node):
    _chain(w, node, w.ins(node)[0], _affine_steps(w, node))


@emits("drop_path")
def drop_path(w, node):
    w.out(node, "Identity", w.ins(node))  # the identity at inference (ONNX has no stochastic depth)


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
