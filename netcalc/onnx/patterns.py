"""Multi-node patterns that are one layer: exporters decompose some layers into several nodes.

Each pattern is a function `(reader, index) → bool` under the op type of its first node (the
root) in PATTERNS; it checks the shape of the node group, that nothing outside the group reads
its inner tensors (reader.internal_ok), and emits the one layer. Patterns run before the single
node table (netcalc.onnx.ops), so a Sigmoid followed by its Mul is a silu, not two layers.
Most are the forms PyTorch's exporters (and netcalc's writer) give the contract §7 types:
layernorm and groupnorm written out, softplus with beta/threshold, circular padding as Slices and
Concats, a Pad folded into the conv of the same layer (padding_mode), element permutations
(channel/pixel shuffle, pixel unshuffle) as views around one Transpose. Should a mapped type be
missing from the registry, reading it is a clear error naming the type (reader.emit).
"""

from __future__ import annotations

import math

from netcalc.onnx.ops import short_float
from netcalc.onnx.reader import WeightRef

PATTERNS: dict[str, list] = {}


def pattern(root_op: str):
    def register(fn):
        PATTERNS.setdefault(root_op, []).append(fn)
        return fn
    return register


PATTERN_OPS = {"Erf", "Div", "Sub", "Pow", "Sqrt", "Transpose", "ReduceMax", "Greater", "Where"}  # ops read only as part of a pattern


def match_pattern(r, index: int) -> bool:
    for fn in PATTERNS.get(r.nodes[index].op_type, ()):
        if fn(r, index):
            return True
    return False


# ---- helpers -------------------------------------------------------------------------------------
def _next(r, tensor: str, *op_types):
    """(index, node) of the one consumer of `tensor` when it is one of op_types, else (None, None)."""
    found = r.only_consumer(tensor)
    if found is None or found[1].op_type not in op_types:
        return None, None
    return found


def _other(node, tensor: str):
    """The other input of a binary node that reads `tensor`, or None."""
    if len(node.input) != 2 or tensor not in node.input:
        return None
    return node.input[1] if node.input[0] == tensor else node.input[0]


def _is(r, name, value, tol=1e-5) -> bool:
    s = r.scalar(name) if name else None
    return s is not None and abs(s - value) <= tol * max(1.0, abs(value))


def _data(r, name) -> bool:
    from netcalc.onnx.reader import Act

    return isinstance(r.values.get(name), Act)


def _finish(r, group: list[int], type_name: str, params, inputs, weights=None, output=None) -> bool:
    if not r.internal_ok(group):
        return False
    nodes = [r.nodes[i] for i in group]
    r.emit(nodes, type_name, params, inputs, weights, output=output)
    r.done.update(group)
    return True


def _scaled_by(r, node, tensor, value) -> bool:
    """node is Div(tensor, value) or Mul(tensor, 1/value)."""
    other = _other(node, tensor)
    if node.op_type == "Div":
        return node.input[0] == tensor and _is(r, node.input[1], value)
    return node.op_type == "Mul" and other is not None and _is(r, other, 1 / value)


# ---- activations ---------------------------------------------------------------------------------
@pattern("Sigmoid")
def silu(r, i):
    """x · sigmoid(x)."""
    node = r.nodes[i]
    j, mul = _next(r, node.output[0], "Mul")
    if mul is None or _other(mul, node.output[0]) != node.input[0]:
        return False
    return _finish(r, [i, j], "silu", None, [node.input[0]])


@pattern("HardSigmoid")
def hardswish_hardsigmoid(r, i):
    """x · hardsigmoid(x) (PyTorch's export of hardswish before opset 14)."""
    node = r.nodes[i]
    alpha, beta = 0.2, 0.5  # ONNX's defaults
    for a in node.attribute:
        alpha = a.f if a.name == "alpha" else alpha
        beta = a.f if a.name == "beta" else beta
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
        return False
    j, mul = _next(r, node.output[0], "Mul")
    if mul is None or _other(mul, node.output[0]) != node.input[0]:
        return False
    return _finish(r, [i, j], "hardswish", None, [node.input[0]])


def _relu6_of_x_plus_3(r, i):
    """Add(x, 3) → Clip(0, 6): (x, [indices], clip output) or None."""
    add = r.nodes[i]
    x = next((n for n in add.input if _data(r, n)), None)
    if x is None or not _is(r, _other(add, x), 3.0):
        return None
    j, clip = _next(r, add.output[0], "Clip")
    if clip is None:
        return None
    low = clip.input[1] if len(clip.input) > 1 else None
    high = clip.input[2] if len(clip.input) > 2 else None
    attrs = {a.name: a.f for a in clip.attribute}
    ok = (_is(r, low, 0.0) or attrs.get("min") == 0.0) and (_is(r, high, 6.0) or attrs.get("max") == 6.0)
    return (x, [i, j], clip.output[0]) if ok else None


@pattern("Add")
def hardswish_clip(r, i):
    """x · relu6(x + 3) / 6, in either order of the product and the division (or · 1/6); without
    the product by x it is hardsigmoid."""
    found = _relu6_of_x_plus_3(r, i)
    if found is None:
        return False
    x, group, t = found
    j, first = _next(r, t, "Mul", "Div")
    if first is None:
        return False
    if _scaled_by(r, first, t, 6.0):
        k, second = _next(r, first.output[0], "Mul")
        if second is not None and _other(second, first.output[0]) == x:
            return _finish(r, group + [j, k], "hardswish", None, [x])
        return _finish(r, group + [j], "hardsigmoid", None, [x])
    if first.op_type == "Mul" and _other(first, t) == x:
        k, second = _next(r, first.output[0], "Mul", "Div")
        if second is not None and _scaled_by(r, second, first.output[0], 6.0):
            return _finish(r, group + [j, k], "hardswish", None, [x])
    return False


@pattern("Div")
@pattern("Mul")
def gelu_erf(r, i):
    """x · ½ · (1 + erf(x / √2)) — PyTorch's export of exact GELU before opset 20."""
    node = r.nodes[i]
    x = node.input[0]
    if not _data(r, x) or not _scaled_by(r, node, x, math.sqrt(2.0)):
        return False
    j, erf = _next(r, node.output[0], "Erf")
    if erf is None:
        return False
    k, add = _next(r, erf.output[0], "Add")
    if add is None or not _is(r, _other(add, erf.output[0]), 1.0):
        return False
    l_, m1 = _next(r, add.output[0], "Mul")
    if m1 is None:
        return False
    m_, m2 = _next(r, m1.output[0], "Mul")
    if m2 is None:
        return False
    a, b = _other(m1, add.output[0]), _other(m2, m1.output[0])
    if not ((a == x and _is(r, b, 0.5)) or (_is(r, a, 0.5) and b == x)):
        return False
    return _finish(r, [i, j, k, l_, m_], "gelu", None, [x])


@pattern("Softplus")
def mish(r, i):
    """x · tanh(softplus(x))."""
    node = r.nodes[i]
    j, tanh = _next(r, node.output[0], "Tanh")
    if tanh is None:
        return False
    k, mul = _next(r, tanh.output[0], "Mul")
    if mul is None or _other(mul, tanh.output[0]) != node.input[0]:
        return False
    return _finish(r, [i, j, k], "mish", None, [node.input[0]])


def _thresholded(r, z: str, x: str, value: str):
    """Where(Greater(z, t), x, value) — PyTorch's softplus threshold: (indices, t, output) or None."""
    where_at, where = _next(r, value, "Where")
    if where is None or list(where.input[1:]) != [x, value]:
        return None
    greater = [c for c in r.consumers.get(z, []) if r.nodes[c].op_type == "Greater"]
    if len(greater) != 1 or list(r.nodes[greater[0]].input[:1]) != [z] or \
            r.nodes[greater[0]].output[0] != where.input[0]:
        return None
    t = r.scalar(r.nodes[greater[0]].input[1])
    return None if t is None else ([greater[0], where_at], t, where.output[0])


def _softplus(r, group, x, z, sp, beta):
    found = _thresholded(r, z, x, sp)
    params = {} if beta == 1 else {"beta": short_float(beta)}
    if found is not None:
        group, params["threshold"] = group + found[0], short_float(found[1])
    elif len(r.consumers.get(z, [])) != 1 and z != x:
        return False
    return _finish(r, sorted(group), "softplus", params or None, [x])


@pattern("Softplus")
def softplus_threshold(r, i):
    """Softplus(x) with PyTorch's threshold: Where(Greater(x, t), x, softplus(x))."""
    node = r.nodes[i]
    x = node.input[0]
    if not _data(r, x) or _thresholded(r, x, x, node.output[0]) is None:
        return False
    return _softplus(r, [i], x, x, node.output[0], 1.0)


@pattern("Mul")
def softplus_beta(r, i):
    """Softplus(β·x) / β [with Where(Greater(β·x, t), x, ·)]: softplus with beta (and threshold)."""
    node = r.nodes[i]
    x = next((n for n in node.input if _data(r, n)), None)
    beta = r.scalar(_other(node, x)) if x is not None and _other(node, x) else None
    z = node.output[0]
    sp_at = [c for c in r.consumers.get(z, []) if r.nodes[c].op_type == "Softplus"]
    if beta is None or len(sp_at) != 1:
        return False
    j, div = _next(r, r.nodes[sp_at[0]].output[0], "Div")
    if div is None or div.input[0] != r.nodes[sp_at[0]].output[0] or not _is(r, div.input[1], beta):
        return False
    return _softplus(r, [i, sp_at[0], j], x, z, div.output[0], beta)


# ---- linear --------------------------------------------------------------------------------------
@pattern("MatMul")
def linear_bias(r, i):
    """MatMul(x, W) + b on [N, F] — a linear layer whose exporter split off the bias."""
    node = r.nodes[i]
    if not _data(r, node.input[0]) or not r.is_const(node.input[1]) or len(r.act(node, node.input[0]).shape) != 1:
        return False
    j, add = _next(r, node.output[0], "Add")
    bias = _other(add, node.output[0]) if add is not None else None
    w = r.dims_of(node, node.input[1])
    if bias is None or not r.is_const(bias) or len(w) != 2 or math.prod(r.dims_of(add, bias)) != w[1]:
        return False
    return _finish(r, [i, j], "linear", {"out": int(w[1])}, [node.input[0]],
                   {"weight": WeightRef(node.input[1], transpose=True), "bias": WeightRef(bias, shape=(int(w[1]),))})


# ---- normalisation -------------------------------------------------------------------------------
def _axes_of(r, node):
    for a in node.attribute:
        if a.name == "axes":
            return list(a.ints)
    if len(node.input) > 1 and node.input[1] and r.is_const(node.input[1]):
        return r.const(node, node.input[1]).reshape(-1).tolist()
    return None


def _layernorm_decomposition(r, i):
    """ReduceMean → Sub → Pow 2 → ReduceMean → Add eps → Sqrt → Div [→ Mul γ → Add β]:
    (x, group, axes, eps, weights, output tensor) or None."""
    mean = r.nodes[i]
    x = mean.input[0]
    axes = _axes_of(r, mean)
    subs = [r.nodes[c] for c in r.consumers.get(mean.output[0], [])]
    if axes is None or len(subs) != 1 or subs[0].op_type != "Sub" or subs[0].input[0] != x:
        return None
    sub = subs[0]
    j = r.consumers[mean.output[0]][0]
    readers = r.consumers.get(sub.output[0], [])
    pow_ = next((r.nodes[c] for c in readers if r.nodes[c].op_type == "Pow"), None)
    div = next((r.nodes[c] for c in readers if r.nodes[c].op_type == "Div"), None)
    if len(readers) != 2 or pow_ is None or div is None or not _is(r, pow_.input[1], 2.0):
        return None
    k, mean2 = _next(r, pow_.output[0], "ReduceMean")
    if mean2 is None:
        return None
    m, add = _next(r, mean2.output[0], "Add")
    eps = _other(add, mean2.output[0]) if add is not None else None
    if eps is None or r.scalar(eps) is None:
        return None
    n, sqrt = _next(r, add.output[0], "Sqrt")
    if sqrt is None or div.input != [sub.output[0], sqrt.output[0]] and list(div.input) != [sub.output[0], sqrt.output[0]]:
        return None
    group = [i, j, readers[0], readers[1], k, m, n]
    group = sorted(set(group))
    out, weights = div.output[0], {}
    for op_type, key in (("Mul", "weight"), ("Add", "bias")):  # the affine part: · γ, then + β
        p, affine = _next(r, out, op_type)
        value = _other(affine, out) if affine is not None else None
        if value is None or not r.is_const(value):
            break
        group.append(p)
        out = affine.output[0]
        weights[key] = value
    return x, group, axes, r.scalar(eps), weights, out


def _emit_layernorm(r, group, x, eps, weight_names, output=None):
    c = r.act(r.nodes[group[0]], x).shape[0]
    weights = {key: WeightRef(name, shape=(c,)) for key, name in weight_names.items()}
    params = {"eps": short_float(eps)}
    if "weight" not in weights:
        params["affine"] = False
    elif "bias" not in weights:
        params["bias"] = False
    if not r.internal_ok(group):
        return False
    r.emit([r.nodes[i] for i in group], "layernorm", params, [x], weights, output=output)
    r.done.update(group)
    return True


@pattern("ReduceMean")
def layernorm_decomposed(r, i):
    """LayerNorm over channels written out (PyTorch's LayerNorm before opset 17, on [N, F], or
    ConvNeXt's LayerNorm2d over axis 1)."""
    found = _layernorm_decomposition(r, i)
    if found is None:
        return False
    x, group, axes, eps, weights, out = found
    rank = len(r.act(r.nodes[i], x).shape) + 1
    if rank > 2 and sorted(a % rank for a in axes) == list(range(2, rank)):  # over each channel's positions
        return _emit_instancenorm(r, sorted(group), x, eps, weights, out)
    if [a % rank for a in axes] != [1]:
        return False
    return _emit_layernorm(r, sorted(group), x, eps, weights, out)


@pattern("Transpose")
def transposed(r, i):
    """Channels-last LayerNorm between two Transposes (ConvNeXt): [N,C,…] → [N,…,C] → LN(−1) → back."""
    node = r.nodes[i]
    if not _data(r, node.input[0]):
        return False
    rank = len(r.act(node, node.input[0]).shape) + 1
    perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
    if perm != [0, *range(2, rank), 1]:
        return False
    readers = [k for k in r.consumers.get(node.output[0], []) if r.nodes[k].op_type in
               ("LayerNormalization", "ReduceMean")]  # the written-out form reads it twice (mean, x − mean)
    if not readers:
        return False
    j = min(readers)
    ln = r.nodes[j]
    if ln.op_type == "LayerNormalization":
        from netcalc.onnx.ops import layernorm_params

        params, weights, axis = layernorm_params(r, ln, r.act(node, node.input[0]))
        if axis % rank != rank - 1:
            return False
        group, out = [i, j], ln.output[0]
        weight_names = {k: ref.tensor for k, ref in weights.items()}
        eps = params["eps"]
    else:
        found = _layernorm_decomposition(r, j)
        if found is None or [a % rank for a in found[2]] != [rank - 1]:
            return False
        _, inner, _, eps, weight_names, out = found
        group = [i, *inner]
    k, back = _next(r, out, "Transpose")
    perm_back = next((list(a.ints) for a in back.attribute if a.name == "perm"), None) if back else None
    if perm_back != [0, rank - 1, *range(1, rank - 1)]:
        return False
    group = sorted(set(group + [k]))
    # the layer reads the Transpose's input; its output is the second Transpose's
    return _emit_layernorm(r, group, node.input[0], eps, weight_names, back.output[0])


# ---- instance and group normalisation written out (netcalc's own export before opset 21, issue 9) --
def _per_channel(r, names: dict, c: int):
    """{key: WeightRef} of a [C] / [C, 1, …] affine weight, or None when the size is not C."""
    refs = {}
    for key, name in names.items():
        if math.prod(r.dims_of(None, name)) != c:
            return None
        refs[key] = WeightRef(name, shape=(c,))
    return refs


def _emit_instancenorm(r, group, x, eps, weight_names, output):
    c = r.act(r.nodes[group[0]], x).shape[0]
    weights = _per_channel(r, weight_names, c)
    if weights is None or len(weights) == 1:  # instancenorm's affine map has both weight and bias
        return False
    return _finish(r, group, "instancenorm", {"eps": short_float(eps), "affine": bool(weights)}, [x], weights, output)


def _channel_affine_at(r, j: int, data: str, x):
    """Node j a Mul of tensor `data` (shaped as the activation x) by a per-channel constant whose
    one reader Adds one: · weight + bias per channel. ([indices], weights, output) or None."""
    from netcalc.onnx.ops import per_channel

    mul = r.nodes[j]
    gamma = _other(mul, data)
    if gamma is None or not r.is_const(gamma) or not per_channel(r, mul, gamma, x):
        return None
    k, add = _next(r, mul.output[0], "Add")
    beta = _other(add, mul.output[0]) if add is not None else None
    if beta is None or not r.is_const(beta) or not per_channel(r, add, beta, x):
        return None
    c = x.shape[0]
    return [j, k], {"weight": WeightRef(gamma, shape=(c,)), "bias": WeightRef(beta, shape=(c,))}, add.output[0]


def _channel_affine(r, out: str, x):
    """The affine map after a normalisation whose output is `out` (see _channel_affine_at)."""
    j, mul = _next(r, out, "Mul")
    return None if mul is None else _channel_affine_at(r, j, out, x)


@pattern("Mul")
def scale_with_bias(r, i):
    """x · weight + bias per channel: `scale` with bias (ops.mul reads a product alone)."""
    node = r.nodes[i]
    x = next((n for n in node.input if _data(r, n)), None)
    found = _channel_affine_at(r, i, x, r.act(node, x)) if x is not None else None
    if found is None:
        return False
    return _finish(r, found[0], "scale", {"bias": True}, [x], found[1])


@pattern("Reshape")
def groupnorm_decomposed(r, i):
    """Reshape [N, groups, −1] → InstanceNormalization (fixed scale 1, shift 0) → Reshape back
    [→ Mul weight → Add bias per channel]: PyTorch's export of GroupNorm (and netcalc's below
    opset 21)."""
    from netcalc.onnx.ops import fixed_constant

    node = r.nodes[i]
    x, full, grouped = _reshape_of_data(r, node)
    j, norm = _next(r, node.output[0], "InstanceNormalization")
    if grouped is None or norm is None or len(grouped) != 3:
        return False
    groups = grouped[1]
    if x.shape[0] % groups or len(norm.input) != 3 or not fixed_constant(r, norm.input[1], 1.0) or \
            not fixed_constant(r, norm.input[2], 0.0) or math.prod(r.dims_of(norm, norm.input[1])) != groups:
        return False
    k, back = _next(r, norm.output[0], "Reshape")
    if back is None or _reshaped(r, back, grouped) != full:
        return False
    attrs = {a.name: a for a in norm.attribute}
    if set(attrs) - {"epsilon"}:
        return False
    params = {"groups": groups, "eps": short_float(attrs["epsilon"].f if "epsilon" in attrs else 1e-5)}
    group, out, weights = [i, j, k], back.output[0], {}
    affine = _channel_affine(r, out, x)
    if affine is None:
        params["affine"] = False
    else:
        group, weights, out = group + affine[0], affine[1], affine[2]
    if not r.internal_ok(group):
        return False
    r.emit([r.nodes[n] for n in group], "groupnorm", params, [node.input[0]], weights, output=out)
    r.done.update(group)
    return True


# ---- circular padding and a conv's padding_mode ---------------------------------------------------
def _slice_range(r, node, rank: int):
    """(start, end, axis) of a step-1 Slice on one axis with constant bounds, else None."""
    if len(node.input) < 4 or (len(node.input) > 4 and node.input[4]) or \
            not all(r.is_const(n) for n in node.input[1:4]):
        return None
    values = [r.const(node, n).reshape(-1) for n in node.input[1:4]]
    if any(v.size != 1 for v in values):
        return None
    start, end, axis = (int(v[0]) for v in values)
    return start, end, axis % rank


def _wrap_axis(r, concat_at: int, tensor: str, shape):
    """Concat(tensor[−b:], tensor, tensor[:a]) on one spatial axis (either slice may be missing):
    (axis, (b, a), indices) or None."""
    concat = r.nodes[concat_at]
    rank = len(shape) + 1
    axis = next((a.i for a in concat.attribute if a.name == "axis"), None)
    if axis is None or list(concat.input).count(tensor) != 1 or len(concat.input) < 2:
        return None
    axis %= rank
    n = shape[axis - 1] if axis >= 2 else None
    middle = list(concat.input).index(tensor)
    slices = {s: k for k in r.consumers.get(tensor, []) for s in r.nodes[k].output if r.nodes[k].op_type == "Slice"}
    pads, indices = [0, 0], [concat_at]
    for position, name in enumerate(concat.input):
        if name == tensor:
            continue
        k = slices.get(name)
        found = _slice_range(r, r.nodes[k], rank) if k is not None else None
        if n is None or found is None or found[2] != axis or position not in (middle - 1, middle + 1):
            return None
        start, end, _ = found
        if position < middle and -n <= start < 0 and end >= n:
            pads[0] = -start
        elif position > middle and start == 0 and 0 < end <= n:
            pads[1] = end
        else:
            return None
        indices.append(k)
    return axis, tuple(pads), indices


def _wrapped(r, i):
    """Circular padding as PyTorch's TorchScript exporter (and netcalc below opset 19) writes it: per
    padded axis a Concat of the tensor's two ends around it, starting at Slice node i. (input,
    [before, after] per spatial axis, indices, output) or None."""
    node = r.nodes[i]
    x = node.input[0]
    if not _data(r, x):
        return None
    shape = list(r.act(node, x).shape)
    pairs, group, tensor, seen = [[0, 0] for _ in shape[1:]], [], x, set()
    while True:
        concats = sorted({c for k in r.consumers.get(tensor, []) if r.nodes[k].op_type == "Slice"
                          for c in r.consumers.get(r.nodes[k].output[0], []) if r.nodes[c].op_type == "Concat"})
        found = _wrap_axis(r, concats[0], tensor, shape) if len(concats) == 1 else None
        if found is None or found[0] in seen:
            break
        axis, pads, indices = found
        seen.add(axis)
        pairs[axis - 2] = list(pads)
        group += indices
        tensor = r.nodes[indices[0]].output[0]
    return (x, pairs, sorted(group), tensor) if group else None


def _one_layer(r, group: list[int], conv) -> bool:
    """The padding nodes and the conv are one layer: netcalc's own names (`<conv>/…`) or one module
    of a PyTorch export (the same module path)."""
    from netcalc.onnx.reader import _scope, _scoped_name

    nodes = [r.nodes[k] for k in group]
    if conv.name and all(n.name.startswith(f"{conv.name}/") for n in nodes):
        return True
    scope = _scope(_scoped_name(conv))[0]
    return scope is not None and all(_scope(_scoped_name(n))[0] == scope for n in nodes)


def _padded_conv(r, group: list[int], x: str, pairs, mode: str, out: str) -> bool:
    """A copying padding read only by a Conv that pads nothing itself, in the same layer: the conv
    with that padding_mode. (A model's own ReflectionPad2d before a conv stays a `pad` layer.)"""
    from netcalc.onnx import ops

    j, conv = _next(r, out, "Conv")
    if conv is None or mode == "zeros" or not _one_layer(r, group, conv) or not r.internal_ok(group + [j]):
        return False
    own = {a.name: a for a in conv.attribute}
    own_pads = list(own["pads"].ints) if "pads" in own else []
    auto = own["auto_pad"].s.decode() if "auto_pad" in own else "NOTSET"
    if any(own_pads) or auto not in ("NOTSET", "VALID"):
        return False
    ops.conv(r, conv, padded=([r.nodes[k] for k in group], x, pairs, mode))
    r.done.update(group + [j])
    return True


@pattern("Pad")
def conv_padding_mode(r, i):
    """Pad in reflect/edge/wrap mode, then the Conv of the same layer: one conv with padding_mode
    (how PyTorch's exporters and netcalc write padding_mode)."""
    from netcalc.onnx import ops

    pad = r.nodes[i]
    pairs, mode, value = ops.pad_params(r, pad)
    return _padded_conv(r, [i], pad.input[0], pairs, mode, pad.output[0])


@pattern("Slice")
def circular_padding(r, i):
    """Slice/Concat circular padding: a conv's padding_mode circular, or a `pad` layer."""
    found = _wrapped(r, i)
    if found is None:
        return False
    x, pairs, group, out = found
    if _padded_conv(r, group, x, pairs, "circular", out):
        return True
    if not r.internal_ok(group):
        return False
    r.emit([r.nodes[k] for k in group], "pad", {"padding": pairs, "mode": "circular"}, [x], output=out)
    r.done.update(group)
    return True


# ---- permutations: channel shuffle, pixel shuffle and unshuffle -----------------------------------
def _reshaped(r, node, full: list[int]):
    """The shape a Reshape with a constant target gives an input of `full` dims (0 copies, −1 fills),
    or None."""
    if not r.const_ahead(node.input[1]):
        return None
    target = [int(v) for v in r.const(node, node.input[1]).reshape(-1)]
    if 0 in target and any(a.name == "allowzero" and a.i for a in node.attribute):
        return None  # a literal empty dim
    out = [full[k] if v == 0 and k < len(full) else v for k, v in enumerate(target)]
    if out.count(-1) == 1:
        known = math.prod(v for v in out if v != -1)
        if not known or math.prod(full) % known:
            return None
        out[out.index(-1)] = math.prod(full) // known
    return out if math.prod(out) == math.prod(full) and min(out) >= 1 else None


def _reshape_of_data(r, node):
    """(the activation, its full shape with the batch, the shape the Reshape gives it) of a Reshape
    of the network's data that keeps the batch first; the shape is None otherwise."""
    if not _data(r, node.input[0]):
        return None, None, None
    x = r.act(node, node.input[0])
    full = [r.batch, *x.shape]
    target = _reshaped(r, node, full)
    return x, full, (target if target is not None and target[0] == r.batch else None)


def _viewed(r, node, full: list[int]):
    """The shape after a Reshape, Unsqueeze or Squeeze (which keep the elements' order), or None."""
    if node.op_type == "Reshape":
        return _reshaped(r, node, full)
    axes = _axes_of(r, node) if len(node.input) < 2 or not node.input[1] or r.const_ahead(node.input[1]) else None
    if node.op_type == "Unsqueeze" and axes is not None:
        out = list(full)
        for a in sorted(int(a) % (len(full) + len(axes)) for a in axes):
            out.insert(a, 1)
        return out
    if node.op_type == "Squeeze":
        drop = {int(a) % len(full) for a in axes} if axes is not None else {k for k, n in enumerate(full) if n == 1}
        return None if any(full[a] != 1 for a in drop) else [n for k, n in enumerate(full) if k not in drop]
    return None


def _canonical(shape, perm):
    """A transposition reduced to its essence: size-1 axes dropped, axes that stay neighbours in
    order merged. Two Reshape/Transpose chains of the same tensor move every element alike exactly
    when these agree."""
    keep = [a for a, n in enumerate(shape) if n != 1]
    rank = {a: k for k, a in enumerate(keep)}
    runs = []
    for a in (rank[a] for a in perm if shape[a] != 1):
        if runs and runs[-1][-1] + 1 == a:
            runs[-1].append(a)
        else:
            runs.append([a])
    by_start = sorted(runs)
    sizes = [math.prod(shape[keep[a]] for a in run) for run in by_start]
    return sizes, [by_start.index(run) for run in runs]


def _permutation_layers(c: int, spatial: list[int], out: list[int]):
    """The layers that permute [C, s…] into `out` (per sample), each with the Reshape → Transpose →
    Reshape that writes it: (type, params, split shape, perm), shapes per sample."""
    from netcalc.onnx.writer import deinterleaved, interleaved

    d = len(spatial)
    found = []
    if out == [c, *spatial]:  # [g, C/g, s…], swap 1 and 2
        found += [("channel_shuffle", {"groups": g}, [g, c // g, *spatial], [0, 2, 1, *range(3, d + 3)])
                  for g in range(2, c) if c % g == 0]
    if d and len(out) == d + 1 and out[1] > spatial[0] and out[1] % spatial[0] == 0:
        r = out[1] // spatial[0]  # pixel_shuffle: [C/r^d, r…, s…] interleaved
        if c % r ** d == 0 and out == [c // r ** d, *(r * n for n in spatial)]:
            found.append(("pixel_shuffle", {"factor": r}, [c // r ** d, *[r] * d, *spatial], interleaved(d)))
    if d and len(out) == d + 1 and out[1] and spatial[0] % out[1] == 0 and spatial[0] > out[1]:
        r = spatial[0] // out[1]  # pixel_unshuffle: [C, s₁/r, r, …] to [C, r…, s/r…]
        if all(n % r == 0 for n in spatial) and out == [c * r ** d, *(n // r for n in spatial)]:
            found.append(("pixel_unshuffle", {"factor": r}, [c, *(v for n in spatial for v in (n // r, r))],
                          deinterleaved(d)))
    return found


_VIEWS = ("Reshape", "Unsqueeze", "Squeeze")


def _views(r, tensor: str, full: list[int], limit: int = 8):
    """The chain of single-reader views of `tensor`: [(index, shape after it, output)]."""
    chain = []
    while len(chain) < limit:
        k, view = _next(r, tensor, *_VIEWS)
        shape = _viewed(r, view, full) if view is not None else None
        if shape is None:
            break
        chain.append((k, shape, view.output[0]))
        tensor, full = view.output[0], shape
    return chain


@pattern("Reshape")
@pattern("Unsqueeze")
@pattern("Squeeze")
def permutation(r, i):
    """Views → one Transpose → views that permute the elements as one of netcalc's layers: ShuffleNet's
    channel shuffle ([N, g, C/g, …], swap 1 and 2), PyTorch's pixel shuffle in any dimension and
    pixel unshuffle ([N, C, s₁/r, r, …] → [N, C, r…, s/r…]), however the exporter spells the
    reshapes (PyTorch's TorchScript exporter wraps pixel_unshuffle in Unsqueeze/Squeeze)."""
    node = r.nodes[i]
    if not _data(r, node.input[0]):
        return False
    x = r.act(node, node.input[0])
    full = [r.batch, *x.shape]
    first = _viewed(r, node, full)
    if first is None:
        return False
    before = [(i, first, node.output[0])] + _views(r, node.output[0], first)
    j, tr = _next(r, before[-1][2], "Transpose")
    perm = next((list(a.ints) for a in tr.attribute if a.name == "perm"), None) if tr else None
    split = before[-1][1]
    if perm is None or sorted(perm) != list(range(len(split))):
        return False
    moved = [split[p] for p in perm]
    after = _views(r, tr.output[0], moved)
    essence = _canonical(split, perm)
    for end in range(len(after), 0, -1):  # the longest chain of views that ends in a layer's output
        out = after[end - 1][1]
        if out[0] != r.batch:
            continue
        for type_name, params, want_split, want_perm in _permutation_layers(x.shape[0], list(x.shape[1:]), out[1:]):
            if _canonical([r.batch, *want_split], want_perm) == essence:
                group = [k for k, _, _ in before] + [j] + [k for k, _, _ in after[:end]]
                return _finish(r, sorted(group), type_name, params, [node.input[0]])
    return False


# ---- adaptive pooling ------------------------------------------------------------------------------
def _reduce_axes(r, node):
    axes = _axes_of(r, node)
    keep = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
    return axes if keep == 1 else None


def _adaptive_axis(r, slice_index: int, tensor: str, n_in: list[int]):
    """One axis of an adaptive pool written as per-bin Slice → Reduce(keepdims) → Concat (netcalc's
    own export, or any exporter's): (axis, bins, reduce op, node indices, output) or None."""
    first = r.nodes[slice_index]
    if first.op_type != "Slice" or first.input[0] != tensor or len(first.input) < 4:
        return None
    _, reduce = _next(r, first.output[0], "ReduceMean", "ReduceMax")
    concat_at, concat = _next(r, reduce.output[0], "Concat") if reduce is not None else (None, None)
    if concat is None:
        return None
    rank = len(n_in) + 2  # N, C and the spatial axes
    axis = next(a.i for a in concat.attribute if a.name == "axis") % rank
    indices, bins = [], []
    for piece in concat.input:
        producer = [k for k, n in enumerate(r.nodes) if piece in n.output]
        if len(producer) != 1:
            return None
        red = r.nodes[producer[0]]
        axes = _reduce_axes(r, red) if red.op_type == reduce.op_type else None
        found = [k for k, n in enumerate(r.nodes) if red.input and red.input[0] in n.output]
        if axes is None or [a % rank for a in axes] != [axis] or len(found) != 1:
            return None
        sl = r.nodes[found[0]]
        if sl.op_type != "Slice" or sl.input[0] != tensor or not all(r.is_const(x) for x in sl.input[1:4]) \
                or (len(sl.input) > 4 and sl.input[4]):
            return None
        start, end, ax = (int(r.const(sl, x).reshape(-1)[0]) for x in sl.input[1:4])
        if ax % rank != axis:
            return None
        indices += [found[0], producer[0]]
        bins.append((start, end))
    from netcalc import window

    n, m = n_in[axis - 2], len(bins)
    if axis < 2 or bins != [window.adaptive_bin(o, n, m) for o in range(m)]:
        return None
    return axis, m, reduce.op_type, indices + [concat_at], concat.output[0]


def _adaptive_chain(r, i):
    """(input, out sizes, Reduce op, node indices, output tensor) of the per-axis bin groups that
    start at Slice node i, or None."""
    node = r.nodes[i]
    x = node.input[0]
    if not _data(r, x):
        return None
    spatial = list(r.act(node, x).shape[1:])
    out, group, tensor, start, op_type = list(spatial), [], x, i, None
    while start is not None:
        found = _adaptive_axis(r, start, tensor, spatial)
        if found is None or (op_type is not None and found[2] != op_type):
            break
        axis, m, op_type, indices, tensor = found
        out[axis - 2] = m
        group += indices
        readers = r.consumers.get(tensor, [])
        start = min(readers) if readers else None
    return (x, out, op_type, sorted(group), tensor) if group else None


@pattern("Slice")
def adaptive_pool(r, i):
    """PyTorch's adaptive bins, axis after axis (how `netcalc export` writes uneven bins)."""
    found = _adaptive_chain(r, i)
    if found is None:
        return False
    x, out, op_type, group, tensor = found
    kind = "adaptive_avgpool" if op_type == "ReduceMean" else "adaptive_maxpool"
    if not r.internal_ok(group):
        return False
    r.emit([r.nodes[k] for k in group], kind, {"out": out if len(set(out)) > 1 else out[0]}, [x], output=tensor)
    r.done.update(group)
    return True


# ---- spatial pyramid pooling -----------------------------------------------------------------------
_POOL_MODE = {"GlobalAveragePool": "avg", "AveragePool": "avg", "ReduceMean": "avg",
              "GlobalMaxPool": "max", "MaxPool": "max", "ReduceMax": "max"}


def _pooled_bins(r, i):
    """A pooling into adaptive bins starting at node i: (input, out sizes, mode, indices, output)."""
    node = r.nodes[i]
    if node.op_type == "Slice":
        found = _adaptive_chain(r, i)
        return None if found is None else (found[0], found[1], _POOL_MODE[found[2]], found[3], found[4])
    if node.op_type not in _POOL_MODE or not _data(r, node.input[0]):
        return None
    spatial = list(r.act(node, node.input[0]).shape[1:])
    if node.op_type.startswith("Global"):
        return node.input[0], [1] * len(spatial), _POOL_MODE[node.op_type], [i], node.output[0]
    attrs = {a.name: list(a.ints) if a.ints else a.i for a in node.attribute}
    kernel = attrs.get("kernel_shape")
    plain = set(attrs) <= {"kernel_shape", "strides", "count_include_pad", "ceil_mode", "dilations"} and \
        not any(attrs.get("pads", [])) and attrs.get("strides") == kernel and kernel and \
        all(n % k == 0 for n, k in zip(spatial, kernel)) and set(attrs.get("dilations", [1])) == {1}
    if node.op_type.startswith("Reduce") or not plain:
        return None
    return node.input[0], [n // k for n, k in zip(spatial, kernel)], _POOL_MODE[node.op_type], [i], node.output[0]


def spp(r, i):
    """Each level's pooling → Flatten → one Concat on features, all reading one input: `spp`."""
    first = _pooled_bins(r, i)
    if first is None:
        return False
    x, mode = first[0], first[2]
    _, flat = _next(r, first[4], "Flatten")
    k, cat = _next(r, flat.output[0], "Concat") if flat is not None else (None, None)
    if cat is None:
        return False
    levels, group = {}, [k]
    for c in sorted(r.consumers.get(x, [])):
        found = _pooled_bins(r, c) if c not in group else None
        if found is None or found[0] != x or found[2] != mode:
            continue
        j, flatten = _next(r, found[4], "Flatten")
        if flatten is None or flatten.output[0] not in cat.input or len(set(found[1])) != 1:
            continue
        levels[flatten.output[0]] = found[1][0]
        group += found[3] + [j]
    axis = next((a.i for a in cat.attribute if a.name == "axis"), None)
    if axis != 1 or set(cat.input) != set(levels) or len(cat.input) != len(levels):
        return False
    return _finish(r, sorted(group), "spp", {"levels": [levels[t] for t in cat.input], "mode": mode}, [x])


for _root in ("Slice", "GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool"):
    PATTERNS.setdefault(_root, []).insert(0, spp)  # before adaptive_pool claims a level
