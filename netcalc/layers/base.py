"""The layer registry: one `LayerType` object per layer type holds everything about it —
parameters, shape rule, counts, receptive-field rule and (for the executor) its kernels.

Subclasses override only what differs from these defaults: one input, no parameters, output
shape equal to the input shape, zero params/MACs, pointwise receptive field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from netcalc.errors import Loc, SpecError, did_you_mean
from netcalc.params import Param
from netcalc.units import DEFAULT_WORKSPACE_BYTES

REGISTRY: dict[str, "LayerType"] = {}
ALIASES: dict[str, str] = {}


@dataclass
class Node:
    """One primitive layer of a resolved network."""

    name: str
    kind: "LayerType"
    params: dict
    inputs: list[str]
    in_shapes: list[tuple[int, ...]]
    loc: Loc | None = None
    out_shape: tuple[int, ...] = ()
    raw: dict | None = None  # the spec's own parameter mapping, for located errors
    extra: dict = field(default_factory=dict)  # derived geometry cached by configure()

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.in_shapes[0]

    @property
    def spatial_in(self) -> tuple[int, ...]:
        return self.in_shapes[0][1:]

    @property
    def spatial_out(self) -> tuple[int, ...]:
        return self.out_shape[1:]

    def param_loc(self, name: str) -> Loc | None:
        loc_of = getattr(self.raw, "loc_of", None)
        if loc_of is not None:
            for key in self.raw:
                if key == name or key in self.kind.param(name).aliases:
                    return loc_of(key)
        return self.loc


class LayerType:
    name: str = ""
    aliases: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    summary: str = ""
    min_inputs = 1
    max_inputs = 1
    needs_spatial = False  # the input must have spatial dims ([C, L], [C, H, W], …)
    needs_flat = False  # the input must be a flat vector [F]
    macs_rule = "0"
    flops_rule = "0"
    params_rule = "0"

    # ---- spec ----
    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def configure(self, node: Node) -> None:
        """Cross-parameter checks and derived geometry (stored in node.extra)."""

    # ---- shape and counts (contract §4) ----
    def output_shape(self, node: Node) -> tuple[int, ...]:
        return node.in_shape

    def count_params(self, node: Node) -> int:
        return 0

    def count_buffers(self, node: Node) -> int:
        return 0

    def count_macs(self, node: Node) -> int:
        return 0

    def count_flops(self, node: Node) -> int:
        return 0

    # ---- receptive field (contract §5) ----
    def axis_maps(self, node: Node):
        """Per spatial axis, the window.AxisMap this layer reads through; None = pointwise."""
        return None

    def receptive_field(self, node: Node, in_fields: list):
        """Per-axis rf.Field list of the output, or None once the tensor is flat."""
        from netcalc import rf

        if len(node.out_shape) < 2 or in_fields[0] is None:
            return None
        maps = self.axis_maps(node)
        if maps is None:
            return in_fields[0]
        return [rf.through(f, m) for f, m in zip(in_fields[0], maps)]

    def sliding_geometry(self, node: Node):
        """Per-axis (kernel, stride, dilation, pad_before) when this layer reads its one input
        through a plain sliding window (pointwise layers: (1, 1, 1, 0)); None otherwise (transposed
        conv, upsampling, adaptive bins, merges). The seed notes' top-down recursion and the
        classic rf arithmetic apply only through these."""
        if self.max_inputs != 1 or len(node.out_shape) < 2 or self.axis_maps(node) is not None:
            return None
        return [(1, 1, 1, 0)] * len(node.spatial_out)

    # ---- worked formulas (netcalc explain) ----
    def explain(self, node: Node) -> dict[str, list[str]]:
        """The formulas behind output, params, macs and flops with this node's numbers, one
        list of text lines per metric. Subclasses override the metrics they can show in full;
        the default states the registry rule and the value."""
        out = {}
        if node.out_shape == node.in_shape:
            out["output"] = [f"same as the input: {list(node.out_shape)}"]
        else:
            out["output"] = [f"{list(node.in_shape)} → {list(node.out_shape)}"]
        params, macs, flops = self.count_params(node), self.count_macs(node), self.count_flops(node)
        out["params"] = [f"{self.params_rule} = {params}" if params else "0 (nothing learnable)"]
        out["macs"] = [f"{self.macs_rule} = {macs}" if macs else
                       "0 (MACs are counted for the conv family and linear only; the work is in FLOPs)"]
        out["flops"] = [f"{self.flops_rule} = {flops}" if self.flops_rule != "0" else f"0 = {flops}"]
        return out

    # ---- executor (weights in PyTorch names and layouts) ----
    def weight_shapes(self, node: Node) -> dict[str, tuple[int, ...]]:
        return {}

    def random_weights(self, node: Node, rng, positive: bool = False) -> dict:
        """Seeded random values for weight_shapes(), keyed like it (numpy `rng`).

        Default: weight N(0, 1/fan_in) so activations keep their scale, small biases.
        positive=True (the rf probe): weight in [0.5, 1.5]/fan_in and biases in [0.5, 1.5], so a
        positive input stays positive and O(1) and no gradient cancels. The biases are positive,
        not zero, so that an output no input reaches (a transposed conv's inserted zeros) is not
        exactly 0: a squeeze-excitation gate multiplied into it still gets gradient there, as the
        field the calculator gives (the gate's) says."""
        import numpy as np  # executor-only: analyze never pays for numpy

        shapes = self.weight_shapes(node)
        if not shapes:
            return {}
        w_shape = shapes["weight"]
        fan_in = prod(w_shape[1:])
        if positive:
            values = {"weight": rng.uniform(0.5, 1.5, w_shape) / fan_in}
        else:
            values = {"weight": rng.normal(0.0, 1.0 / fan_in ** 0.5, w_shape)}
        if "bias" in shapes:
            values["bias"] = rng.uniform(0.5, 1.5, shapes["bias"]) if positive else rng.normal(0, 0.1, shapes["bias"])
        return values

    def workspace_bytes(self, node: Node, batch: int, itemsize: int, max_workspace: int) -> int:
        """Upper bound on the scratch memory forward needs besides its output (the executor's
        memory estimate): by default a couple of temporaries the size of the input or output."""
        return 2 * batch * itemsize * max(prod(node.in_shape), prod(node.out_shape))

    def forward(self, node: Node, inputs: list, weights: dict, ctx: "RunContext"):
        """(output, cache) for a batch: inputs are (N, *in_shape) arrays, weights maps the
        `weight_shapes` keys to arrays. Uses the geometry configure() resolved (node.extra,
        node.out_shape); never recomputes an output size."""
        raise NotImplementedError(f"the executor has no kernel for {self.name}")

    def backward(self, node: Node, inputs: list, output, grad_output, weights: dict, cache,
                 ctx: "RunContext"):
        """(gradients w.r.t. each input, {weight key: gradient}) of `forward`."""
        raise NotImplementedError(f"the executor has no backward for {self.name}")

    def __repr__(self) -> str:
        return f"<layer type {self.name}>"


@dataclass
class RunContext:
    """How the executor runs kernels. `probe` is the receptive-field probe mode (verify --rf):
    layers whose gradient reaches only part of their window (max pooling routes to one argmax,
    softmax over one channel has a zero gradient) use an averaging stand-in with the same
    geometry, so gradient support equals the set of inputs the layer reads."""

    max_workspace_bytes: int = DEFAULT_WORKSPACE_BYTES
    probe: bool = False
    weight_grads: bool = True  # False: backward may skip weight gradients (return {})
    caches: bool = True  # False: no backward will follow, forward may skip its cache
    overwrite_input: bool = False  # True: forward may reuse inputs[0]'s memory for its output


def register(cls_or_obj):
    """Add a layer type (class or instance) to the registry under its name and aliases."""
    obj = cls_or_obj() if isinstance(cls_or_obj, type) else cls_or_obj
    for key in (obj.name, *obj.aliases):
        if key in REGISTRY or key in ALIASES:
            raise RuntimeError(f"layer type {key!r} registered twice")
    REGISTRY[obj.name] = obj
    for alias in obj.aliases:
        ALIASES[alias] = obj.name
    return cls_or_obj


def lookup(type_name, loc: Loc | None = None) -> LayerType:
    from netcalc.layers import load_all

    load_all()
    if not isinstance(type_name, str):
        raise SpecError(f"a layer type must be a name, got {type_name!r}", loc)
    key = ALIASES.get(type_name, type_name)
    if key not in REGISTRY:
        raise SpecError(f"unknown layer type '{type_name}'"
                        f"{did_you_mean(type_name, [*REGISTRY, *ALIASES])}", loc)
    return REGISTRY[key]


def elements(shape) -> int:
    return prod(shape)


def dot(values) -> str:
    """[64, 112, 112] → '64·112·112' (a product written out for explain)."""
    return "·".join(str(v) for v in values) or "1"


def axis_names(ndim: int) -> tuple[str, ...]:
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(ndim, tuple(f"x{i}" for i in range(ndim)))
