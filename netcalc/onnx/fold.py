"""A small constant folder: the integer (and small float) computations ONNX exporters write to
build the shapes, scales and pads that Reshape, Resize and Pad read — Constant, Shape, Gather,
Unsqueeze, Concat, Slice, Cast and a little arithmetic. These are evaluated at load time; they
are not layers and cost nothing. Results are bounded in size (bounded memory on hostile files)."""

from __future__ import annotations

import numpy as np

MAX_FOLD_ELEMENTS = 1 << 20


def _axes(attrs, arrays, index):
    """Axes from the attribute (older opsets) or the optional input `index` (newer ones)."""
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    if len(arrays) > index and arrays[index] is not None:
        return [int(a) for a in np.asarray(arrays[index]).reshape(-1)]
    return None


def _unsqueeze(attrs, a):
    out = a[0]
    axes = _axes(attrs, a, 1)
    rank = out.ndim + len(axes)
    for axis in sorted(x % rank for x in axes):
        out = np.expand_dims(out, axis)
    return out


def _squeeze(attrs, a):
    axes = _axes(attrs, a, 1)
    return np.squeeze(a[0]) if axes is None else np.squeeze(a[0], axis=tuple(x % a[0].ndim for x in axes))


def _slice(attrs, a):
    data = a[0]
    if "starts" in attrs:  # opset < 10
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = a[1].reshape(-1), a[2].reshape(-1)
        axes = a[3].reshape(-1) if len(a) > 3 and a[3] is not None else range(len(starts))
        steps = a[4].reshape(-1) if len(a) > 4 and a[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for s, e, axis, step in zip(starts, ends, axes, steps):
        index[int(axis) % data.ndim] = slice(int(max(min(s, 2**62), -2**62)), int(max(min(e, 2**62), -2**62)), int(step))
    return data[tuple(index)]


def _div(attrs, a):
    x, y = a
    if x.dtype.kind in "iu" and y.dtype.kind in "iu":
        return (np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))).astype(np.result_type(x, y))  # truncates
    return x / y


def _constant_of_shape(attrs, a):
    value = attrs.get("value")
    value = np.zeros(1, np.float32) if value is None else value
    shape = tuple(int(v) for v in a[0].reshape(-1))
    _check_size(int(np.prod(shape, dtype=np.int64)))
    return np.full(shape, value.reshape(-1)[0], dtype=value.dtype)


def _range(attrs, a):
    start, limit, delta = (x.reshape(-1)[0] for x in a)
    if delta == 0:
        raise ValueError("Range with delta 0")
    _check_size(int(max(0, np.ceil((limit - start) / delta))))
    return np.arange(start, limit, delta, dtype=a[0].dtype)


def _expand(attrs, a):
    shape = tuple(int(v) for v in a[1].reshape(-1))
    out_shape = np.broadcast_shapes(a[0].shape, shape)
    _check_size(int(np.prod(out_shape, dtype=np.int64)))
    return np.broadcast_to(a[0], out_shape).copy()


def _cast(attrs, a):
    from netcalc.onnx.modelfile import DTYPES

    if attrs["to"] not in DTYPES:
        raise ValueError(f"Cast to ONNX type {attrs['to']} in a shape computation")
    return a[0].astype(DTYPES[attrs["to"]])


def _reduce(fn):
    def reduce(attrs, a):
        axes = _axes(attrs, a, 1)
        keep = bool(attrs.get("keepdims", 1))
        return fn(a[0], axis=None if axes is None else tuple(axes), keepdims=keep)
    return reduce


FOLDERS = {
    "Identity": lambda attrs, a: a[0],
    "Cast": _cast,
    "Gather": lambda attrs, a: np.take(a[0], a[1].astype(np.int64), axis=attrs.get("axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda attrs, a: np.concatenate([x.reshape(x.shape or (1,)) if x.ndim == 0 else x for x in a],
                                              axis=attrs["axis"]),
    "Slice": _slice,
    "Transpose": lambda attrs, a: np.transpose(a[0], attrs.get("perm")),  # in PyTorch's F.pad's pads
    "Reshape": lambda attrs, a: a[0].reshape(tuple(int(v) if v != 0 else a[0].shape[i]
                                                   for i, v in enumerate(a[1].reshape(-1)))),
    "Add": lambda attrs, a: a[0] + a[1],
    "Sub": lambda attrs, a: a[0] - a[1],
    "Mul": lambda attrs, a: a[0] * a[1],
    "Div": _div,
    "Neg": lambda attrs, a: -a[0],
    "Abs": lambda attrs, a: np.abs(a[0]),
    "Floor": lambda attrs, a: np.floor(a[0]),
    "Ceil": lambda attrs, a: np.ceil(a[0]),
    "Sqrt": lambda attrs, a: np.sqrt(a[0]),
    "Min": lambda attrs, a: np.minimum.reduce(a),
    "Max": lambda attrs, a: np.maximum.reduce(a),
    "Equal": lambda attrs, a: np.equal(a[0], a[1]),
    "Where": lambda attrs, a: np.where(a[0], a[1], a[2]),
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    "Expand": _expand,
    "ReduceProd": _reduce(np.prod),
    "ReduceSum": _reduce(np.sum),
}


def _check_size(count: int) -> None:
    if count > MAX_FOLD_ELEMENTS:
        raise ValueError(f"it would create {count:,} values; netcalc folds only small shape computations")


def fold(op_type: str, attrs: dict, arrays: list):
    """The outputs of one node whose inputs are all known (a list of arrays), or ValueError."""
    out = np.asarray(FOLDERS[op_type](attrs, arrays))
    _check_size(out.size)
    return [out]


def _check_names() -> None:
    """The reader decides without NumPy which nodes to try folding: its list must be this table's."""
    from netcalc.onnx.reader import _FOLDABLE

    if set(FOLDERS) | {"Constant", "Shape"} != _FOLDABLE:
        raise RuntimeError("netcalc.onnx.reader._FOLDABLE must list exactly the ops folded here")


_check_names()
