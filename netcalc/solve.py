"""Inverse questions (netcalc solve, contract §10).

One layer: which (kernel, stride, padding, dilation[, output_padding]) within given ranges map
an input size N to an output size M along one axis. window.py's sliding-window arithmetic sieves
every candidate; each one that reaches M (and each nearest miss) is then built as a real
one-layer spec and resolved by its layer type's own registry entry (its shape rule and its
validity checks, e.g. PyTorch's "padding at most half the window" for pooling or
"output_padding < max(stride, dilation)" for transposed convs), so solve cannot disagree with
analyze.

A stack: the chains of up to N layers from a menu (e.g. 3×3 convs at stride 1 or 2) whose
receptive field and total stride reach given targets. The search composes each menu layer's
registry axis map with rf.through (pruning as soon as the field or the stride overshoots);
every hit is then analysed as a real spec, which gives the rf, params and MACs it is ranked by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from netcalc.errors import SpecError

SOLVE_LAYERS = ("conv", "maxpool", "avgpool", "conv_transpose")
MAX_COMBINATIONS = 200_000
MAX_STACK_LAYERS = 12
MAX_STACK_HITS = 20_000
_RANGE = re.compile(r"^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$")
_MENU = re.compile(r"^(conv|maxpool|avgpool)(\d+)(?:s(\d+))?(?:d(\d+))?(?:p(\d+))?$")


class BadQuestion(SpecError):
    """A question netcalc cannot answer as asked (exit 2, one line)."""


def parse_range(text: str | None, what: str, minimum: int = 0) -> range | None:
    """'1..7' → range(1, 8); '3' → range(3, 4); None stays None (the default applies)."""
    if text is None:
        return None
    match = _RANGE.match(str(text))
    if not match:
        raise BadQuestion(f"--{what} must be a number or a range like 1..7, got {text!r}")
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) is not None else lo
    if lo > hi:
        raise BadQuestion(f"--{what} range {text!r} is empty: {lo} > {hi}")
    if lo < minimum:
        raise BadQuestion(f"--{what} must be ≥ {minimum}, got {text!r}")
    return range(lo, hi + 1)


def _span(r: range) -> str:
    return f"{r.start}..{r.stop - 1}" if len(r) > 1 else str(r.start)


# ---- building candidate layers through the registry ----

def _flow(mapping: dict) -> str:
    return "{" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in mapping.items()) + "}"


def build_chain(input_shape, entries: list[tuple[str, dict]]):
    """Analyse a plain chain of (type, parameters) as a real spec; raises SpecError when it is
    invalid (as analyze would)."""
    from netcalc.analysis import analyze_graph
    from netcalc.graph import build_graph
    from netcalc.spec import load_spec_text

    lines = [f"input: [{', '.join(map(str, input_shape))}]", "layers:"]
    lines += [f"  - {kind}: {_flow(params)}" for kind, params in entries]
    return analyze_graph(build_graph(load_spec_text("\n".join(lines) + "\n", "<solve>")))


# ---- one layer ----

@dataclass
class LayerQuestion:
    layer: str
    n_in: int
    n_out: int
    kernel: range | None = None
    stride: range | None = None
    padding: range | None = None
    dilation: range | None = None
    output_padding: range | None = None
    ceil_mode: bool = False

    def validate(self) -> None:
        if self.layer not in SOLVE_LAYERS:
            raise BadQuestion(f"--layer must be one of {', '.join(SOLVE_LAYERS)}, got {self.layer!r}")
        if self.n_in < 1 or self.n_out < 1:
            raise BadQuestion(f"--in and --out must be ≥ 1, got {self.n_in} and {self.n_out}")
        if self.output_padding is not None and self.layer != "conv_transpose":
            raise BadQuestion(f"--output-padding applies to conv_transpose only, not {self.layer}")
        if self.ceil_mode and self.layer not in ("maxpool", "avgpool"):
            raise BadQuestion(f"--ceil-mode applies to maxpool and avgpool only, not {self.layer}")
        if self.layer == "avgpool" and self.dilation is not None and list(self.dilation) != [1]:
            raise BadQuestion("avgpool has no dilation (as in PyTorch): leave --dilation out")
        for what, r, low in (("kernel", self.kernel, 1), ("stride", self.stride, 1), ("dilation", self.dilation, 1)):
            if r is not None and r.start < low:
                raise BadQuestion(f"--{what} must be ≥ {low}, got {_span(r)}")
        count = self.combinations()
        if count > MAX_COMBINATIONS:
            raise BadQuestion(f"the ranges give at least {count:,} combinations to try; narrow them (at most "
                              f"{MAX_COMBINATIONS:,})")

    @property
    def kernels(self) -> range:
        return self.kernel or range(1, 12)

    @property
    def strides(self) -> range:
        return self.stride or range(1, 5)

    @property
    def dilations(self) -> range:
        return self.dilation or range(1, 2)

    def paddings(self, kernel: int) -> range:
        return self.padding if self.padding is not None else range(0, kernel)

    def output_paddings(self, stride: int, dilation: int) -> list[int | None]:
        if self.layer != "conv_transpose":
            return [None]
        return list(self.output_padding if self.output_padding is not None else range(0, max(stride, dilation)))

    def combinations(self) -> int:
        if len(self.kernels) * len(self.strides) * len(self.dilations) > MAX_COMBINATIONS:
            return len(self.kernels) * len(self.strides) * len(self.dilations)  # already too many
        paddings = sum(len(self.paddings(k)) for k in self.kernels)
        return paddings * sum(len(self.output_paddings(s, d)) for s in self.strides for d in self.dilations)

    def candidates(self):
        """Every (kernel, stride, padding, dilation, output_padding) in the ranges, simplest first:
        no dilation before dilation, then small kernels, strides and paddings."""
        for d in self.dilations:
            for k in self.kernels:
                for s in self.strides:
                    for p in self.paddings(k):
                        for op in self.output_paddings(s, d):
                            yield k, s, p, d, op


@dataclass
class Solution:
    kernel: int
    stride: int
    padding: int
    dilation: int
    output_padding: int | None
    ceil_mode: bool | None
    out: int
    formula: str

    def to_dict(self) -> dict:
        out = {"kernel": self.kernel, "stride": self.stride, "padding": self.padding, "dilation": self.dilation}
        if self.output_padding is not None:
            out["output_padding"] = self.output_padding
        if self.ceil_mode is not None:
            out["ceil_mode"] = self.ceil_mode
        return out

    def describe(self) -> str:
        extra = f", output_padding {self.output_padding}" if self.output_padding is not None else ""
        return f"kernel {self.kernel}, stride {self.stride}, padding {self.padding}, dilation {self.dilation}{extra}"


@dataclass
class LayerAnswer:
    question: LayerQuestion
    solutions: list[Solution]
    nearest: list[Solution] = field(default_factory=list)  # when there is no solution

    def to_dict(self) -> dict:
        q = self.question
        out = {"layer": q.layer, "in": q.n_in, "out": q.n_out,
               "solutions": [s.to_dict() for s in self.solutions]}
        if not self.solutions:
            out["nearest"] = [{"out": s.out, **s.to_dict()} for s in self.nearest]
        return out


def _layer_params(q: LayerQuestion, k, s, p, d, op) -> dict:
    params = {"kernel": k, "stride": s, "padding": p}
    if q.layer in ("conv", "conv_transpose"):
        params = {"out": 1, **params, "dilation": d}
        if op is not None:
            params["output_padding"] = op
    elif q.layer == "maxpool":
        params.update(dilation=d, ceil_mode=q.ceil_mode)
    else:
        params.update(ceil_mode=q.ceil_mode)
    return params


def _window_size(q: LayerQuestion, k, s, p, d, op) -> int | None:
    """The output size by window.py's arithmetic alone (the rule every windowed layer type calls);
    None when no window fits. A quick sieve: the registry still decides (see _resolve)."""
    from netcalc import window

    try:
        if q.layer == "conv_transpose":
            return window.transposed_output_size(q.n_in, k, s, d, (p, p), op)
        return window.sliding_output_size(q.n_in, k, s, d, (p, p), q.ceil_mode)
    except SpecError:
        return None


def _resolve(q: LayerQuestion, k, s, p, d, op) -> Solution | None:
    """The candidate as a real one-layer spec, resolved by its layer type's registry entry (shape
    rule and PyTorch's validity checks); None when that type rejects it."""
    try:
        layer = build_chain([1, q.n_in], [(q.layer, _layer_params(q, k, s, p, d, op))]).layers[0]
    except SpecError:
        return None
    formula = next(line for line in layer.node.kind.explain(layer.node)["output"] if line.startswith("L: "))
    return Solution(k, s, p, d, op, q.ceil_mode if "ceil_mode" in layer.node.params else None,
                    layer.output[1], formula[3:])


def solve_layer(q: LayerQuestion) -> LayerAnswer:
    """Every combination in the ranges that maps n_in to n_out, each once, simplest first; with
    none, the nearest output sizes reachable (below and above) with their simplest combination."""
    q.validate()
    solutions, below, above = [], [], []
    for order, candidate in enumerate(q.candidates()):
        size = _window_size(q, *candidate)
        if size is None:
            continue
        if size == q.n_out:
            solution = _resolve(q, *candidate)
            if solution is not None:
                solutions.append(solution)
        else:
            (below if size < q.n_out else above).append((abs(size - q.n_out), order, candidate))
    nearest = []
    if not solutions:
        for side in (below, above):  # the closest size first, then the simplest combination
            found = next((s for s in (_resolve(q, *c) for _, _, c in sorted(side)) if s is not None), None)
            nearest += [found] if found is not None else []
    return LayerAnswer(q, solutions, nearest)


def render_layer_text(answer: LayerAnswer) -> str:
    q = answer.question
    ranges = (f"kernel {_span(q.kernels)}, stride {_span(q.strides)}, "
              f"padding {_span(q.padding) if q.padding is not None else '0..kernel−1'}, "
              f"dilation {_span(q.dilations)}")
    if q.layer == "conv_transpose":
        ranges += (f", output_padding {_span(q.output_padding)}" if q.output_padding is not None
                   else ", output_padding 0..max(stride, dilation)−1")
    mode = " (ceil_mode)" if q.ceil_mode else ""
    if not answer.solutions:
        lines = [f"no {q.layer}{mode} maps {q.n_in} to {q.n_out} with {ranges}."]
        if answer.nearest:
            lines.append("nearest reachable output sizes:")
            lines += [f"  {s.out}: {s.describe()}: {s.formula}" for s in answer.nearest]
        else:
            lines.append("no combination in these ranges gives a valid layer at this input size.")
        return "\n".join(lines) + "\n"
    count = len(answer.solutions)
    lines = [f"{count} way{'s' if count != 1 else ''} for a {q.layer}{mode} to map {q.n_in} to {q.n_out} "
             f"({ranges}), simplest first:"]
    lines += [f"  {s.describe()}: {s.formula}" for s in answer.solutions]
    return "\n".join(lines) + "\n"


# ---- a stack of layers ----

@dataclass(frozen=True)
class MenuItem:
    """A menu entry such as conv3 (3×3, stride 1), conv3s2, conv3d2, maxpool2 (stride = kernel),
    maxpool3s2p1. Convs default to padding d·(k − 1)/2 (rounded down), pooling to 0."""

    text: str
    type: str
    kernel: int
    stride: int
    dilation: int
    padding: int

    @staticmethod
    def parse(text: str) -> "MenuItem":
        match = _MENU.match(text.strip())
        if not match:
            raise BadQuestion(f"menu item {text!r} is not understood: write conv<k>[s<stride>][d<dilation>][p<pad>] "
                              f"or maxpool<k>/avgpool<k>[s<stride>][p<pad>], e.g. conv3, conv3s2, maxpool2")
        kind, k, s, d, p = match.groups()
        k = int(k)
        if kind == "avgpool" and d is not None:
            raise BadQuestion(f"menu item {text!r}: avgpool has no dilation")
        stride = int(s) if s is not None else (1 if kind == "conv" else k)
        dilation = int(d) if d is not None else 1
        padding = int(p) if p is not None else (dilation * (k - 1) // 2 if kind == "conv" else 0)
        if k < 1 or stride < 1 or dilation < 1:
            raise BadQuestion(f"menu item {text!r}: kernel, stride and dilation must be ≥ 1")
        return MenuItem(text.strip(), kind, k, stride, dilation, padding)

    def params(self, width: int) -> dict:
        params = {"kernel": self.kernel, "stride": self.stride, "padding": self.padding}
        if self.type == "conv":
            return {"out": width, **params, "dilation": self.dilation}
        if self.type == "maxpool":
            params["dilation"] = self.dilation
        return params


@dataclass
class StackQuestion:
    rf: int
    stride: int | None
    menu: list[MenuItem]
    max_layers: int = 4
    size: int = 224
    channels: int = 3
    widths: list[int] = field(default_factory=lambda: [64])
    rank: str = "params"

    def validate(self) -> None:
        if self.rf < 1:
            raise BadQuestion(f"--rf must be ≥ 1, got {self.rf}")
        if self.stride is not None and self.stride < 1:
            raise BadQuestion(f"--total-stride must be ≥ 1, got {self.stride}")
        if not 1 <= self.max_layers <= MAX_STACK_LAYERS:
            raise BadQuestion(f"--max-layers must be between 1 and {MAX_STACK_LAYERS}, got {self.max_layers}")
        if self.size < 1 or self.channels < 1 or not self.widths or min(self.widths) < 1:
            raise BadQuestion("--in, --channels and --widths must be ≥ 1")
        if not self.menu:
            raise BadQuestion("--menu is empty")
        if self.rank not in ("params", "macs"):
            raise BadQuestion(f"--rank must be params or macs, got {self.rank!r}")

    def entries(self, chain: tuple[MenuItem, ...]) -> list[tuple[str, dict]]:
        """The chain as spec entries: the i-th conv gets widths[i] (the last width repeats)."""
        out, convs = [], 0
        for item in chain:
            out.append((item.type, item.params(self.widths[min(convs, len(self.widths) - 1)])))
            convs += item.type == "conv"
        return out


@dataclass
class Stack:
    chain: tuple[MenuItem, ...]
    rf: int
    stride: int
    params: int
    macs: int
    output: tuple[int, ...]
    entries: list[tuple[str, dict]]

    def to_dict(self) -> dict:
        return {"layers": [item.text for item in self.chain], "rf": self.rf, "total_stride": self.stride,
                "params": self.params, "macs": self.macs, "output": list(self.output),
                "spec": [{kind: params} for kind, params in self.entries]}


@dataclass
class StackAnswer:
    question: StackQuestion
    stacks: list[Stack]
    too_small: int = 0  # hits whose shapes do not fit the input size
    nearest: list[tuple[int, int]] = field(default_factory=list)  # (rf, total stride) reachable

    def to_dict(self, top: int | None = None) -> dict:
        out = {"rf": self.question.rf, "total_stride": self.question.stride, "rank": self.question.rank,
               "count": len(self.stacks), "solutions": [s.to_dict() for s in self.stacks[:top]]}
        if not self.stacks:
            out["nearest"] = [{"rf": r, "total_stride": s} for r, s in self.nearest]
        return out


def _menu_maps(q: StackQuestion) -> dict[MenuItem, object]:
    """Each menu item's window.AxisMap, from its own registry entry (resolved on a wide input)."""
    maps = {}
    for item in q.menu:
        try:
            layer = build_chain([1, 100_000], [(item.type, item.params(1))]).layers[0]
        except SpecError as exc:
            raise BadQuestion(f"menu item {item.text!r} is not a valid layer: {exc.message}") from None
        maps[item] = layer.node.kind.axis_maps(layer.node)[0]
    return maps


def solve_stack(q: StackQuestion) -> StackAnswer:
    from netcalc import rf

    q.validate()
    menu = list(dict.fromkeys(q.menu))
    maps = _menu_maps(q)
    hits: list[tuple[MenuItem, ...]] = []
    reached: set[tuple[int, int]] = set()

    def grow(chain, fld):
        for item in menu:
            new = rf.through(fld, maps[item])
            size, jump = new.size(1), new.jump
            reached.add((size, int(jump)))
            if size > q.rf or (q.stride is not None and q.stride % int(jump)):
                continue  # fields and strides only grow along a chain
            longer = chain + (item,)
            if size == q.rf and (q.stride is None or jump == q.stride):
                hits.append(longer)
                if len(hits) > MAX_STACK_HITS:
                    raise BadQuestion(f"more than {MAX_STACK_HITS:,} chains reach the target; "
                                      f"lower --max-layers or shorten --menu")
            if len(longer) < q.max_layers:
                grow(longer, new)

    grow((), rf.Field.identity())
    stacks, too_small = [], 0
    for chain in hits:
        entries = q.entries(chain)
        try:
            analysis = build_chain([q.channels, q.size, q.size], entries)
        except SpecError:
            too_small += 1
            continue
        last = analysis.layers[-1]
        stacks.append(Stack(chain, analysis.final_rf, int(last.rf.jump[0]), analysis.total("params"),
                            analysis.total("macs"), last.output, entries))
    stacks.sort(key=lambda s: (getattr(s, q.rank), s.macs if q.rank == "params" else s.params, len(s.chain),
                               [item.text for item in s.chain]))
    answer = StackAnswer(q, stacks, too_small)
    if not stacks:
        answer.nearest = _nearest_reached(reached, q)
    return answer


def _nearest_reached(reached: set[tuple[int, int]], q: StackQuestion) -> list[tuple[int, int]]:
    """At the target stride (else at the reachable strides nearest to it), the rf sizes just
    below and just above the target."""
    strides = sorted({s for _, s in reached})
    if not strides:
        return []
    if q.stride is not None and q.stride in strides:
        chosen = [q.stride]
    elif q.stride is not None:
        lower = [s for s in strides if s < q.stride]
        higher = [s for s in strides if s > q.stride]
        chosen = ([lower[-1]] if lower else []) + ([higher[0]] if higher else [])
    else:
        chosen = strides
    out = []
    for stride in chosen:
        sizes = sorted(r for r, s in reached if s == stride)
        below = [r for r in sizes if r <= q.rf]
        above = [r for r in sizes if r > q.rf]
        out += [(r, stride) for r in ([below[-1]] if below else []) + ([above[0]] if above else [])]
    return sorted(set(out), key=lambda p: (p[1], p[0]))


def render_stack_text(answer: StackAnswer, top: int) -> str:
    q = answer.question
    target = f"rf {q.rf}" + (f" at total stride {q.stride}" if q.stride is not None else "")
    menu = ", ".join(item.text for item in q.menu)
    if not answer.stacks:
        lines = [f"no chain of at most {q.max_layers} layers from [{menu}] reaches {target}"
                 + (f" ({answer.too_small} would, but do not fit a {q.size}×{q.size} input)" if answer.too_small
                    else "") + "."]
        if answer.nearest:
            lines.append("nearest reachable: " + "; ".join(f"rf {r} at total stride {s}" for r, s in answer.nearest))
        return "\n".join(lines) + "\n"
    widths = ",".join(map(str, q.widths))
    lines = [f"{len(answer.stacks)} chain{'s' if len(answer.stacks) != 1 else ''} of at most {q.max_layers} layers "
             f"from [{menu}] reach {target}; ranked by {q.rank} for input [{q.channels}, {q.size}, {q.size}], "
             f"conv widths {widths}:"]
    shown = answer.stacks[:top]
    for rank, s in enumerate(shown, 1):
        lines.append(f"  {rank:>2}. {' → '.join(item.text for item in s.chain)}: params {s.params:,}, "
                     f"MACs {s.macs:,}, output {list(s.output)}")
    if len(answer.stacks) > len(shown):
        lines.append(f"  … and {len(answer.stacks) - len(shown)} more (--top to show them)")
    return "\n".join(lines) + "\n"


# ---- questions from the command line's text options ----

def parse_int(text: str | None, what: str, minimum: int = 1, default: int | None = None) -> int | None:
    if text is None:
        return default
    value = str(text).strip()
    if not value.isdigit() or int(value) < minimum:
        raise BadQuestion(f"--{what} must be a whole number ≥ {minimum}, got {text!r}")
    return int(value)


def layer_question(layer, n_in, n_out, kernel, stride, padding, dilation, output_padding, ceil_mode,
                   rf_size=None, total_stride=None) -> LayerQuestion:
    if rf_size is not None or total_stride is not None:
        raise BadQuestion("ask either one layer (--layer, --in, --out) or a stack (--rf, --total-stride), not both")
    if n_in is None or n_out is None:
        raise BadQuestion(f"--layer {layer} needs --in N and --out M")
    return LayerQuestion(layer, parse_int(n_in, "in"), parse_int(n_out, "out"),
                         parse_range(kernel, "kernel", 1), parse_range(stride, "stride", 1),
                         parse_range(padding, "padding", 0), parse_range(dilation, "dilation", 1),
                         parse_range(output_padding, "output-padding", 0), bool(ceil_mode))


def stack_question(rf_size, total_stride, menu, max_layers, size, channels, widths, rank, top,
                   n_out=None) -> tuple[StackQuestion, int]:
    """(the question, how many chains to show)."""
    if rf_size is None:
        raise BadQuestion("ask a one-layer question (--layer TYPE --in N --out M) or a stack question (--rf R)")
    if n_out is not None:
        raise BadQuestion("--out belongs to one-layer questions (--layer); a stack question takes --rf and "
                          "--total-stride")
    width_list = [parse_int(w, "widths") for w in str(widths).split(",")] if str(widths).strip() else []
    items = [MenuItem.parse(text) for text in str(menu).split(",") if text.strip()]
    question = StackQuestion(parse_int(rf_size, "rf"), parse_int(total_stride, "total-stride"), items,
                             parse_int(max_layers, "max-layers"), parse_int(size, "in", default=224),
                             parse_int(channels, "channels"), width_list, rank)
    return question, parse_int(top, "top")
