"""`netcalc run`: read the input array and the weights archive, run the reference executor,
save every layer's output. Everything the user hands in is checked here and refused with a
SpecError (exit 2) naming the file; cli.py only parses the options and prints.
"""

from __future__ import annotations

import contextlib

import numpy as np

from netcalc.errors import SpecError
from netcalc.executor import Executor, check_input_shape, check_memory
from netcalc.graph import Graph


def load_input(path: str, graph: Graph) -> np.ndarray:
    """One numeric array saved with numpy.save, batch dim first, matching the spec's input."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: cannot read the input array: {exc}") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise SpecError(f"{path}: expected one numeric array saved with numpy.save (.npy)")
    check_input_shape(graph, x.shape, source=path)
    return x


def load_weights(path: str | None) -> dict | None:
    """A .npz archive of PyTorch-named arrays (validated against the graph by the Executor)."""
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, AttributeError) as exc:
        raise SpecError(f"{path}: cannot read the weights archive: {exc}") from None


def run(graph: Graph, input_path: str, weights_path: str | None, dtype: str, memory_limit: int, seed: int,
        progress=lambda total: contextlib.nullcontext(lambda node: None)) -> dict[str, np.ndarray]:
    """Every layer's output on the given input, by layer name. Refuses (exit 2) before allocating
    when the pass, keeping every output, would need more than memory_limit bytes.
    progress(total) → a context manager giving a tick(node) callback (the CLI's progress bar)."""
    x = load_input(input_path, graph)
    weights = load_weights(weights_path)
    if weights is None and graph.spec.weights is not None:  # an ONNX model runs with its initializers
        weights = graph.spec.weights()
    check_memory(graph, x.shape[0], np.dtype(dtype).itemsize, memory_limit, keep_all=True)
    executor = Executor(graph, weights, dtype=dtype, seed=seed)  # validates given weights
    with progress(len(graph.nodes)) as tick:
        return executor.forward(x, keep=True, on_layer=tick).outputs


def save_outputs(path: str, outputs: dict[str, np.ndarray]) -> None:
    try:
        np.savez(path, **outputs)
    except OSError as exc:
        raise SpecError(f"{path}: cannot save the outputs: {exc}") from None
