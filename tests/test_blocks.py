"""Blocks, repeat, first:, if: and argument expressions (issue 4).

The central proof: a block-based spec gives exactly the same per-layer report as the same network
written out flat by hand. The rest pins the naming rules of contract §1 and the error messages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from netcalc import report
from netcalc.analysis import analyze_graph
from netcalc.errors import SpecError
from netcalc.expr import ExprError, evaluate
from netcalc.graph import build_graph
from netcalc.spec import load_spec_text

ROOT = Path(__file__).resolve().parents[1]


def analyze_text(text: str):
    return analyze_graph(build_graph(load_spec_text(textwrap.dedent(text), "t.yaml")))


def names(text: str) -> list[str]:
    return [d.name for d in load_spec_text(textwrap.dedent(text), "t.yaml").layers]


def spec_error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        build_graph(load_spec_text(textwrap.dedent(text), "t.yaml"))
    return info.value


# --- a small ResNet, written with blocks and written flat ------------------------------------------

BLOCKS = """
name: tiny_resnet
input: [3, 32, 32]
blocks:
  basic:
    args: {out: null, stride: 1, project: false}
    layers:
      - {conv: {out: out, kernel: 3, stride: stride, padding: 1, bias: false}, name: conv1}
      - {batchnorm: , name: bn1}
      - relu
      - {conv: {out: out, kernel: 3, padding: 1, bias: false}, name: conv2}
      - {batchnorm: , name: bn2}
      - {proj: {out: out, stride: stride}, name: downsample, from: input, if: project}
      - {add: , from: [bn2, downsample]}
      - relu
  proj:
    args: {out: null, stride: 1}
    layers:
      - {conv: {out: out, kernel: 1, stride: stride, bias: false}, name: "0"}
      - {batchnorm: , name: "1"}
layers:
  - {conv: {out: 16, kernel: 3, padding: 1, bias: false}, name: stem}
  - {basic: {out: 16}, repeat: 2, name: layer1}
  - {basic: {out: 32}, first: {stride: 2, project: true}, repeat: 2, name: layer2}
  - {global_avgpool: , name: pool, from: layer2}
  - flatten
  - {linear: {out: 10}, name: fc}
"""


def _flat_block(prefix, out, stride, project, src):
    conv = f"{{conv: {{out: {out}, kernel: 3, stride: {stride}, padding: 1, bias: false}}, name: {prefix}.conv1"
    lines = [f"  - {conv}, from: {src}}}" if src else f"  - {conv}}}",
             f"  - {{batchnorm: , name: {prefix}.bn1}}",
             f"  - {{relu: , name: {prefix}.relu1}}",
             f"  - {{conv: {{out: {out}, kernel: 3, padding: 1, bias: false}}, name: {prefix}.conv2}}",
             f"  - {{batchnorm: , name: {prefix}.bn2}}"]
    shortcut = src
    if project:
        lines += [f"  - {{conv: {{out: {out}, kernel: 1, stride: {stride}, bias: false}}, "
                  f"name: {prefix}.downsample.0, from: {src}}}",
                  f"  - {{batchnorm: , name: {prefix}.downsample.1}}"]
        shortcut = f"{prefix}.downsample.1"
    lines += [f"  - {{add: , name: {prefix}.add1, from: [{prefix}.bn2, {shortcut}]}}",
              f"  - {{relu: , name: {prefix}.relu2}}"]
    return lines


def flat_text() -> str:
    """The same network by hand. Explicit names may not contain dots, so this text is checked
    through the declarations directly (see flat_spec)."""
    lines = ["name: tiny_resnet", "input: [3, 32, 32]", "layers:",
             "  - {conv: {out: 16, kernel: 3, padding: 1, bias: false}, name: stem}"]
    lines += _flat_block("layer1.0", 16, 1, False, "stem")
    lines += _flat_block("layer1.1", 16, 1, False, "layer1.0.relu2")
    lines += _flat_block("layer2.0", 32, 2, True, "layer1.1.relu2")
    lines += _flat_block("layer2.1", 32, 1, False, "layer2.0.relu2")
    lines += ["  - {global_avgpool: , name: pool}", "  - flatten", "  - {linear: {out: 10}, name: fc}"]
    return "\n".join(lines) + "\n"


def flat_spec():
    # The flat text uses dotted names to match the block version exactly; the loader forbids dots
    # in user names, so load it with the dots spelled '_' and rename afterwards.
    spec = load_spec_text(flat_text().replace(".", "__"), "flat.yaml")
    for decl in spec.layers:
        decl.name = decl.name.replace("__", ".")
        decl.inputs = [i.replace("__", ".") for i in decl.inputs]
    return spec


def test_block_spec_equals_the_same_network_written_flat():
    blocks = report.to_dict(analyze_text(BLOCKS))
    flat = report.to_dict(analyze_graph(build_graph(flat_spec())))
    assert [layer["name"] for layer in blocks["layers"]] == [layer["name"] for layer in flat["layers"]]
    assert blocks["layers"] == flat["layers"]
    assert blocks["totals"] == flat["totals"]


def test_flat_and_block_versions_have_hand_counted_params():
    # 3·16·9 (stem) + 4·(16·16·9 + 32) [layer1: two blocks, two convs, two bn each]
    # + (16·32·9 + 64) + (32·32·9 + 64) + (16·32 + 64) [layer2.0 with projection]
    # + 2·(32·32·9 + 64) [layer2.1] + 32·10 + 10 (fc)
    hand = 3 * 16 * 9 + 4 * (16 * 16 * 9 + 32) + (16 * 32 * 9 + 64) + (32 * 32 * 9 + 64) + (16 * 32 + 64) \
        + 2 * (32 * 32 * 9 + 64) + 32 * 10 + 10
    assert analyze_text(BLOCKS).total("params") == hand


# --- naming -----------------------------------------------------------------------------------

def test_instance_names_prefix_inner_names_and_counters_restart_per_instance():
    got = names("""
        input: [3, 8, 8]
        blocks:
          cr: {args: {c: 4}, layers: [{conv: {out: c, kernel: 1}}, relu, {conv: {out: c, kernel: 1}}]}
        layers:
          - conv: {out: 4, kernel: 1}
          - cr
          - cr: {c: 8}
          - {cr: , name: mine}
          - conv: {out: 4, kernel: 1}
        """)
    assert got == ["conv1", "cr1.conv1", "cr1.relu1", "cr1.conv2", "cr2.conv1", "cr2.relu1", "cr2.conv2",
                   "mine.conv1", "mine.relu1", "mine.conv2", "conv2"]


def test_repeat_with_name_numbers_instances_like_pytorch_and_from_name_means_last_copy():
    spec = load_spec_text(textwrap.dedent("""
        input: [3, 8, 8]
        blocks:
          b: {layers: [{conv: {out: 3, kernel: 1}, name: c}]}
        layers:
          - {b: , repeat: 3, name: layer1}
          - {relu: , from: layer1.1}
          - {add: , from: [layer1, layer1.0.c]}
        """), "t.yaml")
    assert [d.name for d in spec.layers] == ["layer1.0.c", "layer1.1.c", "layer1.2.c", "relu1", "add1"]
    assert spec.layers[1].inputs == ["layer1.0.c"]
    assert spec.layers[3].inputs == ["layer1.1.c"]
    assert spec.layers[4].inputs == ["layer1.2.c", "layer1.0.c"]


def test_from_inside_a_block_is_local_and_input_is_the_instance_input():
    spec = load_spec_text(textwrap.dedent("""
        input: [3, 8, 8]
        blocks:
          res:
            layers:
              - {conv: {out: 3, kernel: 3, padding: 1}, name: c}
              - {add: , from: [c, input], name: sum}
        layers:
          - {conv: {out: 3, kernel: 1}, name: c}
          - {res: , name: r}
          - res
        """), "t.yaml")
    by = {d.name: d.inputs for d in spec.layers}
    assert by["r.c"] == ["c"] and by["r.sum"] == ["r.c", "c"]
    # the named instance counts too (contract §6): the unnamed second one is res2
    assert by["res2.c"] == ["r.sum"] and by["res2.sum"] == ["res2.c", "r.sum"]


def test_nested_blocks_and_dotted_from():
    spec = load_spec_text(textwrap.dedent("""
        input: [3, 8, 8]
        blocks:
          inner: {args: {c: null}, layers: [{conv: {out: c, kernel: 1}, name: conv}, {relu: , name: act}]}
          outer:
            args: {w: 2}
            layers:
              - {inner: {c: w * 2}, name: a}
              - {inner: {c: w * 3}, name: b, from: input}
              - {concat: , from: [a, b.conv], name: cat}
        layers:
          - {outer: {w: 4}, name: o}
          - {relu: , from: o.a.act}
        """), "t.yaml")
    assert [d.name for d in spec.layers] == ["o.a.conv", "o.a.act", "o.b.conv", "o.b.act", "o.cat", "relu1"]
    assert spec.layers[0].raw["out"] == 8 and spec.layers[2].raw["out"] == 12
    assert spec.layers[2].inputs == ["input"]
    assert spec.layers[4].inputs == ["o.a.act", "o.b.conv"]
    assert spec.layers[5].inputs == ["o.a.act"]
    assert build_graph(spec).node("o.cat").out_shape == (20, 8, 8)


def test_first_overrides_the_first_repetition_only_and_if_leaves_entries_out():
    spec = load_spec_text(textwrap.dedent("""
        input: [3, 16, 16]
        blocks:
          b:
            args: {out: null, stride: 1, proj: false}
            layers:
              - {conv: {out: out, kernel: 3, stride: stride, padding: 1}, name: c}
              - {conv: {out: out, kernel: 1, stride: stride}, name: p, from: input, if: proj}
              - {add: , from: [c, p], name: sum}
        layers:
          - {b: {out: 3}, first: {out: 3, stride: 2, proj: true}, repeat: 3, name: s}
          - {conv: {out: 5, kernel: 1}, first: {out: 7}, repeat: 2}
        """), "t.yaml")
    graph = build_graph(spec)
    assert [d.name for d in spec.layers] == ["s.0.c", "s.0.p", "s.0.sum", "s.1.c", "s.1.sum", "s.2.c",
                                            "s.2.sum", "conv1", "conv2"]
    assert graph.node("s.0.c").out_shape == (3, 8, 8) and graph.node("s.1.c").out_shape == (3, 8, 8)
    assert graph.node("s.1.sum").inputs == ["s.1.c", "s.0.sum"]  # left-out `p` passes its input on
    assert graph.node("conv1").out_shape == (7, 8, 8) and graph.node("conv2").out_shape == (5, 8, 8)


def test_defaults_may_use_other_arguments_and_plain_words_stay_strings():
    spec = load_spec_text(textwrap.dedent("""
        input: [8, 8, 8]
        blocks:
          b:
            args: {out: null, mid: out // 4, pad: same}
            layers:
              - {conv: {out: mid, kernel: 3, padding: pad}}
              - {maxpool: {kernel: 2, padding: 0}}
              - {conv: {out: (mid + 1) * -(-out // mid), kernel: 1, padding: valid}}
        layers:
          - b: {out: 8}
        """), "t.yaml")
    raws = [d.raw for d in spec.layers]
    assert raws[0]["out"] == 2 and raws[0]["padding"] == "same"
    assert raws[2]["out"] == 12 and raws[2]["padding"] == "valid"


@pytest.mark.parametrize("text, args, value", [
    ("mid * 4", {"mid": 64}, 256), ("a + b * c", {"a": 1, "b": 2, "c": 3}, 7),
    ("(a + b) * c", {"a": 1, "b": 2, "c": 3}, 9), ("out // 2 - 1", {"out": 7}, 2),
    ("-x + 10", {"x": 3}, 7), ("- -x", {"x": 3}, 3), ("7 // -2", {}, -4), ("2*3*4", {}, 24),
])
def test_expressions_follow_python_integer_arithmetic(text, args, value):
    assert evaluate(text, args) == value


@pytest.mark.parametrize("text, message", [
    ("mid *", "found the end"), ("mid / 2", "use //"), ("(mid + 1", "missing ')'"),
    ("mdi * 2", "did you mean 'mid'"), ("mid // 0", "division by zero"), ("flag + 1", "not an integer"),
    ("__import__('os').system('x')", "unexpected character"), ("mid mid", "unexpected 'mid'"),
    ("(" * 60 + "1" + ")" * 60, "nests too deeply"), ("1+" * 150 + "1", "longer than"),
])
def test_bad_expressions_are_refused_without_eval(text, message):
    with pytest.raises(ExprError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate(text, {"mid": 4, "flag": True})


# --- errors -----------------------------------------------------------------------------------

HEAD = "input: [3, 8, 8]\nblocks:\n"


@pytest.mark.parametrize("body, line, fragments", [
    ("  a: {layers: [conv: {out: 3, kernel: 1}, a]}\nlayers: [a]\n", 3,
     ["block 'a' uses itself", "a → a"]),
    ("  a: {layers: [b]}\n  b:\n    layers:\n      - relu\n      - a\nlayers: [a]\n", 7,
     ["block 'a' uses itself", "a → b → a"]),
    ("  b: {args: {mid: 4}, layers: [relu]}\nlayers:\n  - b: {mdi: 3}\n", 5,
     ["block 'b' has no argument 'mdi'", "did you mean 'mid'"]),
    ("  b: {args: {mid: null}, layers: [relu]}\nlayers:\n  - b\n", 5,
     ["block 'b' needs argument 'mid'"]),
    ("  b:\n    args: {mid: 4}\n    layers:\n      - conv: {out: mid *, kernel: 1}\nlayers:\n  - b\n", 6,
     ["block 'b' (instance 'b1')", "bad expression 'mid *'"]),
    ("  b:\n    args: {mid: 4}\n    layers:\n      - conv: {out: mdi * 2, kernel: 1}\nlayers:\n  - b\n", 6,
     ["block 'b'", "unknown argument 'mdi'", "did you mean 'mid'"]),
    ("  relu: {layers: [tanh]}\nlayers: [relu]\n", 3, ["block name 'relu' clashes with a layer type"]),
    ("  first: {layers: [tanh]}\nlayers: [relu]\n", 3, ["clashes with the reserved key 'first'"]),
    ("  bottleneck: {layers: [tanh]}\nlayers: [bottlenek]\n", 4, ["did you mean 'bottleneck'"]),
    ("  b: {layer: [relu]}\nlayers: [b]\n", 3, ["unknown key 'layer'", "did you mean 'layers'"]),
    ("  b: {layers: [{relu: , from: nope}]}\nlayers: [b]\n", 3, ["unknown layer 'nope'", "instance 'b1'"]),
    ("  b: {args: {n: 0}, layers: [{relu: , repeat: n}]}\nlayers: [b]\n", 3, ["'repeat' must be a positive"]),
    ("  b: {args: {p: 3}, layers: [{relu: , if: p}]}\nlayers: [b]\n", 3, ["'if' must be true, false"]),
])
def test_block_errors_name_file_line_and_block(body, line, fragments):
    err = spec_error(HEAD + body)
    assert err.loc is not None and err.loc.file == "t.yaml" and err.loc.line == line, str(err)
    for fragment in fragments:
        assert fragment in str(err)


def test_expansion_past_a_million_layers_fails_fast_without_building_it():
    text = HEAD + textwrap.dedent("""\
          b10: {layers: [{relu: , repeat: 1000}]}
          b1k: {layers: [{b10: , repeat: 1000}]}
        layers:
          - relu
          - {b1k: , repeat: 1000}
        """)
    start = time.perf_counter()
    err = spec_error(text)
    assert time.perf_counter() - start < 2
    assert "more than 1,000,000 layers" in str(err) and err.loc.line == 7


def test_a_block_error_on_the_command_line_is_one_line_with_exit_2(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(HEAD + "  b: {args: {mid: 4}, layers: [relu]}\nlayers:\n  - b: {mdi: 3}\n")
    result = subprocess.run([sys.executable, "-m", "netcalc", "analyze", str(spec)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert f"{spec}:5:" in lines[0] and "block 'b' has no argument 'mdi'" in lines[0]


def test_size_check_stays_fast_on_deeply_nested_repeats_with_first():
    # 2^39 layers through 39 nested blocks, each repeated twice with a different first copy
    lines = [HEAD.rstrip("\n"), "  b0: {args: {x: 0}, layers: [relu]}"]
    lines += [f"  b{i}: {{args: {{x: 0}}, layers: [{{b{i - 1}: {{x: 0}}, repeat: 2, first: {{x: 1}}}}]}}"
              for i in range(1, 40)]
    lines.append("layers: [b39]")
    start = time.perf_counter()
    err = spec_error("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 2
    assert "more than 1,000,000 layers" in str(err) and "block 'b20'" in str(err)


def test_expect_on_an_instance_belongs_to_its_output_layer():
    spec = load_spec_text(textwrap.dedent("""
        input: [3, 8, 8]
        blocks:
          b: {args: {c: 4}, layers: [{conv: {out: c, kernel: 3}, expect: {output: [c, 6, 6]}}, relu]}
        layers:
          - {b: {c: 5}, name: x, expect: {output: [5, 6, 6]}}
        """), "t.yaml")
    assert spec.layers[0].expect == {"output": [5, 6, 6]}  # argument substituted inside expect
    assert spec.layers[1].name == "x.relu1" and spec.layers[1].expect == {"output": [5, 6, 6]}


def test_an_instance_takes_one_input():
    err = spec_error(HEAD + "  b: {layers: [relu]}\nlayers:\n  - relu\n  - {b: , from: [input, relu1]}\n")
    assert "block 'b' takes one input" in str(err) and err.loc.line == 6


def test_a_bad_default_names_the_block_and_the_instance():
    err = spec_error(HEAD + "  b:\n    args: {out: 8, mid: out // 0}\n    layers: [relu]\nlayers:\n"
                            "  - {b: , name: x}\n")
    assert err.loc.line == 4
    assert "block 'b' (instance 'x'): bad expression 'out // 0': division by zero" in str(err)
