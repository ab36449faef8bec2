"""Reading an ONNX file safely and lightly.

- Only onnx's generated protobuf classes are loaded (`proto()`), not the `onnx` package: its
  helpers import ml_dtypes, which costs seconds of start-up that reading a model does not need.
- The file is skimmed at protobuf field boundaries (`_Skimmer`): every field is handed to onnx's
  own parser except the large `raw_data` payloads of initializers, which stay in the file; their
  (offset, length) is remembered. Analysing a 100 MB model therefore holds neither a copy of the
  file nor of its weights; `run` reads each weight from the file when it needs it.
- A truncated, empty or non-ONNX file is one SpecError. External data is read only from regular
  files inside the model's own folder, within the file's size, and only when values are needed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from netcalc.errors import SpecError
from netcalc.onnx import INSTALL_HINT, file_loc

MAX_MODEL_BYTES = 2**31  # protobuf's own limit for one message
MAX_TENSOR_ELEMENTS = 2**34  # dims claiming more than this are refused before anything is allocated
SKIM_BYTES = 4096  # raw_data payloads larger than this stay in the file until read

# TensorProto.DataType → NumPy dtype name, for the types netcalc decodes itself
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
          10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}
# which repeated field holds the values when raw_data is empty
TYPED_FIELD = {1: "float_data", 10: "int32_data", 11: "double_data", 7: "int64_data", 12: "uint64_data",
               13: "uint64_data", 2: "int32_data", 3: "int32_data", 4: "int32_data", 5: "int32_data",
               6: "int32_data", 9: "int32_data"}


def _error(path, message: str) -> SpecError:
    return SpecError(message, file_loc(path))


def proto(path="<onnx>"):
    """onnx's generated protobuf module (ModelProto, TensorProto, …) without `import onnx`."""
    if "onnx" in sys.modules and hasattr(sys.modules["onnx"], "onnx_ml_pb2"):
        return sys.modules["onnx"].onnx_ml_pb2
    if "onnx.onnx_ml_pb2" in sys.modules:
        return sys.modules["onnx.onnx_ml_pb2"]
    try:
        spec = importlib.util.find_spec("onnx")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise _error(path, INSTALL_HINT)
    location = Path(list(spec.submodule_search_locations)[0]) / "onnx_ml_pb2.py"
    module_spec = importlib.util.spec_from_file_location("onnx.onnx_ml_pb2", location)
    if module_spec is None or not location.is_file():
        raise _error(path, INSTALL_HINT)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["onnx.onnx_ml_pb2"] = module  # `import onnx` later reuses it: one set of descriptors
    try:
        module_spec.loader.exec_module(module)
    except Exception:
        del sys.modules["onnx.onnx_ml_pb2"]
        raise
    return module


class _Truncated(Exception):
    pass


class _Skimmer:
    """Splits the file at protobuf field boundaries: ModelProto.graph (7) → GraphProto.initializer
    (5) → TensorProto.raw_data (9) payloads above SKIM_BYTES are skipped (their place recorded);
    all other bytes are copied for onnx's parser. Lengths are checked against the file."""

    def __init__(self, f, size: int):
        self.f, self.size = f, size
        self.skipped: list[tuple[int, int] | None] = []  # per initializer, in order

    def varint(self, end: int) -> int:
        value, shift = 0, 0
        while True:
            if self.f.tell() >= end or shift > 63:
                raise _Truncated
            byte = self.f.read(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    @staticmethod
    def encode(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    def field(self, end: int):
        """(field number, wire type, header bytes, payload start, payload end)."""
        start = self.f.tell()
        tag = self.varint(end)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            self.varint(end)
            return number, wire, start, start, self.f.tell()
        header_end = self.f.tell()
        length = {1: 8, 5: 4}.get(wire)
        if wire == 2:
            length = self.varint(end)
            header_end = self.f.tell()
        if length is None or header_end + length > end:
            raise _Truncated
        self.f.seek(header_end + length)
        return number, wire, start, header_end, header_end + length

    def copy(self, start: int, stop: int) -> bytes:
        self.f.seek(start)
        data = self.f.read(stop - start)
        if len(data) != stop - start:
            raise _Truncated
        return data

    def message(self, start: int, end: int, depth: int) -> bytes:
        """The message in [start, end) with skimmed parts left out."""
        parts, pos = [], start
        while pos < end:
            self.f.seek(pos)
            number, wire, field_start, body, stop = self.field(end)
            inner = {0: number == 7, 1: number == 5, 2: False}.get(depth, False) and wire == 2
            if inner:
                if depth == 1:
                    self.skipped.append(None)
                body_bytes = self.message(body, stop, depth + 1)
                parts.append(self.encode((number << 3) | 2) + self.encode(len(body_bytes)) + body_bytes)
            elif depth == 2 and number == 9 and wire == 2 and stop - body > SKIM_BYTES:
                self.skipped[-1] = (body, stop - body)
            else:
                parts.append(self.copy(field_start, stop))
            pos = stop
        return b"".join(parts)


def read_model(path):
    """(ModelProto, {initializer index: (offset, length) of its raw data left in the file})."""
    pb = proto(path)
    p = Path(path)
    try:
        if not p.is_file():
            raise _error(path, "not a regular file" if p.exists() else "cannot read file: No such file or directory")
        size = p.stat().st_size
    except OSError as exc:
        raise _error(path, f"cannot read file: {exc.strerror or exc}") from None
    if size == 0:
        raise _error(path, "empty file; expected an ONNX model")
    if size > MAX_MODEL_BYTES:
        raise _error(path, f"file is larger than 2 GiB ({size:,} bytes); an ONNX model larger than "
                           f"protobuf's limit keeps its weights as external data")
    try:
        with open(p, "rb") as f:
            skimmer = _Skimmer(f, size)
            data = skimmer.message(0, size, 0)
    except _Truncated:
        raise _error(path, "not an ONNX model (the file is truncated or is not an ONNX protobuf)") from None
    except (OSError, IndexError) as exc:
        raise _error(path, f"cannot read file: {exc}") from None
    model = pb.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # google.protobuf's DecodeError (its class differs between backends)
        raise _error(path, "not an ONNX model (the file is truncated or is not an ONNX protobuf)") from None
    if model.ir_version < 1 or not model.HasField("graph") or not len(model.graph.node):
        raise _error(path, "not an ONNX model (no graph with nodes; is the file truncated?)")
    skipped = {i: where for i, where in enumerate(skimmer.skipped) if where is not None}
    return model, skipped


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


def tensor_array(tensor, path, what: str = "initializer", skipped=None):
    """The values of a TensorProto as a NumPy array: from its fields, from the model file where the
    skimmer left its raw data (`skipped` = (offset, length)), or from external data."""
    import numpy as np

    dims = tensor_dims(tensor, path, what)
    count = int(np.prod(dims, dtype=np.int64))
    dtype_name = DTYPES.get(tensor.data_type)
    if dtype_name is None:
        return _onnx_to_array(tensor, path, what)
    dtype = np.dtype(dtype_name)
    if tensor.data_location == 1:  # TensorProto.EXTERNAL
        raw = _read_external(tensor, path, count * dtype.itemsize, what)
    elif skipped is not None:
        raw = _read_span(path, skipped[0], skipped[1], what, tensor.name)
    elif tensor.raw_data:
        raw = tensor.raw_data
    else:
        values = getattr(tensor, TYPED_FIELD[tensor.data_type])
        if len(values) != count:
            raise _error(path, f"{what} '{tensor.name}' holds {len(values)} values, its dims {list(dims)} need {count}")
        if tensor.data_type == 10:  # float16 bits stored in int32_data
            return np.asarray(values, dtype=np.uint16).view(np.float16).reshape(dims)
        return np.asarray(values, dtype=dtype).reshape(dims)
    if len(raw) != count * dtype.itemsize:
        raise _error(path, f"{what} '{tensor.name}' holds {len(raw)} bytes, its dims {list(dims)} and type "
                           f"need {count * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(dims)


def _onnx_to_array(tensor, path, what):
    """Rare element types (bfloat16, float8, …): onnx's own converter."""
    try:
        from onnx import numpy_helper

        return numpy_helper.to_array(tensor)
    except Exception as exc:
        raise _error(path, f"{what} '{tensor.name}' cannot be read ({type(exc).__name__}: {exc})") from None


def _read_span(path, offset: int, length: int, what: str, name: str) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
    except OSError as exc:
        raise _error(path, f"{what} '{name}': cannot read its data: {exc.strerror or exc}") from None
    if len(data) != length:
        raise _error(path, f"{what} '{name}': the file changed while netcalc read it")
    return data


def attribute_value(attribute, path):
    """An AttributeProto's value as plain Python (numbers, strings, lists, arrays)."""
    kind = attribute.type
    simple = {1: "f", 2: "i", 3: "s", 6: "floats", 7: "ints", 8: "strings"}
    if kind in simple:
        value = getattr(attribute, simple[kind])
        if kind in (6, 7, 8):
            value = list(value)
        if kind == 3:
            return value.decode("utf-8", "replace")
        if kind == 8:
            return [v.decode("utf-8", "replace") for v in value]
        return value
    if kind == 4:
        return tensor_array(attribute.t, path, "constant")
    raise _error(path, f"attribute '{attribute.name}' holds a graph or sparse tensor; netcalc reads neither")


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
    if not target.is_file():
        raise _error(path, f"{what} '{tensor.name}': external data file '{location}' is missing")
    if offset + length > os.path.getsize(target):
        raise _error(path, f"{what} '{tensor.name}': external data file '{location}' is shorter than "
                           f"offset {offset} + length {length}")
    return _read_span(target, offset, length, what, tensor.name)
