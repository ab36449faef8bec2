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
