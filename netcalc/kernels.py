"""Shared NumPy mathematics for the reference executor's kernels: im2col/col2im, the
correlation behind conv and transposed conv, window gathering (max/avg pooling), adaptive bins
(adaptive pooling, SPP), PyTorch's padding modes (pad, conv's padding_mode), and the executor's
default workspace budget.

A kernel that belongs to one layer type alone lives with that type in netcalc/layers/ (its
forward, backward and weight initialisation); nothing here dispatches on a type's name.

Layout conventions (shared by every kernel):

* arrays are ``(N, C, *spatial)`` with 1, 2 or 3 spatial dims; results keep
  the dtype of the main input ``x`` (float32 or float64);
* per-dimension geometry is given as tuples: ``kernel``, ``stride``,
  ``dilation`` and ``pads`` (a tuple of ``(before, after)`` pairs);
* ``out_size`` is always passed in by the caller (the shape calculator owns
  the output-size formula).  Windowed kernels pad or crop the input to
  exactly what ``out_size`` needs (see :func:`_pad_to_windows`), so ceil-mode
  pooling and "unused trailing rows" both just work.

This module depends on NumPy and the standard library only.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from netcalc.units import DEFAULT_WORKSPACE_BYTES as DEFAULT_MAX_WORKSPACE_BYTES

__all__ = [
    "im2col", "col2im",
    "conv_forward", "conv_backward",
    "conv_transpose_forward", "conv_transpose_backward",
    "max_pool_forward", "max_pool_backward",
    "avg_pool_forward", "avg_pool_backward",
    "adaptive_bins", "adaptive_pool_forward", "adaptive_pool_backward",
    "spp_forward", "spp_backward",
    "padding_sources", "pad_forward", "pad_backward",
]


# ---------------------------------------------------------------------------
# Geometry helpers shared by all windowed kernels
# ---------------------------------------------------------------------------

def _as_tuple(value, ndim):
    """Accept an int (repeated per spatial dim) or a sequence of ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * ndim
    return tuple(int(v) for v in value)


def _pads_before(pads, ndim):
    """The leading pad per dim; the trailing pad is implied by ``out_size``."""
    return tuple(before for before, _ in _normalise_pads(pads, ndim))


def _normalise_pads(pads, ndim):
    """Accept an int, per-dim ints (symmetric) or per-dim (before, after) pairs."""
    if isinstance(pads, (int, np.integer)):
        return ((int(pads), int(pads)),) * ndim
    return tuple((int(p), int(p)) if isinstance(p, (int, np.integer)) else (int(p[0]), int(p[1]))
                 for p in pads)


def _spatial_full_shape(kernel, stride, dilation, out_size):
    """Padded extent needed per dim so ``out_size`` windows fit exactly."""
    return tuple((o - 1) * s + d * (k - 1) + 1 if o > 0 else 0
                 for k, s, d, o in zip(kernel, stride, dilation, out_size))


def _pad_to_windows(x, kernel, stride, dilation, pads_before, out_size,
                    pad_value=0.0):
    """Return x padded/cropped to exactly the extent the windows of out_size read.

    The leading pad is ``pads_before``; the trailing side is extended with
    ``pad_value`` when out_size needs it (ceil-mode pooling, output_padding)
    and trailing input rows no window touches are dropped.  Returns ``x``
    itself (no copy) when no leading pad or extension is needed.
    """
    spatial = x.shape[2:]
    needed = _spatial_full_shape(kernel, stride, dilation, out_size)
    if all(p == 0 and need <= n for p, need, n in zip(pads_before, needed, spatial)):
        return x
    padded = np.full(x.shape[:2] + needed, pad_value, dtype=x.dtype)
    dst, src = [slice(None), slice(None)], [slice(None), slice(None)]
    for p, need, n in zip(pads_before, needed, spatial):
        count = max(0, min(n, need - p))
        dst.append(slice(p, p + count))
        src.append(slice(0, count))
    padded[tuple(dst)] = x[tuple(src)]
    return padded


def _window_view(xp, kernel, stride, dilation, out_size):
    """Read-only strided view (N, C, *kernel, *out_size) of all windows of xp."""
    spatial_strides = xp.strides[2:]
    shape = xp.shape[:2] + tuple(kernel) + tuple(out_size)
    strides = (xp.strides[:2]
               + tuple(st * d for st, d in zip(spatial_strides, dilation))
               + tuple(st * s for st, s in zip(spatial_strides, stride)))
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def _scatter_windows(buf, cols, kernel, stride, dilation, row0=0):
    """buf[window positions] += cols, the adjoint of reading _window_view.

    ``buf`` is in padded coordinates, ``cols`` has shape
    (N, C, *kernel, *out_tile) where the tile starts at output row ``row0`` of
    the first spatial dim.  Loops over kernel offsets only: for a fixed
    offset the touched positions never overlap, so ``+=`` on a strided slice
    is exact.
    """
    out_tile = cols.shape[2 + len(kernel):]
    for offset in np.ndindex(*kernel):
        target = [slice(None), slice(None)]
        for axis, (kk, s, d, o) in enumerate(zip(offset, stride, dilation, out_tile)):
            start = kk * d + (row0 * s if axis == 0 else 0)
            target.append(slice(start, start + (o - 1) * s + 1, s))
        buf[tuple(target)] += cols[(slice(None), slice(None)) + offset]


def _accumulation_extent(kernel, stride, dilation, pads_before, out_size, spatial):
    """Padded-buffer extent for scatter-adds: enough for every window and x."""
    needed = _spatial_full_shape(kernel, stride, dilation, out_size)
    return tuple(max(need, p + n) for need, p, n in zip(needed, pads_before, spatial))


def _crop_padding(buf, pads_before, spatial):
    """Copy of the unpadded region [before, before + n) of a padded buffer."""
    region = (slice(None), slice(None)) + tuple(
        slice(p, p + n) for p, n in zip(pads_before, spatial))
    return np.ascontiguousarray(buf[region])


def _tiles(n_batch, out_size, bytes_per_position, max_bytes):
    """Yield (n0, n1, r0, r1) tiles over batch and first output dim.

    Whole samples are grouped while their im2col workspace fits in
    ``max_bytes``; a sample that alone is too big is split along its first
    output spatial dim (at least one output row per tile).
    """
    rows = out_size[0]
    row_bytes = max(1, math.prod(out_size[1:]) * bytes_per_position)
    sample_bytes = max(1, rows * row_bytes)
    if sample_bytes <= max_bytes:
        step = max(1, max_bytes // sample_bytes)
        for n0 in range(0, n_batch, step):
            yield n0, min(n_batch, n0 + step), 0, rows
        return
    row_step = max(1, max_bytes // row_bytes)
    for n0 in range(n_batch):
        for r0 in range(0, rows, row_step):
            yield n0, n0 + 1, r0, min(rows, r0 + row_step)


def _row_slice(ndim_before, r0, r1):
    """Index selecting output rows [r0, r1) after ``ndim_before`` full axes."""
    return (slice(None),) * ndim_before + (slice(r0, r1),)


def _is_pointwise(kernel, stride, pads_before, in_spatial, out_spatial):
    """1x1, stride-1, unpadded and same size: the conv is a plain GEMM."""
    return (all(k == 1 for k in kernel) and all(s == 1 for s in stride)
            and all(p == 0 for p in pads_before)
            and tuple(in_spatial) == tuple(out_spatial))


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------

def im2col(x, kernel, stride, dilation, pads, out_size, pad_value=0.0):
    """Unfold windows of x into columns of shape (N, C*prod(kernel), prod(out)).

    Row order is channel-major then kernel offsets in C order, so a weight
    reshaped as ``w.reshape(C_out, -1)`` multiplies it directly (seed:
    im2col + GEMM).  Built from a strided view with a single copy.
    """
    nd = x.ndim - 2
    kernel, stride, dilation = (_as_tuple(v, nd) for v in (kernel, stride, dilation))
    out_size = _as_tuple(out_size, nd)
    xp = _pad_to_windows(x, kernel, stride, dilation, _pads_before(pads, nd),
                         out_size, pad_value)
    view = _window_view(xp, kernel, stride, dilation, out_size)
    return view.reshape(x.shape[0], x.shape[1] * math.prod(kernel), math.prod(out_size))


def col2im(cols, x_shape, kernel, stride, dilation, pads, out_size):
    """Exact adjoint of :func:`im2col`: scatter-add columns back onto x's shape."""
    nd = len(x_shape) - 2
    kernel, stride, dilation = (_as_tuple(v, nd) for v in (kernel, stride, dilation))
    out_size = _as_tuple(out_size, nd)
    pads_before = _pads_before(pads, nd)
    n_batch, channels = x_shape[:2]
    spatial = tuple(x_shape[2:])
    extent = _accumulation_extent(kernel, stride, dilation, pads_before, out_size, spatial)
    buf = np.zeros((n_batch, channels) + extent, dtype=cols.dtype)
    _scatter_windows(buf, cols.reshape((n_batch, channels) + kernel + out_size),
                     kernel, stride, dilation)
    return _crop_padding(buf, pads_before, spatial)


# ---------------------------------------------------------------------------
# Convolution core: one correlation, its data adjoint and its weight gradient
# ---------------------------------------------------------------------------
# A conv is the correlation y = W * x.  Its data adjoint (col2im(W^T dy)) is
# both conv's dX and a transposed conv's forward; the correlation itself is a
# transposed conv's dX.  The weight gradient dW = dY . cols(X)^T serves both.

def _correlate(x, w, stride, dilation, pads_before, groups, out_size, max_ws):
    """y[n, co, o] = sum_{ci in group, k} w[co, ci, k] * xpad[n, ci, o*s + k*d]."""
    n_batch, channels = x.shape[:2]
    c_out, kernel = w.shape[0], tuple(w.shape[2:])
    c_group, co_group = channels // groups, c_out // groups
    k_size, positions = math.prod(kernel), math.prod(out_size)
    w_mat = w.reshape(groups, co_group, c_group * k_size)
    y = np.empty((n_batch, c_out) + tuple(out_size), dtype=x.dtype)
    if _is_pointwise(kernel, stride, pads_before, x.shape[2:], out_size):
        # 1x1 stride-1 conv: no im2col at all, x already is the column matrix.
        np.matmul(w_mat, x.reshape(n_batch, groups, c_group, positions),
                  out=y.reshape(n_batch, groups, co_group, positions))
        return y
    xp = _pad_to_windows(x, kernel, stride, dilation, pads_before, out_size)
    view = _window_view(xp, kernel, stride, dilation, out_size)
    rows, nd = out_size[0], len(kernel)
    for n0, n1, r0, r1 in _tiles(n_batch, out_size, channels * k_size * x.itemsize, max_ws):
        nt = n1 - n0
        tile = view[n0:n1][_row_slice(2 + nd, r0, r1)]
        cols = tile.reshape(nt, groups, c_group * k_size, -1)  # the single copy
        if r0 == 0 and r1 == rows:
            np.matmul(w_mat, cols, out=y[n0:n1].reshape(nt, groups, co_group, positions))
        else:
            y[n0:n1, :, r0:r1] = np.matmul(w_mat, cols).reshape(
                (nt, c_out, r1 - r0) + tuple(out_size[1:]))
    return y


def _correlate_adjoint(dy, w, x_shape, stride, dilation, pads_before, groups, max_ws):
    """Adjoint of _correlate w.r.t. x (seed: dX = col2im(W^T . dY))."""
    n_batch, channels = x_shape[:2]
    spatial = tuple(x_shape[2:])
    out_size = tuple(dy.shape[2:])
    c_out, kernel = w.shape[0], tuple(w.shape[2:])
    c_group, co_group = channels // groups, c_out // groups
    k_size, positions = math.prod(kernel), math.prod(out_size)
    w_t = w.reshape(groups, co_group, c_group * k_size).swapaxes(-1, -2)
    if _is_pointwise(kernel, stride, pads_before, spatial, out_size):
        return np.matmul(w_t, dy.reshape(n_batch, groups, co_group, positions)).reshape(x_shape)
    extent = _accumulation_extent(kernel, stride, dilation, pads_before, out_size, spatial)
    buf = np.zeros((n_batch, channels) + extent, dtype=dy.dtype)
    for n0, n1, r0, r1 in _tiles(n_batch, out_size, channels * k_size * dy.itemsize, max_ws):
        nt = n1 - n0
        dy_tile = dy[n0:n1, :, r0:r1].reshape(nt, groups, co_group, -1)
        dcols = np.matmul(w_t, dy_tile).reshape(
            (nt, channels) + kernel + (r1 - r0,) + out_size[1:])
        _scatter_windows(buf[n0:n1], dcols, kernel, stride, dilation, row0=r0)
    return _crop_padding(buf, pads_before, spatial)


def _correlate_weight_grad(x, dy, kernel, stride, dilation, pads_before, groups, max_ws):
    """dW[co, ci, k] = sum_{n, o} dy[n, co, o] * xpad[n, ci, o*s + k*d] (dW = dY . cols^T)."""
    n_batch, channels = x.shape[:2]
    out_size = tuple(dy.shape[2:])
    c_out = dy.shape[1]
    c_group, co_group = channels // groups, c_out // groups
    k_size, positions = math.prod(kernel), math.prod(out_size)
    dw = np.zeros((groups, co_group, c_group * k_size), dtype=x.dtype)
    if _is_pointwise(kernel, stride, pads_before, x.shape[2:], out_size):
        cols = x.reshape(n_batch, groups, c_group, positions)
        dw += np.matmul(dy.reshape(n_batch, groups, co_group, positions),
                        cols.swapaxes(-1, -2)).sum(axis=0)
        return dw.reshape((c_out, c_group) + tuple(kernel))
    xp = _pad_to_windows(x, kernel, stride, dilation, pads_before, out_size)
    view = _window_view(xp, kernel, stride, dilation, out_size)
    nd = len(kernel)
    for n0, n1, r0, r1 in _tiles(n_batch, out_size, channels * k_size * x.itemsize, max_ws):
        nt = n1 - n0
        cols = view[n0:n1][_row_slice(2 + nd, r0, r1)].reshape(nt, groups, c_group * k_size, -1)
        dy_tile = dy[n0:n1, :, r0:r1].reshape(nt, groups, co_group, -1)
        dw += np.matmul(dy_tile, cols.swapaxes(-1, -2)).sum(axis=0)
    return dw.reshape((c_out, c_group) + tuple(kernel))


def _bias_shape(ndim):
    return (1, -1) + (1,) * (ndim - 2)


def _sum_bias_grad(dy):
    return dy.sum(axis=(0,) + tuple(range(2, dy.ndim)))


def _conv_geometry(x, w, stride, dilation, pads, out_size):
    nd = x.ndim - 2
    return (_as_tuple(stride, nd), _as_tuple(dilation, nd), _pads_before(pads, nd),
            _as_tuple(out_size, nd), tuple(w.shape[2:]))


# ---------------------------------------------------------------------------
# Convolution and transposed convolution
# ---------------------------------------------------------------------------

def conv_forward(x, w, b, stride, dilation, pads, groups, out_size,
                 max_workspace_bytes=DEFAULT_MAX_WORKSPACE_BYTES):
    """Grouped N-d convolution (cross-correlation), w of shape (C_out, C_in/groups, *k).

    im2col + one batched GEMM per tile (groups are a batch axis of the
    matmul); tiles over batch / first output dim keep the im2col workspace
    within ``max_workspace_bytes``.  1x1 stride-1 unpadded convs skip im2col.
    """
    stride, dilation, pads_before, out_size, _ = _conv_geometry(x, w, stride, dilation, pads, out_size)
    w = np.asarray(w, dtype=x.dtype)
    y = _correlate(x, w, stride, dilation, pads_before, groups, out_size, max_workspace_bytes)
    if b is not None:
        y += np.asarray(b, dtype=x.dtype).reshape(_bias_shape(y.ndim))
    return y


def conv_backward(dy, x, w, stride, dilation, pads, groups, out_size, has_bias,
                  max_workspace_bytes=DEFAULT_MAX_WORKSPACE_BYTES):
    """Gradients (dx, dw, db|None) of :func:`conv_forward`.

    seed: dX = col2im(W^T . dY) (the full correlation with the rotated
    kernel), dW = dY . im2col(X)^T, db = sum of dY.
    """
    stride, dilation, pads_before, out_size, kernel = _conv_geometry(x, w, stride, dilation, pads, out_size)
    w = np.asarray(w, dtype=x.dtype)
    dy = np.asarray(dy, dtype=x.dtype)
    dx = _correlate_adjoint(dy, w, x.shape, stride, dilation, pads_before, groups,
                            max_workspace_bytes)
    dw = _correlate_weight_grad(x, dy, kernel, stride, dilation, pads_before, groups,
                                max_workspace_bytes)
    db = _sum_bias_grad(dy) if has_bias else None
    return dx, dw, db


def conv_transpose_forward(x, w, b, stride, dilation, pads, groups, out_size,
                           max_workspace_bytes=DEFAULT_MAX_WORKSPACE_BYTES):
    """Transposed convolution with PyTorch's weight layout (C_in, C_out/groups, *k).

    Per group cols = W^T . x, then col2im scatters onto the full extent
    (n-1)*s + d*(k-1) + 1 per dim, cropped by pads[before] and cut to
    ``out_size``; positions beyond the full extent (output_padding) get only
    the bias.  This is exactly the data adjoint of the matching conv.
    """
    stride, dilation, pads_before, out_size, _ = _conv_geometry(x, w, stride, dilation, pads, out_size)
    w = np.asarray(w, dtype=x.dtype)
    y_shape = (x.shape[0], w.shape[1] * groups) + out_size
    y = _correlate_adjoint(x, w, y_shape, stride, dilation, pads_before, groups,
                           max_workspace_bytes)
    if b is not None:
        y += np.asarray(b, dtype=x.dtype).reshape(_bias_shape(y.ndim))
    return y


def _one_axis(axis, nd, value, rest):
    """Per-dim geometry that is `value` along `axis` and `rest` along every other dim."""
    return tuple(value if a == axis else rest for a in range(nd))


def _axis_passes(nd, kernel, stride, dilation, pads):
    """The one-axis passes of a kernel of ones (an outer product of per-axis kernels of ones):
    per axis, (axis, k, s, d, before, plain) with that axis's kernel, stride, dilation and leading
    pad and 1, 1, 1, 0 along the others; `plain`: one tap, stride 1, no leading pad along it."""
    kernel, stride, dilation = _as_tuple(kernel, nd), _as_tuple(stride, nd), _as_tuple(dilation, nd)
    pads_before = _pads_before(pads, nd)
    for axis in range(nd):
        k, s, d = (_one_axis(axis, nd, v, 1) for v in (kernel[axis], stride[axis], dilation[axis]))
        plain = kernel[axis] == stride[axis] == 1 and pads_before[axis] == 0
        yield axis, k, s, d, _one_axis(axis, nd, pads_before[axis], 0), plain


def correlate_support_adjoint(dy, kernel, stride, dilation, pads, spatial):
    """Where conv's dX is nonzero for a boolean dY and a kernel of ones (the support probe of
    `verify --rf`): col2im's scatter (`_scatter_windows`) of dY itself, OR-ed (``+=`` on bool),
    one axis at a time. A kernel of ones is the outer product of per-axis kernels of ones, so the
    data adjoint is the product of the per-axis adjoints (each with its own stride, dilation,
    leading pad and crop): exact, with Σk instead of Πk passes over the arrays."""
    nd = dy.ndim - 2
    for axis, k, s, d, before, plain in _axis_passes(nd, kernel, stride, dilation, pads):
        out_size = tuple(dy.shape[2:])
        if plain and out_size[axis] == spatial[axis]:
            continue  # one tap at the same place: pointwise along this axis (DenseNet's 1×1 convs)
        size = out_size[:axis] + (spatial[axis],) + out_size[axis + 1:]
        buf = np.zeros(dy.shape[:2] + _accumulation_extent(k, s, d, before, out_size, size), dtype=bool)
        cols = np.broadcast_to(dy.reshape(dy.shape[:2] + (1,) * nd + out_size), dy.shape[:2] + k + out_size)
        _scatter_windows(buf, cols, k, s, d)
        dy = _crop_padding(buf, before, size)
    return dy


def correlate_support(dy, kernel, stride, dilation, pads, out_size):
    """Where a correlation of boolean dY with a kernel of ones is nonzero (transposed conv's dX in
    the support probe): any over each window of `_window_view`, one axis at a time (see
    `correlate_support_adjoint` for why per axis is exact)."""
    nd = dy.ndim - 2
    for axis, k, s, d, before, plain in _axis_passes(nd, kernel, stride, dilation, pads):
        if plain and out_size[axis] == dy.shape[2 + axis]:
            continue  # pointwise along this axis
        size = tuple(dy.shape[2:axis + 2]) + (out_size[axis],) + tuple(dy.shape[axis + 3:])
        padded = _pad_to_windows(dy, k, s, d, before, size, pad_value=False)
        dy = _window_view(padded, k, s, d, size).any(axis=2 + axis).reshape(dy.shape[:2] + size)
    return dy


def conv_transpose_backward(dy, x, w, stride, dilation, pads, groups, out_size, has_bias,
                            max_workspace_bytes=DEFAULT_MAX_WORKSPACE_BYTES):
    """Gradients (dx, dw, db|None) of :func:`conv_transpose_forward`.

    dX is the ordinary correlation of dY with W (im2col(dY) + GEMM), dW is the
    conv weight gradient with the roles of x and dy swapped.
    """
    stride, dilation, pads_before, out_size, kernel = _conv_geometry(x, w, stride, dilation, pads, out_size)
    w = np.asarray(w, dtype=x.dtype)
    dy = np.asarray(dy, dtype=x.dtype)
    in_size = tuple(x.shape[2:])
    dx = _correlate(dy, w, stride, dilation, pads_before, groups, in_size, max_workspace_bytes)
    dw = _correlate_weight_grad(dy, x, kernel, stride, dilation, pads_before, groups,
                                max_workspace_bytes)
    db = _sum_bias_grad(dy) if has_bias else None
    return dx, dw, db


# ---------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------

def _flat_strides(spatial):
    """Element strides of a C-ordered array of shape ``spatial``."""
    return tuple(math.prod(spatial[i + 1:]) for i in range(len(spatial)))


def _broadcast_axis(values, axis, ndim):
    shape = [1] * ndim
    shape[axis] = -1
    return np.asarray(values).reshape(shape)


def max_pool_forward(x, kernel, stride, dilation, pads, out_size, with_argmax=True):
    """Max pooling; returns (y, argmax_info).

    ``argmax_info`` is an int64 array (N, C, *out_size) of flat spatial
    indices into x (like PyTorch's return_indices).  Padding is -inf and never
    wins; ties go to the first maximum in window order; NaN propagates
    (PyTorch's ``val > maxval || isnan(val)`` rule).  ``with_argmax=False``
    (inference, no backward to come) skips the indices and returns (y, None).
    """
    nd = x.ndim - 2
    kernel, stride, dilation = (_as_tuple(v, nd) for v in (kernel, stride, dilation))
    out_size, pads_before = _as_tuple(out_size, nd), _pads_before(pads, nd)
    spatial = x.shape[2:]
    flat_stride = _flat_strides(spatial)
    xp = _pad_to_windows(x, kernel, stride, dilation, pads_before, out_size, -np.inf)
    if not with_argmax:
        y = None
        for offset in np.ndindex(*kernel):
            window = (slice(None), slice(None)) + tuple(
                slice(kk * d, kk * d + (o - 1) * s + 1, s)
                for kk, s, d, o in zip(offset, stride, dilation, out_size))
            y = xp[window].copy() if y is None else np.maximum(y, xp[window], out=y)  # NaN propagates
        return y, None
    window_starts = [np.arange(o) * s - p for o, s, p in zip(out_size, stride, pads_before)]

    # PyTorch starts each window's argmax at its first in-range element, so an
    # all -inf window still routes its gradient to a real input position.
    first_valid = np.zeros(out_size, dtype=np.int64)
    all_valid = np.ones(out_size, dtype=bool)
    for axis, (start, d, n) in enumerate(zip(window_starts, dilation, spatial)):
        first = np.where(start < 0, start + (-start + d - 1) // d * d, start)
        first_valid = first_valid + _broadcast_axis(first * flat_stride[axis], axis, nd)
        all_valid = all_valid & _broadcast_axis(first < n, axis, nd)
    first_valid = np.where(all_valid, first_valid, -1)

    y = np.full(x.shape[:2] + out_size, -np.inf, dtype=x.dtype)
    argmax = np.broadcast_to(first_valid, y.shape).copy()
    for offset in np.ndindex(*kernel):
        window = [slice(None), slice(None)]
        candidate = np.zeros(out_size, dtype=np.int64)
        for axis, (kk, s, d, o) in enumerate(zip(offset, stride, dilation, out_size)):
            window.append(slice(kk * d, kk * d + (o - 1) * s + 1, s))
            coord = window_starts[axis] + kk * d
            candidate = candidate + _broadcast_axis(coord * flat_stride[axis], axis, nd)
        values = xp[tuple(window)]
        better = (values > y) | np.isnan(values)
        np.copyto(y, values, where=better)
        np.copyto(argmax, np.broadcast_to(candidate, y.shape), where=better)
    return y, argmax


def _route_to_argmax(dy, argmax, x_shape):
    """dx[argmax] += dy, accumulating where windows overlap (bincount scatter)."""
    n_batch, channels = x_shape[:2]
    spatial_size = math.prod(x_shape[2:])
    plane = np.arange(n_batch * channels, dtype=np.int64).reshape(
        (n_batch, channels) + (1,) * (dy.ndim - 2)) * spatial_size
    valid = argmax >= 0
    flat = (plane + argmax)[valid]
    dx = np.bincount(flat, weights=dy[valid], minlength=n_batch * channels * spatial_size)
    return dx.astype(dy.dtype, copy=False).reshape(x_shape)


def max_pool_backward(dy, argmax_info, x_shape):
    """Route each output's gradient to its argmax (seed: max-pool gradient routing)."""
    return _route_to_argmax(dy, argmax_info, tuple(x_shape))


# ---------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------

def _avg_pool_divisor(spatial, kernel, stride, pads, out_size, count_include_pad, dtype):
    """PyTorch's divisor rule, as a broadcastable (*out_size) array.

    start = o*s - pad_before, end = min(start + k, n + pad_after),
    pool_size = prod(end - start); clip start/end to [0, n);
    divisor = pool_size if count_include_pad else prod(clipped lengths).
    """
    nd = len(spatial)
    divisor = np.ones(out_size, dtype=np.float64)
    for axis, (n, k, s, (p_before, p_after), o) in enumerate(
            zip(spatial, kernel, stride, pads, out_size)):
        start = np.arange(o) * s - p_before
        end = np.minimum(start + k, n + p_after)
        if count_include_pad:
            length = end - start
        else:
            length = np.minimum(end, n) - np.maximum(start, 0)
        divisor = divisor * _broadcast_axis(np.maximum(length, 1), axis, nd)
    return divisor.astype(dtype)


def avg_pool_forward(x, kernel, stride, pads, out_size, count_include_pad=True):
    """Average pooling (no dilation, like PyTorch) with PyTorch's divisor rule."""
    nd = x.ndim - 2
    kernel, stride = _as_tuple(kernel, nd), _as_tuple(stride, nd)
    out_size, pads = _as_tuple(out_size, nd), _normalise_pads(pads, nd)
    dilation = (1,) * nd
    xp = _pad_to_windows(x, kernel, stride, dilation, [p[0] for p in pads], out_size, 0.0)
    total = np.zeros(x.shape[:2] + out_size, dtype=x.dtype)
    for offset in np.ndindex(*kernel):
        window = (slice(None), slice(None)) + tuple(
            slice(kk, kk + (o - 1) * s + 1, s) for kk, s, o in zip(offset, stride, out_size))
        total += xp[window]
    total /= _avg_pool_divisor(x.shape[2:], kernel, stride, pads, out_size,
                               count_include_pad, x.dtype)
    return total


def avg_pool_backward(dy, x_shape, kernel, stride, pads, out_size, count_include_pad=True):
    """Spread each output's gradient evenly (÷ divisor) over its window (seed)."""
    nd = len(x_shape) - 2
    kernel, stride = _as_tuple(kernel, nd), _as_tuple(stride, nd)
    out_size, pads = _as_tuple(out_size, nd), _normalise_pads(pads, nd)
    dilation = (1,) * nd
    pads_before = tuple(p[0] for p in pads)
    spatial = tuple(x_shape[2:])
    share = dy / _avg_pool_divisor(spatial, kernel, stride, pads, out_size,
                                   count_include_pad, dy.dtype)
    extent = _accumulation_extent(kernel, stride, dilation, pads_before, out_size, spatial)
    buf = np.zeros(tuple(x_shape[:2]) + extent, dtype=dy.dtype)
    for offset in np.ndindex(*kernel):
        window = (slice(None), slice(None)) + tuple(
            slice(kk, kk + (o - 1) * s + 1, s) for kk, s, o in zip(offset, stride, out_size))
        buf[window] += share
    return _crop_padding(buf, pads_before, spatial)


# ---------------------------------------------------------------------------
# Adaptive / global pooling and spatial pyramid pooling
# ---------------------------------------------------------------------------

def adaptive_bins(n_in, n_out):
    """PyTorch's adaptive bins: [floor(o*n_in/n_out), ceil((o+1)*n_in/n_out))."""
    return [((o * n_in) // n_out, -((-(o + 1) * n_in) // n_out)) for o in range(n_out)]


def _adaptive_avg_matrix(n_in, n_out, dtype):
    """(n_out, n_in) averaging matrix; adaptive avg pooling is separable over dims."""
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    for o, (start, end) in enumerate(adaptive_bins(n_in, n_out)):
        matrix[o, start:end] = 1.0 / (end - start)
    return matrix.astype(dtype)


def _apply_along_axis(x, matrix, axis):
    """Contract x's ``axis`` with matrix (m, n_axis) -> the axis gets length m."""
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(moved @ matrix.T, -1, axis)


def adaptive_pool_forward(x, out_size, mode):
    """Adaptive 'max' or 'avg' pooling to ``out_size``; returns (y, cache).

    cache holds the flat argmax indices for 'max' and is None for 'avg'.
    Global pooling is out_size = (1, ...).
    """
    nd = x.ndim - 2
    out_size = _as_tuple(out_size, nd)
    spatial = x.shape[2:]
    if mode == "avg":
        y = x
        for axis, (n, o) in enumerate(zip(spatial, out_size)):
            y = _apply_along_axis(y, _adaptive_avg_matrix(n, o, x.dtype), 2 + axis)
        return np.ascontiguousarray(y), None
    if mode != "max":
        raise ValueError(f"unknown adaptive pooling mode {mode!r}")
    bins = [adaptive_bins(n, o) for n, o in zip(spatial, out_size)]
    flat_stride = _flat_strides(spatial)
    y = np.empty(x.shape[:2] + out_size, dtype=x.dtype)
    argmax = np.empty(x.shape[:2] + out_size, dtype=np.int64)
    for position in np.ndindex(*out_size):
        box = [bins[axis][o] for axis, o in enumerate(position)]
        region = x[(slice(None), slice(None)) + tuple(slice(s, e) for s, e in box)]
        flat_region = region.reshape(x.shape[:2] + (-1,))
        local = np.argmax(flat_region, axis=2)  # first maximum, like PyTorch
        y[(slice(None), slice(None)) + position] = np.take_along_axis(
            flat_region, local[..., None], axis=2)[..., 0]
        coords = np.unravel_index(local, tuple(e - s for s, e in box))
        argmax[(slice(None), slice(None)) + position] = sum(
            (c + s) * st for c, (s, _), st in zip(coords, box, flat_stride))
    return y, argmax


def adaptive_pool_backward(dy, x, out_size, mode, cache):
    """Gradient of :func:`adaptive_pool_forward` w.r.t. x."""
    nd = x.ndim - 2
    out_size = _as_tuple(out_size, nd)
    if mode == "max":
        return _route_to_argmax(dy, cache, x.shape)
    dx = dy
    for axis, (n, o) in enumerate(zip(x.shape[2:], out_size)):
        dx = _apply_along_axis(dx, _adaptive_avg_matrix(n, o, dy.dtype).T, 2 + axis)
    return np.ascontiguousarray(dx)


def spp_forward(x, levels, mode):
    """Spatial pyramid pooling -> (y, cache), y of shape (N, C * sum(n**d)).

    Each level n adaptively pools to n per spatial dim, flattened channel
    first; levels are concatenated in order.
    """
    nd = x.ndim - 2
    outputs, caches = [], []
    for level in levels:
        pooled, cache = adaptive_pool_forward(x, (int(level),) * nd, mode)
        outputs.append(pooled.reshape(x.shape[0], -1))
        caches.append(cache)
    return np.concatenate(outputs, axis=1), caches


def spp_backward(dy, x, levels, mode, cache):
    """Gradient of :func:`spp_forward` w.r.t. x."""
    nd = x.ndim - 2
    dx = np.zeros_like(x)
    start = 0
    for level, level_cache in zip(levels, cache):
        out_size = (int(level),) * nd
        width = x.shape[1] * math.prod(out_size)
        level_dy = dy[:, start:start + width].reshape(x.shape[:2] + out_size)
        dx += adaptive_pool_backward(level_dy, x, out_size, mode, level_cache)
        start += width
    return dx


# ---------------------------------------------------------------------------
# Padding modes (the pad layer; padding_mode on conv, depthwise, separable)
# ---------------------------------------------------------------------------

def padding_sources(n, before, after, mode):
    """For each position of an axis padded to before + n + after, the input index it copies, as
    PyTorch's modes define it (position p has coordinate i = p − before):
    reflect mirrors without repeating the edge (−i; 2(n − 1) − i), replicate repeats the edge
    (clamp), circular wraps around (i mod n). Zero padding has no source (see pad_forward)."""
    i = np.arange(-before, n + after)
    if mode == "reflect":
        return np.where(i < 0, -i, np.where(i >= n, 2 * (n - 1) - i, i))
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return np.mod(i, n)
    raise ValueError(f"no source indices for padding mode {mode!r}")


def pad_forward(x, pads, mode, value=0.0):
    """x (N, C, *spatial) padded by pads ((before, after) per spatial dim) in PyTorch's mode:
    zeros/constant fill with `value`; reflect, replicate and circular copy input elements, one
    axis after another (their corners are the product of the per-axis copies, as in PyTorch)."""
    if mode in ("zeros", "constant"):
        return np.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in pads), constant_values=value)
    y = x
    for axis, (n, (before, after)) in enumerate(zip(x.shape[2:], pads)):
        if before or after:
            y = np.take(y, padding_sources(n, before, after, mode), axis=2 + axis)
    return x.copy() if y is x else y  # np.take makes a new array; no pads: a copy, never x itself


def pad_backward(dy, x_shape, pads, mode):
    """dx of :func:`pad_forward`: the interior of dy, plus (for the copying modes) every padded
    position's gradient added onto the input element it copied, axis by axis in reverse."""
    dx = dy
    for axis in reversed(range(len(x_shape) - 2)):
        n, (before, after) = x_shape[2 + axis], pads[axis]
        if not (before or after):
            continue
        moved = np.moveaxis(dx, 2 + axis, 0)
        acc = moved[before:before + n].copy()
        if mode not in ("zeros", "constant"):
            sources = padding_sources(n, before, after, mode)
            for p in (*range(before), *range(before + n, before + n + after)):
                acc[sources[p]] += moved[p]  # one padded slice at a time: no index collides
        dx = np.moveaxis(acc, 0, 2 + axis)
    return np.ascontiguousarray(dx)
