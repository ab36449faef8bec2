"""The network as a picture (netcalc draw): Graphviz DOT, Mermaid, and SVG/PNG laid out by
Graphviz's own `dot` program (netcalc never lays out a graph itself).

One node per layer (name, type, output shape; params and MACs with `counts`), plus the network
input, and one edge per entry of each layer's `from`. Block instances, the copies of a `repeat`
entry and composite layers (`separable`) are drawn as clusters, nested as the spec nests them.
`collapse` folds every outermost block instance and composite into one node (ResNet-50 becomes
its stem, 16 bottlenecks and head), and a repeat of plain layers into one node; a repeat of
blocks stays a cluster around its folded copies. Edges between folded nodes are drawn once.

Where the groups come from: the spec builder records them (`Spec.groups`). A graph without that
record (a model read from another format) falls back on dotted names: every dotted prefix
(`layer1`, `layer1.0`) is a cluster, a repeat when all its children are numbered.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from netcalc.analysis import Analysis, LayerResult
from netcalc.errors import SpecError

FORMATS = ("dot", "mmd", "svg", "png")
INPUT_ID = "n0"

# Fill colours by what a layer does, read from its numbers and registry traits (not its name).
CATEGORY_COLOURS = {
    "input": ("#ffffff", "#444444"),
    "compute": ("#cfe2ff", "#3d5a8a"),   # has MACs: the conv family, linear
    "merge": ("#ffe1b0", "#a06a10"),     # several inputs: add, mul, concat
    "resample": ("#d4f0d4", "#3d7a3d"),  # changes the spatial size: pooling, upsampling, …
    "weights": ("#eadcff", "#6a4a9a"),   # learnable without MACs: batchnorm, …
    "pointwise": ("#eeeeee", "#777777"),  # activations, dropout, flatten, …
    "group": ("#fff6cc", "#8a7a20"),     # a folded block, repeat or composite
}


@dataclass
class Cluster:
    key: tuple                 # (kind, name or first layer index): identifies the group
    kind: str                  # "block" | "repeat" | "composite"
    name: str | None
    type_name: str
    count: int
    children: list = field(default_factory=list)  # layer indices (int) and Clusters, in order
    parent: "Cluster | None" = None

    @property
    def title(self) -> str:
        if self.kind == "repeat":
            return f"{self.name or self.type_name} ×{self.count}"
        return self.name

    @property
    def subtitle(self) -> str:
        if self.kind == "repeat":
            return f"{self.count} × {self.type_name}"
        return self.type_name or f"{len(self.layers())} layers"  # a group known by its names only

    def layers(self) -> list[int]:
        out = []
        for child in self.children:
            out.extend(child.layers() if isinstance(child, Cluster) else [child])
        return out

    def foldable(self) -> bool:
        """Folds into one node with collapse: a block instance or composite, or a repeat of plain
        layers (a repeat of blocks stays a cluster around its folded copies)."""
        if self.kind != "repeat":
            return True
        return not any(isinstance(child, Cluster) for child in self.children)


@dataclass
class DiagramNode:
    id: str
    lines: list[str]
    category: str
    members: list[int]  # layer indices (empty for the input)


@dataclass
class Diagram:
    """What is drawn: nodes, edges (by node id) and the cluster tree, format-independent."""

    name: str
    nodes: dict[str, DiagramNode]
    edges: list[tuple[str, str]]
    top: list  # node ids (str) and ClusterView, in order


@dataclass
class ClusterView:
    id: str
    label: str
    items: list  # node ids and ClusterViews


# ---------------------------------------------------------------------------
# Groups → cluster tree
# ---------------------------------------------------------------------------

def cluster_paths(analysis: Analysis) -> list[list[Cluster]]:
    """For each layer, the clusters holding it from the outermost in; the clusters are shared."""
    spec = analysis.graph.spec
    names = [layer.name for layer in analysis.layers]
    groups = getattr(spec, "groups", None)
    if groups and len(spec.layers) == len(names):
        return _paths_from_groups(groups, len(names))
    return _paths_from_names(names)


def _paths_from_groups(groups, count: int) -> list[list[Cluster]]:
    # Groups are recorded inner first; among equal ranges the later one is the outer.
    order = sorted(range(len(groups)), key=lambda g: (groups[g].start, -groups[g].stop, -g))
    paths: list[list[Cluster]] = [[] for _ in range(count)]
    for g in order:
        group = groups[g]
        cluster = Cluster(("group", g), group.kind, group.name, group.type_name, group.count)
        for i in range(group.start, group.stop):
            paths[i].append(cluster)
    return paths


def _paths_from_names(names: list[str]) -> list[list[Cluster]]:
    parts = [name.split(".") for name in names]
    children: dict[str, set[str]] = {}
    for segs in parts:
        for depth in range(1, len(segs)):
            children.setdefault(".".join(segs[:depth]), set()).add(segs[depth])
    # a prefix whose children are all numbered copies is a repeat (of blocks when the copies hold
    # named layers of their own, else of layers); any other prefix is a block
    nested = {".".join(segs[:depth]) for segs in parts for depth in range(1, len(segs) - 1)}
    clusters = {}
    for prefix, kids in children.items():
        if len(kids) > 1 and all(k.isdigit() for k in kids):
            copies = "blocks" if any(f"{prefix}.{k}" in nested for k in kids) else "layers"
            clusters[prefix] = Cluster(("prefix", prefix), "repeat", prefix, copies, len(kids))
        else:
            clusters[prefix] = Cluster(("prefix", prefix), "block", prefix, "", len(kids))
    return [[clusters[".".join(segs[:depth])] for depth in range(1, len(segs))] for segs in parts]


def _tree(paths: list[list[Cluster]]) -> list:
    """The top-level items (layer indices and Clusters) with every cluster's children filled."""
    top: list = []
    seen: set[int] = set()
    for index, path in enumerate(paths):
        container = top
        parent = None
        for cluster in path:
            if id(cluster) not in seen:
                seen.add(id(cluster))
                cluster.children, cluster.parent = [], parent
                container.append(cluster)
            container, parent = cluster.children, cluster
        container.append(index)
    return top


# ---------------------------------------------------------------------------
# The diagram
# ---------------------------------------------------------------------------

def build(analysis: Analysis, collapse: bool = False, counts: bool = False) -> Diagram:
    from netcalc.report import human

    layers = analysis.layers
    top = _tree(cluster_paths(analysis))
    nodes: dict[str, DiagramNode] = {}
    shape = "×".join(map(str, analysis.graph.input_shape))
    nodes[INPUT_ID] = DiagramNode(INPUT_ID, ["input", shape], "input", [])
    node_of: dict[str, str] = {"input": INPUT_ID}
    counter = [0]

    def new_id(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def layer_node(i: int) -> str:
        layer = layers[i]
        lines = [layer.name, layer.type, "×".join(map(str, layer.output))]
        if counts:
            lines.append(f"params {human(layer.params)} · MACs {human(layer.macs)}")
        node_id = new_id("n")
        nodes[node_id] = DiagramNode(node_id, lines, _category(layer), [i])
        node_of[layer.name] = node_id
        return node_id

    def folded_node(cluster: Cluster) -> str:
        members = cluster.layers()
        last = layers[members[-1]]
        lines = [cluster.title, cluster.subtitle, "×".join(map(str, last.output))]
        if counts:
            params = sum(layers[i].params for i in members)
            macs = sum(layers[i].macs for i in members)
            lines.append(f"params {human(params)} · MACs {human(macs)}")
        node_id = new_id("n")
        nodes[node_id] = DiagramNode(node_id, lines, "group", members)
        for i in members:
            node_of[layers[i].name] = node_id
        return node_id

    def view(items) -> list:
        out = []
        for item in items:
            if not isinstance(item, Cluster):
                out.append(layer_node(item))
            elif collapse and item.foldable():
                out.append(folded_node(item))
            else:
                kind = item.type_name if item.kind == "repeat" else item.subtitle
                out.append(ClusterView(new_id("c"), f"{item.title} ({kind})", view(item.children)))
        return out

    items = [INPUT_ID, *view(top)]
    edges, seen = [], set()
    for layer in layers:
        dst = node_of[layer.name]
        for source in layer.node.inputs:
            src = node_of[source]
            if collapse:
                if src == dst or (src, dst) in seen:
                    continue
                seen.add((src, dst))
            edges.append((src, dst))
    return Diagram(analysis.name, nodes, edges, items)


def _category(layer: LayerResult) -> str:
    node = layer.node
    if layer.macs:
        return "compute"
    if len(node.inputs) > 1:
        return "merge"
    if node.out_shape[1:] != node.in_shape[1:] or len(node.out_shape) != len(node.in_shape):
        return "resample"
    if layer.params:
        return "weights"
    return "pointwise"


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------

def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(diagram: Diagram) -> str:
    out = [f"digraph {_dot_string(diagram.name)} {{",
           "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, nodesep=0.25, ranksep=0.3];",
           "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, margin=\"0.12,0.04\"];",
           "  edge [color=\"#555555\", arrowsize=0.6];"]

    def emit(items, indent: str):
        for item in items:
            if isinstance(item, ClusterView):
                out.append(f"{indent}subgraph cluster_{item.id} {{")
                out.append(f"{indent}  label={_dot_string(item.label)}; style=\"rounded,dashed\"; "
                           f"color=\"#888888\"; fontcolor=\"#333333\";")
                emit(item.items, indent + "  ")
                out.append(f"{indent}}}")
            else:
                node = diagram.nodes[item]
                fill, line = CATEGORY_COLOURS[node.category]
                shape = ", shape=ellipse" if node.category == "input" else ""
                bold = ", penwidth=1.6" if node.category == "group" else ""
                label = '"' + "\\n".join(_dot_string(line)[1:-1] for line in node.lines) + '"'
                out.append(f"{indent}{item} [label={label}, "
                           f"fillcolor=\"{fill}\", color=\"{line}\"{shape}{bold}];")

    emit(diagram.top, "  ")
    for src, dst in diagram.edges:
        out.append(f"  {src} -> {dst};")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    """A label for a quoted Mermaid string: entity codes for the characters it would misread."""
    for char, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


def to_mermaid(diagram: Diagram) -> str:
    out = ["flowchart TB"]

    def emit(items, indent: str):
        for item in items:
            if isinstance(item, ClusterView):
                out.append(f'{indent}subgraph {item.id} ["{_mermaid_text(item.label)}"]')
                out.append(f"{indent}  direction TB")
                emit(item.items, indent + "  ")
                out.append(f"{indent}end")
            else:
                node = diagram.nodes[item]
                label = "<br/>".join(_mermaid_text(line) for line in node.lines)
                opening, closing = ("([", "])") if node.category == "input" else ("[", "]")
                out.append(f'{indent}{item}{opening}"{label}"{closing}')

    emit(diagram.top, "  ")
    for src, dst in diagram.edges:
        out.append(f"  {src} --> {dst}")
    by_category: dict[str, list[str]] = {}
    for node in diagram.nodes.values():
        by_category.setdefault(node.category, []).append(node.id)
    for category, ids in by_category.items():
        fill, line = CATEGORY_COLOURS[category]
        out.append(f"  classDef {category} fill:{fill},stroke:{line},color:#111111")
        out.append(f"  class {','.join(ids)} {category}")
    return "\n".join(out) + "\n"


def format_of(path: str | None, fmt: str | None) -> str:
    """The output format: --format, else the file's extension, else DOT."""
    if fmt is not None:
        return fmt
    if path is None:
        return "dot"
    suffix = Path(path).suffix.lower().lstrip(".")
    suffix = {"gv": "dot", "mermaid": "mmd"}.get(suffix, suffix)
    if suffix not in FORMATS:
        raise SpecError(f"{path}: cannot tell the picture format from the extension "
                        f"'{Path(path).suffix or '(none)'}': use .svg, .png, .dot or .mmd (or --format)")
    return suffix


def render(diagram: Diagram, fmt: str, purpose: str = "drawing") -> bytes:
    """The diagram in one of FORMATS; svg and png are laid out by Graphviz's dot program."""
    if fmt == "mmd":
        return to_mermaid(diagram).encode()
    source = to_dot(diagram)
    if fmt == "dot":
        return source.encode()
    return layout(source, fmt, purpose)


def layout(source: str, fmt: str, purpose: str) -> bytes:
    from netcalc.optional import graphviz_dot

    program = graphviz_dot(purpose)
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=source.encode(), capture_output=True, check=False)
    except OSError as exc:
        raise SpecError(f"{purpose}: cannot run Graphviz's dot: {exc}") from None
    if done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[0]
        raise SpecError(f"{purpose}: Graphviz's dot failed: {first}")
    return done.stdout
