"""`separable` is a built-in block: it expands through the same builder path as a `blocks:`
instance, and the size pre-check reads the same expansion rules as the build."""

import time

import pytest

from netcalc.analysis import analyze_graph
from netcalc.errors import SpecError
from netcalc.graph import build_graph
from netcalc.layers import LayerType, lookup
from netcalc.layers.composite import BuiltinBlock
from netcalc.report import to_dict
from netcalc.spec import MAX_LAYERS, _Builder, load_spec_text

SEPARABLE = """input: [3, 16, 16]
layers:
  - conv: {out: 8, kernel: 3}
  - separable: {out: 16, kernel_size: 3, stride: 2, padding: 1, bias: false, multiplier: 2}
    name: s
    repeat: 2
  - conv: {out: 4, kernel: 1}
  - depthwise: {kernel: 3}
"""

# The same network with the composite written out by hand as a user block (contract §1: a 3×3
# depthwise with the given stride/padding/multiplier, then a 1×1 conv to `out`, bias on both).
AS_BLOCK = SEPARABLE.replace("layers:\n", """blocks:
  sep:
    args: {out: null, kernel: null, stride: 1, padding: 0, multiplier: 1, bias: true}
    layers:
      - depthwise: {kernel: kernel, stride: stride, padding: padding, multiplier: multiplier, bias: bias}
        name: depthwise
      - conv: {out: out, kernel: 1, bias: bias}
        name: pointwise
layers:
""", 1).replace("- separable: {out: 16, kernel_size: 3", "- sep: {out: 16, kernel: 3")


def _report(text):
    return to_dict(analyze_graph(build_graph(load_spec_text(text))))


def test_separable_expands_as_the_same_user_block_would():
    composite, block = _report(SEPARABLE), _report(AS_BLOCK)
    names = [layer["name"] for layer in composite["layers"]]
    assert names == ["conv1", "s.0.depthwise", "s.0.pointwise", "s.1.depthwise", "s.1.pointwise", "conv2",
                     "depthwise1"]  # the parts do not advance the conv/depthwise numbering
    assert composite["layers"] == block["layers"] and composite["totals"] == block["totals"]
    # by hand: s.0.depthwise 8·2·9 weights, no bias = 144; s.0.pointwise 16·16 = 256
    assert [layer["params"] for layer in composite["layers"][1:3]] == [144, 256]


def test_separable_is_a_builtin_block_not_a_layer_type():
    kind = lookup("separable")
    assert isinstance(kind, BuiltinBlock) and not isinstance(kind, LayerType)
    assert [part.name for part in kind.parts] == ["depthwise", "pointwise"]


def test_from_names_the_instance_output():
    spec = load_spec_text("input: [3, 8, 8]\nlayers:\n  - separable: {out: 4, kernel: 3}\n  - relu\n"
                          "  - add:\n    from: [separable1, relu1]\n")
    assert spec.layers[-1].inputs == ["separable1.pointwise", "relu1"]
    assert spec.layers[0].inputs == ["input"] and spec.layers[1].inputs == ["separable1.depthwise"]


@pytest.mark.parametrize("entry", [
    "  - separable: {out: 4, kernel: 3, padding: 1}\n    repeat: 600000\n",
    "  - b:\n    repeat: 600\n",
])
def test_huge_composite_expansions_are_refused_before_building(monkeypatch, entry):
    built = []
    monkeypatch.setattr(_Builder, "_add_layer", lambda self, *args: built.append(args))
    text = ("input: [3, 8, 8]\nblocks:\n  b:\n    layers:\n      - separable: {out: 3, kernel: 3, padding: 1}\n"
            "        repeat: 1000\nlayers:\n" + entry)
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match=f"more than {MAX_LAYERS:,} layers .* alone gives 1,200,000"):
        load_spec_text(text)
    assert built == [] and time.perf_counter() - t0 < 2


def test_first_and_if_apply_to_separable_as_to_blocks():
    spec = load_spec_text("input: [3, 8, 8]\nblocks:\n  b:\n    args: {use: true}\n    layers:\n"
                          "      - separable: {out: 4, kernel: 3}\n        if: use\n      - relu\n"
                          "layers:\n  - b: {use: false}\n  - separable: {out: 4, kernel: 1}\n    repeat: 2\n"
                          "    first: {out: 6}\n")
    names = [(d.name, d.type_name, dict(d.raw or {})) for d in spec.layers]
    assert names == [("b1.relu1", "relu", {}),
                     ("separable1.depthwise", "depthwise", {"kernel": 1}),
                     ("separable1.pointwise", "conv", {"kernel": 1, "out": 6}),
                     ("separable2.depthwise", "depthwise", {"kernel": 1}),
                     ("separable2.pointwise", "conv", {"kernel": 1, "out": 4})]
