"""What a layer keeps for its backward pass in training: the vocabulary of the per-type
declarations in the layer registry (`LayerType.saved`).

A declaration is a tuple of the items below, one per tensor PyTorch's autograd saves for that
type's backward in training mode (parameters and buffers are not listed: they are not
activations). Examples: conv `(INPUT,)`, relu `(OUTPUT,)`, batchnorm `(INPUT, Stats(2, "channel"))`,
maxpool `(INPUT, INDICES)`, dropout `(MASK,)`, add `()`, flatten `(VIEW,)`.

Each item turns into `Stored` tensors for one node: a key saying which tensor it is (so a tensor
several layers keep is counted once), its bytes at the run's batch and activation itemsize, and
a line of arithmetic for `netcalc explain`. netcalc.memory applies the declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import NamedTuple


class Stored(NamedTuple):  # a tuple: made for every saved tensor of every layer, cheaply
    key: tuple  # ("act", storage) for an activation, (layer, what) for a tensor of the layer's own
    bytes: int
    template: str  # the arithmetic, filled in only when shown (explain: most reports never show it)
    values: tuple = ()

    @property
    def text(self) -> str:
        """The arithmetic, e.g. `its input [64, 56, 56]: 2·200704 elements · 2 B = 802,816 B`."""
        return self.template.format(*self.values)


@dataclass(frozen=True)
class SavedContext:
    """What the items need to size themselves: the batch, the activation itemsize, the storage
    behind each activation name (a view shares its source's) and which activations need a
    gradient."""

    batch: int
    itemsize: int
    storage: dict  # activation name → the name of the tensor that owns its memory
    shapes: dict  # activation name → per-sample shape
    needs_grad: dict  # activation name → bool

    def activation(self, name: str, label: str) -> Stored:
        """The tensor behind activation `name`: a view (flatten, slice) keeps its whole source
        alive, so it is sized by the tensor that owns the memory."""
        owner = self.storage[name]
        shape = self.shapes[owner]
        n = prod(shape)
        total = self.batch * n * self.itemsize
        view = "" if owner == name else f" (a view of '{owner}')"
        return Stored(("act", owner), total, "{}{} {}: {}·{} elements · {} B = {:,} B",
                      (label, view, list(shape), self.batch, n, self.itemsize, total))

    def own(self, node, what: str, elements: int, itemsize: int, label: str) -> Stored:
        total = elements * itemsize
        return Stored((node.name, what), total, "{}: {:,} elements · {} B = {:,} B",
                      (label, elements, itemsize, total))


class Keep:
    """One kind of saved tensor. `text` is its README wording."""

    text = ""

    def tensors(self, node, ctx: SavedContext) -> list[Stored]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<keeps {self.text}>"


class _Input(Keep):
    text = "its input"

    def tensors(self, node, ctx):
        return [ctx.activation(node.inputs[0], "its input")]


class _Inputs(Keep):
    text = "each of its inputs"

    def tensors(self, node, ctx):
        return [ctx.activation(name, f"input '{name}'") for name in dict.fromkeys(node.inputs)]


class _OtherInputs(Keep):
    text = "for each input that needs a gradient, the other inputs (a product's factors)"

    def tensors(self, node, ctx):
        out = {}
        for i, name in enumerate(node.inputs):
            if ctx.needs_grad[name]:
                for j, other in enumerate(node.inputs):
                    if j != i:
                        out[other] = ctx.activation(other, f"input '{other}'")
        return list(out.values())


class _Output(Keep):
    text = "its output"

    def tensors(self, node, ctx):
        return [ctx.activation(node.name, "its output")]


_STATS_PER = {
    # how many statistics of each kind a layer keeps: (README wording, count for one node)
    "channel": ("per channel, once per batch", lambda node, batch: node.in_shape[0]),  # batchnorm
    "sample_channel": ("per sample and channel", lambda node, batch: batch * node.in_shape[0]),  # instancenorm
    "group": ("per sample and group", lambda node, batch: batch * node.params["groups"]),  # groupnorm
    "position": ("per sample and position", lambda node, batch: batch * prod(node.in_shape[1:])),  # layernorm
}


@dataclass(frozen=True, repr=False)
class Stats(Keep):
    """`count` float32 statistics (a normalisation's mean and inverse std) per channel, per sample
    and channel, per sample and group, or per sample and position — float32 whatever the
    activation dtype."""

    count: int = 2
    per: str = "channel"

    @property
    def text(self):
        return f"{self.count} float32 statistics {_STATS_PER[self.per][0]}"

    def tensors(self, node, ctx):
        n = _STATS_PER[self.per][1](node, ctx.batch)
        return [ctx.own(node, "stats", self.count * n, 4, f"{self.count} float32 statistics × {n:,} ({_STATS_PER[self.per][0]})")]


class _Indices(Keep):
    text = "int64 indices the size of its output"

    def tensors(self, node, ctx):
        n = ctx.batch * prod(node.out_shape)
        return [ctx.own(node, "indices", n, 8, f"int64 indices of its output {list(node.out_shape)} × batch {ctx.batch}")]


class _Mask(Keep):
    text = "a 1-byte mask per output element (PyTorch on CUDA; on the CPU a mask of the activation dtype)"

    def tensors(self, node, ctx):
        n = ctx.batch * prod(node.out_shape)
        return [ctx.own(node, "mask", n, 1, f"1-byte mask of {list(node.out_shape)} × batch {ctx.batch}")]


@dataclass(frozen=True, repr=False)
class Temporary(Keep):
    """A tensor of the activation dtype that the type's PyTorch implementation creates and
    saves on the way (lrn's padded squares, its denominators): `elements(node)` per sample."""

    label: str
    elements: object  # callable(node) -> int, per sample

    @property
    def text(self):
        return self.label

    def tensors(self, node, ctx):
        n = ctx.batch * self.elements(node)
        return [ctx.own(node, self.label, n, ctx.itemsize, self.label)]


class _View(Keep):
    """The output is a view of the input (flatten, identity): nothing is kept and the output
    shares its input's memory, so a later layer keeping it keeps the input's tensor."""

    text = "nothing (its output is a view of its input)"

    def tensors(self, node, ctx):
        return []


INPUT = _Input()
INPUTS = _Inputs()
OTHER_INPUTS = _OtherInputs()
OUTPUT = _Output()
INDICES = _Indices()
MASK = _Mask()
VIEW = _View()


def describe(declaration) -> str:
    """README wording of a declaration."""
    if declaration is None:
        return "(not declared: netcalc assumes its input)"
    if not declaration:
        return "nothing"
    return ", ".join(item.text for item in declaration)
