"""The bundled networks in specs/ against published figures and hand counts (issue 4).

Published figures: torchvision's model documentation (num_params and "GFLOPS", which torchvision
computes as multiply-accumulates) and the papers. Hand counts are written out here term by term
from the papers' layer tables, independently of netcalc's layer code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netcalc import gallery
from netcalc.analysis import analyze_file, analyze_graph
from netcalc.graph import build_graph
from netcalc.spec import load_spec_text

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
ALL_SPECS = sorted(SPECS.glob("*.yaml"))
EXPECTED = {"lenet5", "alexnet", "zfnet", "vgg16", "googlenet", "resnet18", "resnet50", "mobilenet_v1",
            "mobilenet_v2", "unet", "deeplab_aspp", "audio_m5", "video_c3d"}
# issue 9 (contract §7 activations family): specs that need hardsigmoid / pixel_shuffle
EXPECTED |= {"mobilenet_v3_large", "mobilenet_v3_small", "deeplabv3_mobilenet_v3_large", "espcn"}

_cache: dict = {}


def analysis(name: str):
    if name not in _cache:
        _cache[name] = analyze_file(SPECS / f"{name}.yaml")
    return _cache[name]


def conv(cin, cout, k, bias=True, dims=2):
    return cin * cout * k ** dims + (cout if bias else 0)


def test_every_bundled_network_is_there_and_analyses():
    assert EXPECTED <= {p.stem for p in ALL_SPECS}
    for path in ALL_SPECS:
        result = analyze_file(path)
        assert result.layers and not result.warnings, path.name
        assert result.total("params") > 0 and result.total("macs") > 0


@pytest.mark.parametrize("path", [p for p in ALL_SPECS if p.stem in EXPECTED], ids=lambda p: p.stem)
def test_every_spec_opens_with_its_source_and_published_figures(path):
    # the classic networks; examples such as tiny_segnet say in their header that they are not published
    head = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        head.append(line)
    text = " ".join(head)
    assert len(head) >= 3, "a spec opens with a comment naming its source"
    assert "Published" in text
    assert re.search(r"\d{4}|torchvision", text), "names a paper (with its year) or torchvision"


# --- published totals (torchvision docs) ---------------------------------------------------------

@pytest.mark.parametrize("name, params, gmacs", [
    ("resnet50", 25_557_032, "4.09"),
    ("resnet18", 11_689_512, "1.81"),
    ("vgg16", 138_357_544, "15.47"),
    ("alexnet", 61_100_840, "0.71"),
    ("mobilenet_v2", 3_504_872, "0.30"),
    ("googlenet", 6_624_904, "1.50"),
])
def test_totals_equal_torchvision_published_figures(name, params, gmacs):
    result = analysis(name)
    assert result.total("params") == params
    assert f"{result.total('macs') / 1e9:.2f}" == gmacs


def test_batchnorm_counts_2c_params_and_2c_buffers_in_resnet50():
    result = analysis("resnet50")
    bn = [layer for layer in result.layers if layer.type == "batchnorm"]
    assert sum(layer.params for layer in bn) == result.total("buffers") == 53_120
    # without batchnorm's 2C, torchvision's 25,557,032 would not be reached
    assert result.total("params") - sum(layer.params for layer in bn) == 25_503_912


def test_receptive_fields_match_published_values():
    vgg = analysis("vgg16").layer("block5.pool")
    assert vgg.rf.size == [212, 212] and vgg.rf.jump == [32, 32]
    last = analysis("resnet50").layer("layer4.2.relu3")
    assert last.rf.size == [427, 427] and last.rf.jump == [32, 32]


def test_resnet_layout_is_torchvision_v1_5():
    result = analysis("resnet50")
    assert result.layer("layer2.0.conv1").output == (128, 56, 56)  # 1×1 keeps the size
    assert result.layer("layer2.0.conv2").output == (128, 28, 28)  # the stride is in the 3×3
    assert result.layer("layer2.0.downsample.0").params == 256 * 512
    assert [layer.name for layer in result.layers if layer.name.endswith("downsample.0")] == \
        ["layer1.0.downsample.0", "layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]
    assert len((SPECS / "resnet50.yaml").read_text().splitlines()) <= 80


# --- papers and hand counts ----------------------------------------------------------------------

def test_lenet5_by_hand():
    # C1 6·(25+1), C3 16·(6·25+1), C5 120·(16·25+1), F6 84·(120+1), output 10·(84+1)
    params = 6 * 26 + 16 * 151 + 120 * 401 + 84 * 121 + 10 * 85
    macs = 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 120 * 400 + 84 * 120 + 10 * 84
    result = analysis("lenet5")
    assert (result.total("params"), result.total("macs")) == (params, macs) == (61_706, 416_520)


def test_zfnet_follows_the_papers_figure():
    result = analysis("zfnet")
    sizes = [layer.output[1] for layer in result.layers if layer.type in ("conv", "maxpool")]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]  # Fig. 3 of the paper
    params = (conv(3, 96, 7) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 384, 3) + conv(384, 256, 3)
              + (9216 + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * 1000)
    assert result.total("params") == params


def test_mobilenet_v1_matches_the_paper():
    result = analysis("mobilenet_v1")
    without_bn = result.total("params") - result.total("buffers")  # batchnorm: 2C params, 2C buffers
    assert f"{without_bn / 1e6:.1f}" == "4.2"                      # Table 8: 4.2 M
    assert round(result.total("macs") / 1e6) == 569                # Table 8: 569 M mult-adds


def test_unet_by_hand():
    params = sum(conv(i, o, 3) + conv(o, o, 3) for i, o in [(1, 64), (64, 128), (128, 256), (256, 512),
                                                             (512, 1024)])
    params += sum(conv(2 * o, o, 2) + conv(2 * o, o, 3) + conv(o, o, 3) for o in (512, 256, 128, 64))
    params += conv(64, 2, 1)
    result = analysis("unet")
    assert result.total("params") == params
    assert result.layers[-1].output == (2, 512, 512)
    assert [layer.output for layer in result.layers if layer.type == "conv_transpose"] == \
        [(512, 64, 64), (256, 128, 128), (128, 256, 256), (64, 512, 512)]


def test_deeplab_head_is_torchvisions_total_minus_backbone_and_aux_head():
    published_model = 42_004_074                        # torchvision deeplabv3_resnet50
    backbone = 25_557_032 - (2048 * 1000 + 1000)        # resnet50 without its fc
    aux = conv(1024, 256, 3, bias=False) + 2 * 256 + conv(256, 21, 1)
    assert analysis("deeplab_aspp").total("params") == published_model - backbone - aux


def test_audio_m5_by_hand():
    bn = 2 * (128 + 128 + 256 + 512)
    params = (conv(1, 128, 80, dims=1) + conv(128, 128, 3, dims=1) + conv(128, 256, 3, dims=1)
              + conv(256, 512, 3, dims=1) + bn + 512 * 10 + 10)
    result = analysis("audio_m5")
    assert result.total("params") == params
    assert 500_000 <= result.total("params") < 600_000  # paper's Table 1 says "0.5M" (truncated)
    assert result.layer("stage1.conv").output == (128, 8000)


def test_c3d_by_hand():
    convs = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    params = sum(conv(i, o, 3, dims=3) for i, o in convs) + (8192 + 1) * 4096 + (4096 + 1) * 4096 + 4097 * 487
    result = analysis("video_c3d")
    assert result.total("params") == params
    assert result.layer("pool5").output == (512, 1, 4, 4)
    assert f"{result.total('macs') / 1e9:.1f}" == "38.5"


# --- the command line, README example and gallery ---------------------------------------------

def test_resnet50_json_report_on_the_command_line():
    out = subprocess.run([sys.executable, "-m", "netcalc", "analyze", "specs/resnet50.yaml", "--format", "json"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    assert report["totals"]["params"] == 25_557_032
    assert report["layers"][4]["name"] == "layer1.0.conv1"


def test_readme_blocks_example_analyses():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Blocks and repeat", 1)[1]
    example = section.split("```yaml", 1)[1].split("```", 1)[0]
    result = analyze_graph(build_graph(load_spec_text(example, "README.md")))
    assert result.layers[-1].name == "layer2.1.relu2"
    assert result.layers[-1].output == (128, 56, 56)
    assert "layer2.0.downsample" in {layer.name for layer in result.layers}
    assert "layer1.0.downsample" not in {layer.name for layer in result.layers}


def test_readme_gallery_is_in_sync():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert gallery.replace_gallery(readme, gallery.gallery_table()) == readme, \
        "README gallery is stale: run `python -m netcalc.gallery --write`"


# --- issue 9: MobileNetV3, DeepLabV3-MobileNetV3-Large, ESPCN -------------------------------------

@pytest.mark.parametrize("name, params, gmacs", [
    ("mobilenet_v3_large", 5_483_032, "0.22"),   # MobileNet_V3_Large_Weights.IMAGENET1K_V1: 0.22 GFLOPS
    ("mobilenet_v3_small", 2_542_856, "0.06"),   # MobileNet_V3_Small_Weights.IMAGENET1K_V1: 0.06 GFLOPS
    # DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1: 10.45 GFLOPS at 520×520
    ("deeplabv3_mobilenet_v3_large", 11_029_328, "10.45"),
])
def test_issue9_totals_equal_torchvision_published_figures(name, params, gmacs):
    result = analysis(name)
    assert result.total("params") == params
    assert f"{result.total('macs') / 1e9:.2f}" == gmacs


def bn(c):
    return 2 * c


def test_mobilenet_v3_bneck_with_se_by_hand():
    # Large b4 (Table 1: 24 → exp 72 → 40, 5×5, SE, ReLU, stride 2), SE squeeze 24 = torchvision's
    # _make_divisible(72 // 4 = 18, 8) (rounds to 16, below 90 % of 18, so 24)
    expand = conv(24, 72, 1, bias=False) + bn(72)
    dw = 72 * 25 + bn(72)
    se = conv(72, 24, 1) + conv(24, 72, 1)
    project = conv(72, 40, 1, bias=False) + bn(40)
    result = analysis("mobilenet_v3_large")
    b4 = [layer for layer in result.layers if layer.name.startswith("b4.")]
    assert sum(layer.params for layer in b4) == expand + dw + se + project
    # 56 → 28 at stride 2; the gate is [72, 1, 1], broadcast over the 28×28 map
    assert result.layer("b4.dw").output == (72, 28, 28)
    assert result.layer("b4.se_gate").output == (72, 1, 1)
    assert result.layer("b4.se_scale").output == (72, 28, 28)
    assert "b4.add" not in {layer.name for layer in b4}       # stride 2: no residual
    # NL: ReLU in b1–b6 and the SE squeeze, h-swish from b7 on; the gate is hardsigmoid
    types = {layer.name: layer.type for layer in result.layers}
    assert types["b4.dw_relu"] == "relu" and "b4.dw_hswish" not in types
    assert types["b7.dw_hswish"] == "hardswish" and "b7.dw_relu" not in types
    assert types["b4.se_gate"] == "hardsigmoid"
    # b1 has no expansion (exp = inp = 16): its depthwise reads the stem directly, with no
    # activation in between (a ReLU there would change no count, only the values)
    assert result.layer("b1.dw").node.inputs == ["stem_hswish"]
    assert not any(name.startswith("b1.expand") for name in types)
    assert result.layer("b2.expand.conv").node.inputs == ["b1.add"]


def test_mobilenet_v3_small_first_block_flops_by_hand():
    # Small b1 (Table 2: 16 → exp 16 → 16, 3×3, SE, ReLU, stride 2) on the stem's 16×112×112:
    # no expansion; depthwise 16·56² outputs of a 9-term dot product (no bias): 17 each; BN 2 and
    # ReLU 1 per element; SE: pool 1 per input element, 16 → 8 → 16 1×1 convs with bias (2·16 and
    # 2·8 per output), ReLU 8, hardsigmoid 4 per gate, the broadcast mul 1 per element; project
    # 16 → 16 without bias (31 per output), BN 2; stride 2: no residual add
    n = 16 * 56 * 56
    flops = n * 17 + 2 * n + n + n + 8 * 2 * 16 + 8 + 16 * 2 * 8 + 4 * 16 + n + n * 31 + 2 * n
    result = analysis("mobilenet_v3_small")
    assert sum(layer.flops for layer in result.layers if layer.name.startswith("b1.")) == flops


def test_mobilenet_v3_blocks_verify_rf():
    """The bundled probes are above the test budget; MobileNetV3-Small's own bneck block (SE gates,
    a residual after a gate, ReLU and h-swish rows) at a 12×12 input is not: every field agrees."""
    from netcalc import rfprobe

    blocks = (SPECS / "mobilenet_v3_small.yaml").read_text(encoding="utf-8").split("\nlayers:\n")[0]
    text = blocks.replace("input: [3, 224, 224]", "input: [16, 12, 12]") + """
layers:
  - {bneck: {inp: 16, exp: 16, out: 16, stride: 2, se: true, sq: 8, expand: false, residual: false}, name: b1}
  - {bneck: {inp: 16, exp: 72, out: 24, stride: 2, residual: false}, name: b2}
  - {bneck: {inp: 24, exp: 96, out: 24, k: 5, se: true, sq: 24, re: false, hs: true}, name: b3}
  - {bneck: {inp: 24, exp: 96, out: 24, k: 5, se: true, sq: 24, re: false, hs: true}, name: b4}
"""
    small = analyze_graph(build_graph(load_spec_text(text, "mobilenet_v3_small.yaml")))
    checks = rfprobe.measure(small, memory_limit=600 * 2**20)
    assert len(checks) == len(small.layers) == 49
    assert all(c.status == "ok" for c in checks), [c for c in checks if c.status != "ok"]


def test_mobilenet_v3_small_head_by_hand():
    # 96 → 576 1×1 conv + BN, then Linear(576, 1024) and Linear(1024, 1000)
    result = analysis("mobilenet_v3_small")
    head = conv(96, 576, 1, bias=False) + bn(576) + (576 + 1) * 1024 + (1024 + 1) * 1000
    names = ("last", "last_bn", "fc1", "classifier")
    assert sum(result.layer(n).params for n in names) == head
    assert result.layer("last").output == (576, 7, 7)


def test_deeplabv3_published_figures_count_the_aux_head():
    """torchvision builds the published model with aux_loss=True: num_params holds aux_classifier's
    weights and GFLOPS its convs. Without the aux head neither figure is reached."""
    result = analysis("deeplabv3_mobilenet_v3_large")
    aux = [layer for layer in result.layers if layer.name.startswith("aux_")]
    # FCNHead(40, 21): 3×3 conv 40 → 40 // 4 = 10 (no bias), BN(10), 1×1 conv 10 → 21 with bias
    aux_params = conv(40, 10, 3, bias=False) + bn(10) + conv(10, 21, 1)
    # on C2's 65×65 map (520 → 260 → 130 → 65: output stride 8)
    aux_macs = 65 * 65 * (40 * 10 * 9 + 10 * 21)
    assert (sum(layer.params for layer in aux), sum(layer.macs for layer in aux)) == (aux_params, aux_macs)
    assert aux_params == 3_851
    assert result.total("params") == 11_029_328
    assert result.total("params") - aux_params == 11_025_477
    assert f"{result.total('macs') / 1e9:.2f}" == "10.45"
    assert f"{(result.total('macs') - aux_macs) / 1e9:.2f}" == "10.44"   # not the published figure
    # both heads end at the input's size; C5 is at output stride 16 (33×33) thanks to the dilated C4
    assert result.layer("aux_out").output == result.layer("out").output == (21, 520, 520)
    assert result.layer("last_hswish").output == (960, 33, 33)
    assert result.layer("b13.dw").output == (672, 33, 33)


def test_deeplabv3_head_by_hand():
    # DeepLabHead(960, 21): ASPP 1×1 + three 3×3 (rates 12, 24, 36) + pooling 1×1, each 256 wide with
    # BN; projection 1280 → 256 with BN; 3×3 256 → 256 with BN; 1×1 256 → 21 with bias
    aspp = conv(960, 256, 1, bias=False) + 3 * conv(960, 256, 3, bias=False) + conv(960, 256, 1, bias=False)
    head = aspp + 5 * bn(256) + conv(1280, 256, 1, bias=False) + bn(256) + conv(256, 256, 3, bias=False) \
        + bn(256) + conv(256, 21, 1)
    result = analysis("deeplabv3_mobilenet_v3_large")
    names = [layer.name for layer in result.layers if layer.name.startswith(("aspp", "head", "classifier"))]
    assert sum(result.layer(n).params for n in names) == head
    # the backbone is mobilenet_v3_large without its classifier (fc1, classifier) and with the same
    # features: dilation changes no count
    large = analysis("mobilenet_v3_large")
    features = large.total("params") - (960 + 1) * 1280 - (1280 + 1) * 1000
    assert result.total("params") == features + head + 3_851


def test_espcn_by_hand():
    result = analysis("espcn")
    layers = [(1, 64, 5), (64, 64, 3), (64, 32, 3), (32, 9, 3)]
    assert result.total("params") == sum(conv(i, o, k) for i, o, k in layers) == 59_657
    positions = 224 * 224
    assert result.total("macs") == positions * sum(i * o * k * k for i, o, k in layers) == 2_984_869_888
    # FLOPs: with bias 2·C_in·k² per conv output; 1 per ReLU element; pixel_shuffle moves values only
    flops = positions * sum(o * 2 * i * k * k for i, o, k in layers) + positions * (64 + 64 + 32)
    assert result.total("flops") == flops
    assert result.layer("conv4").output == (9, 224, 224)
    assert result.layers[-1].output == (1, 672, 672)                 # 3× super-resolution
    # field: 5 + 2 + 2 + 2 = 11 low-resolution pixels; after the shuffle jump 1/3
    assert result.layers[-1].rf.size == [11, 11] and [float(j) for j in result.layers[-1].rf.jump] == [1 / 3] * 2


def test_espcn_verify_rf_at_a_small_input():
    """The bundled 224×224 probe is above the test budget; the same layers at 8×8 are not."""
    from netcalc import rfprobe

    text = (SPECS / "espcn.yaml").read_text(encoding="utf-8").replace("input: [1, 224, 224]", "input: [1, 8, 8]")
    small = analyze_graph(build_graph(load_spec_text(text, "espcn.yaml")))
    checks = rfprobe.measure(small, memory_limit=600 * 2**20)
    assert len(checks) == len(small.layers)
    assert all(c.status == "ok" for c in checks), [c for c in checks if c.status != "ok"]


# --- torchvision's model zoo with today's layer types (issue 9) ----------------------------------
# Figures: torchvision's documentation page of each builder
# (pytorch.org/vision/stable/models/generated/torchvision.models.<builder>.html), table of the weight
# enum: "num_params" and "GFLOPS", where GFLOPS is the weight metadata's "_ops" (multiply-accumulates)
# printed with 2 decimals (docs/source/conf.py: f"{v:.2f}"); the metadata itself
# (torchvision/models/<file>.py) carries 3 decimals, which we check too.

ZOO = {  # spec: (weight enum, num_params, docs GFLOPS, metadata _ops)
    "densenet121": ("DenseNet121_Weights.IMAGENET1K_V1", 7_978_856, "2.83", "2.834"),
    "squeezenet1_1": ("SqueezeNet1_1_Weights.IMAGENET1K_V1", 1_235_496, "0.35", "0.349"),
    "resnext50_32x4d": ("ResNeXt50_32X4D_Weights.IMAGENET1K_V1", 25_028_904, "4.23", "4.230"),
    "wide_resnet50_2": ("Wide_ResNet50_2_Weights.IMAGENET1K_V1", 68_883_240, "11.40", "11.398"),
    "mnasnet1_0": ("MNASNet1_0_Weights.IMAGENET1K_V1", 4_383_312, "0.31", "0.314"),
    "regnet_y_400mf": ("RegNet_Y_400MF_Weights.IMAGENET1K_V1", 4_344_144, "0.40", "0.402"),
    "inception_v3": ("Inception_V3_Weights.IMAGENET1K_V1", 27_161_264, "5.71", "5.713"),
    "fcn_resnet50": ("FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1", 35_322_218, "152.72", "152.717"),
}
# the normalisation family's torchvision networks (issue 9: layernorm, layer scale, stochastic depth)
ZOO.update({
    "convnext_tiny": ("ConvNeXt_Tiny_Weights.IMAGENET1K_V1", 28_589_128, "4.46", "4.456"),
    "efficientnet_b0": ("EfficientNet_B0_Weights.IMAGENET1K_V1", 5_288_548, "0.39", "0.386"),
})
INCEPTION_AUX = "inception_v3_aux"  # counted in inception_v3's num_params only (see its header)


def output_of(result, name: str):
    """The output shape of a layer, or of a block instance / repeat (its last layer)."""
    inner = [layer for layer in result.layers if layer.name == name or layer.name.startswith(f"{name}.")]
    return inner[-1].output


def header(name: str) -> str:
    lines = (SPECS / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    return " ".join(line for line in lines if line.startswith("#"))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_spec_header_cites_its_weights_and_figures(name):
    enum, params, gflops, _ = ZOO[name]
    text = header(name)
    assert f"torchvision.models.{'segmentation.' if name.startswith('fcn') else ''}{name}" in text
    assert enum.split(".")[0] in text, "names the weight enum whose figures it cites"
    assert f"{params:,}" in text and f"{gflops} GFLOPS" in text
    assert re.search(r"\b(19|20)\d\d\b", text), "names the paper with its year"


@pytest.mark.parametrize("name", sorted(set(ZOO) - {"inception_v3"}))
def test_zoo_totals_equal_torchvisions_published_figures(name):
    _, params, gflops, ops = ZOO[name]
    result = analysis(name)
    assert result.total("params") == params
    macs = result.total("macs") / 1e9
    assert (f"{macs:.2f}", f"{macs:.3f}") == (gflops, ops)


def test_inception_v3_figures_count_the_aux_head_in_params_only():
    _, params, gflops, ops = ZOO["inception_v3"]
    main, aux = analysis("inception_v3"), analysis(INCEPTION_AUX)
    # InceptionAux(768, 1000) worked by hand: 1×1 conv to 128 + BN, 5×5 conv to 768 + BN, fc
    aux_params = conv(768, 128, 1, bias=False) + 2 * 128 + conv(128, 768, 5, bias=False) + 2 * 768 + 768 * 1000 + 1000
    assert aux.total("params") == aux_params == 3_326_696
    assert main.total("params") + aux.total("params") == params      # num_params counts AuxLogits
    assert main.total("params") == params - aux_params == 23_834_568
    macs = main.total("macs") / 1e9
    assert (f"{macs:.2f}", f"{macs:.3f}") == (gflops, ops)           # GFLOPS: eval mode, no aux head
    with_aux = (main.total("macs") + aux.total("macs")) / 1e9
    assert f"{with_aux:.3f}" != ops                                  # ... it would show if counted
    # the aux spec's input is what Mixed_6e hands AuxLogits
    assert output_of(main, "Mixed_6e") == tuple(aux.graph.input_shape) == (768, 17, 17)


def test_inception_v3_shapes_follow_torchvisions_comments():
    result = analysis("inception_v3")
    expected = {"Conv2d_1a_3x3": (32, 149, 149), "Conv2d_2a_3x3": (32, 147, 147), "maxpool1": (64, 73, 73),
                "Conv2d_4a_3x3": (192, 71, 71), "maxpool2": (192, 35, 35), "Mixed_5b": (256, 35, 35),
                "Mixed_5d": (288, 35, 35), "Mixed_6a": (768, 17, 17), "Mixed_7a": (1280, 8, 8),
                "Mixed_7c": (2048, 8, 8)}
    assert {name: output_of(result, name) for name in expected} == expected


def test_fcn_resnet50_counts_its_aux_head_in_both_figures():
    _, params, gflops, ops = ZOO["fcn_resnet50"]
    result = analysis("fcn_resnet50")
    backbone = 25_557_032 - (2048 * 1000 + 1000)                 # resnet50's published count without fc
    head = conv(2048, 512, 3, bias=False) + 2 * 512 + conv(512, 21, 1)
    aux = conv(1024, 256, 3, bias=False) + 2 * 256 + conv(256, 21, 1)
    assert backbone + head + aux == params == result.total("params")
    assert sum(layer.params for layer in result.layers if layer.name.startswith("aux_classifier.")) == aux
    # output stride 8: layer3 and layer4 dilate instead of striding, so both heads see 65×65
    assert output_of(result, "layer3") == (1024, 65, 65)
    assert output_of(result, "layer4") == (2048, 65, 65)
    aux_macs = 65 * 65 * (1024 * 256 * 9 + 256 * 21)
    assert sum(layer.macs for layer in result.layers if layer.name.startswith("aux_classifier.")) == aux_macs
    macs = result.total("macs")
    assert (f"{macs / 1e9:.2f}", f"{macs / 1e9:.3f}") == (gflops, ops)
    assert f"{(macs - aux_macs) / 1e9:.2f}" != gflops               # without the aux head it is not reached
    assert result.layer("out").output == result.layer("aux").output == (21, 520, 520)
    assert result.layers[-1].name == "out"                           # the final RF is the main head's


def test_fcn_resnet50_dilates_like_replace_stride_with_dilation():
    graph = analysis("fcn_resnet50").graph
    conv2 = {node.name: node.params for node in graph.nodes if node.name.endswith(".conv2")}
    # torchvision's _make_layer(dilate=True): the stage's first block keeps the previous dilation
    # (and stride 1), the others use twice it; a 3×3 pads by its dilation, so 65×65 is kept
    expected = {"layer2.0": (2, 1), "layer3.0": (1, 1), "layer3.5": (1, 2), "layer4.0": (1, 2), "layer4.1": (1, 4),
                "layer4.2": (1, 4)}
    for block, (stride, dilation) in expected.items():
        params = conv2[f"{block}.conv2"]
        assert params["stride"] == (stride, stride) and params["dilation"] == (dilation, dilation)
        assert params["padding"] == ((dilation, dilation), (dilation, dilation))


def test_densenet121_by_hand():
    params, channels = conv(3, 64, 7, bias=False) + 2 * 64, 64
    for block, layers in enumerate((6, 12, 24, 16)):
        for _ in range(layers):  # BN, 1×1 conv to 4·32, BN, 3×3 conv to 32
            params += 2 * channels + conv(channels, 128, 1, bias=False) + 2 * 128 + conv(128, 32, 3, bias=False)
            channels += 32
        if block < 3:            # transition: BN, 1×1 conv halving the channels
            params += 2 * channels + conv(channels, channels // 2, 1, bias=False)
            channels //= 2
    params += 2 * channels + channels * 1000 + 1000
    result = analysis("densenet121")
    assert channels == 1024 and result.total("params") == params
    assert output_of(result, "denseblock1") == (256, 56, 56)
    assert output_of(result, "transition3") == (512, 7, 7)
    assert result.layer("norm5").output == (1024, 7, 7)


def test_squeezenet1_1_by_hand():
    fires = [(64, 16, 64), (128, 16, 64), (128, 32, 128), (256, 32, 128), (256, 48, 192), (384, 48, 192),
             (384, 64, 256), (512, 64, 256)]
    params = conv(3, 64, 3) + sum(conv(i, s, 1) + conv(s, e, 1) + conv(s, e, 3) for i, s, e in fires) + conv(512, 1000, 1)
    result = analysis("squeezenet1_1")
    assert result.total("params") == params
    # 224 → 111 (3×3/2) → 55 → 27 → 13, the pools in ceil mode
    assert [layer.output[1] for layer in result.layers if layer.type == "maxpool"] == [55, 27, 13]


def test_resnext_and_wide_resnet_differ_from_resnet50_only_in_the_bottleneck():
    resnet, resnext, wide = analysis("resnet50"), analysis("resnext50_32x4d"), analysis("wide_resnet50_2")
    assert resnext.layer("layer1.0.conv2").params == 128 * (128 // 32) * 9        # 32 groups of 4 channels
    assert wide.layer("layer1.0.conv2").params == 128 * 128 * 9
    assert resnet.layer("layer4.2.conv2").params == 512 * 512 * 9
    assert wide.layer("layer4.2.conv2").params == 1024 * 1024 * 9                 # 2048-1024-2048
    for other in (resnext, wide):
        assert [layer.output for layer in other.layers if layer.name.endswith("relu3")] == \
            [layer.output for layer in resnet.layers if layer.name.endswith("relu3")]


def test_regnet_y_400mf_stages_follow_the_quantized_linear_rule():
    import math
    # RegNet's rule (Radosavovic et al. 2020, §3.3): u_j = w_0 + w_a·j, s_j = round(log(u_j/w_0)/log(w_m)),
    # w_j = round(w_0·w_m^s_j / 8)·8; a stage is a run of equal widths
    depth, w_0, w_a, w_m = 16, 48, 27.89, 2.09
    widths = [round(w_0 * w_m ** round(math.log((w_0 + w_a * j) / w_0) / math.log(w_m)) / 8) * 8 for j in range(depth)]
    stages = sorted(set(widths))
    depths = [widths.count(w) for w in stages]
    assert (stages, depths) == ([48, 104, 208, 440], [1, 3, 6, 6])
    result = analysis("regnet_y_400mf")
    for index, (width, count) in enumerate(zip(stages, depths), start=1):
        stage = [layer.name for layer in result.layers if layer.name.startswith(f"block{index}.")]
        assert len({name.split(".")[1] for name in stage}) == count or count == 1
        assert output_of(result, f"block{index}")[0] == width
    # squeeze-excitation width: round(0.25 · the block's input width); groups of 8 channels in the 3×3
    assert result.layer("block2.0.se.fc1").output[0] == 12 and result.layer("block2.1.se.fc1").output[0] == 26
    assert result.layer("block4.0.b").params == 440 * 8 * 9


# --- issue 9, the structural types: ShuffleNetV2 (channel split and shuffle) ---------------------
# torchvision's shufflenetv2.py, ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1: "num_params": 2278604,
# "_ops": 0.145 (the docs print 0.14)
ZOO["shufflenet_v2_x1_0"] = ("ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1", 2_278_604, "0.14", "0.145")
SHUFFLENET_STAGES = ((24, 116, 4, 28), (116, 232, 8, 14), (232, 464, 4, 7))  # in, out, units, output size
SHUFFLENET_UNITS = [{"unit": {"out": 16}, "first": {"stride": 2, "down": True, "split": False}, "repeat": 3,
                     "name": "s"}]  # a stride-2 unit and two stride-1 units of 16 channels


def spec_variant(name: str, input_shape, layers):
    """A bundled spec's own blocks with another input and other top-level layers."""
    import yaml

    doc = yaml.safe_load((SPECS / f"{name}.yaml").read_text(encoding="utf-8"))
    doc.update(input=list(input_shape), layers=layers)
    return analyze_graph(build_graph(load_spec_text(yaml.safe_dump(doc, sort_keys=False), f"{name}_variant.yaml")))


def test_shufflenet_v2_cites_and_equals_torchvisions_figures():
    test_zoo_spec_header_cites_its_weights_and_figures("shufflenet_v2_x1_0")
    test_zoo_totals_equal_torchvisions_published_figures("shufflenet_v2_x1_0")


def test_shufflenet_v2_by_hand():
    # torchvision's InvertedResidual, b = out / 2 channels per branch; batchnorm 2C
    def down(inp, out, h):  # stride 2: branch1 (3×3/2 dw, BN, 1×1, BN) beside branch2 on the whole input
        b = out // 2
        params = inp * 9 + 2 * inp + inp * b + 2 * b + inp * b + 2 * b + b * 9 + 2 * b + b * b + 2 * b
        macs = inp * 9 * h * h + inp * b * h * h + inp * b * (2 * h) ** 2 + b * 9 * h * h + b * b * h * h
        return params, macs

    def basic(out, h):  # stride 1: the right half through 1×1, BN, 3×3 dw, BN, 1×1, BN; the left half passes
        b = out // 2
        return b * b + 2 * b + b * 9 + 2 * b + b * b + 2 * b, (b * b + b * 9 + b * b) * h * h

    params, macs = conv(3, 24, 3, bias=False) + 2 * 24, 24 * 112 * 112 * 3 * 9
    for inp, out, units, h in SHUFFLENET_STAGES:
        for p, m in [down(inp, out, h)] + [basic(out, h)] * (units - 1):
            params, macs = params + p, macs + m
    params += conv(464, 1024, 1, bias=False) + 2 * 1024 + 1024 * 1000 + 1000
    macs += 464 * 1024 * 7 * 7 + 1024 * 1000
    result = analysis("shufflenet_v2_x1_0")
    assert (result.total("params"), result.total("macs")) == (params, macs) == (2_278_604, 144_907_992)
    for index, (_, out, units, h) in enumerate(SHUFFLENET_STAGES, start=2):
        assert output_of(result, f"stage{index}") == (out, h, h)
        assert result.layer(f"stage{index}.1.left").output == (out // 2, h, h)     # x.chunk(2, dim=1)
        assert f"stage{index}.{units - 1}.shuffle" in {layer.name for layer in result.layers}


def test_shufflenet_v2_units_against_torch():
    """A stride-2 and a stride-1 unit of the spec against the same units written in PyTorch as
    torchvision writes them (chunk, cat, channel_shuffle by view/transpose), with the same weights."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from netcalc.executor import Executor

    result = spec_variant("shufflenet_v2_x1_0", [8, 10, 10], SHUFFLENET_UNITS)
    ex = Executor(result.graph, dtype=np.float64, seed=1)
    w = {k: torch.tensor(v) for k, v in ex.weights.items()}
    f = torch.nn.functional

    def seq(x, prefix, steps):
        for kind, name, stride in steps:
            key = f"{prefix}.{name}"
            if kind == "bn":
                x = f.batch_norm(x, w[f"{key}.running_mean"], w[f"{key}.running_var"], w[f"{key}.weight"],
                                 w[f"{key}.bias"], eps=1e-5)
            elif kind == "relu":
                x = torch.relu(x)
            else:
                weight = w[f"{key}.weight"]
                x = f.conv2d(x, weight, None, stride, weight.shape[-1] // 2, 1, x.shape[1] if kind == "dw" else 1)
        return x

    def unit(x, prefix, stride):
        branch2 = [("pw", "branch2_pw1", 1), ("bn", "branch2_bn1", 0), ("relu", "", 0), ("dw", "branch2_dw", stride),
                   ("bn", "branch2_bn2", 0), ("pw", "branch2_pw2", 1), ("bn", "branch2_bn3", 0), ("relu", "", 0)]
        if stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, seq(x2, prefix, branch2)), dim=1)
        else:
            branch1 = [("dw", "branch1_dw", 2), ("bn", "branch1_bn1", 0), ("pw", "branch1_pw", 1),
                       ("bn", "branch1_bn2", 0), ("relu", "", 0)]
            out = torch.cat((seq(x, prefix, branch1), seq(x, prefix, branch2)), dim=1)
        n, c, h, wd = out.shape
        return out.view(n, 2, c // 2, h, wd).transpose(1, 2).contiguous().view(n, c, h, wd)

    x = ex.random_input(2, seed=2)
    expected = unit(unit(unit(torch.tensor(x), "s.0", 2), "s.1", 1), "s.2", 1).numpy()
    np.testing.assert_allclose(ex.forward(x, keep=True).outputs["s.2.shuffle"], expected, rtol=1e-10, atol=1e-12)


# --- issue 9, the structural types: CycleGAN's ResNet generator (reflection padding) ------------
CYCLEGAN = "cyclegan_resnet_generator"


def _mini_cyclegan(ngf=4, blocks=2, size=12):
    """c7s1-ngf, d(2·ngf), R(2·ngf) × blocks, u(ngf), c7s1-3: the generator's layers at a small width."""
    return [{"pad": {"padding": 3, "mode": "reflect"}}, {"conv": {"out": ngf, "kernel": 7}, "name": "c7"},
            "instancenorm", "relu", {"conv": {"out": 2 * ngf, "kernel": 3, "stride": 2, "padding": 1}, "name": "d"},
            "instancenorm", "relu", {"resnet_block": {"dim": 2 * ngf}, "repeat": blocks, "name": "R"},
            {"conv_transpose": {"out": ngf, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}, "name": "u"},
            "instancenorm", "relu", {"pad": {"padding": 3, "mode": "reflect"}}, {"conv": {"out": 3, "kernel": 7},
                                                                                  "name": "c7_out"}, "tanh"]


def test_cyclegan_generator_header_names_its_sources_and_figures():
    text = header(CYCLEGAN)
    for words in ("Zhu, Park, Isola and Efros", "2017", "junyanz/pytorch-CycleGAN-and-pix2pix", "11378179",
                  "#169", "GAN Compression", "2020", "11.3M", "56.8G", "Published"):
        assert words in text, words


def test_cyclegan_generator_by_hand_and_against_the_published_figures():
    import math

    # (C_in, C_out, k, output size) of every conv: c7s1-64, d128, d256, 9 blocks of two 3×3 convs, c7s1-3;
    # every conv keeps its bias (InstanceNorm2d has no affine shift to replace it)
    convs = [(3, 64, 7, 256), (64, 128, 3, 128), (128, 256, 3, 64)] + [(256, 256, 3, 64)] * 18 + [(64, 3, 7, 256)]
    transposed = [(256, 128, 3, 64), (128, 64, 3, 128)]  # u128, u64: (C_in, C_out, k, input size)
    params = sum(conv(ci, co, k) for ci, co, k, _ in convs + transposed)
    macs = sum(co * h * h * ci * k * k for ci, co, k, h in convs) + sum(ci * h * h * co * k * k
                                                                       for ci, co, k, h in transposed)
    result = analysis(CYCLEGAN)
    assert result.total("params") == params == 11_378_179           # the authors' code prints 11378179
    assert math.floor(params / 1e5) / 10 == 11.3                    # GAN Compression: 11.3M (truncated)
    assert result.total("macs") == macs == 49_551_507_456
    assert result.total("buffers") == 0                             # no running statistics
    # GAN Compression's 56.8G counts a transposed conv by its output, C_out·Π(out)·C_in·Πk: here 4 ×
    # the products actually formed, which netcalc counts (contract §4)
    ups = [layer for layer in result.layers if layer.type == "conv_transpose"]
    by_output = sum(layer.output[0] * layer.output[1] * layer.output[2] * layer.node.in_shape[0] * 9 for layer in ups)
    assert by_output == 4 * sum(layer.macs for layer in ups)
    assert f"{(result.total('macs') + by_output - sum(layer.macs for layer in ups)) / 1e9:.1f}" == "56.8"
    assert f"{result.total('macs') / 1e9:.1f}" == "49.6"
    # shapes: 256 → 128 → 64 through the blocks → 128 → 256, three channels out
    assert output_of(result, "R256") == (256, 64, 64) and result.layers[-1].output == (3, 256, 256)
    assert result.layer("pad_in").output == (3, 262, 262) and result.layer("R256.0.pad1").output == (256, 66, 66)


def test_cyclegan_with_affine_instance_norms_is_the_older_published_count():
    # the code's first version had InstanceNorm2d(affine=True) (its issue #45 prints "Total number of
    # parameters: 11388675"): 2C more per norm, 2·(64 + 128 + 256 + 18·256 + 128 + 64) = 10,496
    text = (SPECS / f"{CYCLEGAN}.yaml").read_text(encoding="utf-8").replace("{instancenorm: ,", "{instancenorm: {affine: true},")
    result = analyze_graph(build_graph(load_spec_text(text, "affine.yaml")))
    assert result.total("params") == 11_378_179 + 10_496 == 11_388_675


def test_cyclegan_generator_small_verify_rf():
    # the full generator's probe needs tens of GiB; its layers and blocks at a small width do not
    from netcalc import rfprobe

    checks = rfprobe.measure(spec_variant(CYCLEGAN, [3, 12, 12], _mini_cyclegan()), memory_limit=600 * 2**20)
    assert checks and all(c.status == "ok" for c in checks), [c for c in checks if c.status != "ok"]


def test_cyclegan_reflection_pads_equal_padding_mode_reflect():
    """ReflectionPad2d(p) + Conv2d(padding=0) is Conv2d(padding=p, padding_mode='reflect'): the spec's
    layers rewritten that way compute the same outputs with the same weights."""
    import numpy as np

    from netcalc.executor import Executor

    layers = _mini_cyclegan()
    with_pads = spec_variant(CYCLEGAN, [3, 12, 12], layers)
    folded = [dict(entry, conv={**entry["conv"], "padding": 3, "padding_mode": "reflect"})
              if isinstance(entry, dict) and entry.get("name", "").startswith("c7") else entry
              for entry in layers if not (isinstance(entry, dict) and "pad" in entry)]
    with_modes = spec_variant(CYCLEGAN, [3, 12, 12], folded)
    assert with_modes.total("params") == with_pads.total("params")
    assert with_modes.total("macs") == with_pads.total("macs")
    ex = Executor(with_pads.graph, dtype=np.float64, seed=3)
    x = ex.random_input(2, seed=4)
    y = ex.forward(x, keep=True).outputs["tanh1"]
    same = Executor(with_modes.graph, weights=ex.weights, dtype=np.float64).forward(x, keep=True).outputs["tanh1"]
    np.testing.assert_allclose(same, y, rtol=1e-12, atol=1e-12)


def test_cyclegan_generator_against_torch():
    """The small-width generator against the same network written as the authors' ResnetGenerator
    builds it (ReflectionPad2d, Conv2d, InstanceNorm2d, ReLU, ConvTranspose2d, Tanh), same weights."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from netcalc.executor import Executor

    a = spec_variant(CYCLEGAN, [3, 12, 12], _mini_cyclegan(blocks=2))
    ex = Executor(a.graph, dtype=np.float64, seed=5)
    nn = torch.nn

    def conv2d(name, cin, cout, k, **kw):
        module = nn.Conv2d(cin, cout, k, **kw).double()
        with torch.no_grad():
            module.weight.copy_(torch.tensor(ex.weights[f"{name}.weight"]))
            module.bias.copy_(torch.tensor(ex.weights[f"{name}.bias"]))
        return module

    def norm(c):
        return nn.InstanceNorm2d(c)  # affine=False, track_running_stats=False: the code's 'instance'

    class Block(nn.Module):
        def __init__(self, name, dim):
            super().__init__()
            self.body = nn.Sequential(nn.ReflectionPad2d(1), conv2d(f"{name}.conv1", dim, dim, 3), norm(dim), nn.ReLU(),
                                      nn.ReflectionPad2d(1), conv2d(f"{name}.conv2", dim, dim, 3), norm(dim))

        def forward(self, x):
            return x + self.body(x)

    up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1).double()
    with torch.no_grad():
        up.weight.copy_(torch.tensor(ex.weights["u.weight"]))
        up.bias.copy_(torch.tensor(ex.weights["u.bias"]))
    model = nn.Sequential(nn.ReflectionPad2d(3), conv2d("c7", 3, 4, 7), norm(4), nn.ReLU(),
                          conv2d("d", 4, 8, 3, stride=2, padding=1), norm(8), nn.ReLU(), Block("R.0", 8), Block("R.1", 8),
                          up, norm(4), nn.ReLU(), nn.ReflectionPad2d(3), conv2d("c7_out", 4, 3, 7), nn.Tanh())
    x = ex.random_input(2, seed=6)
    np.testing.assert_allclose(ex.forward(x, keep=True).outputs["tanh1"], model(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-8)
# --- issue 9, normalisation family: ConvNeXt, EfficientNet, a GroupNorm diffusion U-Net -------------

def test_convnext_tiny_by_hand():
    # torchvision's convnext_tiny term by term: stem conv 4×4 s4 + LayerNorm2d; block(d) = dw 7×7
    # (49d + d) + LayerNorm (2d) + Linear d→4d (4d² + 4d) + Linear 4d→d (4d² + d) + layer scale d;
    # downsample(d) = LayerNorm2d (2d) + conv 2×2 s2 d→2d (8d² + 2d); head LayerNorm (2·768) + Linear
    def block(d):
        return 50 * d + 2 * d + 4 * d * d + 4 * d + 4 * d * d + d + d

    def down(d):
        return 2 * d + 8 * d * d + 2 * d

    params = (3 * 96 * 16 + 96 + 2 * 96 + 3 * block(96) + down(96) + 3 * block(192) + down(192) + 9 * block(384)
              + down(384) + 3 * block(768) + 2 * 768 + 768 * 1000 + 1000)
    # MACs: stem 96·56²·3·16; block at side s: dw d·s²·49 + 2 Linear 4d²·s²; downsample 2d·(s/2)²·4d
    macs = (96 * 56 * 56 * 48 + 3 * (96 * 56 ** 2 * 49 + 8 * 96 ** 2 * 56 ** 2) + 192 * 28 ** 2 * 4 * 96
            + 3 * (192 * 28 ** 2 * 49 + 8 * 192 ** 2 * 28 ** 2) + 384 * 14 ** 2 * 4 * 192
            + 9 * (384 * 14 ** 2 * 49 + 8 * 384 ** 2 * 14 ** 2) + 768 * 7 ** 2 * 4 * 384
            + 3 * (768 * 7 ** 2 * 49 + 8 * 768 ** 2 * 7 ** 2) + 768 * 1000)
    result = analysis("convnext_tiny")
    assert (result.total("params"), result.total("macs")) == (params, macs)
    # the layer scale γ is one value per channel, as torchvision's (C, 1, 1) parameter
    assert result.layer("stage4.2.layer_scale").params == 768
    assert result.layer("stage3.8.add").output == (384, 14, 14)
    assert result.total("buffers") == 0  # no batchnorm anywhere


def test_efficientnet_b0_layout():
    result = analysis("efficientnet_b0")
    # squeeze-excitation squeezes to max(1, block input // 4): 16 // 4 = 4 in stage2.0, 112 // 4 = 28 in stage6.0
    assert result.layer("stage2.0.se_fc1").output == (4, 1, 1)
    assert result.layer("stage6.0.se_fc1").output == (28, 1, 1)
    assert result.layer("stage6.0.se_scale").output == (672, 7, 7)
    # a residual with stochastic depth only where stride 1 and in = out: 16 blocks, 9 residuals
    assert sum(layer.type == "drop_path" for layer in result.layers) == 9
    # every batchnorm has 2C running statistics: the buffers are exactly the batchnorm params
    assert result.total("buffers") == sum(layer.params for layer in result.layers if layer.type == "batchnorm")


def ddpm_unet_by_hand(attention: bool = False, time_embedding: bool = False):
    """(params, MACs) of diffusers' UNet2DModel with google/ddpm-cifar10-32's config, worked from
    diffusers' layout: channels (128, 256, 256, 256), 2 resnets per down block, 3 per up block, 32
    groups, 32×32 input. With `attention` and `time_embedding`, the parts the spec leaves out."""
    params = macs = 0

    def conv(cin, cout, k, side):
        nonlocal params, macs
        params += cout * cin * k * k + cout
        macs += cout * side * side * cin * k * k

    def resnet(cin, cout, side):
        nonlocal params
        params += 2 * cin + 2 * cout  # two GroupNorms
        conv(cin, cout, 3, side)
        conv(cout, cout, 3, side)
        if cin != cout:
            conv(cin, cout, 1, side)
        if time_embedding:
            params += 512 * cout + cout  # time_emb_proj: Linear(512, cout)

    def attn(c):
        nonlocal params
        params += 2 * c + 4 * (c * c + c) if attention else 0  # GroupNorm, q, k, v, out

    channels, side, skips = [128, 256, 256, 256], 32, []
    conv(3, 128, 3, 32)
    skips.append(128)
    cin = 128
    for i, cout in enumerate(channels):
        for _ in range(2):
            resnet(cin, cout, side)
            attn(cout) if i == 1 else None  # AttnDownBlock2D at 16×16
            cin = cout
            skips.append(cout)
        if i < 3:
            conv(cout, cout, 3, side // 2)  # Downsample2D (pad (0, 1), 3×3 stride 2)
            side //= 2
            skips.append(cout)
    resnet(256, 256, side)
    attn(256)
    resnet(256, 256, side)
    for i, cout in enumerate(reversed(channels)):
        for _ in range(3):
            resnet(cin + skips.pop(), cout, side)
            attn(cout) if i == 2 else None  # AttnUpBlock2D at 16×16
            cin = cout
        if i < 3:
            side *= 2
            conv(cout, cout, 3, side)  # Upsample2D: nearest ×2, 3×3 conv
    params += 2 * 128  # conv_norm_out
    conv(128, 3, 3, 32)
    if time_embedding:
        params += (128 * 512 + 512) + (512 * 512 + 512)  # TimestepEmbedding: Linear(128, 512), Linear(512, 512)
    assert not skips
    return params, macs


def test_diffusion_unet_by_hand():
    result = analysis("diffusion_unet")
    assert (result.total("params"), result.total("macs")) == ddpm_unet_by_hand() == (31_274_627, 5_711_331_328)
    assert result.layers[-1].output == (3, 32, 32)
    assert result.layer("up3_cat0").output == (384, 32, 32)  # 256 up-sampled + the 128-channel skip
    assert result.layer("down0.ds").output == (128, 16, 16)  # pad (0, 1) then 3×3 stride 2: 32 → 16
    # GroupNorm everywhere, 32 groups of C/32 channels
    norms = [layer for layer in result.layers if layer.type == "groupnorm"]
    assert len(norms) == 2 * (8 + 2 + 12) + 1


def test_diffusion_unet_relation_to_ddpm_cifar10():
    """With the attention blocks and the timestep embedding the spec leaves out (counted by hand),
    the total is DDPM's published CIFAR-10 model size: 35.7 million parameters (Ho et al. 2020,
    appendix B)."""
    params, _ = ddpm_unet_by_hand(attention=True, time_embedding=True)
    assert f"{params / 1e6:.1f}" == "35.7"
    assert "35.7 million" in header("diffusion_unet")


def test_shufflenet_v2_units_verify_rf():
    # the whole network's probe is far above the test budget; its block (split, both branches,
    # concat, shuffle) at a small size is not: every channel of a position has its field, whichever
    # branch the shuffle brought it from
    from netcalc import rfprobe

    result = spec_variant("shufflenet_v2_x1_0", [8, 12, 12], SHUFFLENET_UNITS)
    checks = rfprobe.measure(result, memory_limit=600 * 2**20)
    assert len(checks) == len(result.layers) and all(c.status == "ok" for c in checks), \
        [c for c in checks if c.status != "ok"]
