"""A read ONNX model written back as a YAML spec (`netcalc import`) and its weights (.npz)."""

from __future__ import annotations

import os

import yaml

from netcalc.errors import SpecError
from netcalc.onnx import file_loc


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    return text.split("\n...")[0].strip()  # a plain scalar ends its document with '...'



def spec_text(spec, source: str, opset: int | None = None) -> str:
    """The spec as YAML: one flow-style line per layer, `from` only where a layer does not read the
    one above it; names with dots (module paths) need the top-level `dotted_names: true`."""
    lines = [f"# imported by netcalc from {source}" + (f" (ONNX opset {opset})" if opset else ""),
             f"name: {_flow(spec.name)}", f"input: {_flow(list(spec.input_shape))}"]
    if any("." in decl.name for decl in spec.layers):
        lines.append("dotted_names: true   # layer names are the model's module paths")
    lines.append("layers:")
    previous = "input"
    for decl in spec.layers:
        params = _flow(dict(decl.raw)) if decl.raw else ""
        entry = f"{decl.type_name}: {params}, name: {_flow(decl.name)}"
        if decl.inputs != [previous]:
            entry += f", from: {_flow(decl.inputs[0] if len(decl.inputs) == 1 else list(decl.inputs))}"
        lines.append(f"  - {{{entry}}}")
        previous = decl.name
    return "\n".join(lines) + "\n"


def opset_of(path) -> int | None:
    from netcalc.onnx.modelfile import opset_version, read_model

    return opset_version(read_model(path)[0], str(path))


def import_file(model, out_path=None, weights_out=None):
    """`netcalc import`: (the spec's text, its layer count); writes the spec to `out_path` and the
    initializers to `weights_out` (run's weight layout) when given."""
    import numpy as np

    from netcalc.loading import INPUT_SHAPE
    from netcalc.onnx.reader import load_onnx

    spec = load_onnx(model, INPUT_SHAPE.get())
    text = spec_text(spec, os.path.basename(str(model)), opset_of(model))
    if weights_out is not None:
        try:
            np.savez(weights_out, **spec.weights())
        except OSError as exc:
            raise SpecError(f"cannot save the weights: {exc.strerror or exc}", file_loc(weights_out)) from None
    if out_path is not None:
        try:
            with open(out_path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise SpecError(f"cannot write the spec: {exc.strerror or exc}", file_loc(out_path)) from None
    return text, len(spec.layers)
