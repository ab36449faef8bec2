"""Per-layer-type tables of hand-worked cases: shape, params, MACs, FLOPs.

Every expected number is worked by hand from the seed notes' formulas, PyTorch's documented
shape formulas, or contract §4 — written out in the comment beside it, never taken from netcalc.
"""

from __future__ import annotations

import pytest

from helpers import one_layer

CASES = [
    # (id, input, entry, output, params, macs, flops)
    # seed: 5×5 input, 3×3 kernel, stride 1 → 3×3; per output 9 mults + 8 adds = 17; map 9·17 = 153
    ("conv-seed-5x5", [1, 5, 5], {"conv": {"out": 1, "kernel": 3, "bias": False}}, [1, 3, 3], 9, 81, 153),
    # with bias: + 1 add per output (18·9 = 162) and + 1 param
    ("conv-seed-bias", [1, 5, 5], {"conv": {"out": 1, "kernel": 3}}, [1, 3, 3], 10, 81, 162),
    # ResNet stem (contract §1): ⌊(224 + 6 − 6 − 1)/2⌋ + 1 = 112; 64·3·49 + 64 = 9472;
    # MACs 64·112²·3·49 = 118,013,952; FLOPs 2·147 per output · 802,816 outputs = 236,027,904
    ("conv-resnet-stem", [3, 224, 224], {"conv": {"out": 64, "kernel": 7, "stride": 2, "padding": 3}},
     [64, 112, 112], 9472, 118013952, 236027904),
    # dilated: effective kernel 2·(3−1)+1 = 5 → 10 − 5 + 1 = 6
    ("conv-dilated", [2, 10, 10], {"conv": {"out": 4, "kernel": 3, "dilation": 2, "bias": False}},
     [4, 6, 6], 4 * 2 * 9, 4 * 36 * 18, 4 * 36 * (2 * 18 - 1)),
    # grouped: 8 in, 4 out, g = 2 → weight 4·(8/2)·1 = 16; dot length 4 → 7 FLOPs per output
    ("conv-grouped", [8, 3, 3], {"conv": {"out": 4, "kernel": 1, "groups": 2, "bias": False}},
     [4, 3, 3], 16, 4 * 9 * 4, 4 * 9 * 7),
    # asymmetric padding [[0, 1], [1, 0]] on 4×4, k2: (4 + 1 − 2) + 1 = 4 both ways
    ("conv-asym-pad", [1, 4, 4], {"conv": {"out": 1, "kernel": 2, "padding": [[0, 1], [1, 0]], "bias": False}},
     [1, 4, 4], 4, 64, 16 * 7),
    # same padding, even kernel: total 3, PyTorch puts 1 before, 2 after; size kept
    ("conv-same-even", [1, 7], {"conv": {"out": 1, "kernel": 4, "padding": "same", "bias": False}},
     [1, 7], 4, 28, 7 * 7),
    # 1-D and 3-D: L = 16 − 3 + 1 = 14; 8×8×8 k3 s2 p1 → ⌊(8 + 2 − 3)/2⌋ + 1 = 4
    ("conv-1d", [2, 16], {"conv": {"out": 3, "kernel": 3}}, [3, 14], 3 * 6 + 3, 3 * 14 * 6, 3 * 14 * 12),
    ("conv-3d", [1, 8, 8, 8], {"conv": {"out": 2, "kernel": 3, "stride": 2, "padding": 1, "bias": False}},
     [2, 4, 4, 4], 54, 2 * 64 * 27, 2 * 64 * 53),
    # PyTorch long names as aliases
    ("conv-aliases", [1, 5, 5], {"conv": {"out_channels": 1, "kernel_size": 3, "bias": False}}, [1, 3, 3], 9, 81, 153),
    # depthwise: groups = C = 32, out 32; params 32·9 + 32; MACs 32·16·9
    ("depthwise", [32, 4, 4], {"depthwise": {"kernel": 3, "padding": 1}}, [32, 4, 4], 320, 4608, 32 * 16 * 18),
    ("depthwise-multiplier", [4, 4, 4], {"dwconv": {"kernel": 3, "multiplier": 2, "bias": False}},
     [8, 2, 2], 72, 8 * 4 * 9, 8 * 4 * 17),
    # PyTorch ConvTranspose: (4 − 1)·2 − 2·1 + (3 − 1) + 1 + 1 = 8; MACs input-based 1·16·2·9
    ("deconv-doc", [1, 4, 4], {"conv_transpose": {"out": 2, "kernel": 3, "stride": 2, "padding": 1,
                                                  "output_padding": 1, "bias": False}}, [2, 8, 8], 18, 288, None),
    # 1-D, n = 2, k3, s2: products land on outputs [1, 1, 2, 1, 1] → Σ(2n − 1) = 1+1+3+1+1 = 7
    ("deconv-1d-full", [1, 2], {"conv_transpose": {"out": 1, "kernel": 3, "stride": 2, "bias": False}},
     [1, 5], 3, 6, 7),
    # padding 1 crops one output each side → [1, 2, 1] → 5 FLOPs, but all 6 products are MACs
    ("deconv-1d-cropped", [1, 2], {"conv_transpose": {"out": 1, "kernel": 3, "stride": 2, "padding": 1,
                                                      "bias": False}}, [1, 3], 3, 6, 5),
    # kernel 1 stride 2: outputs 0, 2 get one product, 1 none; with bias every output + 1
    ("deconv-gaps-bias", [1, 2], {"conv_transpose": {"out": 1, "kernel": 1, "stride": 2}}, [1, 3], 2, 2, 2 + 3),
    # 2×2 stride 2, C_in 4 → C_out 2: each output gets 4 products → 7 FLOPs; 2·16² outputs
    ("deconv-2x2", [4, 8, 8], {"deconv": {"out": 2, "kernel": 2, "stride": 2, "bias": False}},
     [2, 16, 16], 32, 4 * 64 * 2 * 4, 2 * 256 * 7),
    # max pool 2×2 s2: k²·H_out·W_out·C = 4·14·14·6
    ("maxpool", [6, 28, 28], {"maxpool": {"kernel": 2}}, [6, 14, 14], 0, 0, 4 * 196 * 6),
    # ceil_mode (PyTorch): 6, k3, s2, p1: ⌈(6 + 2 − 3)/2⌉ + 1 = 4 (floor would give 3)
    ("maxpool-ceil", [1, 6, 6], {"maxpool": {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}},
     [1, 4, 4], 0, 0, 16 * 9),
    ("maxpool-floor", [1, 6, 6], {"maxpool": {"kernel": 3, "stride": 2, "padding": 1}}, [1, 3, 3], 0, 0, 9 * 9),
    # ceil_mode drop: 4, k2, s3, p1: ⌈4/3⌉ + 1 = 3, but window 2 would start at 6 ≥ 4 + 1 → 2
    ("maxpool-ceil-drop", [1, 4], {"maxpool": {"kernel": 2, "stride": 3, "padding": 1, "ceil_mode": True}},
     [1, 2], 0, 0, 4),
    # dilated max pool: effective 5 on 9 → 5
    ("maxpool-dilated", [1, 9], {"maxpool": {"kernel": 3, "stride": 1, "dilation": 2}}, [1, 5], 0, 0, 15),
    ("avgpool", [16, 10, 10], {"avgpool": {"kernel": 2}}, [16, 5, 5], 0, 0, 1600),
    # global: one per input element
    ("global-avg", [512, 7, 7], "global_avgpool", [512, 1, 1], 0, 0, 512 * 49),
    ("global-max-1d", [8, 10], "global_maxpool", [8, 1], 0, 0, 80),
    # adaptive 5 → 3: bins [0,2) [1,4) [3,5) → 2 + 3 + 2 = 7 per axis; 2-D: 7·7 per channel
    ("adaptive", [2, 5, 5], {"adaptive_avgpool": {"out": 3}}, [2, 3, 3], 0, 0, 2 * 49),
    ("adaptive-alias", [1, 6, 4], {"adaptive_maxpool": {"output_size": [3, 2]}}, [1, 3, 2], 0, 0, 6 * 4),
    # SPP [1, 2, 4] on 256×13×13: 256·(1 + 4 + 16) = 5376 features. Bins of 13 → 2: [0,7) [6,13)
    # → 14; 13 → 4: [0,4) [3,7) [6,10) [9,13) → 16; 13 → 1: 13. FLOPs 256·(13² + 14² + 16²)
    ("spp", [256, 13, 13], {"spp": {"levels": [1, 2, 4]}}, [5376], 0, 0, 256 * (169 + 196 + 256)),
    # linear: seed's V·D weights + one bias per output (not one per layer)
    ("linear", [400], {"linear": {"out": 120}}, [120], 48120, 48000, 2 * 400 * 120),
    ("linear-nobias", [10], {"fc": {"out": 3, "bias": False}}, [3], 30, 30, (2 * 10 - 1) * 3),
    ("flatten", [16, 5, 5], "flatten", [400], 0, 0, 0),
    ("relu", [2, 3, 3], "relu", [2, 3, 3], 0, 0, 18),
    ("relu6", [2, 3, 3], "relu6", [2, 3, 3], 0, 0, 36),
    ("leaky", [10], "leaky_relu", [10], 0, 0, 20),
    ("sigmoid", [10], "sigmoid", [10], 0, 0, 40),
    ("tanh", [10], "tanh", [10], 0, 0, 50),
    ("silu", [10], "silu", [10], 0, 0, 50),
    ("gelu", [10], "gelu", [10], 0, 0, 50),
    ("hardswish", [10], "hardswish", [10], 0, 0, 50),
    # contract §7: 4 per element (add 3, two compares, divide by 6); 2·3·3 = 18 elements
    ("hardsigmoid", [2, 3, 3], "hardsigmoid", [2, 3, 3], 0, 0, 4 * 18),
    # softmax over C = 10 channels at 4 positions: (3·10 − 1)·4
    ("softmax", [10, 2, 2], "softmax", [10, 2, 2], 0, 0, 29 * 4),
    ("batchnorm", [64, 8, 8], "batchnorm", [64, 8, 8], 128, 0, 2 * 64 * 64),
    # ---- contract §7 normalisations (issue 9) ----
    # layernorm over C = 96 at 56·56 positions: 5·96 + 2 = 482, + 96 (weight) + 96 (bias) = 674 per
    # position; params weight 96 + bias 96
    ("layernorm", [96, 56, 56], "layernorm", [96, 56, 56], 192, 0, 674 * 56 * 56),
    ("layernorm-nobias", [96, 7, 7], {"layernorm": {"bias": False}}, [96, 7, 7], 96, 0, (482 + 96) * 49),
    ("layernorm-plain", [96, 7, 7], {"layernorm": {"elementwise_affine": False}}, [96, 7, 7], 0, 0, 482 * 49),
    # flat [768]: one position over F = 768: 5·768 + 2 + 768 + 768 = 5378
    ("layernorm-flat", [768], "layernorm", [768], 1536, 0, 5378),
    # groupnorm 32 groups of 128 channels at 16·16: m = 4·256 = 1024 values, 5·1024 + 2 = 5122 per
    # group; affine 2 per element: 2·128·256; params 2·128
    ("groupnorm", [128, 16, 16], {"groupnorm": {"groups": 32}}, [128, 16, 16], 256, 0,
     32 * 5122 + 2 * 128 * 256),
    ("groupnorm-plain", [6, 5], {"groupnorm": {"num_groups": 3, "affine": False}}, [6, 5], 0, 0, 3 * (5 * 10 + 2)),
    # instancenorm = groupnorm with groups = C: 64 groups of m = 32·32 = 1024 values; no affine
    ("instancenorm", [64, 32, 32], "instancenorm", [64, 32, 32], 0, 0, 64 * 5122),
    ("instancenorm-affine", [64, 32, 32], {"instancenorm": {"affine": True}}, [64, 32, 32], 128, 0,
     64 * 5122 + 2 * 64 * 1024),
    # layer scale: γ per channel, 1 multiply per element (+ 1 add with bias)
    ("scale", [96, 56, 56], "layer_scale", [96, 56, 56], 96, 0, 96 * 56 * 56),
    ("scale-bias", [10], {"scale": {"bias": True}}, [10], 20, 0, 20),
    ("drop_path", [40, 28, 28], {"stochastic_depth": {"p": 0.2}}, [40, 28, 28], 0, 0, 0),
    # lrn size 5: 2·5 + 3 = 13 per element
    ("lrn", [96, 4, 4], {"lrn": {"size": 5}}, [96, 4, 4], 0, 0, 13 * 96 * 16),
    ("dropout", [10], {"dropout": {"p": 0.5}}, [10], 0, 0, 0),
    ("identity", [3, 4], "identity", [3, 4], 0, 0, 0),
    ("upsample-nearest", [2, 4, 4], {"upsample": {"scale": 2}}, [2, 8, 8], 0, 0, 0),
    # bilinear: 2^(2+1) − 1 = 7 per output element
    ("upsample-bilinear", [2, 4, 4], {"upsample": {"scale": 2, "mode": "linear"}}, [2, 8, 8], 0, 0, 7 * 128),
    ("upsample-size-3d", [1, 2, 2, 2], {"upsample": {"size": [4, 3, 5], "mode": "linear"}},
     [1, 4, 3, 5], 0, 0, 15 * 60),
    # PyTorch floors n·scale: 5 · 1.5 = 7.5 → 7
    ("upsample-fractional", [1, 5], {"upsample": {"scale_factor": 1.5}}, [1, 7], 0, 0, 0),
    # pixel_shuffle r = 2 in 2-D: C 8 / 2² = 2, spatial 3·2 = 6; 1-D r = 3: 6 / 3 = 2, 4·3 = 12;
    # 3-D r = 2: 16 / 2³ = 2, spatial doubled; a permutation, no FLOPs
    ("pixel_shuffle", [8, 3, 3], {"pixel_shuffle": {"factor": 2}}, [2, 6, 6], 0, 0, 0),
    ("pixel_shuffle-1d", [6, 4], {"pixel_shuffle": {"upscale_factor": 3}}, [2, 12], 0, 0, 0),
    ("pixel_shuffle-3d", [16, 1, 2, 3], {"pixel_shuffle": {"factor": 2}}, [2, 2, 4, 6], 0, 0, 0),
    # merges of the input with itself: (2 inputs − 1) = 1 FLOP per output element, 2·3·3 = 18
    ("add", [2, 3, 3], {"add": None, "from": ["input", "input"]}, [2, 3, 3], 0, 0, 18),
    ("mul", [2, 3, 3], {"mul": None, "from": ["input", "input"]}, [2, 3, 3], 0, 0, 18),
    # concat on channels: 2 + 2 = 4, no arithmetic
    ("concat", [2, 3, 3], {"concat": None, "from": ["input", "input"]}, [4, 3, 3], 0, 0, 0),
]

# ---- contract §7 activations (issue 9): FLOPs per element from §7's table, params of prelu ----
CASES += [
    # clip to [min, max]: two compares; 2·3·3 = 18 elements
    ("hardtanh", [2, 3, 3], "hardtanh", [2, 3, 3], 0, 0, 2 * 18),
    ("hardtanh-aliases", [5], {"hardtanh": {"min_val": 0, "max_val": 6}}, [5], 0, 0, 2 * 5),
    # compare, exp, subtract, multiply: 4 per element; 1-D [3, 7]: 21 elements
    ("elu", [3, 7], {"elu": {"alpha": 0.5}}, [3, 7], 0, 0, 4 * 21),
    ("selu", [3, 7], "selu", [3, 7], 0, 0, 5 * 21),
    # one shared slope (PyTorch's PReLU() default); per channel: C = 16 slopes; 2 per element
    ("prelu", [16, 4, 4], "prelu", [16, 4, 4], 1, 0, 2 * 256),
    ("prelu-per-channel", [16, 4, 4], {"prelu": {"per_channel": True}}, [16, 4, 4], 16, 0, 2 * 256),
    # on a flat [F] vector the channel is the feature: 10 slopes
    ("prelu-flat", [10], {"prelu": {"per_channel": True}}, [10], 10, 0, 20),
    # PyTorch's num_parameters: 1 or C
    ("prelu-num-parameters", [16, 4, 4], {"prelu": {"num_parameters": 16}}, [16, 4, 4], 16, 0, 2 * 256),
    ("prelu-num-parameters-1", [16, 4, 4], {"prelu": {"num_parameters": 1}}, [16, 4, 4], 1, 0, 2 * 256),
    ("mish", [4, 2, 2, 2], "mish", [4, 2, 2, 2], 0, 0, 5 * 32),
    # 3 per element whatever beta and threshold (contract §7)
    ("softplus", [8, 5], {"softplus": {"beta": 2, "threshold": 10}}, [8, 5], 0, 0, 3 * 40),
]


# ---- issue 9, the structural types (contract §7): worked from PyTorch's shape rules ----
CASES += [
    # channel_shuffle: a permutation of the channels, shape kept; groups 4 divides 8
    ("channel_shuffle", [8, 3, 3], {"channel_shuffle": {"groups": 4}}, [8, 3, 3], 0, 0, 0),
    # pixel_unshuffle r = 2 in 2-D: C 3·2² = 12, spatial 8 / 2 = 4, 6 / 2 = 3; 1-D r = 3: 2·3 = 6,
    # 9 / 3 = 3; 3-D r = 2: 1·2³ = 8, every size halved
    ("pixel_unshuffle", [3, 8, 6], {"pixel_unshuffle": {"factor": 2}}, [12, 4, 3], 0, 0, 0),
    ("pixel_unshuffle-1d", [2, 9], {"pixel_unshuffle": {"downscale_factor": 3}}, [6, 3], 0, 0, 0),
    ("pixel_unshuffle-3d", [1, 2, 4, 6], {"pixel_unshuffle": {"factor": 2}}, [8, 1, 2, 3], 0, 0, 0),
    # pad: n + before + after per axis: 5 + 1 + 2 = 8, 4 + 3 + 3 = 10 (CycleGAN's ReflectionPad2d(3)
    # on 256: 262); a copy, no FLOPs in any mode
    ("pad-reflect", [2, 5, 4], {"pad": {"padding": [[1, 2], 3], "mode": "reflect"}}, [2, 8, 10], 0, 0, 0),
    ("pad-reflection-pad-3", [3, 256, 256], {"pad": {"padding": 3, "mode": "reflect"}}, [3, 262, 262], 0, 0, 0),
    ("pad-constant-1d", [2, 4], {"pad": {"padding": [[0, 5]], "mode": "constant", "value": -1.5}}, [2, 9], 0, 0, 0),
    # slice: channels [2, 7) of 10 → 5; [−3, C) → 3; ShuffleNetV2's chunk(2): [0, 58) of 116 → 58
    ("slice", [10, 4, 4], {"slice": {"start": 2, "end": 7}}, [5, 4, 4], 0, 0, 0),
    ("slice-negative", [10, 4], {"slice": {"start": -3}}, [3, 4], 0, 0, 0),
    ("slice-flat", [116], {"slice": {"end": 58}}, [58], 0, 0, 0),
    # padding_mode changes no number: the conv-seed-bias case above in every mode, and the ResNet stem
    ("conv-reflect", [1, 5, 5], {"conv": {"out": 1, "kernel": 3, "padding_mode": "reflect"}}, [1, 3, 3], 10, 81, 162),
    ("conv-stem-circular", [3, 224, 224], {"conv": {"out": 64, "kernel": 7, "stride": 2, "padding": 3,
                                                    "padding_mode": "circular"}},
     [64, 112, 112], 9472, 118_013_952, 236_027_904),
    # depthwise 3×3 on 8 channels, replicate padding 1: 8·9 + 8 params; 8·6·6·9 MACs; per output 9
    # multiplies + 8 adds + 1 bias add = 18 FLOPs
    ("depthwise-replicate", [8, 6, 6], {"depthwise": {"kernel": 3, "padding": 1, "padding_mode": "replicate"}},
     [8, 6, 6], 80, 2592, 18 * 288),
]

@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hand_worked(case):
    _, input_shape, entry, output, params, macs, flops = case
    layer = one_layer(input_shape, entry)
    assert list(layer.output) == output
    assert layer.params == params
    assert layer.macs == macs
    if flops is not None:
        assert layer.flops == flops


def test_batchnorm_buffers_are_running_stats():
    assert one_layer([64, 8, 8], "batchnorm").buffers == 128


def test_separable_is_depthwise_then_pointwise():
    from helpers import analyze_spec

    a = analyze_spec([32, 8, 8], [{"separable": {"out": 64, "kernel": 3, "padding": 1}, "name": "s"}, "relu"])
    names = [layer.name for layer in a.layers]
    assert names == ["s.depthwise", "s.pointwise", "relu1"]
    # depthwise 32·9 + 32; pointwise 64·32 + 64
    assert [layer.params for layer in a.layers[:2]] == [320, 2112]
    assert a.layers[2].node.inputs == ["s.pointwise"]


def test_merge_shapes_and_flops():
    from helpers import analyze_spec

    a = analyze_spec([8, 4, 4], [
        {"conv": {"out": 8, "kernel": 3, "padding": 1}, "name": "a"},
        {"conv": {"out": 8, "kernel": 1}, "name": "b", "from": "input"},
        {"add": None, "from": ["a", "b", "input"]},
        {"concat": None, "from": ["a", "b"]},
        {"global_avgpool": None, "from": "a", "name": "g"},
        {"mul": None, "from": ["a", "g"]},
    ])
    add, concat, _, mul = a.layers[2:]
    assert add.flops == 2 * 8 * 16  # (3 inputs − 1) per output element
    assert list(concat.output) == [16, 4, 4] and concat.flops == 0
    assert list(mul.output) == [8, 4, 4] and mul.flops == 8 * 16
