"""Single ONNX nodes → netcalc layers: one small function per op type, in the table OPS.

Each function reads the node's attributes (any attribute it does not list is an error: netcalc
never ignores what it cannot honour), maps them to the layer type's parameters (contract §1, §7)
and emits the layer through the reader. Should a mapped type be missing from the registry,
reading it is a clear error naming the type (reader.emit).
"""

from __future__ import annotations

import math

from netcalc.onnx.reader import WeightRef

OPS: dict = {}


def op(*names):
    def register(fn):
        for name in names:
            OPS[name] = fn
        return fn
    return register


def supported_ops() -> str:
    from netcalc.onnx.patterns import PATTERN_OPS

    return ", ".join(sorted(set(OPS) | PATTERN_OPS | {"Constant", "Shape"}))


# ---- shared attribute mapping --------------------------------------------------------------------
def _compact(values):
    """[3, 3] → 3; [3, 5] stays a list (the spec's own short forms)."""
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def _padding(r, node, attrs, spatial_in, kernel, stride, dilation):
    """ONNX pads/auto_pad → netcalc `padding` ([before, after] pairs where asymmetric)."""
    nd = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = []
        for n, k, s, d in zip(spatial_in, kernel, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small, big = total // 2, total - total // 2
            pairs.append((small, big) if auto == "SAME_UPPER" else (big, small))
    elif auto == "VALID":
        pairs = [(0, 0)] * nd
    elif auto == "NOTSET":
        pads = [int(p) for p in attrs.get("pads", [0] * (2 * nd))]
        if len(pads) != 2 * nd:
            raise r.error(node, f"pads {pads} needs {2 * nd} values for {nd} spatial dims")
        pairs = list(zip(pads[:nd], pads[nd:]))
    else:
        raise r.error(node, f"auto_pad '{auto}' is not an ONNX value")
    if any(b < 0 or a < 0 for b, a in pairs):
        raise r.error(node, f"negative pads {pairs} (cropping) are not something netcalc can honour")
    if all(b == a for b, a in pairs):
        return _compact([b for b, _ in pairs])
    return [[b, a] for b, a in pairs]


def _spatial_attrs(r, node, attrs, nd, kernel):
    stride = [int(s) for s in attrs.get("strides", [1] * nd)]
    dilation = [int(d) for d in attrs.get("dilations", [1] * nd)]
    if len(stride) != nd or len(dilation) != nd:
        raise r.error(node, f"strides/dilations need {nd} values for {nd} spatial dims")
    return stride, dilation


def short_float(value) -> float:
    """A float32 attribute as the decimal it was written from (0.699999988 → 0.7)."""
    return float(f"{float(value):.7g}")


def _bias(node, index=2):
    return len(node.input) > index and bool(node.input[index])


# ---- convolutions --------------------------------------------------------------------------------
@op("Conv")
def conv(r, node, padded=None):
    """padded: (the padding nodes before the Conv, the tensor they pad, their [before, after] pairs,
    their mode) when a pattern folds a copying padding into the conv's padding_mode."""
    attrs = r.attrs(node, ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"))
    source = node.input[0] if padded is None else padded[1]
    x = r.act(node, source)
    w = r.dims_of(node, node.input[1])
    nd = len(w) - 2
    kernel = [int(k) for k in attrs.get("kernel_shape", w[2:])]
    if tuple(kernel) != tuple(w[2:]):
        raise r.error(node, f"kernel_shape {kernel} disagrees with the weight's {list(w[2:])}")
    stride, dilation = _spatial_attrs(r, node, attrs, nd, kernel)
    groups = int(attrs.get("group", 1))
    if padded is None:
        padding = _padding(r, node, attrs, x.shape[1:], kernel, stride, dilation)
    else:
        pairs = padded[2]
        padding = _compact([b for b, _ in pairs]) if all(b == a for b, a in pairs) else [list(p) for p in pairs]
    c_in, c_out = x.shape[0], w[0]
    params = {"kernel": _compact(kernel)}
    for key, value, default in (("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1)):
        value = _compact(value) if isinstance(value, list) and not isinstance(value[0], list) else value
        if value != default:
            params[key] = value
    if not _bias(node):
        params["bias"] = False
    if padded is not None:
        params["padding_mode"] = padded[3]
    weights = {"weight": WeightRef(node.input[1])}
    if _bias(node):
        weights["bias"] = WeightRef(node.input[2])
    nodes = [node] if padded is None else [*padded[0], node]
    if groups > 1 and groups == c_in and w[1] == 1:  # groups = C_in: netcalc's depthwise
        if c_out != c_in:
            params["multiplier"] = c_out // c_in
        r.emit(nodes, "depthwise", params, [source], weights)
        return
    params = {"out": c_out, **params}
    if groups != 1:
        params["groups"] = groups
    r.emit(nodes, "conv", params, [source], weights)


@op("ConvTranspose")
def conv_transpose(r, node):
    attrs = r.attrs(node, ("auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape",
                           "pads", "strides"))
    x = r.act(node, node.input[0])
    w = r.dims_of(node, node.input[1])
    nd = len(w) - 2
    kernel = [int(k) for k in attrs.get("kernel_shape", w[2:])]
    stride, dilation = _spatial_attrs(r, node, attrs, nd, kernel)
    groups = int(attrs.get("group", 1))
    out_pad = [int(v) for v in attrs.get("output_padding", [0] * nd)]
    auto = attrs.get("auto_pad", "NOTSET")
    if "output_shape" in attrs or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = [int(v) for v in attrs["output_shape"]][-nd:] if "output_shape" in attrs else \
            [n * s for n, s in zip(x.shape[1:], stride)]
        pairs = []
        for n, k, s, d, op_, o in zip(x.shape[1:], kernel, stride, dilation, out_pad, target):
            total = s * (n - 1) + op_ + (k - 1) * d + 1 - o
            if total < 0:
                # ONNX grows the output with extra output padding; netcalc keeps output_padding < stride
                raise r.error(node, f"output_shape {target} needs {-total} more output padding than "
                                    f"netcalc's conv_transpose can add")
            pairs.append((total // 2, total - total // 2) if auto == "SAME_UPPER" else (total - total // 2, total // 2))
        padding = _compact([b for b, _ in pairs]) if all(b == a for b, a in pairs) else [[b, a] for b, a in pairs]
    else:
        padding = _padding(r, node, attrs, x.shape[1:], kernel, stride, dilation)
    params = {"out": w[1] * groups, "kernel": _compact(kernel)}
    for key, value, default in (("stride", stride, 1), ("padding", padding, 0), ("output_padding", out_pad, 0),
                                ("dilation", dilation, 1)):
        value = _compact(value) if isinstance(value, list) and not isinstance(value[0], list) else value
        if value != default:
            params[key] = value
    if groups != 1:
        params["groups"] = groups
    weights = {"weight": WeightRef(node.input[1])}
    if _bias(node):
        weights["bias"] = WeightRef(node.input[2])
    else:
        params["bias"] = False
    r.emit([node], "conv_transpose", params, [node.input[0]], weights)


# ---- pooling -------------------------------------------------------------------------------------
def _pool(r, node, type_name, extra_attrs):
    attrs = r.attrs(node, ("auto_pad", "ceil_mode", "kernel_shape", "pads", "strides", *extra_attrs))
    if len(node.output) > 1 and node.output[1] and node.output[1] in r.consumers:
        raise r.error(node, "MaxPool's indices output is used; netcalc's maxpool has none")
    if attrs.get("storage_order", 0):
        raise r.error(node, "storage_order 1 (column-major indices) is not something netcalc can honour")
    x = r.act(node, node.input[0])
    kernel = [int(k) for k in attrs["kernel_shape"]]
    nd = len(kernel)
    stride, dilation = _spatial_attrs(r, node, attrs, nd, kernel)
    padding = _padding(r, node, attrs, x.shape[1:], kernel, stride, dilation)
    params = {"kernel": _compact(kernel), "stride": _compact(stride)}
    if padding != 0:
        params["padding"] = padding
    if dilation != [1] * nd:
        if type_name == "avgpool":
            raise r.error(node, "dilated average pooling is not in netcalc (nor in PyTorch)")
        params["dilation"] = _compact(dilation)
    if attrs.get("ceil_mode", 0):
        params["ceil_mode"] = True
    if type_name == "avgpool" and not attrs.get("count_include_pad", 0):
        params["count_include_pad"] = False  # ONNX's default excludes the padding; PyTorch's includes it
    r.emit([node], type_name, params, [node.input[0]])


@op("MaxPool")
def maxpool(r, node):
    _pool(r, node, "maxpool", ("dilations", "storage_order"))


@op("AveragePool")
def avgpool(r, node):
    _pool(r, node, "avgpool", ("count_include_pad", "dilations"))


@op("ReduceMean", "ReduceMax")
def reduce_spatial(r, node):
    """Mean or max over every spatial axis = global pooling (keepdims=0 adds a flatten)."""
    attrs = r.attrs(node, ("axes", "keepdims", "noop_with_empty_axes"))
    x = r.act(node, node.input[0])
    rank = len(x.shape) + 1
    axes = attrs.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = r.const(node, node.input[1], "axes").reshape(-1).tolist()
    axes = sorted(int(a) % rank for a in axes) if axes is not None else None
    if axes != list(range(2, rank)) or rank < 3:
        raise r.error(node, f"{node.op_type} over axes {axes} is not a layer netcalc has; it reads "
                            f"{node.op_type} over all spatial axes (global pooling)")
    kind = "global_avgpool" if node.op_type == "ReduceMean" else "global_maxpool"
    if attrs.get("keepdims", 1):
        r.emit([node], kind, None, [node.input[0]])
        return
    pooled = r.emit([node], kind, None, [node.input[0]], output=node.output[0] + "#pooled")
    r.values[node.output[0] + "#pooled"] = pooled
    r.emit([node], "flatten", None, [node.output[0] + "#pooled"])


# ---- dense ---------------------------------------------------------------------------------------
@op("Gemm")
def gemm(r, node):
    attrs = r.attrs(node, ("alpha", "beta", "transA", "transB"))
    if attrs.get("transA", 0):
        raise r.error(node, "transA=1 (a transposed data matrix) is not a linear layer netcalc can honour")
    x = r.act(node, node.input[0])
    if len(x.shape) != 1:
        raise r.error(node, f"Gemm on a {len(x.shape) + 1}-dim tensor; netcalc's linear reads [N, F]")
    w = r.dims_of(node, node.input[1])
    trans_b = bool(attrs.get("transB", 0))
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    out = w[0] if trans_b else w[1]
    weights = {"weight": WeightRef(node.input[1], transpose=not trans_b, factor=alpha)}
    params = {"out": int(out)}
    if _bias(node):
        c = r.dims_of(node, node.input[2])
        if c not in ((out,), (1, out)):
            raise r.error(node, f"bias C of shape {list(c)} is not one value per output ({out}); netcalc's linear "
                                f"adds a bias vector")
        weights["bias"] = WeightRef(node.input[2], factor=beta, shape=(out,))
    else:
        params["bias"] = False
    r.emit([node], "linear", params, [node.input[0]], weights)


@op("MatMul")
def matmul(r, node):
    r.attrs(node)
    x = r.act(node, node.input[0])
    w = r.dims_of(node, node.input[1])
    if len(x.shape) != 1 or len(w) != 2:
        raise r.error(node, f"MatMul of {len(x.shape) + 1}-dim data with a {len(w)}-dim weight; netcalc reads "
                            f"MatMul as a linear layer on [N, F] (channels-last linear layers are not in netcalc)")
    r.emit([node], "linear", {"out": int(w[1]), "bias": False}, [node.input[0]],
           {"weight": WeightRef(node.input[1], transpose=True)})


def _flatten_or_error(r, node, x, target, what):
    if list(target) == [r.batch, math.prod(x.shape)] and len(x.shape) >= 1:
        r.emit([node], "flatten", None, [node.input[0]])
        return
    raise r.error(node, f"{what} [{r.batch}, {', '.join(map(str, x.shape))}] → {list(target)} is not a "
                        f"layer netcalc has; it reads {node.op_type} that flattens [N, C, …] to [N, C·…]")


@op("Flatten")
def flatten(r, node):
    attrs = r.attrs(node, ("axis",))
    x = r.act(node, node.input[0])
    axis = int(attrs.get("axis", 1)) % (len(x.shape) + 1)
    shape = (r.batch, *x.shape)
    target = [math.prod(shape[:axis]), math.prod(shape[axis:])]
    _flatten_or_error(r, node, x, target, "Flatten")


@op("Reshape")
def reshape(r, node):
    attrs = r.attrs(node, ("allowzero",))
    x = r.act(node, node.input[0])
    shape = [int(v) for v in r.const(node, node.input[1], "shape").reshape(-1)]
    full = [r.batch, *x.shape]
    out = [full[i] if v == 0 and not attrs.get("allowzero", 0) else v for i, v in enumerate(shape)]
    if out.count(-1) == 1:
        known = math.prod(v for v in out if v != -1)
        out[out.index(-1)] = math.prod(full) // known if known else 0
    if out == full:
        r.emit([node], "identity", None, [node.input[0]])
        return
    _flatten_or_error(r, node, x, out, "Reshape")


# ---- merges --------------------------------------------------------------------------------------
def _merge(r, node, type_name):
    """Two or more activations → add / mul; False when an input is a constant."""
    r.attrs(node)
    if all(not r.is_const(n) for n in node.input):
        r.emit([node], type_name, None, list(node.input))
        return True
    return False


@op("Add")
def add(r, node):
    if not _merge(r, node, "add"):
        raise r.error(node, "adding a constant tensor to the data is not a layer netcalc has (a bias belongs "
                            "to its conv or linear)")


@op("Sum")
def sum_(r, node):
    if not _merge(r, node, "add"):
        raise r.error(node, "Sum with a constant input is not a layer netcalc has")


@op("Mul")
def mul(r, node):
    if _merge(r, node, "mul"):
        return
    data = [n for n in node.input if not r.is_const(n)]
    weight = [n for n in node.input if r.is_const(n)]
    x = r.act(node, data[0])
    c = x.shape[0]
    if per_channel(r, node, weight[0], x):  # a per-channel scale: layer scale
        r.emit([node], "scale", None, data, {"weight": WeightRef(weight[0], shape=(c,))})
        return
    dims = r.dims_of(node, weight[0])
    raise r.error(node, f"multiplying the data by a constant of shape {list(dims)} is not a layer netcalc has "
                        f"(it reads a per-channel scale [C] or [C, 1, …])")


def per_channel(r, node, name: str, x) -> bool:
    """The constant `name` holds one value per channel of x as ONNX broadcasts it over [N, C, s…]:
    [C, 1, …] or [1, C, 1, …] (a plain [C] only on a flat [N, C])."""
    dims = list(r.dims_of(node, name))
    while len(dims) > len(x.shape):
        if dims[0] != 1:
            return False
        dims = dims[1:]
    return dims == [x.shape[0]] + [1] * (len(x.shape) - 1)


@op("Concat")
def concat(r, node):
    attrs = r.attrs(node, ("axis",))
    x = r.act(node, node.input[0])
    if int(attrs["axis"]) % (len(x.shape) + 1) != 1:
        raise r.error(node, f"Concat on axis {attrs['axis']}; netcalc's concat joins channels (axis 1)")
    r.emit([node], "concat", None, list(node.input))


# ---- element-wise --------------------------------------------------------------------------------
def _simple(op_type, type_name):
    def handler(r, node):
        r.attrs(node)
        r.emit([node], type_name, None, [node.input[0]])
    OPS[op_type] = handler


for _op_type, _type in (("Relu", "relu"), ("Sigmoid", "sigmoid"), ("Tanh", "tanh"), ("HardSwish", "hardswish"),
                        ("Identity", "identity"), ("Mish", "mish"), ("GlobalAveragePool", "global_avgpool"),
                        ("GlobalMaxPool", "global_maxpool"),
                        ("Softplus", "softplus")):  # ONNX's has no threshold; PyTorch's 20 changes < 3e-9
    _simple(_op_type, _type)


@op("Selu")
def selu(r, node):
    attrs = r.attrs(node, ("alpha", "gamma"))
    if abs(attrs.get("alpha", 1.67326) - 1.6732632) > 1e-4 or abs(attrs.get("gamma", 1.0507) - 1.0507010) > 1e-4:
        raise r.error(node, "netcalc's selu has PyTorch's fixed alpha and scale")
    r.emit([node], "selu", None, [node.input[0]])


@op("LeakyRelu")
def leaky_relu(r, node):
    alpha = r.attrs(node, ("alpha",)).get("alpha", 0.01)
    if abs(alpha - 0.01) > 1e-7:
        raise r.error(node, f"LeakyRelu with alpha {alpha:.6g}; netcalc's leaky_relu has PyTorch's default slope 0.01")
    r.emit([node], "leaky_relu", None, [node.input[0]])


@op("Elu")
def elu(r, node):
    alpha = short_float(r.attrs(node, ("alpha",)).get("alpha", 1.0))
    r.emit([node], "elu", {"alpha": alpha} if alpha != 1.0 else None, [node.input[0]])


@op("HardSigmoid")
def hardsigmoid(r, node):
    attrs = r.attrs(node, ("alpha", "beta"))
    if abs(attrs.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(attrs.get("beta", 0.5) - 0.5) > 1e-6:
        raise r.error(node, f"HardSigmoid with alpha {attrs.get('alpha', 0.2)}, beta {attrs.get('beta', 0.5)}; "
                            f"netcalc's hardsigmoid is PyTorch's (alpha 1/6, beta 0.5)")
    r.emit([node], "hardsigmoid", None, [node.input[0]])


@op("PRelu")
def prelu(r, node):
    r.attrs(node)
    x = r.act(node, node.input[0])
    dims = r.dims_of(node, node.input[1])
    size = math.prod(dims)
    if size not in (1, x.shape[0]):
        raise r.error(node, f"PRelu slope of shape {list(dims)}; netcalc's prelu has one slope or one per channel")
    params = {"per_channel": True} if size > 1 else None
    r.emit([node], "prelu", params, [node.input[0]], {"weight": WeightRef(node.input[1], shape=(size,))})


@op("Gelu")
def gelu(r, node):
    if r.attrs(node, ("approximate",)).get("approximate", "none") != "none":
        raise r.error(node, "Gelu with the tanh approximation; netcalc's gelu is the exact (erf) one")
    r.emit([node], "gelu", None, [node.input[0]])


@op("Clip")
def clip(r, node):
    attrs = r.attrs(node, ("min", "max"))
    low, high = attrs.get("min"), attrs.get("max")
    if len(node.input) > 1 and node.input[1]:
        low = float(r.const(node, node.input[1], "min").reshape(-1)[0])
    if len(node.input) > 2 and node.input[2]:
        high = float(r.const(node, node.input[2], "max").reshape(-1)[0])
    if low == 0 and high == 6:
        r.emit([node], "relu6", None, [node.input[0]])
    elif low == 0 and high is None:
        r.emit([node], "relu", None, [node.input[0]])
    elif low is not None and high is not None:
        r.emit([node], "hardtanh", {"min": short_float(low), "max": short_float(high)}, [node.input[0]])
    else:
        raise r.error(node, f"Clip to [{low}, {high}] is not a layer netcalc has (relu6, relu or hardtanh)")


@op("Softmax")
def softmax(r, node):
    attrs = r.attrs(node, ("axis",))
    x = r.act(node, node.input[0])
    rank = len(x.shape) + 1
    axis = int(attrs.get("axis", -1 if r.opset >= 13 else 1)) % rank
    if axis != 1 or (r.opset < 13 and rank > 2):
        raise r.error(node, "netcalc's softmax is over the channels (axis 1; before opset 13 only on [N, F])")
    r.emit([node], "softmax", None, [node.input[0]])


@op("Dropout")
def dropout(r, node):
    attrs = r.attrs(node, ("ratio", "seed", "is_test"))
    if len(node.output) > 1 and node.output[1] in r.consumers:
        raise r.error(node, "Dropout's mask output is used; netcalc's dropout has none")
    p = attrs.get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        p = float(r.const(node, node.input[1], "ratio").reshape(-1)[0])
    if len(node.input) > 2 and node.input[2] and bool(r.const(node, node.input[2], "training_mode").reshape(-1)[0]):
        raise r.error(node, "Dropout in training mode; netcalc counts inference")
    r.emit([node], "dropout", {"p": float(p)}, [node.input[0]])


# ---- normalisation -------------------------------------------------------------------------------
@op("BatchNormalization")
def batchnorm(r, node):
    attrs = r.attrs(node, ("epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"))
    if attrs.get("training_mode", 0) or any(o in r.consumers for o in node.output[1:] if o):
        raise r.error(node, "BatchNormalization in training mode; netcalc counts inference (running statistics)")
    if attrs.get("spatial", 1) != 1:
        raise r.error(node, "BatchNormalization with spatial=0 is not PyTorch's batchnorm")
    x = r.act(node, node.input[0])
    c = x.shape[0]
    weights = {key: WeightRef(name, shape=(c,)) for key, name in
               zip(("weight", "bias", "running_mean", "running_var"), node.input[1:5])}
    eps = float(attrs.get("epsilon", 1e-5))
    r.emit([node], "batchnorm", {"eps": eps} if abs(eps - 1e-5) > 1e-12 else None, [node.input[0]], weights)


def _affine(node, c, weight_index=1, bias_index=2):
    weights, params = {}, {}
    if len(node.input) > weight_index and node.input[weight_index]:
        weights["weight"] = WeightRef(node.input[weight_index], shape=(c,))
    if len(node.input) > bias_index and node.input[bias_index]:
        weights["bias"] = WeightRef(node.input[bias_index], shape=(c,))
    return weights, params


def layernorm_params(r, node, x):
    """LayerNormalization's attributes and affine inputs → layernorm's parameters and weights."""
    attrs = r.attrs(node, ("axis", "epsilon", "stash_type"))
    weights, params = _affine(node, x.shape[0])
    params["eps"] = short_float(attrs.get("epsilon", 1e-5))
    if "bias" not in weights:
        params["bias"] = False
    return params, weights, int(attrs.get("axis", -1))


@op("LayerNormalization")
def layernorm(r, node):
    x = r.act(node, node.input[0])
    params, weights, axis = layernorm_params(r, node, x)
    if len(x.shape) != 1 or axis % 2 != 1:
        raise r.error(node, "LayerNormalization over the last axis of a [N, C, …] tensor is not netcalc's "
                            "layernorm (over channels); netcalc reads it on [N, F], or channels-last between "
                            "two Transposes")
    r.emit([node], "layernorm", params, [node.input[0]], weights)


@op("InstanceNormalization")
def instancenorm(r, node):
    attrs = r.attrs(node, ("epsilon",))
    x = r.act(node, node.input[0])
    weights, params = _affine(node, x.shape[0])
    # scale 1 and bias 0 as graph constants (Constant nodes, as PyTorch and netcalc export an
    # InstanceNorm2d without affine), not initializers: fixed values, not parameters
    affine = not all(_fixed(r, node, i, value) for i, value in ((1, 1.0), (2, 0.0)))
    r.emit([node], "instancenorm", {"eps": short_float(attrs.get("epsilon", 1e-5)), "affine": affine}, [node.input[0]],
           weights if affine else {})


def _fixed(r, node, index: int, value: float) -> bool:
    """Input `index` is a fixed constant equal to `value` everywhere: a Constant node (PyTorch's
    TorchScript exporter, netcalc), or an initializer not named like a parameter (`…weight`,
    `…bias`: the dynamo exporter keeps a module's parameters under their names)."""
    return fixed_constant(r, node.input[index] if len(node.input) > index else "", value)


def fixed_constant(r, name: str, value: float) -> bool:
    from netcalc.onnx.reader import Const, Init

    held = r.values.get(name)
    if isinstance(held, Init) and not name.endswith(("weight", "bias")) and math.prod(held.dims) <= 1 << 16:
        held = Const(r.const(None, name))
    return isinstance(held, Const) and bool((held.value == value).all())


@op("GroupNormalization")
def groupnorm(r, node):
    attrs = r.attrs(node, ("epsilon", "num_groups", "stash_type"))
    x = r.act(node, node.input[0])
    if r.opset < 21:
        raise r.error(node, "GroupNormalization before opset 21 has per-group scales; netcalc reads opset 21's")
    weights, params = _affine(node, x.shape[0])
    r.emit([node], "groupnorm", {"groups": int(attrs["num_groups"]), "eps": short_float(attrs.get("epsilon", 1e-5))},
           [node.input[0]], weights)


@op("LRN")
def lrn(r, node):
    attrs = r.attrs(node, ("alpha", "beta", "bias", "size"))
    params = {"size": int(attrs["size"]), "alpha": float(attrs.get("alpha", 1e-4)),
              "beta": float(attrs.get("beta", 0.75)), "k": float(attrs.get("bias", 1.0))}
    r.emit([node], "lrn", params, [node.input[0]])


# ---- resampling, padding, channels ---------------------------------------------------------------
@op("Resize", "Upsample")
def resize(r, node):
    attrs = r.attrs(node, ("mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                           "exclude_outside", "extrapolation_value", "scales", "antialias", "axes",
                           "keep_aspect_ratio_policy"))
    x = r.act(node, node.input[0])
    rank = len(x.shape) + 1
    mode = attrs.get("mode", "nearest")
    coords = attrs.get("coordinate_transformation_mode", "half_pixel" if node.op_type == "Resize" else "asymmetric")
    if node.op_type == "Resize" and r.opset < 11:
        coords = "asymmetric"
    if attrs.get("antialias", 0) or "axes" in attrs:
        raise r.error(node, "Resize with antialias or axes is not something netcalc can honour")
    scales = sizes = None
    if node.op_type == "Upsample":
        scales = attrs.get("scales")
        if scales is None:
            scales = r.const(node, node.input[1], "scales").reshape(-1).tolist()
    else:
        inputs = list(node.input) + [""] * 4
        scale_name = inputs[2] if r.opset >= 11 else inputs[1]
        if scale_name and r.const(node, scale_name, "scales").size:
            scales = r.const(node, scale_name, "scales").reshape(-1).tolist()
        if r.opset >= 11 and inputs[3]:
            sizes = [int(v) for v in r.const(node, inputs[3], "sizes").reshape(-1)]
    if mode == "nearest":
        nearest = attrs.get("nearest_mode", "round_prefer_floor")
        if node.op_type == "Resize" and r.opset >= 11 and not (coords == "asymmetric" and nearest == "floor"):
            raise r.error(node, f"nearest Resize with {coords}/{nearest}; netcalc's nearest upsample is "
                                f"PyTorch's (asymmetric, floor)")
    elif mode in ("linear", "bilinear", "trilinear"):
        if coords not in ("half_pixel", "pytorch_half_pixel"):
            raise r.error(node, f"linear Resize with {coords}; netcalc's linear upsample is PyTorch's with "
                                f"align_corners=False (half_pixel)")
        mode = "linear"
    else:
        raise r.error(node, f"Resize mode '{mode}'; netcalc upsamples nearest or linear")
    params = {"mode": mode} if mode != "nearest" else {}
    if sizes is not None:
        if sizes[:2] != [r.batch, x.shape[0]] or len(sizes) != rank:
            raise r.error(node, f"Resize to sizes {sizes} changes the batch or channels")
        params["size"] = _compact(sizes[2:])
    elif scales is not None:
        if len(scales) != rank or scales[:2] != [1.0, 1.0]:
            raise r.error(node, f"Resize scales {scales} must keep batch and channels (1, 1, …)")
        params["scale"] = [float(s) for s in scales[2:]]
        if len(set(params["scale"])) == 1:
            params["scale"] = params["scale"][0]
    else:
        raise r.error(node, "Resize needs constant scales or sizes")
    r.emit([node], "upsample", params, [node.input[0]])


def pad_params(r, node):
    """A Pad node's ([before, after] per spatial axis, netcalc mode, fill value)."""
    attrs = r.attrs(node, ("mode", "pads", "value"))
    x = r.act(node, node.input[0])
    rank = len(x.shape) + 1
    pads = attrs.get("pads")
    if pads is None:
        pads = r.const(node, node.input[1], "pads").reshape(-1).tolist()
    value = attrs.get("value", 0.0)
    if len(node.input) > 2 and node.input[2]:
        value = float(r.const(node, node.input[2], "constant_value").reshape(-1)[0])
    if len(node.input) > 3 and node.input[3]:
        raise r.error(node, "Pad with axes is not something netcalc can honour")
    pads = [int(p) for p in pads]
    before, after = pads[:rank], pads[rank:]
    if before[:2] != [0, 0] or after[:2] != [0, 0] or min(pads) < 0:
        raise r.error(node, f"Pad {pads} pads the batch or channels, or crops; netcalc's pad pads spatial dims")
    modes = {"constant": "zeros", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}
    mode = attrs.get("mode", "constant")
    if mode not in modes:
        raise r.error(node, f"Pad mode '{mode}' is not one netcalc has")
    return [[b, a] for b, a in zip(before[2:], after[2:])], modes[mode], value


@op("Pad")
def pad(r, node):
    pairs, mode, value = pad_params(r, node)
    params = {"padding": pairs}
    if mode != "zeros":
        params["mode"] = mode
    if value:
        params["value"] = value
    r.emit([node], "pad", params, [node.input[0]])


@op("DepthToSpace")
def depth_to_space(r, node):
    attrs = r.attrs(node, ("blocksize", "mode"))
    if attrs.get("mode", "DCR") != "CRD":
        raise r.error(node, "DepthToSpace in DCR mode; netcalc's pixel_shuffle is PyTorch's order (CRD)")
    r.emit([node], "pixel_shuffle", {"factor": int(attrs["blocksize"])}, [node.input[0]])


@op("SpaceToDepth")
def space_to_depth(r, node):
    attrs = r.attrs(node, ("blocksize",))
    if r.act(node, node.input[0]).shape[0] != 1:
        raise r.error(node, "SpaceToDepth orders channels block-first; it equals PyTorch's pixel_unshuffle only "
                            "on one channel")
    r.emit([node], "pixel_unshuffle", {"factor": int(attrs["blocksize"])}, [node.input[0]])


def _channel_slice(r, node, start, end, output):
    """Channels [start, end); the defaults (0, C) left out, as a spec writes them."""
    params = {"start": int(start), "end": int(end)}
    if params["end"] == r.act(node, node.input[0]).shape[0]:
        del params["end"]
    if params["start"] == 0:
        del params["start"]
    r.emit([node], "slice", params or None, [node.input[0]], output=output)


@op("Split")
def split(r, node):
    attrs = r.attrs(node, ("axis", "split", "num_outputs"))
    x = r.act(node, node.input[0])
    if int(attrs.get("axis", 0)) % (len(x.shape) + 1) != 1:
        raise r.error(node, "Split on an axis other than the channels is not a layer netcalc has")
    sizes = attrs.get("split")
    if sizes is None and len(node.input) > 1 and node.input[1]:
        sizes = r.const(node, node.input[1], "split").reshape(-1).tolist()
    if sizes is None:
        n = len(node.output)
        sizes = [-(-x.shape[0] // n)] * (n - 1)
        sizes.append(x.shape[0] - sum(sizes))
    start = 0
    for size, output in zip(sizes, node.output):
        _channel_slice(r, node, start, start + int(size), output)
        start += int(size)


@op("Slice")
def slice_(r, node):
    x = r.act(node, node.input[0])
    rank = len(x.shape) + 1
    starts = r.const(node, node.input[1], "starts").reshape(-1).tolist()
    ends = r.const(node, node.input[2], "ends").reshape(-1).tolist()
    axes = r.const(node, node.input[3], "axes", required=False)
    axes = list(range(len(starts))) if axes is None else [int(a) % rank for a in axes.reshape(-1)]
    steps = r.const(node, node.input[4], "steps", required=False) if len(node.input) > 4 else None
    if axes != [1] or (steps is not None and steps.reshape(-1).tolist() != [1]):
        raise r.error(node, "Slice other than a step-1 range of channels is not a layer netcalc has")
    c = x.shape[0]
    start, end = (max(-c, min(int(v), c)) for v in (starts[0], ends[0]))
    _channel_slice(r, node, start, end, node.output[0])
