"""Helpers for the ONNX tests: fast seeded weights, export to bytes, running in onnxruntime and in
netcalc's executor, and reports compared without their names."""

from __future__ import annotations

import math

import numpy as np

from netcalc import report
from netcalc.executor import Executor, expected_weights


def fast_weights(graph, seed: int = 0) -> dict:
    """Seeded float32 weights in PyTorch layouts, cheap enough for VGG-sized networks: uniform
    ±1/√fan_in (so activations keep their scale), variances in [0.5, 1.5]."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in expected_weights(graph).items():
        if name.endswith("running_var"):
            out[name] = rng.random(shape, dtype=np.float32) + np.float32(0.5)
            continue
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        values = rng.random(shape, dtype=np.float32)
        values -= np.float32(0.5)
        values *= np.float32(2 / math.sqrt(fan_in) if len(shape) > 1 else 0.2)
        if name.endswith(".weight") and len(shape) == 1:  # batchnorm scale ≈ 1
            values += np.float32(1.0)
        out[name] = values
    return out


def model_bytes(graph, weights, opset: int = 17) -> bytes:
    from netcalc.onnx.writer import build_model

    return build_model(graph, weights, opset).SerializeToString()


def ort_outputs(data: bytes, x) -> dict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: x})))


def netcalc_outputs(graph, weights, x, names) -> dict:
    return Executor(graph, weights).forward(x, keep=set(names)).outputs


def assert_close(got, want, rtol=1e-4, what=""):
    """Equal to `rtol` relative to the largest magnitude of the reference."""
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), 1e-30)
    err = float(np.max(np.abs(got - want))) / scale
    assert err <= rtol, f"{what}: relative error {err:.2e} > {rtol}"


def layer_rows(analysis, with_names=True) -> list:
    """Each layer's report row (§3); without_names drops `name` and `from`."""
    rows = []
    for row in report.to_dict(analysis)["layers"]:
        row = dict(row)
        if not with_names:
            row.pop("name")
            row.pop("from")
        rows.append(row)
    return rows


def totals(analysis) -> dict:
    return report.to_dict(analysis)["totals"]


def torch_export(module, x, path, opset: int, dynamo: bool = False):
    """Write `module` (put in eval mode) to `path` with PyTorch's exporter (TorchScript, or dynamo)
    and return its own output on the torch tensor x, the reference."""
    import torch

    module.eval()
    torch.onnx.export(module, (x,), str(path), opset_version=opset, dynamo=dynamo, input_names=["x"],
                      output_names=["y"])
    with torch.no_grad():
        return module(x).numpy()


def read_and_run(path, x):
    """The ONNX file as netcalc reads it: (spec, graph, the executor's output of its last layer on
    the numpy array x, with the file's own weights)."""
    from netcalc.graph import build_graph
    from netcalc.onnx.reader import load_onnx

    spec = load_onnx(path)
    graph = build_graph(spec)
    last = spec.layers[-1].name
    return spec, graph, Executor(graph, spec.weights()).forward(x, keep={last}).outputs[last]
