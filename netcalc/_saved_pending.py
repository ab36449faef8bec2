"""TEMPORARY (issue 12, until the issue-8 registry refactor is on main): the per-type
saved-for-backward declarations, set on the registry entries from one place. They move into
each layer type's own file once the refactor lands, and this module goes away."""

from __future__ import annotations

from math import prod

from netcalc import saved as S
from netcalc.layers import load_all


def _lrn_padded(node):
    c, size = node.in_shape[0], node.params["size"]
    return (c + size - 1) * prod(node.in_shape[1:])


def _elements(node):
    return prod(node.in_shape)


LRN = (S.INPUT, S.Temporary("its squared input padded on channels ((C + size − 1)·Πs)", _lrn_padded),
       S.Temporary("the base k + α·avg of the denominator (input size)", _elements),
       S.Temporary("the denominator (input size)", _elements))

DECLARED = {
    "conv": (S.INPUT,), "depthwise": (S.INPUT,), "conv_transpose": (S.INPUT,), "linear": (S.INPUT,),
    "flatten": (S.VIEW,), "identity": (S.VIEW,),
    "relu": (S.OUTPUT,), "sigmoid": (S.OUTPUT,), "tanh": (S.OUTPUT,), "softmax": (S.OUTPUT,),
    "relu6": (S.INPUT,), "leaky_relu": (S.INPUT,), "gelu": (S.INPUT,), "silu": (S.INPUT,),
    "hardswish": (S.INPUT,),
    "dropout": (S.MASK,), "batchnorm": (S.INPUT, S.Stats(2, "channel")), "lrn": LRN,
    "maxpool": (S.INPUT, S.INDICES), "avgpool": (S.INPUT,),
    "adaptive_maxpool": (S.INPUT, S.INDICES), "global_maxpool": (S.INPUT, S.INDICES),
    "add": (), "concat": (), "mul": (S.OTHER_INPUTS,), "upsample": (),
}


def _adaptive_avg(node):
    # PyTorch computes an all-ones adaptive average as a mean, which keeps only sizes
    return () if all(s == 1 for s in node.out_shape[1:]) else (S.INPUT,)


def _spp(node):
    if node.params["mode"] == "max":
        return (S.INPUT, S.INDICES)
    return () if all(level == 1 for level in node.params["levels"]) else (S.INPUT,)


CONDITIONAL = {
    "adaptive_avgpool": (_adaptive_avg, "its input; nothing when every output size is 1 (a mean)"),
    "global_avgpool": (_adaptive_avg, "nothing (a mean keeps only sizes)"),
    "spp": (_spp, "max: its input and int64 indices the size of its output; avg: its input "
                  "(nothing when every level is 1)"),
}


def apply() -> None:
    registry = load_all()
    for name, decl in DECLARED.items():
        if name in registry:
            registry[name].saved = decl
    for name, (rule, text) in CONDITIONAL.items():
        if name in registry:
            kind = registry[name]
            kind.saved_for_backward = rule
            kind.saved_rule = text
    if "batchnorm" in registry:
        registry["batchnorm"].family = "norm"
    if "lrn" in registry:
        registry["lrn"].family = "norm"


apply()
