"""The layer registry: one `LayerType` object per layer type holds everything about it —
parameters, geometry, shape rule, counts (as netcalc.formula objects: rule text, worked lines and
value from one definition), receptive-field rule, how `verify --rf` probes it, and (for the
executor) its forward and backward kernels and weight initialisation.

Subclasses override only what differs from these defaults: one input, no parameters, no geometry,
output shape equal to the input shape, zero params/MACs/FLOPs, pointwise receptive field, probed
as itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from netcalc import formula, rf
from netcalc.errors import Loc, SpecError, did_you_mean
from netcalc.formula import Metric, dot  # noqa: F401  (dot: re-exported for layer modules)
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
    geometry: "Geometry | None" = None  # what configure() resolved (frozen), set once by the graph

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


@dataclass(frozen=True)
class Geometry:
    """What `configure()` resolves from the parameters and input shapes, once, before the shape,
    rf, count and kernel code run. Layer types with windows, channels or bins subclass it (see
    window.Window); a type with nothing to resolve gets this empty one."""


NO_GEOMETRY = Geometry()


class LayerType:
    name: str = ""
    aliases: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    summary: str = ""
    min_inputs = 1
    max_inputs = 1
    needs_spatial = False  # the input must have spatial dims ([C, L], [C, H, W], …)
    needs_flat = False  # the input must be a flat vector [F]
    # ---- counts (contract §4), each stated once as a formula.Metric ----
    params_count: Metric = formula.NO_PARAMS
    buffers_count: Metric = formula.NO_BUFFERS
    macs_count: Metric = formula.NO_MACS_METRIC
    flops_count: Metric = formula.NO_FLOPS
    # ---- how `verify --rf` probes this type (rfprobe.py) ----
    # probe: None = run the type's own kernels; else an op (forward/backward like a LayerType's)
    # run in its place, with the same geometry, so that every input the layer reads gets a
    # positive gradient (max → average over the same window; saturating activations → identity)
    probe = None
    # True when the field covers the whole input whatever its size (global/adaptive bins):
    # growing the probe input cannot unclip it, so it sets no margin
    field_spans_input = False
    # channel_blind: the probe op's backward treats every channel alike and reads its inputs only
    # for their shapes and positive values, with no forward cache (pooling, resampling, add, mul):
    # the support probe then runs it on one channel standing for all (see `support`)
    channel_blind = False

    def support(self, node: Node, dy, ctx: "RunContext") -> list:
        """Where the gradient reaches (`verify --rf`'s support probe, rfprobe.support_reach):
        dy is a boolean (N, c, *spatial_out), c = C_out or 1 (one channel standing for every
        channel alike); returns per input an (N, 1 or C_in, *spatial_in) array (boolean, or any
        dtype whose nonzeros are the support) that the caller must not write into. Default: the
        probe op's (or the type's own) float32 executor backward —
        on one channel when `channel_blind`, else at full channels after a forward on a positive
        random input (right for any type with kernels; types with a cheaper exact rule override
        this: pointwise types pass dy through, convs use a one-channel kernel of ones)."""
        return probe_backward(self.probe or self, node, dy, ctx, one_channel=self.channel_blind and dy.shape[1] == 1)

    # ---- spec ----
    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def configure(self, node: Node) -> Geometry:
        """Cross-parameter checks; returns the frozen geometry every later step receives as
        node.geometry."""
        return NO_GEOMETRY

    # ---- shape and counts (contract §4) ----
    def output_shape(self, node: Node) -> tuple[int, ...]:
        return node.in_shape

    def count_params(self, node: Node) -> int:
        return self.params_count.value(node)

    def count_buffers(self, node: Node) -> int:
        return self.buffers_count.value(node)

    def count_macs(self, node: Node) -> int:
        return self.macs_count.value(node)

    def count_flops(self, node: Node) -> int:
        return self.flops_count.value(node)

    @property
    def params_rule(self) -> str:
        text = self.params_count.rule()
        if not self.buffers_count.is_zero:
            text += f"; buffers {self.buffers_count.rule()}"
        return text

    @property
    def macs_rule(self) -> str:
        return self.macs_count.rule()

    @property
    def flops_rule(self) -> str:
        return self.flops_count.rule()

    # ---- receptive field (contract §5) ----
    def axis_maps(self, node: Node):
        """Per spatial axis, the window.AxisMap this layer reads through; None = pointwise."""
        return None

    def receptive_field(self, node: Node, in_fields: list):
        """Per-axis rf.Field list of the output, or None once the tensor is flat."""
        if len(node.out_shape) < 2 or in_fields[0] is None:
            return None
        maps = self.axis_maps(node)
        if maps is None:
            return in_fields[0]
        return rf.per_axis(rf.through, zip(in_fields[0], maps))

    def sliding_geometry(self, node: Node):
        """Per-axis (kernel, stride, dilation, pad_before) when this layer reads its one input
        through a plain sliding window (pointwise layers: (1, 1, 1, 0)); None otherwise (transposed
        conv, upsampling, adaptive bins, merges). The seed notes' top-down recursion and the
        classic rf arithmetic apply only through these."""
        if self.max_inputs != 1 or len(node.out_shape) < 2 or self.axis_maps(node) is not None:
            return None
        return [(1, 1, 1, 0)] * len(node.spatial_out)

    # ---- worked formulas (netcalc explain) ----
    def explain_output(self, node: Node) -> list[str]:
        """The output-shape lines of `netcalc explain`."""
        if node.out_shape == node.in_shape:
            return [f"same as the input: {list(node.out_shape)}"]
        return [f"{list(node.in_shape)} → {list(node.out_shape)}"]

    def explain(self, node: Node) -> dict[str, list[str]]:
        """The formulas behind output, params, macs and flops with this node's numbers, one
        list of text lines per metric, rendered from the same Metric objects the counts use."""
        params = self.params_count.explain(node)
        if not self.buffers_count.is_zero:
            params = params + [f"buffers: {line}" for line in self.buffers_count.explain(node)]
        return {"output": self.explain_output(node), "params": params,
                "macs": self.macs_count.explain(node), "flops": self.flops_count.explain(node)}

    # ---- training memory (contract §9; the vocabulary is netcalc.saved) ----
    saved = None  # what autograd keeps for this type's backward, e.g. (INPUT,); None: undeclared
    saved_rule = ""  # README wording, for types whose saved_for_backward depends on parameters
    family = ""  # its kind in the params/MACs summary (conv, linear, norm, …); "": the type's name

    def saved_for_backward(self, node: Node):
        """The tensors this node keeps for backward in training (netcalc.saved items)."""
        return self.saved

    # ---- executor (weights in PyTorch names and layouts) ----
    def weight_shapes(self, node: Node) -> dict[str, tuple[int, ...]]:
        return {}

    def accepts_weight_shape(self, key: str, got: tuple[int, ...], shape: tuple[int, ...]) -> bool:
        """Whether `run` may take weight `key` with shape `got` instead of weight_shapes()'s `shape`
        (it is then reshaped to `shape`). Default: that exact shape only."""
        return False

    def random_weights(self, node: Node, rng, positive: bool = False, dtype=None) -> dict:
        """Seeded random values for weight_shapes(), keyed like it (numpy `rng`); `dtype` (None:
        float64) only saves memory: the values are drawn in float64 and rounded either way.

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
            values = {"weight": _drawn(w_shape, dtype, lambda n: rng.uniform(0.5, 1.5, n) / fan_in)}
        else:
            values = {"weight": _drawn(w_shape, dtype, lambda n: rng.normal(0.0, 1.0 / fan_in ** 0.5, n))}
        if "bias" in shapes:
            values["bias"] = rng.uniform(0.5, 1.5, shapes["bias"]) if positive else rng.normal(0, 0.1, shapes["bias"])
        return values

    def workspace_bytes(self, node: Node, batch: int, itemsize: int, max_workspace: int) -> int:
        """Upper bound on the scratch memory forward needs besides its output (the executor's
        memory estimate): by default a couple of temporaries the size of the input or output."""
        return 2 * batch * itemsize * max(prod(node.in_shape), prod(node.out_shape))

    def forward(self, node: Node, inputs: list, weights: dict, ctx: "RunContext"):
        """(output, cache) for a batch: inputs are (N, *in_shape) arrays, weights maps the
        `weight_shapes` keys to arrays. Uses the geometry configure() resolved (node.geometry,
        node.out_shape); never recomputes an output size."""
        raise NotImplementedError(f"the executor has no kernel for {self.name}")

    def backward(self, node: Node, inputs: list, output, grad_output, weights: dict, cache,
                 ctx: "RunContext"):
        """(gradients w.r.t. each input, {weight key: gradient}) of `forward`."""
        raise NotImplementedError(f"the executor has no backward for {self.name}")

    def __repr__(self) -> str:
        return f"<layer type {self.name}>"


class Windowed(LayerType):
    """A type that reads its one input through a sliding window: configure() returns a
    window.Window (or a subclass); shape, rf maps, the classic rf arithmetic and the explain lines
    all come from it. Subclasses say what the output channels are and how to label them."""

    needs_spatial = True
    channel_label = "C_out"

    def out_channels(self, node: Node) -> int:
        return node.in_shape[0]

    def output_shape(self, node: Node):
        return (self.out_channels(node), *node.geometry.out)

    def axis_maps(self, node: Node):
        return node.geometry.axis_maps()

    def sliding_geometry(self, node: Node):
        return node.geometry.sliding()

    def explain_output(self, node: Node) -> list[str]:
        g = node.geometry
        suffix = "" if self.channel_label == "C_out" else " (unchanged)"
        return ([f"{self.channel_label} = {self.out_channels(node)}{suffix}"]
                + g.output_lines(node.spatial_in, axis_names(len(g.kernel))))


class PassThrough:
    """A probe stand-in that passes values and gradients through unchanged (activations: a
    pointwise layer cannot change a field, but saturation could zero a gradient)."""

    def forward(self, node, inputs, weights, ctx):
        return inputs[0].copy(), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [grad_output.copy()], {}


PASS_THROUGH = PassThrough()


def _drawn(shape, dtype, draw, chunk: int = 2 ** 20):
    """An array of `shape` filled by draw(n) (n float64 values from a numpy Generator) a chunk at
    a time, stored as `dtype`: the same values as one draw of the whole shape (a Generator's
    stream does not depend on how it is split), without its float64 copy (VGG-16's first linear
    layer: 822 MB)."""
    import numpy as np  # executor-only

    out = np.empty(shape, np.float64 if dtype is None else dtype)
    flat = out.reshape(-1)
    for start in range(0, flat.size, chunk):
        flat[start:start + chunk] = draw(min(chunk, flat.size - start))
    return out


def pointwise_support(self, node: Node, dy, ctx: "RunContext") -> list:
    """`LayerType.support` of a type that reads each element at its own position and channel with
    a nonzero derivative in probe mode (activations pass through, per-channel scales are positive,
    normalisation statistics are frozen): the input gradient's support is dy's."""
    return [dy]


def probe_backward(op, node: Node, dy, ctx: "RunContext", one_channel: bool) -> list:
    """The input gradients of `op` (a layer type or its probe stand-in) for a support-probe dy.

    one_channel: every tensor gets dy's single channel and positive constant values (views, no
    memory), and no forward runs. Else the op runs forward at full channels on a positive random
    input with positive weights (as the float probe does), and dy is spread over every channel."""
    import numpy as np  # executor-only

    n = dy.shape[0]
    dy = dy.astype(np.float32)  # the support probe's booleans as the executor's 0/1 floats
    if one_channel:
        one = np.ones((), dy.dtype)
        inputs = [np.broadcast_to(one, (n, 1, *shape[1:])) for shape in node.in_shapes]
        output, cache, weights = np.broadcast_to(one, dy.shape), None, {}
    else:
        rng = np.random.default_rng(0)
        inputs = [rng.uniform(0.5, 1.5, (n, *shape)).astype(dy.dtype) for shape in node.in_shapes]
        weights = {k: np.asarray(v, dy.dtype) for k, v in node.kind.random_weights(node, rng, True).items()}
        output, cache = op.forward(node, inputs, weights, ctx)
        dy = np.ascontiguousarray(np.broadcast_to(dy, output.shape))
    return op.backward(node, inputs, output, dy, weights, cache, ctx)[0]


@dataclass
class RunContext:
    """How the executor runs kernels (created by the executor, which gives the workspace budget
    from kernels.DEFAULT_MAX_WORKSPACE_BYTES unless told otherwise)."""

    max_workspace_bytes: int
    weight_grads: bool = True  # False: backward may skip weight gradients (return {})
    caches: bool = True  # False: no backward will follow, forward may skip its cache
    overwrite_input: bool = False  # True: forward may reuse inputs[0]'s memory for its output


def weight_grads(dw, db) -> dict:
    """{"weight": dw, "bias": db}, without the bias when there is none."""
    return {"weight": dw} if db is None else {"weight": dw, "bias": db}


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
    if _everything_registered and isinstance(type_name, str) and type_name in REGISTRY:  # the usual case first
        return REGISTRY[type_name]
    _register_everything()
    if not isinstance(type_name, str):
        raise SpecError(f"a layer type must be a name, got {type_name!r}", loc)
    key = ALIASES.get(type_name, type_name)
    if key not in REGISTRY:
        raise SpecError(f"unknown layer type '{type_name}'"
                        f"{did_you_mean(type_name, [*REGISTRY, *ALIASES])}", loc)
    return REGISTRY[key]


_everything_registered = False


def _register_everything() -> None:
    """Import every layer module (each registers its types) once, before the first lookup."""
    global _everything_registered
    if not _everything_registered:
        from netcalc.layers import load_all

        load_all()
        _everything_registered = True


def axis_names(ndim: int) -> tuple[str, ...]:
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(ndim, tuple(f"x{i}" for i in range(ndim)))
