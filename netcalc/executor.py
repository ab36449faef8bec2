"""The NumPy reference executor: runs a resolved Graph forward (and backward) on real arrays.

Every kernel lives in its layer type's registry entry (`LayerType.forward/backward`, with the
geometry configure() resolved, calling netcalc.kernels for shared mathematics); in probe mode
(verify --rf) a type's declared stand-in (`LayerType.probe`) runs instead. This module only
schedules them:

* forward in file order on a batch (N, *input_shape), float32 by default (float64 for tests);
  each activation is freed as soon as no later layer reads it (reference counting);
* backward by a reverse walk over the layers that feed a chosen output element, giving the
  gradient w.r.t. the input and every weight;
* weights in PyTorch names and layouts (`<layer>.weight`, `<layer>.bias`, batchnorm
  `.running_mean`, `.running_var`): seeded random by default, or given and validated;
* a memory estimate computed from shapes alone, before anything is allocated, and a refusal
  (SpecError, exit 2) when it exceeds the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

from netcalc.errors import SpecError
from netcalc.graph import Graph
from netcalc.layers.base import Node, RunContext
from netcalc.units import DEFAULT_WORKSPACE_BYTES, FALLBACK_MEMORY_LIMIT, human_bytes, parse_bytes  # noqa: F401


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------

def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or None where there is no such file."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def default_memory_limit() -> int:
    """Half of the memory available now (units.FALLBACK_MEMORY_LIMIT, 4 GiB, when unknown)."""
    avail = available_memory()
    return avail // 2 if avail else FALLBACK_MEMORY_LIMIT


@dataclass
class MemoryEstimate:
    """Peak bytes of one pass, from shapes alone: the largest sum, over layers, of the live
    activations, the layer's new output, its workspace (`LayerType.workspace_bytes`: padded input
    copy + one im2col tile + temporaries), plus the weights and the input."""

    peak: int
    weights: int
    activations_peak: int
    workspace_peak: int
    peak_layer: str | None

    def __str__(self) -> str:
        return (f"{human_bytes(self.peak)} (activations {human_bytes(self.activations_peak)}, "
                f"workspace {human_bytes(self.workspace_peak)}, weights {human_bytes(self.weights)})")


def weight_bytes(graph: Graph, itemsize: int) -> int:
    return sum(prod(shape) for node in graph.nodes
               for shape in node.kind.weight_shapes(node).values()) * itemsize


def estimate_memory(graph: Graph, batch: int, itemsize: int = 4, keep_all: bool = False,
                    max_workspace_bytes: int = DEFAULT_WORKSPACE_BYTES) -> MemoryEstimate:
    """Simulate the forward schedule on shapes: O(layers), allocates nothing.

    keep_all: every activation stays alive (backward passes, `run --save`)."""
    last_use = _last_use(graph)
    size = {"input": batch * prod(graph.input_shape) * itemsize}
    live = size["input"]
    weights = weight_bytes(graph, itemsize)
    best = (live + weights, live, 0, None)
    for i, node in enumerate(graph.nodes):
        out = batch * prod(node.out_shape) * itemsize
        if keep_all:
            out *= 2  # the output and its gradient / a saved copy
        work = node.kind.workspace_bytes(node, batch, itemsize, max_workspace_bytes)
        total = live + out + work + weights
        if total > best[0]:
            best = (total, live + out, work, node.name)
        size[node.name] = out
        live += out
        if not keep_all:
            for name in {*node.inputs}:
                if last_use.get(name) == i:
                    live -= size[name]
    return MemoryEstimate(best[0], weights, best[1], best[2], best[3])


def check_memory(graph: Graph, batch: int, itemsize: int, limit: int, keep_all: bool = False) -> MemoryEstimate:
    """Refuse (SpecError, exit 2) before allocating when the estimate exceeds `limit` bytes."""
    estimate = estimate_memory(graph, batch, itemsize, keep_all)
    if estimate.peak > limit:
        where = f", peaking at layer '{estimate.peak_layer}'" if estimate.peak_layer else ""
        raise SpecError(f"{graph.spec.path or graph.spec.name}: the reference executor would need about "
                        f"{estimate} at batch {batch}{where}, above the memory limit {human_bytes(limit)}; "
                        f"nothing was allocated (raise --max-memory or lower --batch)")
    return estimate


def _last_use(graph: Graph) -> dict[str, int]:
    from netcalc.liveness import last_use

    return last_use(graph)


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

def expected_weights(graph: Graph) -> dict[str, tuple[int, ...]]:
    """Every weight array the graph needs: PyTorch name → shape."""
    return {f"{node.name}.{key}": tuple(shape) for node in graph.nodes
            for key, shape in node.kind.weight_shapes(node).items()}


def random_weights(graph: Graph, seed: int = 0, dtype=np.float32, positive: bool = False) -> dict:
    """Seeded random weights in PyTorch names and layouts; each layer type draws its own
    (LayerType.random_weights). positive=True gives the rf probe's all-positive weights."""
    rng = np.random.default_rng(seed)
    out = {}
    for node in graph.nodes:
        for key, value in node.kind.random_weights(node, rng, positive, dtype=dtype).items():
            out[f"{node.name}.{key}"] = np.asarray(value).astype(dtype, copy=False)
    return out


def validate_weights(graph: Graph, weights) -> dict:
    """The weights in the declared shapes; missing, extra and misshapen arrays are SpecErrors naming
    the layer and both shapes (a shape the layer type accepts instead is reshaped)."""
    expected = expected_weights(graph)
    names = set(weights)
    for name, shape in expected.items():
        layer = name.rsplit(".", 1)[0]
        loc = graph.by_name[layer].loc
        if name not in names:
            raise SpecError(f"weights: '{name}' is missing (expected shape {list(shape)})", loc, layer)
        got = tuple(np.shape(weights[name]))
        if got != shape and not graph.by_name[layer].kind.accepts_weight_shape(name.rsplit(".", 1)[1], got, shape):
            raise SpecError(f"weights: '{name}' has shape {list(got)}, expected {list(shape)}", loc, layer)
    extra = sorted(names - set(expected))
    if extra:
        from netcalc.errors import did_you_mean

        raise SpecError(f"weights: unexpected array '{extra[0]}'"
                        f"{did_you_mean(extra[0], expected)}"
                        + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    # an accepted alternative layout (a [C, 1, 1] per-channel vector) becomes the declared shape
    return {name: np.reshape(weights[name], shape) for name, shape in expected.items()}


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def check_input_shape(graph: Graph, shape, source: str | None = None) -> None:
    """An input batch must be [N, *input_shape]; else a SpecError (prefixed by the file it came from)."""
    expected = tuple(graph.input_shape)
    if len(shape) != len(expected) + 1 or tuple(shape[1:]) != expected:
        where = f"{source}: " if source else ""
        raise SpecError(f"{where}input has shape {list(shape)}, expected [N, {', '.join(map(str, expected))}] "
                        f"(the batch dim first)")


@dataclass
class ForwardResult:
    shapes: dict[str, tuple[int, ...]]  # per layer, the real array shape without the batch dim
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # kept arrays, by layer name
    caches: dict = field(default_factory=dict)


@dataclass
class Gradients:
    input: np.ndarray
    weights: dict[str, np.ndarray]  # PyTorch names, zero arrays for layers the element ignores


def _aliased(array, *arrays_by_name) -> bool:
    """Whether another live or kept array may share memory with `array` (a flatten is a view of its
    input): overwriting `array` in place would silently change that one too."""
    return any(other is not array and np.may_share_memory(array, other)
               for arrays in arrays_by_name for other in arrays.values())


class Executor:
    """Runs a Graph. weights=None → `random_weights(graph, seed, dtype, positive=probe)`."""

    def __init__(self, graph: Graph, weights: dict | None = None, dtype=np.float32, seed: int = 0,
                 probe: bool = False, max_workspace_bytes: int = DEFAULT_WORKSPACE_BYTES):
        self.graph = graph
        self.dtype = np.dtype(dtype)
        if weights is None:
            weights = random_weights(graph, seed, self.dtype, positive=probe)
        else:
            weights = validate_weights(graph, weights)
        self.weights = {k: np.asarray(v, dtype=self.dtype) for k, v in weights.items()}
        self.ctx = RunContext(max_workspace_bytes=max_workspace_bytes)
        self.probe = probe

    def node_weights(self, node: Node) -> dict:
        return {key: self.weights[f"{node.name}.{key}"] for key in node.kind.weight_shapes(node)}

    def op(self, node: Node):
        """What runs a node: its type, or in probe mode the stand-in the type declares."""
        if self.probe and node.kind.probe is not None:
            return node.kind.probe
        return node.kind

    def random_input(self, batch: int = 1, seed: int = 0, positive: bool = False) -> np.ndarray:
        rng = np.random.default_rng(seed)
        shape = (batch, *self.graph.input_shape)
        x = rng.uniform(0.5, 1.5, shape) if positive else rng.standard_normal(shape)
        return x.astype(self.dtype)

    def forward(self, x, keep: bool | set = False, on_layer=None, _caches: bool = False,
                into: ForwardResult | None = None, on_computed=None) -> ForwardResult:
        """Run every layer. keep=True keeps every output (a set keeps those names); other
        activations are freed once their last reader has run. on_layer(node) is called after
        each layer (progress bars); on_computed(node) right after a layer's output exists, before
        its dead inputs are dropped (memory measurements). `into`: a ForwardResult to fill as layers complete (so a
        caller still has the shapes so far when a kernel raises)."""
        x = np.asarray(x, dtype=self.dtype)
        check_input_shape(self.graph, x.shape)
        import dataclasses

        ctx = dataclasses.replace(self.ctx, caches=_caches)
        # A layer may overwrite its input when nothing else will read it: not the caller's
        # array, not kept, no backward to come, and this layer is its last reader.
        in_place = dataclasses.replace(ctx, overwrite_input=True)
        from netcalc.liveness import plan

        live = {"input": x}
        result = ForwardResult({}) if into is None else into
        for step in plan(self.graph):  # the liveness plan netcalc.memory sizes, too
            node = step.node
            inputs = [live[name] for name in node.inputs]
            source = node.inputs[0]
            dead = (not _caches and source != "input" and source in step.frees
                    and node.inputs.count(source) == 1 and source not in result.outputs
                    and not _aliased(live[source], live, result.outputs))
            y, cache = self.op(node).forward(node, inputs, self.node_weights(node), in_place if dead else ctx)
            live[node.name] = y
            result.shapes[node.name] = tuple(y.shape[1:])
            if _caches:
                result.caches[node.name] = cache
            if keep is True or (keep and node.name in keep):
                result.outputs[node.name] = y
            if on_computed is not None:
                on_computed(node)
            if keep is not True:
                for name in step.frees:
                    del live[name]  # reference counting: nobody reads it any more
            if on_layer is not None:
                on_layer(node)
        return result

    def backward(self, x, fwd: ForwardResult, target: str, grad_output, weight_grads: bool = True) -> Gradients:
        """Gradient of sum(grad_output · output[target]) w.r.t. the input and every weight, by a
        reverse walk over the layers that feed `target`. `fwd` must come from
        forward(x, keep=True, _caches=True). weight_grads=False: the input gradient only."""
        import dataclasses

        ctx = dataclasses.replace(self.ctx, weight_grads=weight_grads)
        nodes = self.graph.nodes
        index = {n.name: i for i, n in enumerate(nodes)}
        grads = {target: np.asarray(grad_output, dtype=self.dtype)}
        wgrads = {k: np.zeros_like(v) for k, v in self.weights.items()} if weight_grads else {}
        values = dict(fwd.outputs, input=np.asarray(x, dtype=self.dtype))
        for node in reversed(nodes[:index[target] + 1]):
            dy = grads.pop(node.name, None)
            if dy is None:
                continue  # does not feed the target
            inputs = [values[name] for name in node.inputs]
            dxs, dws = self.op(node).backward(node, inputs, values[node.name], dy, self.node_weights(node),
                                          fwd.caches.get(node.name), ctx)
            for key, g in (dws.items() if weight_grads else ()):
                wgrads[f"{node.name}.{key}"] += g
            for name, dx in zip(node.inputs, dxs):
                grads[name] = dx if name not in grads else grads[name] + dx
        dinput = grads.get("input")
        if dinput is None:
            dinput = np.zeros_like(values["input"])
        return Gradients(dinput, wgrads)

    def gradient(self, x, target: str, element: tuple) -> Gradients:
        """d output[target][element] / d (input, weights); element includes the batch index."""
        fwd = self.forward(x, keep=True, _caches=True)
        seed = np.zeros_like(fwd.outputs[target])
        seed[element] = 1
        return self.backward(x, fwd, target, seed)
