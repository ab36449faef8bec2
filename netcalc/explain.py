"""Worked answers (netcalc explain): for each layer, the formula behind every number with the
real numbers substituted, and the receptive field derived top-down as the seed notes teach,
shown beside the exact bottom-up values from the analysis.

The per-type formulas live in each registry entry (`LayerType.explain`); this module only
walks the network, adds the receptive-field derivation and renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from netcalc.analysis import Analysis, LayerResult
from netcalc.layers.base import axis_names
from netcalc.report import fraction_text

METRICS = ("output", "params", "macs", "flops")
TITLES = {"output": "output shape", "params": "params", "macs": "MACs", "flops": "FLOPs", "rf": "receptive field",
          "memory": "memory"}


@dataclass
class TopDownStep:
    layer: str
    kernel: int
    stride: int
    dilation: int
    before: int  # RF at this layer's output
    after: int  # RF at this layer's input

    def text(self) -> str:
        if (self.kernel, self.stride, self.dilation) == (1, 1, 1):
            return f"{self.layer}: pointwise, RF stays {self.after}"
        return (f"{self.layer}: ({self.before} − 1)·{self.stride} + {self.dilation}·({self.kernel} − 1) + 1"
                f" = {self.after}")


def top_down(analysis: Analysis, name: str) -> tuple[list[list[TopDownStep]] | None, str]:
    """The seed notes' recursion RF_(l−1) = (RF_l − 1)·stride + dilation·(kernel − 1) + 1, from
    layer `name` down to the input, per spatial axis. Returns (steps per axis, '') or
    (None, why) when the path to the input is not a plain chain of sliding windows."""
    graph = analysis.graph
    nodes = graph.by_name
    chain = []
    current = name
    while current != "input":
        node = nodes[current]
        geometry = node.kind.sliding_geometry(node)
        if geometry is None:
            return None, (f"top-down recursion applies to plain conv/pool chains only; '{node.name}' "
                          f"({node.kind.name}) is not one")
        chain.append((node, geometry))
        current = node.inputs[0]
    ndim = len(graph.input_shape) - 1
    per_axis = []
    for axis in range(ndim):
        rf_size, steps = 1, []
        for node, geometry in chain:  # from the layer down to the input
            k, s, d, _ = geometry[axis]
            new = (rf_size - 1) * s + d * (k - 1) + 1
            steps.append(TopDownStep(node.name, k, s, d, rf_size, new))
            rf_size = new
        per_axis.append(steps)
    return per_axis, ""


@dataclass
class ClassicStep:
    """One layer of the classic bottom-up arithmetic (contract §5), exact on conv/pool chains."""

    layer: str
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    size: int  # after this layer
    jump: int
    start: Fraction

    def text(self, prev: "ClassicStep | None") -> str:
        size0, jump0, start0 = (1, 1, Fraction(0)) if prev is None else (prev.size, prev.jump, prev.start)
        k, s, d, p = self.kernel, self.stride, self.dilation, self.pad_before
        return (f"{self.layer}: size {size0} + {d}·({k} − 1)·{jump0} = {self.size}, jump {jump0}·{s} = {self.jump}, "
                f"start {fraction_text(start0)} + ({d}·({k} − 1)/2 − {p})·{jump0} = {fraction_text(self.start)}")


def classic(analysis: Analysis, name: str) -> list[list[ClassicStep]] | None:
    """Bottom-up from the input along the chain ending at `name`: size += d·(k − 1)·jump,
    jump ·= stride, start += (d·(k − 1)/2 − pad_before)·jump. None off plain chains."""
    nodes = analysis.graph.by_name
    chain, current = [], name
    while current != "input":
        node = nodes[current]
        geometry = node.kind.sliding_geometry(node)
        if geometry is None:
            return None
        chain.append((node, geometry))
        current = node.inputs[0]
    chain.reverse()
    per_axis = []
    for axis in range(len(analysis.graph.input_shape) - 1):
        size, jump, start, steps = 1, 1, Fraction(0), []
        for node, geometry in chain:
            k, s, d, p = geometry[axis]
            size, start = size + d * (k - 1) * jump, start + (Fraction(d * (k - 1), 2) - p) * jump
            jump *= s
            steps.append(ClassicStep(node.name, k, s, d, p, size, jump, start))
        per_axis.append(steps)
    return per_axis


def top_down_sizes(analysis: Analysis, name: str) -> list[int] | None:
    steps, _ = top_down(analysis, name)
    if steps is None:
        return None
    return [axis[-1].after if axis else 1 for axis in steps]


def rf_lines(analysis: Analysis, layer: LayerResult) -> list[str]:
    if layer.rf is None:
        return ["none: the tensor is flat here (no spatial dims)"]
    names = axis_names(len(layer.rf.size))
    lines = []
    steps, why = top_down(analysis, layer.name)
    if steps is None:
        lines.append(why + "; the exact bottom-up values:")
    else:
        lines.append("top-down, RF_(l−1) = (RF_l − 1)·stride + dilation·(kernel − 1) + 1, from RF = 1 here "
                     "down to the input (padding does not change the size):")
        chains = classic(analysis, layer.name)
        same = all([(c.kernel, c.stride, c.dilation, c.pad_before) for c in a] ==
                   [(c.kernel, c.stride, c.dilation, c.pad_before) for c in chains[0]] for a in chains)
        for axis, axis_steps in zip(names, steps[:1] if same else steps):
            label = "every axis" if same and len(names) > 1 else axis
            shown = [s for s in axis_steps if (s.kernel, s.stride, s.dilation) != (1, 1, 1)]
            lines.append(f"  {label}: " + ("; ".join(s.text() for s in shown) if shown else "pointwise only")
                         + f" → RF = {axis_steps[-1].after if axis_steps else 1}")
        lines.append("bottom-up, the classic arithmetic from size 1, jump 1, start 0 at the input "
                     "(padding moves the start, never the size):")
        chains = classic(analysis, layer.name)
        for axis, axis_steps in zip(names, chains[:1] if same else chains):
            label = "every axis" if same and len(names) > 1 else axis
            shown, prev = [], None
            for step in axis_steps:
                if (step.kernel, step.stride, step.dilation, step.pad_before) != (1, 1, 1, 0):
                    shown.append(step.text(prev))
                prev = step
            lines.append(f"  {label}: " + ("; ".join(shown) if shown else "pointwise only"))
    rf = layer.rf
    lines.append("bottom-up: size " + " × ".join(fraction_text(s) for s in rf.size)
                 + ", jump " + " × ".join(fraction_text(j) for j in rf.jump)
                 + ", start " + " × ".join(fraction_text(s) for s in rf.start)
                 + " (exact; start is the centre of output 0's field)")
    return lines


@dataclass
class LayerExplanation:
    name: str
    type: str
    sections: dict[str, list[str]] = field(default_factory=dict)


def memory_lines(analysis: Analysis, layer: LayerResult) -> list[str]:
    """The layer's memory arithmetic (contract §9) at the analysis' batch and dtype: its output,
    what it keeps for backward in training (from its registry declaration), its weights' share."""
    from netcalc.memory import OPTIMIZER_COPIES
    from netcalc.saved import describe

    memory = analysis.memory
    s = memory.setting
    elements = 1
    for n in layer.output:
        elements *= n
    lines = [f"output: {s.batch}·{elements} elements · {s.itemsize} B ({s.dtype}) = {s.batch * elements * s.itemsize:,} B"]
    kept = memory.training.layer(layer.name)
    node = layer.node
    rule = node.kind.saved_rule or describe(node.kind.saved_for_backward(node))
    train = "16-bit activations, mixed precision" if s.mixed else "float32 activations"
    if not kept.recorded:
        lines.append(f"keeps for backward ({rule}): nothing here — no parameters of its own and none before "
                     f"it, so no gradient flows through it")
    elif not kept.tensors:
        lines.append(f"keeps for backward: {rule}")
    else:
        lines.append(f"keeps for backward in training ({train}):")
        for t in kept.tensors:
            shared = kept.shared_with.get(t.key)
            lines.append(f"  {t.text}" + (f" — already kept by '{shared}', counted there" if shared else ""))
        lines.append(f"  new here: {kept.new_bytes:,} B")
    if layer.params:
        p, copies = layer.params, OPTIMIZER_COPIES[s.optimizer]
        lines.append(f"training weights: {p} params · 4 B = {4 * p:,} B, gradients {4 * p:,} B, "
                     f"{s.optimizer} state {copies}·{4 * p:,} = {copies * 4 * p:,} B"
                     + (f", 16-bit copy {2 * p:,} B" if s.mixed else ""))
    return lines


def explain_layer(analysis: Analysis, layer: LayerResult) -> LayerExplanation:
    node = layer.node
    sections = dict(node.kind.explain(node))
    sections["rf"] = rf_lines(analysis, layer)
    sections["memory"] = memory_lines(analysis, layer)
    return LayerExplanation(layer.name, layer.type,
                            {k: sections[k] for k in (*METRICS, "rf", "memory") if k in sections})


def explain(analysis: Analysis, layer_name: str | None = None) -> list[LayerExplanation]:
    layers = analysis.layers if layer_name is None else [analysis.layer(layer_name)]
    return [explain_layer(analysis, layer) for layer in layers]


def render_plain(explanations: list[LayerExplanation], analysis: Analysis) -> str:
    lines = [f"{analysis.name}: input {list(analysis.graph.input_shape)}", ""]
    for ex in explanations:
        layer = analysis.layer(ex.name)
        lines.append(f"{ex.name} ({ex.type}) → {list(layer.output)}")
        for key, body in ex.sections.items():
            lines.append(f"  {TITLES[key]}:")
            lines.extend(f"    {line}" for line in body)
        lines.append("")
    return "\n".join(lines)


def render_rich(explanations: list[LayerExplanation], analysis: Analysis, console) -> None:
    from rich.markup import escape

    console.print(f"[bold]{escape(analysis.name)}[/bold]: input {list(analysis.graph.input_shape)}")
    for ex in explanations:
        layer = analysis.layer(ex.name)
        console.rule(f"[bold cyan]{escape(ex.name)}[/] ({ex.type}) → {list(layer.output)}", align="left")
        for key, body in ex.sections.items():
            console.print(f"  [bold]{TITLES[key]}[/bold]")
            for line in body:
                console.print(f"    {escape(line)}", soft_wrap=True)
