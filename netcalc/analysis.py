"""Per-layer and total numbers for a resolved graph (contract §3–§5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING

from netcalc import rf
from netcalc.graph import Graph, build_graph
from netcalc.layers import Node
from netcalc.loading import load_network

if TYPE_CHECKING:
    from netcalc.memory import Setting

FLOAT32_BYTES = 4


@dataclass
class LayerRF:
    size: list[int | None]
    jump: list[Fraction]
    start: list[Fraction | None]
    fields: list  # the exact per-axis rf.Field, for explain and tests


@dataclass
class LayerResult:
    node: Node
    params: int
    buffers: int
    macs: int
    flops: int
    rf: LayerRF | None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def type(self) -> str:
        return self.node.kind.name

    @property
    def output(self) -> tuple[int, ...]:
        return self.node.out_shape

    @property
    def cpr(self) -> float | None:
        """The study notes' calculations-to-params ratio: MACs per parameter, per sample (a batch
        of B multiplies it by B); None without parameters."""
        return self.macs / self.params if self.params else None

    @property
    def family(self) -> str:
        """The layer kind the params/MACs summary groups by (conv, depthwise, linear, norm, …)."""
        return self.node.kind.family or self.node.kind.name

    @property
    def activation_bytes(self) -> int:
        out = 1
        for s in self.output:
            out *= s
        return out * FLOAT32_BYTES


@dataclass
class Analysis:
    graph: Graph
    layers: list[LayerResult]
    warnings: list[str] = field(default_factory=list)
    setting: "Setting | None" = None  # batch, dtype, optimizer of the memory figures (§9)
    _totals: dict = field(default_factory=dict, repr=False, compare=False)  # metric → sum, see total()

    @property
    def name(self) -> str:
        return self.graph.spec.name

    def total(self, metric: str) -> int:
        # summed once per metric: reports ask for the same totals several times
        if metric not in self._totals:
            self._totals[metric] = sum(getattr(layer, metric) for layer in self.layers)
        return self._totals[metric]

    @property
    def activation_bytes(self) -> int:
        """float32 bytes of every layer's output, for one sample (contract `limits.activations`)."""
        return sum(layer.activation_bytes for layer in self.layers)

    @property
    def final_rf(self) -> int | None:
        """The largest rf size of the last layer that still has spatial dims."""
        for layer in reversed(self.layers):
            if layer.rf is not None:
                sizes = [s for s in layer.rf.size if s is not None]
                return max(sizes) if sizes else None
        return None

    @property
    def batch(self) -> int:
        return self.memory.setting.batch

    @cached_property
    def memory(self):
        """netcalc.memory.Memory at `setting` (default: the spec's batch:/dtype:, else 1, float32)."""
        from netcalc import memory

        result, warnings = memory.compute(self, self.setting or spec_setting(self.graph.spec))
        self.warnings.extend(w for w in warnings if w not in self.warnings)
        return result

    def by_family(self) -> list[dict]:
        """Where the parameters and MACs sit, per layer kind, largest share of params first."""
        groups: dict[str, dict] = {}
        for layer in self.layers:
            if not (layer.params or layer.macs):
                continue
            g = groups.setdefault(layer.family, {"kind": layer.family, "layers": 0, "params": 0, "macs": 0})
            g["layers"] += 1
            g["params"] += layer.params
            g["macs"] += layer.macs
        params, macs = self.total("params"), self.total("macs")
        for g in groups.values():
            g["params_share"] = g["params"] / params if params else 0.0
            g["macs_share"] = g["macs"] / macs if macs else 0.0
        return sorted(groups.values(), key=lambda g: (-g["params"], -g["macs"], g["kind"]))

    def resolve_name(self, name) -> str | None:
        """The layer a user means by `name`: a layer's full dotted name, or an entry's name that
        stands for its last layer (a `separable` or block instance, a repeated entry, an entry
        left out by `if`); None when there is no such layer. The one place entry names are
        aliased (explain --layer, check --answers)."""
        names = {layer.name for layer in self.layers}
        if not isinstance(name, str) or name == "input":
            return None
        name = name if name in names else self.graph.spec.outputs.get(name, name)
        return name if name in names else None

    def layer(self, name: str) -> LayerResult:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


def spec_setting(spec, batch: int | None = None, dtype: str | None = None, optimizer: str | None = None):
    """The memory setting: the given values, else the spec's top-level batch:/dtype:/optimizer:,
    else batch 1, float32, adam."""
    from netcalc.memory import Setting
    from netcalc.precision import DEFAULT_DTYPE, DEFAULT_OPTIMIZER

    return Setting(batch or spec.batch or 1, dtype or spec.dtype or DEFAULT_DTYPE,
                   optimizer or spec.optimizer or DEFAULT_OPTIMIZER)


def analyze_graph(graph: Graph, setting=None) -> Analysis:
    fields = {"input": [rf.Field.identity() for _ in graph.input_shape[1:]] or None}
    results, warnings = [], []
    rf_of = {}  # (id of a Field list kept in `fields`, spatial size) → LayerRF
    for node in graph.nodes:
        kind = node.kind
        in_fields = [fields[name] for name in node.inputs]
        try:
            out_fields = kind.receptive_field(node, in_fields)
        except rf.MisalignedFields as exc:
            warnings.append(f"layer '{node.name}': receptive fields of its inputs advance by different "
                            f"strides ({exc}); rf is not reported from here on")
            out_fields = None
        if len(node.out_shape) < 2:
            out_fields = None
        fields[node.name] = out_fields
        # A pointwise layer passes its input's Field list on: it shares that layer's LayerRF too.
        key = (id(out_fields), node.spatial_out)
        if key not in rf_of:
            rf_of[key] = _layer_rf(out_fields, node.spatial_out)
        results.append(LayerResult(node, kind.count_params(node), kind.count_buffers(node),
                                   kind.count_macs(node), kind.count_flops(node), rf_of[key]))
    return Analysis(graph, results, warnings, setting)


def _layer_rf(fields, spatial_out) -> LayerRF | None:
    if fields is None:
        return None
    return LayerRF([f.size(n) for f, n in zip(fields, spatial_out)], [f.jump for f in fields],
                   [f.start() for f in fields], list(fields))


def analyze_file(path, batch: int | None = None, dtype: str | None = None,
                 optimizer: str | None = None) -> Analysis:
    """A spec or an ONNX model (netcalc.loading picks the reader); the memory figures at the given
    batch/dtype/optimizer, else the spec's own."""
    graph = build_graph(load_network(path))
    return analyze_graph(graph, spec_setting(graph.spec, batch, dtype, optimizer))
