"""ONNX model → Spec: the sibling of the YAML loader (netcalc.spec).

The reader walks the nodes in their (topological) order. Each node is either
- folded: all its inputs are known constants (Shape of an activation counts: its shape is known),
  so its outputs become constants (netcalc.onnx.fold);
- the root of a multi-node pattern (netcalc.onnx.patterns), emitted as the one layer it is;
- one layer, mapped by its entry in netcalc.onnx.ops.OPS;
- or an error naming the file, the node and its op type. Nothing is ever counted as zero silently.

Every emitted layer is a `LayerDecl` like the ones the YAML builder produces, resolved at once
(graph.resolve_layer) so that later nodes know its shape. Weights are never read here: each layer
keeps references to its initializers, and `Spec.weights()` reads them when `run` asks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from netcalc.errors import SpecError
from netcalc.onnx import NodeLoc, file_loc
from netcalc.spec import LayerDecl, Spec

MAX_NODES = 1_000_000


@dataclass
class Act:
    """An activation tensor: the layer that produced it and its per-sample shape."""

    layer: str
    shape: tuple[int, ...]


@dataclass
class Const:
    """A value known at load time (Constant nodes, folded shape arithmetic)."""

    value: object  # numpy array


@dataclass
class Init:
    """An initializer, kept as its protobuf message: dims are read, data only on demand (from the
    model file at `skipped` = (offset, length) when the skimmer left it there)."""

    proto: object
    dims: tuple[int, ...]
    skipped: tuple[int, int] | None = None

    def array(self, path):
        from netcalc.onnx.modelfile import tensor_array

        return tensor_array(self.proto, path, skipped=self.skipped)


@dataclass(frozen=True)
class WeightRef:
    """Where one weight of a layer comes from: a tensor name (initializer or constant) and how to
    bring it to PyTorch's layout."""

    tensor: str
    transpose: bool = False
    factor: float = 1.0
    shape: tuple[int, ...] | None = None  # reshape (e.g. a [1, C, 1, 1] scale to [C])


class Reader:
    def __init__(self, model, path: str, input_shape=None, skipped=None):
        from netcalc.onnx.modelfile import opset_version, tensor_dims

        self.model, self.path = model, path
        self.graph = model.graph
        self.nodes = list(self.graph.node)
        if len(self.nodes) > MAX_NODES:
            raise SpecError(f"the model has more than {MAX_NODES:,} nodes; refusing it", file_loc(path))
        self.opset = opset_version(model, path)
        self.values: dict[str, object] = {}
        skipped = skipped or {}
        for index, tensor in enumerate(self.graph.initializer):
            self.values[tensor.name] = Init(tensor, tensor_dims(tensor, path, "initializer"), skipped.get(index))
        self.consumers: dict[str, list[int]] = {}
        for index, node in enumerate(self.nodes):
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(index)
        self.graph_outputs = {o.name for o in self.graph.output}
        self.done: set[int] = set()
        self._producer: dict[str, int] | None = None
        self.decls: list[LayerDecl] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.weight_refs: dict[str, dict[str, WeightRef]] = {}
        self.names: set[str] = {"input"}
        self.counters: dict[str, int] = {}
        self.scope_sizes: dict[str, int] = {}
        for node in self.nodes:
            scope = _scope(_scoped_name(node))[0]
            if scope is not None and node.op_type not in _SHAPE_OPS:
                self.scope_sizes[scope] = self.scope_sizes.get(scope, 0) + 1
        self.input_name, self.input_shape, self.batch = self._read_input(input_shape)
        self.shapes["input"] = self.input_shape
        self.values[self.input_name] = Act("input", self.input_shape)

    # ---- locations and errors --------------------------------------------------------------------
    def loc(self, node) -> NodeLoc:
        if node is None:
            return file_loc(self.path)
        return NodeLoc(self.path, 0, 0, f"node '{node.name or '(unnamed)'}' ({node.op_type})")

    def error(self, node, message: str) -> SpecError:
        return SpecError(message, self.loc(node))

    # ---- the input -------------------------------------------------------------------------------
    def _read_input(self, given):
        inits = {t.name for t in self.graph.initializer}
        inputs = [i for i in self.graph.input if i.name not in inits]
        where = NodeLoc(self.path, 0, 0, "graph input")
        if not inputs:
            raise SpecError("the model has no input (every graph input is an initializer)", where)
        for extra in inputs[1:]:
            if extra.name in self.consumers:
                raise SpecError(f"the model has several inputs ('{inputs[0].name}', '{extra.name}', …); "
                                f"netcalc reads networks with one input", where)
        first = inputs[0]
        where = NodeLoc(self.path, 0, 0, f"input '{first.name}'")
        ttype = first.type.tensor_type
        if not first.type.HasField("tensor_type") or ttype.elem_type not in (1, 10, 11, 16):
            raise SpecError("the input must be a float tensor [N, C, …]", where)
        if not ttype.HasField("shape"):
            raise SpecError("the input has no shape; give it with --input-shape C,H,W", where)
        dims = [d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim]
        if not 2 <= len(dims) <= 5:
            raise SpecError(f"the input has {len(dims)} dims; netcalc reads [N, C], [N, C, L], [N, C, H, W] "
                            f"or [N, C, D, H, W]", where)
        batch, rest = dims[0], dims[1:]
        if given is not None:
            given = tuple(given)
            if len(given) != len(rest):
                raise SpecError(f"--input-shape has {len(given)} values but the model's input {_dims_text(dims)} "
                                f"has {len(rest)} besides the batch", where)
            for have, want in zip(rest, given):
                if have not in (None, 0) and have != want:
                    raise SpecError(f"--input-shape {list(given)} disagrees with the model's input "
                                    f"{_dims_text(dims)}", where)
            rest = list(given)
        if any(d in (None, 0) for d in rest):
            raise SpecError(f"the input {_dims_text(dims)} has symbolic dims; give the size with "
                            f"--input-shape {','.join(str(d) if d else '?' for d in rest)}", where)
        return first.name, tuple(rest), batch or 1

    # ---- values ----------------------------------------------------------------------------------
    def act(self, node, name: str) -> Act:
        value = self.values.get(name)
        if isinstance(value, Act):
            return value
        if value is None:
            raise self.error(node, f"input '{name}' is produced by no node before this one")
        raise self.error(node, f"input '{name}' is a constant where netcalc expects the network's data")

    def const(self, node, name: str, what: str = "input", required: bool = True):
        """The value of a constant input (a folded computation or a small initializer)."""
        from netcalc.onnx.fold import MAX_FOLD_ELEMENTS

        if not name:
            if required:
                raise self.error(node, f"its {what} is missing")
            return None
        value = self.values.get(name)
        if isinstance(value, Const):
            return value.value
        if isinstance(value, Init) and math.prod(value.dims) <= MAX_FOLD_ELEMENTS:
            array = value.array(self.path)
            self.values[name] = Const(array)
            return array
        raise self.error(node, f"its {what} '{name}' is not a constant netcalc can evaluate at load time "
                               f"(it depends on the data); netcalc needs static shapes")

    def is_const(self, name: str) -> bool:
        return isinstance(self.values.get(name), (Const, Init))

    def const_ahead(self, name: str) -> bool:
        """is_const, evaluating first a shape computation that the walk has not reached yet."""
        return self.is_const(name) or self._fold_ahead(name)

    def _fold_ahead(self, name: str, depth: int = 0) -> bool:
        """Evaluate now the not yet visited shape computation that produces `name` (a pattern looks
        ahead: PyTorch writes `Shape(x)` for a Reshape back to x's shape after the nodes between)."""
        if depth > 16 or not name or name in self.values:
            return False
        if self._producer is None:
            self._producer = {out: k for k, node in enumerate(self.nodes) for out in node.output}
        index = self._producer.get(name)
        node = self.nodes[index] if index is not None else None
        if node is None or index in self.done or node.op_type not in _FOLDABLE:
            return False
        if node.op_type != "Shape" and not all(self.is_const(n) or self._fold_ahead(n, depth + 1)
                                               for n in node.input if n):
            return False
        if self._fold(node):
            self.done.add(index)
        return isinstance(self.values.get(name), (Const, Init))

    def scalar(self, name: str):
        """A one-element constant's value as a float, else None."""
        value = self.values.get(name)
        if isinstance(value, Init) and math.prod(value.dims) == 1:
            try:
                return float(self.const(None, name).reshape(-1)[0])
            except SpecError:
                return None
        if isinstance(value, Const) and value.value.size == 1:
            return float(value.value.reshape(-1)[0])
        return None

    def dims_of(self, node, name: str) -> tuple[int, ...]:
        value = self.values.get(name)
        if isinstance(value, Init):
            return value.dims
        if isinstance(value, Const):
            return tuple(value.value.shape)
        raise self.error(node, f"input '{name}' must be a weight (an initializer or a constant)")

    def attrs(self, node, allowed=()) -> dict:
        from netcalc.onnx.modelfile import attribute_value

        out = {}
        for attribute in node.attribute:
            if attribute.name not in allowed:
                raise self.error(node, f"attribute '{attribute.name}' is not one netcalc can honour "
                                       f"(it reads: {', '.join(allowed) or 'none'})")
            out[attribute.name] = attribute_value(attribute, self.path)
        return out

    def internal_ok(self, indices: list[int]) -> bool:
        """A node group may become one layer when nothing outside it reads its inner tensors."""
        group = set(indices)
        for index in indices[:-1]:
            for out in self.nodes[index].output:
                if out in self.graph_outputs or any(c not in group for c in self.consumers.get(out, [])):
                    return False
        return not (group & self.done)

    def only_consumer(self, tensor: str):
        """(index, node) of the one node reading `tensor`, else None."""
        readers = self.consumers.get(tensor, [])
        if len(readers) != 1 or tensor in self.graph_outputs:
            return None
        return readers[0], self.nodes[readers[0]]

    # ---- emitting layers -------------------------------------------------------------------------
    def emit(self, nodes: list, type_name: str, params: dict | None, inputs: list[str],
             weights: dict | None = None, output: str | None = None) -> Act:
        """One layer for `nodes` (the last one's first output, or `output`, is the layer's output)."""
        from netcalc.graph import resolve_layer
        from netcalc.layers import ALIASES, REGISTRY, load_all

        load_all()
        last = nodes[-1]
        if type_name not in REGISTRY and type_name not in ALIASES:
            raise self.error(nodes[0], f"this maps to netcalc's layer type '{type_name}' (contract §7), "
                                       f"which this version of netcalc does not have yet")
        name = self.layer_name(nodes)
        in_layers = [self.act(nodes[0], t).layer for t in inputs]
        loc = self.loc(nodes[0])
        decl = LayerDecl(name, type_name, dict(params or {}), in_layers, loc)
        try:
            node = resolve_layer(decl, self.shapes)
            self._check_weights(node, weights or {})
        except SpecError as exc:
            raise exc.located(loc, name) from None
        self.decls.append(decl)
        self.shapes[name] = node.out_shape
        self.weight_refs[name] = dict(weights or {})
        act = Act(name, node.out_shape)
        self.values[output or last.output[0]] = act
        return act

    def _check_weights(self, node, weights: dict) -> None:
        expected = node.kind.weight_shapes(node)
        for key, shape in expected.items():
            ref = weights.get(key)
            if ref is None:
                raise SpecError(f"the model gives no '{key}' for this {node.kind.name}")
            dims = self.dims_of(None, ref.tensor)
            if ref.transpose:
                dims = dims[::-1]
            if ref.shape is not None:
                if math.prod(dims) != math.prod(ref.shape):
                    raise SpecError(f"weight '{ref.tensor}' has shape {list(dims)}, expected {list(shape)}")
                dims = ref.shape
            if tuple(dims) != tuple(shape):
                raise SpecError(f"weight '{ref.tensor}' has shape {list(dims)}, expected {list(shape)}")

    def layer_name(self, nodes: list) -> str:
        """A readable, unique layer name: PyTorch module paths from exporters' scoped node names
        (`/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`), else the node's own name."""
        last = nodes[-1]
        scopes = [_scope(_scoped_name(n))[0] for n in nodes]
        if scopes[-1] is not None:
            path = scopes[-1]
            op_part = re.sub(r"_\d+$", "", _scope(_scoped_name(last))[1].lower())  # Add_1 → add
            whole = all(s == path for s in scopes) and self.scope_sizes.get(path, 0) == len(nodes)
            if path and whole and (len(nodes) > 1 or last.op_type not in _FUNCTIONAL_OPS):
                base = path
            else:
                base = f"{path}.{op_part}" if path else op_part
        else:
            base = last.name or nodes[0].name
        if not base:
            kind = last.op_type.lower()
            self.counters[kind] = self.counters.get(kind, 0) + 1
            base = f"{kind}{self.counters[kind]}"
        base = _valid_name(base)
        name, n = base, 1
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        return name

    # ---- the walk --------------------------------------------------------------------------------
    def read(self) -> None:
        from netcalc.onnx.ops import supported_ops

        # constants first: exporters often define a pattern's constants after its first node
        for index, node in enumerate(self.nodes):
            if node.op_type != "Shape" and node.domain in ("", "ai.onnx") and self._fold(node):
                self.done.add(index)
        for index, node in enumerate(self.nodes):
            if index in self.done:
                continue
            if node.domain not in ("", "ai.onnx"):
                raise self.error(node, f"op domain '{node.domain}' is not standard ONNX; netcalc reads the "
                                       f"ai.onnx ops: {supported_ops()}")
            try:
                self._visit(index, node)
            except _MALFORMED as exc:  # missing inputs or attributes, wrong types: a hostile or broken file
                raise self.error(node, f"malformed node: {type(exc).__name__}: {exc}") from None

    def _visit(self, index: int, node) -> None:
        from netcalc.onnx.ops import OPS, supported_ops
        from netcalc.onnx.patterns import match_pattern

        if self._fold(node) or match_pattern(self, index):
            return
        handler = OPS.get(node.op_type)
        if handler is None:
            raise self.error(node, f"netcalc does not support this op (it would otherwise count as zero); "
                                   f"it reads: {supported_ops()}")
        handler(self, node)
        self.done.add(index)

    def _fold(self, node) -> bool:
        """Evaluate a node whose inputs are all known (NumPy is imported only then)."""
        names = [n for n in node.input if n]
        known = node.op_type in ("Constant", "Shape") or (names and all(self.is_const(n) for n in names))
        if node.op_type not in _FOLDABLE or not known:
            return False
        import numpy as np

        from netcalc.onnx.fold import fold

        if node.op_type == "Constant":
            attrs = self.attrs(node, ("value", "value_float", "value_floats", "value_int", "value_ints"))
            (key, value), = attrs.items() if len(attrs) == 1 else (None, None)
            if key is None:
                raise self.error(node, "a Constant needs exactly one of value, value_float(s), value_int(s)")
            dtype = np.float32 if "float" in key else np.int64 if "int" in key else None
            self.values[node.output[0]] = Const(np.asarray(value, dtype=dtype))
            return True
        if node.op_type == "Shape":
            value = self.values.get(node.input[0])
            if isinstance(value, Act):
                full = np.array((self.batch, *value.shape), dtype=np.int64)
            elif isinstance(value, (Const, Init)):
                full = np.array(self.dims_of(node, node.input[0]), dtype=np.int64)
            else:
                return False
            attrs = self.attrs(node, ("start", "end"))
            self.values[node.output[0]] = Const(full[attrs.get("start", 0):attrs.get("end", len(full))])
            return True
        if any(isinstance(self.values[n], Init) and math.prod(self.values[n].dims) > 4096 for n in names):
            return False  # arithmetic on a weight-sized tensor is not shape arithmetic
        arrays = [self.const(node, n) if n else None for n in node.input]
        attrs = self.attrs(node, [a.name for a in node.attribute])
        try:
            outputs = fold(node.op_type, attrs, arrays)
        except (ValueError, IndexError, TypeError, KeyError) as exc:
            raise self.error(node, f"cannot evaluate this constant computation: {exc}") from None
        for name, value in zip(node.output, outputs):
            self.values[name] = Const(value)
        return True

    # ---- the result ------------------------------------------------------------------------------
    def spec(self) -> Spec:
        if not self.decls:
            raise SpecError("the model has no layers netcalc can count (only constants)", file_loc(self.path))
        refs, path = self.weight_refs, self.path
        values = self.values

        def weights():
            return load_weights(refs, values, path)

        spec = Spec(Path(self.path).stem, self.path, self.input_shape,
                    NodeLoc(self.path, 0, 0, f"input '{self.input_name}'"), self.decls,
                    outputs={"input": "input", **{d.name: d.name for d in self.decls}})
        spec.weights = weights
        return spec


def load_weights(refs: dict, values: dict, path: str) -> dict:
    """Every layer's weights, in PyTorch names and layouts (read from the file now)."""
    import numpy as np

    out = {}
    for layer, by_key in refs.items():
        for key, ref in by_key.items():
            value = values[ref.tensor]
            array = value.value if isinstance(value, Const) else value.array(path)
            array = np.asarray(array, dtype=np.float64 if array.dtype == np.float64 else np.float32)
            if ref.transpose:
                array = array.T
            if ref.factor != 1.0:
                array = array * ref.factor
            if ref.shape is not None:
                array = array.reshape(ref.shape)
            out[f"{layer}.{key}"] = np.ascontiguousarray(array)
    return out


# ---- names ---------------------------------------------------------------------------------------
_FOLDABLE = frozenset({"Constant", "Shape", "Identity", "Cast", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice",
                       "Reshape", "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Floor", "Ceil", "Sqrt", "Min", "Max",
                       "Equal", "Where", "ConstantOfShape", "Range", "Expand", "ReduceProd", "ReduceSum",
                       "Transpose"})
_SHAPE_OPS = {"Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "ConstantOfShape", "Range",
              "Equal", "Where", "Expand"}
_FUNCTIONAL_OPS = {"Add", "Mul", "Sub", "Div", "Concat", "Flatten", "Reshape", "Transpose", "Split", "Slice"}
_NAME_OK = re.compile(r"[^A-Za-z0-9_.\-]+")


def _scoped_name(node) -> str:
    """The node's name, or the module scopes PyTorch's dynamo exporter records in its metadata
    (['', 'layer1', 'layer1.0', 'add'] → '/layer1/layer1.0/add'), which it does not put in names."""
    for prop in getattr(node, "metadata_props", ()):
        if prop.key == "pkg.torch.onnx.name_scopes":
            import ast

            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                break
            if isinstance(scopes, list) and scopes and all(isinstance(x, str) for x in scopes):
                return "/" + "/".join(x for x in scopes if x)
    return node.name


def _scope(name: str):
    """(module path, op part) of an exporter's scoped name '/a/a.0/conv/Conv'; (None, name) else."""
    if not name.startswith("/"):
        return None, name
    parts = [p for p in name.split("/") if p]
    if not parts:
        return None, name
    path = ""
    for part in parts[:-1]:
        if path and part.startswith(path + "."):
            path = part
        else:
            path = f"{path}.{part}" if path else part
    return path, parts[-1]


def _valid_name(name: str) -> str:
    """A name netcalc accepts: letters, digits, _ - and dots between non-empty parts."""
    name = _NAME_OK.sub("_", name)
    name = ".".join(part for part in name.split(".") if part) or "layer"
    return f"{name}_" if name == "input" else name


def _dims_text(dims) -> str:
    return "[" + ", ".join("?" if d in (None, 0) else str(d) for d in dims) + "]"


def load_onnx(path, input_shape=None) -> Spec:
    from netcalc.onnx.modelfile import read_model

    model, skipped = read_model(path)
    try:
        reader = Reader(model, str(path), input_shape, skipped)
    except _MALFORMED as exc:
        raise SpecError(f"malformed model: {type(exc).__name__}: {exc}", file_loc(path)) from None
    reader.read()
    return reader.spec()


_MALFORMED = (IndexError, KeyError, TypeError, ValueError, AttributeError, UnicodeError)
