"""The resolved network: every primitive layer with its inputs, parsed parameters and output
shape, in execution order. Errors carry the file, line and layer name."""

from __future__ import annotations

from dataclasses import dataclass

from netcalc.errors import SpecError
from netcalc.layers import Node, lookup
from netcalc.params import parse_params
from netcalc.spec import Spec


@dataclass
class Graph:
    spec: Spec
    nodes: list[Node]

    @property
    def input_shape(self):
        return self.spec.input_shape

    def node(self, name: str) -> Node:
        return self.by_name[name]

    @property
    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}


def build_graph(spec: Spec) -> Graph:
    shapes = {"input": spec.input_shape}
    nodes = []
    for decl in spec.layers:
        try:
            node = _resolve(decl, shapes)
        except SpecError as exc:
            raise exc.located(decl.loc, decl.name) from None
        shapes[node.name] = node.out_shape
        nodes.append(node)
    return Graph(spec, nodes)


def _resolve(decl, shapes) -> Node:
    kind = lookup(decl.type_name, decl.loc)
    in_shapes = [shapes[name] for name in decl.inputs]
    count = len(in_shapes)
    if count < kind.min_inputs or (kind.max_inputs is not None and count > kind.max_inputs):
        if kind.max_inputs is None:
            raise SpecError(f"{kind.name} needs at least {kind.min_inputs} inputs: list them in "
                            f"'from', e.g. from: [a, b]")
        raise SpecError(f"{kind.name} takes {kind.max_inputs} input, got {count} in 'from'")
    first = in_shapes[0]
    if kind.needs_spatial and len(first) < 2:
        raise SpecError(f"{kind.name} needs a tensor with spatial dims [C, …], but its input "
                        f"'{decl.inputs[0]}' is flat {list(first)}")
    if kind.needs_flat and len(first) != 1:
        raise SpecError(f"{kind.name} needs a flat vector [F], but its input '{decl.inputs[0]}' is "
                        f"{list(first)}: put a 'flatten' (or a global pooling then 'flatten') before it")
    params = parse_params(kind.params, decl.raw, len(first) - 1, kind.name, decl.loc)
    node = Node(decl.name, kind, params, list(decl.inputs), in_shapes, decl.loc, raw=decl.raw)
    node.geometry = kind.configure(node)
    node.out_shape = tuple(kind.output_shape(node))
    if min(node.out_shape) < 1:
        raise SpecError(f"output shape {list(node.out_shape)} is empty")
    return node


def resolve_layer(decl, shapes: dict) -> Node:
    """One declared layer resolved against the output shapes of the layers before it (by name),
    for loaders that need shapes while they read (the ONNX reader)."""
    return _resolve(decl, shapes)
