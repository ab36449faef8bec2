"""Batch, precision and memory (contract §9): how many bytes inference and a training step need.

* inference: the input (held by the caller for the whole pass), params and buffers at the
  chosen dtype, and the largest set of activations alive at once under the executor's own
  liveness plan (netcalc.liveness: each activation dropped after its last reader);
* training: what autograd saves for the backward pass, from each layer type's declaration in
  the registry (netcalc.saved), each stored tensor counted once; gradients (one per parameter)
  and optimizer state; with a 16-bit dtype, mixed precision (float32 master weights, gradients
  and optimizer state, 16-bit activations and a 16-bit working copy of the weights).

Everything is computed from shapes: nothing is allocated, numpy is not imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from netcalc import saved as S
from netcalc.precision import DEFAULT_DTYPE, DEFAULT_OPTIMIZER, DTYPE_BYTES, OPTIMIZER_COPIES


@dataclass(frozen=True)
class Setting:
    """The run the memory figures are for: batch size, dtype and optimizer."""

    batch: int = 1
    dtype: str = DEFAULT_DTYPE
    optimizer: str = DEFAULT_OPTIMIZER

    @property
    def itemsize(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def mixed(self) -> bool:
        """16-bit training is mixed precision."""
        return self.itemsize == 2

    @property
    def training_mode(self) -> str:
        if self.mixed:
            return "mixed precision"
        return "float32" + (", as int8 trains in float32" if self.dtype == "int8" else "")

    @property
    def train_itemsize(self) -> int:
        """Activation bytes in training: 16-bit under mixed precision; int8 trains in float32
        (quantisation-aware training keeps float32 weights and activations)."""
        return 2 if self.mixed else 4


@dataclass
class LayerSaved:
    """What one layer keeps for backward: every tensor it declares, and the bytes first kept
    here (a tensor an earlier layer already keeps is not counted again)."""

    name: str
    recorded: bool  # False: no parameter of its own and none before it: no backward runs here
    tensors: list[S.Stored]
    shared_with: dict  # key → the earlier layer that already keeps it
    new_bytes: int


@dataclass
class Training:
    params: int  # float32 master weights
    buffers: int  # float32 running statistics
    weights_copy: int  # the 16-bit working copy of the weights (mixed precision), else 0
    input: int  # the network input, when no layer keeps it already
    saved: int
    gradients: int
    optimizer: int
    optimizer_name: str
    layers: list[LayerSaved] = field(default_factory=list)
    _by_name: dict = field(default_factory=dict, repr=False, compare=False)

    def layer(self, name: str) -> LayerSaved:
        if len(self._by_name) != len(self.layers):
            self._by_name.update((layer.name, layer) for layer in self.layers)
        return self._by_name[name]

    def parts(self) -> list[tuple[str, int]]:
        """(label, bytes) of what the total adds up, the always-present terms first."""
        out = [("saved for backward", self.saved), ("weights (float32)", self.params),
               ("gradients (float32)", self.gradients), (f"optimizer state ({self.optimizer_name})", self.optimizer)]
        optional = [("16-bit copy of the weights", self.weights_copy), ("buffers (float32)", self.buffers),
                    ("input", self.input)]
        return out + [(label, n) for label, n in optional if n]

    @property
    def total(self) -> int:
        return (self.params + self.buffers + self.weights_copy + self.input + self.saved + self.gradients
                + self.optimizer)

    def to_dict(self) -> dict:
        return {"saved": self.saved, "gradients": self.gradients, "optimizer": self.optimizer,
                "optimizer_name": self.optimizer_name, "params": self.params, "buffers": self.buffers,
                "weights_copy": self.weights_copy, "input": self.input, "total": self.total}


@dataclass
class Memory:
    setting: Setting
    input: int
    params: int
    buffers: int
    activations: int
    activations_peak: int  # the live activations at the peak, without input, params, buffers
    peak_layer: str | None
    training: Training

    @property
    def inference_peak(self) -> int:
        return self.input + self.activations_peak + self.params + self.buffers

    def to_dict(self) -> dict:
        return {"batch": self.setting.batch, "dtype": self.setting.dtype, "input": self.input,
                "params": self.params, "buffers": self.buffers, "activations": self.activations,
                "inference_peak": self.inference_peak, "inference_peak_layer": self.peak_layer,
                "training": self.training.to_dict()}


# ---- declarations ----

def declaration(node):
    """The node's saved-for-backward declaration from its registry entry (None: undeclared)."""
    return node.kind.saved_for_backward(node)


def _context(graph, setting: Setting, params: dict | None = None) -> S.SavedContext:
    storage, shapes, needs_grad = {"input": "input"}, {"input": tuple(graph.input_shape)}, {"input": False}
    for node in graph.nodes:
        decl = declaration(node) or ()
        storage[node.name] = storage[node.inputs[0]] if S.VIEW in decl else node.name
        shapes[node.name] = tuple(node.out_shape)
        # a layer with no parameters of its own and none before it: no gradient flows here
        own = params[node.name] if params is not None else node.kind.count_params(node)
        needs_grad[node.name] = own > 0 or any(needs_grad[i] for i in node.inputs)
    return S.SavedContext(setting.batch, setting.train_itemsize, storage, shapes, needs_grad)


def saved_tensors(graph, setting: Setting, params: dict | None = None) -> tuple[list[LayerSaved], list[str]]:
    """Per layer, the tensors it keeps for backward; and warnings for undeclared types. `params`:
    each layer's parameter count when the caller has it (else counted here)."""
    ctx = _context(graph, setting, params)
    owner: dict = {}
    out, warnings = [], []
    for node in graph.nodes:
        decl = declaration(node)
        if decl is None:
            warnings.append(f"layer type '{node.kind.name}' does not declare what it keeps for backward; "
                            f"training memory assumes it keeps its input")
            decl = (S.INPUT,)
        recorded = ctx.needs_grad[node.name]
        tensors = [t for item in decl for t in item.tensors(node, ctx)] if recorded else []
        shared, new = {}, 0
        for t in tensors:
            if t.key in owner:
                shared[t.key] = owner[t.key]
            else:
                owner[t.key] = node.name
                new += t.bytes
        out.append(LayerSaved(node.name, recorded, tensors, shared, new))
    return out, warnings


def compute(analysis, setting: Setting) -> tuple[Memory, list[str]]:
    from netcalc.liveness import peak

    graph = analysis.graph
    b, size = setting.batch, setting.itemsize
    params, buffers = analysis.total("params"), analysis.total("buffers")
    out_bytes = {node.name: b * prod(node.out_shape) * size for node in graph.nodes}
    input_bytes = b * prod(graph.input_shape) * size
    # the caller holds the input for the whole pass: counted once, outside the plan
    act_peak, where = peak(graph, lambda name: 0 if name == "input" else out_bytes[name])

    layers, warnings = saved_tensors(graph, setting, {layer.name: layer.params for layer in analysis.layers})
    kept = {key for layer in layers for t in layer.tensors for key in [t.key]}
    train_input = b * prod(graph.input_shape) * setting.train_itemsize
    training = Training(
        params=4 * params, buffers=4 * buffers, weights_copy=2 * params if setting.mixed else 0,
        input=0 if ("act", "input") in kept else train_input,
        saved=sum(layer.new_bytes for layer in layers), gradients=4 * params,
        optimizer=OPTIMIZER_COPIES[setting.optimizer] * 4 * params, optimizer_name=setting.optimizer,
        layers=layers)
    memory = Memory(setting, input_bytes, params * size, buffers * size, sum(out_bytes.values()),
                    act_peak, where, training)
    return memory, warnings
