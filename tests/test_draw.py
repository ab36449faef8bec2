"""netcalc draw: DOT and Mermaid of every bundled spec parse and hold exactly one node per layer
(plus the input) and one edge per entry of `from`; --collapse folds block instances; SVG/PNG
come from Graphviz's dot; missing Graphviz and bad arguments are one-line errors (exit 2).

DOT is parsed by Graphviz itself (`dot -Tjson`), Mermaid by a structural parser written here
from Mermaid's flowchart grammar (node statements, `-->` edges, `subgraph … end`, classDef/class).
Both are compared with the JSON report (`report.to_dict`), not with the drawing code's structures.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from netcalc import draw
from netcalc.analysis import analyze_file, analyze_graph
from netcalc.cli import cli
from netcalc.graph import build_graph
from netcalc.report import to_dict

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (apt-get install graphviz; .ci/run installs it)")


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def expected_edges(report) -> Counter:
    """(source, layer) for every entry of every layer's `from`, by name."""
    return Counter((source, layer["name"]) for layer in report["layers"] for source in layer["from"])


# ---------------------------------------------------------------------------
# Parsers for the two text formats
# ---------------------------------------------------------------------------

def parse_dot(source: str) -> dict:
    """Graphviz's own reading of a DOT file: {node id: label lines}, edges by id, clusters."""
    done = subprocess.run(["dot", "-Tjson"], input=source.encode(), capture_output=True, check=True)
    graph = json.loads(done.stdout)
    objects = graph.get("objects", [])
    nodes = {o["name"]: o["label"].split("\\n") for o in objects if "nodes" not in o and "subgraphs" not in o}
    clusters = {o["name"]: o for o in objects if "nodes" in o or "subgraphs" in o}
    by_gvid = {o["_gvid"]: o["name"] for o in objects}
    edges = [(by_gvid[e["tail"]], by_gvid[e["head"]]) for e in graph.get("edges", [])]
    members = {name: [by_gvid[g] for g in c.get("nodes", [])] for name, c in clusters.items()}
    return {"nodes": nodes, "edges": edges, "clusters": members}


MERMAID_NODE = re.compile(r'^(n\d+)(\(\[|\[)"([^"]*)"(\]\)|\])$')
MERMAID_EDGE = re.compile(r"^(n\d+) --> (n\d+)$")
MERMAID_SUBGRAPH = re.compile(r'^subgraph (c\d+) \["([^"]*)"\]$')
MERMAID_CLASSDEF = re.compile(r"^classDef \w+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6}$")
MERMAID_CLASS = re.compile(r"^class (n\d+(?:,n\d+)*) \w+$")


def parse_mermaid(text: str) -> dict:
    """A structural check of a Mermaid flowchart: every line is one of the statements we allow,
    brackets match, subgraphs nest and close, ids are unique, edges name defined nodes, labels
    hold no raw quote or angle bracket other than <br/>."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    nodes, edges, stack, clusters = {}, [], [], {}
    for raw in lines[1:]:
        line = raw.strip()
        if m := MERMAID_NODE.match(line):
            node_id, opening, label, closing = m.groups()
            assert (opening, closing) in {("[", "]"), ("([", "])")}, line
            assert node_id not in nodes, f"node {node_id} defined twice"
            assert "<" not in label.replace("<br/>", "") and ">" not in label.replace("<br/>", ""), line
            nodes[node_id] = [part.replace("#quot;", '"').replace("#lt;", "<").replace("#gt;", ">")
                              .replace("#amp;", "&") for part in label.split("<br/>")]
            if stack:
                clusters[stack[-1]].append(node_id)
        elif m := MERMAID_EDGE.match(line):
            edges.append(m.groups())
        elif m := MERMAID_SUBGRAPH.match(line):
            assert m.group(1) not in clusters
            clusters[m.group(1)] = []
            stack.append(m.group(1))
        elif line == "direction TB":
            assert stack, "direction outside a subgraph"
        elif line == "end":
            assert stack, "'end' without a subgraph"
            stack.pop()
        elif MERMAID_CLASSDEF.match(line) or MERMAID_CLASS.match(line):
            pass
        else:
            raise AssertionError(f"not a Mermaid statement we expect: {raw!r}")
    assert not stack, "a subgraph is not closed"
    for src, dst in edges:
        assert src in nodes and dst in nodes, (src, dst)
    return {"nodes": nodes, "edges": edges, "clusters": clusters}


def check_one_node_per_layer(parsed, report):
    names = {node_id: lines[0] for node_id, lines in parsed["nodes"].items()}
    layer_names = [layer["name"] for layer in report["layers"]]
    assert sorted(names.values()) == sorted(["input", *layer_names])  # exactly once each
    by_name = {layer["name"]: layer for layer in report["layers"]}
    for node_id, lines in parsed["nodes"].items():  # name, type, output shape
        if lines[0] != "input":
            layer = by_name[lines[0]]
            assert lines[1] == layer["type"] and lines[2] == "×".join(map(str, layer["output"]))
    got = Counter((names[src], names[dst]) for src, dst in parsed["edges"])
    assert got == expected_edges(report)


@needs_dot
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_dot_of_every_bundled_spec_has_one_node_per_layer_and_one_edge_per_input(spec):
    analysis = analyze_file(spec)
    parsed = parse_dot(draw.to_dot(draw.build(analysis)))
    check_one_node_per_layer(parsed, to_dict(analysis))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_mermaid_of_every_bundled_spec_has_one_node_per_layer_and_one_edge_per_input(spec):
    analysis = analyze_file(spec)
    parsed = parse_mermaid(draw.to_mermaid(draw.build(analysis, counts=True)))
    check_one_node_per_layer(parsed, to_dict(analysis))


# ---------------------------------------------------------------------------
# Clusters and --collapse
# ---------------------------------------------------------------------------

RESNET50_STAGES = {"layer1": 3, "layer2": 4, "layer3": 6, "layer4": 3}  # torchvision's ResNet-50


def check_resnet50_collapsed(parsed, block="bottleneck"):
    firsts = [lines[0] for lines in parsed["nodes"].values()]
    bottlenecks = [f"{stage}.{i}" for stage, n in RESNET50_STAGES.items() for i in range(n)]
    assert len(bottlenecks) == 16
    stem, head = ["conv1", "bn1", "relu1", "maxpool"], ["avgpool", "flatten1", "fc"]
    assert sorted(firsts) == sorted(["input", *stem, *bottlenecks, *head])
    by_id = {node_id: lines for node_id, lines in parsed["nodes"].items()}
    for lines in by_id.values():
        if lines[0] in bottlenecks:
            assert lines[1] == block
    # every edge joins two different nodes, drawn once; the network is one chain here
    assert len(parsed["edges"]) == len(set(parsed["edges"])) == len(firsts) - 1
    # each stage stays a cluster around its folded bottlenecks
    groups = sorted(sorted(by_id[m][0] for m in members) for members in parsed["clusters"].values())
    assert groups == sorted([f"{stage}.{i}" for i in range(n)] for stage, n in RESNET50_STAGES.items())


def test_collapse_gives_resnet50_as_stem_16_bottlenecks_and_head():
    analysis = analyze_file(ROOT / "specs" / "resnet50.yaml")
    check_resnet50_collapsed(parse_mermaid(draw.to_mermaid(draw.build(analysis, collapse=True))))


@needs_dot
def test_collapse_in_dot_as_graphviz_reads_it():
    analysis = analyze_file(ROOT / "specs" / "resnet50.yaml")
    check_resnet50_collapsed(parse_dot(draw.to_dot(draw.build(analysis, collapse=True))))


def test_without_recorded_groups_dotted_names_give_the_same_folding():
    """A graph read from elsewhere (no Spec.groups) falls back on dotted names."""
    analysis = analyze_file(ROOT / "specs" / "resnet50.yaml")
    bare = analyze_graph(build_graph(dataclasses.replace(analysis.graph.spec, groups=[])))
    parsed = parse_mermaid(draw.to_mermaid(draw.build(bare, collapse=True)))
    firsts = {lines[0]: lines for lines in parsed["nodes"].values()}
    assert firsts["layer1.0"][1] == "12 layers" and firsts["layer1.1"][1] == "10 layers"  # with/without projection
    for lines in parsed["nodes"].values():
        lines[1] = "bottleneck" if lines[1] in ("10 layers", "12 layers") else lines[1]
    check_resnet50_collapsed(parsed)


def test_googlenet_collapsed_shows_the_inception_modules():
    analysis = analyze_file(ROOT / "specs" / "googlenet.yaml")
    parsed = parse_mermaid(draw.to_mermaid(draw.build(analysis, collapse=True)))
    nodes = {lines[0]: lines for lines in parsed["nodes"].values()}
    modules = ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
               "inception4e", "inception5a", "inception5b"]
    for name in modules:
        assert nodes[name][1] == "inception"
    assert nodes["inception3a"][2] == "256×28×28"  # 64 + 128 + 32 + 32 channels (the paper's table 1)
    assert nodes["inception5b"][2] == "1024×7×7"
    assert nodes["conv1"][1] == "cbr"  # the stem's conv-bn-relu instances fold too
    assert not any("." in name for name in nodes)


def test_uncollapsed_clusters_nest_like_the_spec(tmp_path):
    spec = tmp_path / "nest.yaml"
    spec.write_text("""
input: [3, 16, 16]
blocks:
  pair:
    args: {out: null}
    layers:
      - {conv: {out: out, kernel: 3, padding: 1}, name: conv}
      - relu
layers:
  - {pair: {out: 8}, repeat: 2, name: stage}
  - {conv: {out: 8, kernel: 1}, repeat: 3}
  - {separable: {out: 4, kernel: 3, padding: 1}, name: sep}
""")
    analysis = analyze_file(spec)
    parsed = parse_mermaid(draw.to_mermaid(draw.build(analysis)))
    names = {node_id: lines[0] for node_id, lines in parsed["nodes"].items()}
    members = sorted(sorted(names[m] for m in ms) for ms in parsed["clusters"].values())
    assert members == sorted([[], ["stage.0.conv", "stage.0.relu1"], ["stage.1.conv", "stage.1.relu1"],
                              ["conv1", "conv2", "conv3"], ["sep.depthwise", "sep.pointwise"]])
    labels = sorted(re.findall(r'subgraph c\d+ \["([^"]*)"\]', draw.to_mermaid(draw.build(analysis))))
    assert labels == sorted(["stage ×2 (pair)", "stage.0 (pair)", "stage.1 (pair)", "conv ×3 (conv)",
                             "sep (separable)"])
    folded = parse_mermaid(draw.to_mermaid(draw.build(analysis, collapse=True, counts=True)))
    lines = {ls[0]: ls for ls in folded["nodes"].values()}
    assert set(lines) == {"input", "stage.0", "stage.1", "conv ×3", "sep"}
    # params summed over the folded layers: conv 3·8·9 + 8 = 224 (stage.0), 8·8·9 + 8 = 584 (stage.1)
    assert lines["stage.0"][3].startswith("params 224 ·") and lines["stage.1"][3].startswith("params 584 ·")
    assert lines["conv ×3"][1] == "3 × conv"


# ---------------------------------------------------------------------------
# The command: formats, pictures, errors
# ---------------------------------------------------------------------------

def test_draw_writes_dot_to_stdout_and_mermaid_by_extension(tmp_path):
    result = invoke("draw", ROOT / "specs" / "lenet5.yaml")
    assert result.exit_code == 0 and result.stdout.startswith('digraph "lenet5" {')
    out = tmp_path / "net.mmd"
    result = invoke("draw", ROOT / "specs" / "lenet5.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("flowchart TB")


@needs_dot
def test_svg_is_laid_out_by_graphviz_with_one_group_per_node(tmp_path):
    out = tmp_path / "g.svg"
    result = invoke("draw", ROOT / "specs" / "googlenet.yaml", "-o", out, "--collapse")
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    classes = Counter(g.get("class") for g in root.iter(f"{ns}g"))
    report = to_dict(analyze_file(ROOT / "specs" / "googlenet.yaml"))
    # input; conv1, maxpool1, conv2, conv3, maxpool2; 9 inceptions; maxpool3, maxpool4; avgpool, flatten, dropout, fc
    folded = 1 + 5 + 9 + 2 + 4
    assert classes["node"] == folded
    texts = {t.text for t in root.iter(f"{ns}text")}
    assert {"inception3a", "inception5b", "inception"} <= texts
    assert len(report["layers"]) > folded


def png_facts(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct colours) of a PNG, checking its signature and IHDR by hand."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    image = pytest.importorskip("matplotlib.image", reason="matplotlib (netcalc[plot]) reads the pixels").imread(path)
    colours = len({tuple(px) for px in image.reshape(-1, image.shape[-1])[::7].tolist()})
    return width, height, colours


@needs_dot
def test_png_is_valid_and_not_trivial(tmp_path):
    out = tmp_path / "t.png"
    result = invoke("draw", ROOT / "specs" / "tiny_segnet.yaml", "-o", out, "--counts")
    assert result.exit_code == 0, result.output
    width, height, colours = png_facts(out)
    assert width > 150 and height > 800  # 15 nodes in a column
    assert colours > 20  # node fills by kind, text anti-aliasing


def test_without_graphviz_svg_is_a_one_line_error_naming_the_package(tmp_path):
    result = invoke("draw", ROOT / "specs" / "lenet5.yaml", "-o", tmp_path / "x.svg", env={"PATH": ""})
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "graphviz" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.svg").exists()
    # the text formats need nothing
    assert invoke("draw", ROOT / "specs" / "lenet5.yaml", "-o", tmp_path / "x.dot", env={"PATH": ""}).exit_code == 0


@pytest.mark.parametrize("args, words", [
    (["-o", "net.jpg"], ["net.jpg", ".svg, .png, .dot or .mmd"]),
    (["-o", "net"], ["(none)"]),
])
def test_bad_output_names_are_one_line_errors(args, words):
    result = invoke("draw", ROOT / "specs" / "lenet5.yaml", *args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert all(word in result.stderr for word in words)


def test_bad_spec_is_a_one_line_error(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n")
    result = invoke("draw", spec, "-o", tmp_path / "x.dot")
    assert result.exit_code == 2 and result.stderr.startswith("netcalc: error: ")
    assert "bad.yaml:3" in result.stderr and "conv1" in result.stderr and "kernel" in result.stderr
    assert result.stderr.count("\n") == 1


def test_names_with_quotes_and_brackets_are_escaped_in_both_formats(tmp_path):
    import yaml

    name = 'a"<b>&\\'  # a quote, angle brackets, an ampersand and a backslash
    spec = tmp_path / "q.yaml"
    spec.write_text(yaml.safe_dump({"name": 'say "hi"', "input": [1, 8], "layers": [{"relu": None, "name": name}]}))
    analysis = analyze_file(spec)
    assert analysis.layers[0].name == name
    diagram = draw.build(analysis)
    parsed = parse_mermaid(draw.to_mermaid(diagram))
    assert sorted(lines[0] for lines in parsed["nodes"].values()) == [name, "input"]
    if shutil.which("dot"):
        assert draw.to_dot(diagram).startswith('digraph "say \\"hi\\"" {')
        svg = ET.fromstring(draw.render(diagram, "svg"))  # as Graphviz draws the label
        assert name in {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
