"""The liveness plan of a forward pass: which activations are alive at each layer.

The reference executor runs layers in file order and drops an activation as soon as its last
reader has run (reference counting). This module is that plan, on names only (no numpy), so the
executor frees by it and the memory analysis (`netcalc.memory`) sizes the same schedule: one
plan, two users.
"""

from __future__ import annotations

from dataclasses import dataclass


def last_use(graph) -> dict[str, int]:
    """Activation name ('input' or a layer name) → index of the last layer that reads it.
    Outputs nobody reads (the network's output, dead ends) have no entry: they stay alive."""
    last = {}
    for i, node in enumerate(graph.nodes):
        for name in node.inputs:
            last[name] = i
    return last


@dataclass(frozen=True)
class Step:
    """Layer `index` runs while `live` (names, its inputs among them) are alive, allocates its
    output, then `frees` (the inputs whose last reader it is) are dropped."""

    index: int
    node: object
    live: tuple[str, ...]
    frees: tuple[str, ...]


def plan(graph) -> list[Step]:
    last = last_use(graph)
    live = {"input": None}  # an ordered set
    steps = []
    for i, node in enumerate(graph.nodes):
        frees = tuple(dict.fromkeys(name for name in node.inputs if last.get(name) == i))
        steps.append(Step(i, node, tuple(live), frees))
        live[node.name] = None
        for name in frees:
            del live[name]
    return steps


def peak(graph, size_of) -> tuple[int, str | None]:
    """The largest sum of size_of(name) over the activations alive at once (a layer's inputs
    and its new output together), and the layer where it happens. size_of('input') is the
    network input's share; pass 0 for it when the caller keeps the input alive separately.
    The same schedule as plan(), swept with a running total so that it stays linear in the
    number of layers (outputs nobody reads stay alive: summing the live set at every step
    would be quadratic)."""
    last = last_use(graph)
    alive = size_of("input")
    best, where = alive, None
    for i, node in enumerate(graph.nodes):
        output = size_of(node.name)
        if alive + output > best:
            best, where = alive + output, node.name
        alive += output - sum(size_of(name) for name in dict.fromkeys(node.inputs) if last.get(name) == i)
    return best, where
