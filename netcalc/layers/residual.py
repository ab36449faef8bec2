"""The two helpers on today's residual branches (contract §7): `scale` (layer scale: ConvNeXt's
learnable per-channel factor γ, optionally with a shift) and `drop_path` (stochastic depth:
EfficientNet's and ConvNeXt's per-sample branch dropping, the identity at inference).

Both are pointwise: the receptive field is the input's, and `verify --rf` runs their own kernels
(with positive weights nothing can cancel).
"""

from __future__ import annotations

from netcalc.errors import SpecError
from netcalc.formula import C, ELEMENTS, Let, Metric, Opt, Tagged, flag
from netcalc.layers.base import LayerType, Node, pointwise_support, register, weight_grads
from netcalc.layers.norm import per_channel_affine, per_channel_layouts, per_channel_random, times_weight
from netcalc.params import Param
from netcalc.saved import INPUT, VIEW, Temporary

HAS_BIAS = flag("bias")
# one multiply per element, + one add per element with bias
SCALE_PER_ELEMENT = Let("f", 1 + Opt(HAS_BIAS, 1, "with bias"))


@register
class Scale(LayerType):
    name = "scale"
    aliases = ("layer_scale",)
    support = pointwise_support
    summary = "y = x·γ (+ β) per channel: layer scale (ConvNeXt), a learnable factor per channel"
    params = (Param("bias", "bool", False, doc="also a learnable shift per channel"),)
    saved = (INPUT,)  # training: x·γ keeps x for γ's gradient
    params_count = Metric(C + Opt(HAS_BIAS, C, "bias"))
    flops_count = Metric(SCALE_PER_ELEMENT * ELEMENTS, f=SCALE_PER_ELEMENT, elements=ELEMENTS,
                         gloss=Tagged(1, "multiply") + Opt(HAS_BIAS, Tagged(1, "add")),
                         lines=("per element: {gloss.worked} = {f}", "× elements {elements.worked} = {value}"))

    def weight_shapes(self, node: Node):
        c = (node.in_shape[0],)
        return {"weight": c, "bias": c} if node.params["bias"] else {"weight": c}

    def accepts_weight_shape(self, key, got, shape) -> bool:
        return per_channel_layouts(got, shape)

    def random_weights(self, node: Node, rng, positive: bool = False, dtype=None) -> dict:
        # a factor of order one (ConvNeXt starts γ at 1e-6 and learns it; any value tests the map)
        return per_channel_random(self.weight_shapes(node), rng, positive)

    def forward(self, node, inputs, weights, ctx):
        return per_channel_affine(inputs[0], weights), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        dy = grad_output
        dx = times_weight(dy, weights)
        if not ctx.weight_grads:
            return [dx], {}
        not_channel = (0, *range(2, dy.ndim))
        db = dy.sum(axis=not_channel) if "bias" in weights else None
        return [dx], weight_grads((dy * inputs[0]).sum(axis=not_channel), db)


@register
class DropPath(LayerType):
    name = "drop_path"
    aliases = ("stochastic_depth",)
    support = pointwise_support
    summary = "stochastic depth: drops a residual branch per sample in training; the identity at inference"
    params = (Param("p", "float", 0.0, minimum=0, doc="drop probability in training, at most 1"),)
    # training (torchvision's stochastic_depth): x · noise keeps the per-sample noise [N, 1, …];
    # with p = 0 it returns its input
    saved_rule = "a keep-mask value per sample (the activation dtype); nothing when p = 0 (a view)"

    def saved_for_backward(self, node: Node):
        if node.params["p"] == 0:
            return (VIEW,)
        return (Temporary("a keep-mask value per sample", lambda n: 1),)

    def configure(self, node: Node):
        if node.params["p"] > 1:
            raise SpecError(f"'p' is a probability, at most 1, got {node.params['p']}").located(node.param_loc("p"))
        return super().configure(node)

    def forward(self, node, inputs, weights, ctx):
        return inputs[0].copy(), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [grad_output.copy()], {}
