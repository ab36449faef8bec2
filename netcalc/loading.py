"""One entry point for every network file: a YAML spec, or an ONNX model (netcalc.onnx).

Commands call `load_network`; it picks the reader by the file's suffix (`.onnx`) and returns the
same `Spec` either way, so graph → analysis → reporters never know where a network came from.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path

from netcalc.spec import Spec, load_spec

# --input-shape of the running command (cli.input_shape_option sets it for the command's duration)
INPUT_SHAPE: ContextVar[tuple[int, ...] | None] = ContextVar("netcalc_input_shape", default=None)


def is_onnx(path) -> bool:
    return Path(str(path)).suffix.lower() == ".onnx"


def load_network(path, input_shape: tuple[int, ...] | None = None) -> Spec:
    """A spec (YAML) or an ONNX model as a Spec. `input_shape` (channels first, no batch) fills
    an ONNX model's symbolic dims; for a YAML spec it must not be given."""
    if input_shape is None:
        input_shape = INPUT_SHAPE.get()
    if is_onnx(path):
        from netcalc.onnx.reader import load_onnx

        return load_onnx(path, input_shape)
    if input_shape is not None:
        from netcalc.errors import Loc, SpecError

        raise SpecError("--input-shape is for ONNX models; a spec states its own 'input'", Loc(str(path), 1, 1))
    return load_spec(path)
