"""Reading an ONNX file safely.

- The file is parsed once; a truncated, empty or non-ONNX file is one SpecError.
- Initializers are kept as protobuf messages: analysing a model reads only their dims, never
  copies their data (`tensor_dims`). Values are read when a command needs them (`tensor_array`):
  `run` (weights) and constant folding (small tensors only).
- External data is read only from regular files inside the model's own folder, within the
  file's size, and only when the values are needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from netcalc.errors import SpecError
from netcalc.onnx import file_loc, require_onnx

MAX_MODEL_BYTES = 2**31  # protobuf's own limit for one message
MAX_TENSOR_ELEMENTS = 2**34  # dims claiming more than this are refused before anything is allocated


def _error(path, message: str) -> SpecError:
    return SpecError(message, file_loc(path))


def read_model(path):
    """The ModelProto of `path`, checked to look like an ONNX model."""
    onnx = require_onnx(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise _error(path, "not a regular file")
    except OSError as exc:
        raise _error(path, f"cannot read file: {exc.strerror or exc}") from None
    if size == 0:
        raise _error(path, "empty file; expected an ONNX model")
    if size > MAX_MODEL_BYTES:
        raise _error(path, f"file is larger than 2 GiB ({size:,} bytes); an ONNX model larger than "
                           f"protobuf's limit keeps its weights as external data")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise _error(path, f"cannot read file: {exc.strerror or exc}") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # google.protobuf's DecodeError (its class differs between backends)
        raise _error(path, "not an ONNX model (the file is truncated or is not an ONNX protobuf)") from None
    del data
    if model.ir_version < 1 or not model.HasField("graph") or not len(model.graph.node):
        raise _error(path, "not an ONNX model (no graph with nodes; is the file truncated?)")
    return model


def opset_version(model, path) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise _error(path, "the model imports no standard ONNX opset (ai.onnx)")


def tensor_dims(tensor, path, what: str) -> tuple[int, ...]:
    dims = tuple(int(d) for d in tensor.dims)
    total = 1
    for d in dims:
        if d < 0:
            raise _error(path, f"{what} '{tensor.name}' has a negative dim {list(dims)}")
        total *= d
    if total > MAX_TENSOR_ELEMENTS:
        raise _error(path, f"{what} '{tensor.name}' claims {total:,} elements; refusing it")
    return dims


def tensor_array(tensor, path, what: str = "initializer"):
    """The values of a TensorProto as a NumPy array (read from external data if need be)."""
    import numpy as np
    from onnx import helper, numpy_helper

    dims = tensor_dims(tensor, path, what)
    if tensor.data_location == 1:  # TensorProto.EXTERNAL
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type))
        raw = _read_external(tensor, path, int(np.prod(dims, dtype=np.int64)) * dtype.itemsize, what)
        return np.frombuffer(raw, dtype=dtype).reshape(dims).copy()
    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:
        raise _error(path, f"{what} '{tensor.name}' cannot be read ({type(exc).__name__}: {exc}); "
                           f"its data does not match its dims {list(dims)} and type") from None


def _read_external(tensor, path, nbytes: int, what: str) -> bytes:
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    folder = Path(path).resolve().parent
    target = (folder / location).resolve()
    if not location or Path(location).is_absolute() or (folder not in target.parents):
        raise _error(path, f"{what} '{tensor.name}': external data '{location}' lies outside the model's "
                           f"folder; netcalc reads external data only from files beside the model")
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", nbytes))
    except ValueError:
        raise _error(path, f"{what} '{tensor.name}': bad external-data offset or length") from None
    if length != nbytes or offset < 0:
        raise _error(path, f"{what} '{tensor.name}': external data holds {length} bytes, its dims need {nbytes}")
    try:
        if not target.is_file():
            raise _error(path, f"{what} '{tensor.name}': external data file '{location}' is missing")
        if offset + length > os.path.getsize(target):
            raise _error(path, f"{what} '{tensor.name}': external data file '{location}' is shorter than "
                               f"offset {offset} + length {length}")
        with open(target, "rb") as f:
            f.seek(offset)
            return f.read(length)
    except OSError as exc:
        raise _error(path, f"{what} '{tensor.name}': cannot read external data '{location}': "
                           f"{exc.strerror or exc}") from None
