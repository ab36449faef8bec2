"""Spec loading: YAML → a flat list of named primitive layer declarations (contract §1, §6).

This layer knows the file format (entries, reserved keys, automatic names, `repeat`,
built-in blocks such as `separable`, `blocks:` with arguments, `first:` and `if:`); it does not
compute shapes — graph.py does. Block instances expand here into primitive layers named
`<instance>.<inner name>`; argument expressions are evaluated by netcalc.expr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from netcalc.errors import Loc, SpecError, did_you_mean
from netcalc.expr import ExprError, evaluate, looks_like_expression
from netcalc.layers import lookup
from netcalc.layers.composite import BuiltinBlock
from netcalc.precision import DTYPES, OPTIMIZERS
from netcalc.yamlio import YList, YMap, load_yaml_file, load_yaml_text

TOP_LEVEL_KEYS = ("name", "input", "layers", "blocks", "limits", "dotted_names", "batch", "dtype", "optimizer")
RESERVED_LAYER_KEYS = ("name", "from", "repeat", "expect", "if", "first")
BLOCK_KEYS = ("args", "layers")
MAX_LAYERS = 1_000_000  # expansion past this is an error, not a hang
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class LayerDecl:
    """One primitive layer as declared, with everything needed to locate errors."""

    name: str
    type_name: str
    raw: dict | None
    inputs: list[str]
    loc: Loc
    expect: dict | None = None
    expect_loc: Loc | None = None


@dataclass(frozen=True)
class Group:
    """A run of consecutive layers that one entry produced: a block instance (kind "block"), the
    copies of a `repeat: N` entry ("repeat"), or a composite layer's parts ("composite"). The
    layers are `Spec.layers[start:stop]`; groups nest like the entries that made them. For
    pictures (netcalc draw): names alone cannot tell a repeat group from a block instance."""

    name: str | None   # the entry's full name (`layer1`, `layer1.0`); None for an unnamed repeat
    kind: str          # "block" | "repeat" | "composite"
    type_name: str     # the block's or the layer type's name
    start: int
    stop: int
    count: int = 1     # copies, for "repeat"


@dataclass
class Spec:
    name: str
    path: str
    input_shape: tuple[int, ...]
    input_loc: Loc
    layers: list[LayerDecl]
    limits: dict | None = None
    limits_loc: Loc | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # entry name → its last primitive layer
    groups: list[Group] = field(default_factory=list)  # block instances, repeats, composites
    # a loader that holds weights (an ONNX model's initializers) gives them lazily: () → {name: array}
    weights: object = None
    batch: int | None = None  # top-level batch:, dtype:, optimizer: (contract §9), None when absent
    dtype: str | None = None
    optimizer: str | None = None


def load_spec(path: str | Path) -> Spec:
    return parse_spec(load_yaml_file(path), str(path))


def load_spec_text(text: str, path: str = "<string>") -> Spec:
    return parse_spec(load_yaml_text(text, path), path)


def parse_spec(doc, path: str) -> Spec:
    top = Loc(path, 1, 1)
    if not isinstance(doc, YMap):
        raise SpecError(f"a spec must be a mapping with 'input' and 'layers', got {type(doc).__name__}",
                        getattr(doc, "loc", top))
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            raise SpecError(f"unknown top-level key '{key}'{did_you_mean(key, TOP_LEVEL_KEYS)} "
                            f"(allowed: {', '.join(TOP_LEVEL_KEYS)})", doc.key_locs[key])
    name = doc.get("name", Path(path).stem)
    if not isinstance(name, str) or not name:
        raise SpecError("'name' must be a non-empty string", doc.loc_of("name"))
    input_shape = _parse_input(doc)
    if "layers" not in doc:
        raise SpecError("the spec has no 'layers' list", doc.loc)
    layers = doc["layers"]
    if not isinstance(layers, YList) or not layers:
        raise SpecError("'layers' must be a non-empty list of layer entries", doc.loc_of("layers"))
    limits = doc.get("limits")
    if limits is not None and not isinstance(limits, YMap):
        raise SpecError("'limits' must be a mapping like {params: 25M}", doc.loc_of("limits"))

    batch, dtype, optimizer = _parse_setting(doc)

    builder = _Builder(path, doc.get("blocks"), doc.loc_of("blocks") if "blocks" in doc else None)
    builder.dotted_names = _parse_dotted_names(doc)
    builder.check_size(layers)
    builder.add_entries(layers, prefix="", previous="input", counters={})
    builder.check_unresolved()
    return Spec(name, path, input_shape, doc.loc_of("input"), builder.decls, limits,
                doc.loc_of("limits") if limits is not None else None, builder.outputs, builder.groups,
                batch=batch, dtype=dtype, optimizer=optimizer)


def _parse_setting(doc: YMap):
    """The top-level batch: (a positive integer), dtype: and optimizer: (names) of §9."""
    batch = doc.get("batch")
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise SpecError(f"'batch' must be a positive integer, got {batch!r}", doc.loc_of("batch"))
    chosen = []
    for key, allowed in (("dtype", DTYPES), ("optimizer", OPTIMIZERS)):
        value = doc.get(key)
        if value is not None and value not in allowed:
            raise SpecError(f"'{key}' must be one of {', '.join(allowed)}, got {value!r}"
                            f"{did_you_mean(str(value), allowed)}", doc.loc_of(key))
        chosen.append(value)
    return batch, chosen[0], chosen[1]


def _parse_input(doc: YMap) -> tuple[int, ...]:
    if "input" not in doc:
        raise SpecError("the spec has no 'input' shape (channels first, e.g. input: [3, 224, 224])", doc.loc)
    value = doc["input"]
    ok = (isinstance(value, list) and 1 <= len(value) <= 4
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value))
    if not ok:
        raise SpecError(f"'input' must be a list of 1 to 4 positive integers, channels first "
                        f"([C, L], [C, H, W] or [C, D, H, W]), got {value!r}", doc.loc_of("input"))
    return tuple(value)


def split_entry(entry, loc: Loc):
    """An entry → (type name, raw params, reserved keys mapping, location of the type key)."""
    if isinstance(entry, str):
        return entry, None, {}, loc
    if not isinstance(entry, YMap):
        raise SpecError(f"a layer entry must be a type name (- relu) or a mapping (- conv: {{out: 8}}), "
                        f"got {entry!r}", loc)
    type_keys = [k for k in entry if k not in RESERVED_LAYER_KEYS]
    if len(type_keys) != 1:
        found = ", ".join(map(str, type_keys)) or "none"
        raise SpecError(f"a layer entry needs exactly one layer-type key besides "
                        f"{', '.join(RESERVED_LAYER_KEYS)}; found: {found}", entry.loc)
    type_name = type_keys[0]
    return type_name, entry[type_name], entry, entry.key_loc(type_name)


@dataclass
class Block:
    """A `blocks:` definition: arguments (None default = required) and its layer entries."""

    name: str
    args: dict
    arg_locs: dict
    layers: YList
    loc: Loc


@dataclass
class _Scope:
    """Where entries are being expanded: the top level, or one block instance."""

    prefix: str = ""                 # "layer1.0." inside an instance
    input: str = "input"             # what `from: input` means here
    args: dict | None = None         # argument values inside an instance
    block: str | None = None         # block name, for messages
    instance: str | None = None      # instance name, for messages

    def error(self, message: str, loc: Loc) -> SpecError:
        if self.block is None:
            return SpecError(message, loc)
        return SpecError(f"block '{self.block}' (instance '{self.instance}'): {message}", loc)


TOP = _Scope()


class _Entry(NamedTuple):
    """One layer entry, read in a scope (block arguments substituted)."""

    type_name: str
    kind: object            # a Block, a built-in block (separable) or a LayerType
    raw: object             # parameters (or block arguments)
    first: object           # the same for the first repetition (`first:` merged on top)
    repeat: int
    condition: bool         # `if:`; False leaves the entry out
    reserved: dict          # the entry's reserved keys (a YMap), {} for a bare name
    type_loc: Loc


class _TooBig(SpecError):
    """The size pre-pass's own error (other errors are left for the expansion to report)."""


class _Builder:
    def __init__(self, path: str, blocks, blocks_loc):
        self.path = path
        self.blocks: dict[str, Block] = _parse_blocks(blocks, blocks_loc)
        self.blocks_loc = blocks_loc
        self.decls: list[LayerDecl] = []
        self.outputs: dict[str, str] = {"input": "input"}
        self.defined_at: dict[str, Loc] = {}
        self.unresolved: list[tuple[str, str, Loc, str]] = []
        self.groups: list[Group] = []
        self._sizes: dict[tuple, int] = {}
        self._entries: dict[tuple[int, int], tuple] = {}  # (id of an entry list, index) → (the list, its reading)
        self.dotted_names = False
        _check_recursion(self.blocks)

    # -- one entry, as both the size pre-pass and the expansion read it -----------------------
    def _entry(self, entries: YList, index: int, scope: _Scope) -> _Entry:
        if scope.args is not None:
            return self._read_entry(entries, index, scope)
        # Without block arguments an entry reads the same in the size pre-pass and the build:
        # read it once (half the parsing time of a long flat spec).
        key = (id(entries), index)
        if key not in self._entries:  # the list is kept with its reading, so its id stays its own
            self._entries[key] = (entries, self._read_entry(entries, index, scope))
        return self._entries[key][1]

    def _read_entry(self, entries: YList, index: int, scope: _Scope) -> _Entry:
        loc = entries.loc_of(index)
        type_name, raw, reserved, type_loc = split_entry(entries[index], loc)
        block = self.blocks.get(type_name) if isinstance(type_name, str) else None
        try:
            kind = block if block is not None else lookup(type_name, type_loc)
        except SpecError as exc:
            hint = did_you_mean(type_name, self.blocks) if self.blocks else ""
            if hint and "did you mean" not in exc.message:
                exc.message = f"unknown layer type or block '{type_name}'{hint}"
                exc.args = (exc.message,)
            raise
        raw = self._subst(raw, scope, type_loc)
        repeat = reserved.get("repeat", 1)
        if scope.args is not None:
            repeat = self._subst(repeat, scope, reserved.loc_of("repeat") if reserved else loc)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise scope.error(f"'repeat' must be a positive integer, got {repeat!r}", reserved.loc_of("repeat"))
        condition = True
        if reserved and "if" in reserved:
            condition = self._subst(reserved["if"], scope, reserved.loc_of("if"))
            if not isinstance(condition, bool):
                raise scope.error(f"'if' must be true, false or a block argument holding one, got "
                                  f"{reserved['if']!r} = {condition!r}", reserved.loc_of("if"))
        first = raw
        if reserved and "first" in reserved:
            extra = reserved["first"]
            if not isinstance(extra, YMap) or not (raw is None or isinstance(raw, dict)):
                raise scope.error("'first' must be a mapping of parameters (or block arguments) that "
                                  "replace the entry's own for its first repetition", reserved.loc_of("first"))
            first = _merged(raw, self._subst(extra, scope, reserved.loc_of("first")), type_loc)
        if reserved and "expect" in reserved and scope.args is not None:  # expectations may use arguments
            reserved = _merged(reserved, {"expect": self._subst(reserved["expect"], scope,
                                                                reserved.loc_of("expect"))}, type_loc)
        return _Entry(type_name, kind, raw, first, repeat, condition, reserved, type_loc)

    def _subst(self, value, scope: _Scope, loc: Loc):
        """Block arguments substituted into a value: a string that is exactly an argument name
        becomes its value; a string with an operator is an integer expression over arguments."""
        if scope.args is None:
            return value
        if isinstance(value, YMap):
            out = _merged(YMap(), value, value.loc)
            for key, item in value.items():
                out[key] = self._subst(item, scope, value.loc_of(key))
            return out
        if isinstance(value, list):
            out = YList(self._subst(item, scope, value.loc_of(i) if isinstance(value, YList) else loc)
                        for i, item in enumerate(value))
            out.loc = getattr(value, "loc", loc)
            out.item_locs = list(getattr(value, "item_locs", []))
            return out
        if isinstance(value, str):
            text = value.strip()
            if text in scope.args:
                return scope.args[text]
            if looks_like_expression(text):
                try:
                    return evaluate(text, scope.args)
                except ExprError as exc:
                    raise scope.error(f"bad expression '{text}': {exc}", loc) from None
        return value

    # -- the expansion rules, read by both the size pre-pass and the build ----------------------
    @staticmethod
    def _runs(e: _Entry) -> list[tuple[object, int]]:
        """An entry's copies as runs of (parameters, how many): `first:` gives copy 0 its own."""
        return [(e.first, 1)] + ([(e.raw, e.repeat - 1)] if e.repeat > 1 else [])

    @staticmethod
    def _unit(e: _Entry) -> "_Unit":
        """What one copy of the entry is: left out by `if`, a block instance (a `blocks:`
        definition or a built-in block such as separable), or one layer."""
        if not e.condition:
            return _SKIP
        return _INSTANCE if _is_block(e.kind) else _LAYER

    def _instance_body(self, block, params, type_loc: Loc, scope: _Scope, instance: str = "?"):
        """An instance's layer entries and the argument values substituted into them (None for
        a built-in block, whose entries come out concrete)."""
        if isinstance(block, Block):
            return block.layers, self._bind(block, params, type_loc, scope, instance)
        return block.entries(params, type_loc), None

    # -- expansion -------------------------------------------------------------------------------
    def add_entries(self, entries: YList, prefix: str, previous, counters: dict,
                    scope: _Scope | None = None) -> str:
        """Append the entries' layers; returns the name of the last output. `previous` is the
        input of the first entry (a list: every input of a built-in block, for its first part)."""
        scope = scope or _Scope(prefix=prefix)
        for index in range(len(entries)):
            e = self._entry(entries, index, scope)
            key = e.kind.name
            explicit = e.reserved.get("name")
            if explicit is not None:
                _check_name(e.reserved, self.dotted_names and scope.block is None)
            unit, copy, before = self._unit(e), 0, len(self.decls)
            for params, count in self._runs(e):
                for _ in range(count):
                    counters[key] = counters.get(key, 0) + 1
                    if explicit is None:
                        local = f"{key}{counters[key]}"
                    else:
                        local = explicit if e.repeat == 1 else f"{explicit}.{copy}"
                    if copy == 0:
                        inputs = self._inputs(e.reserved, previous, scope, entries.loc_of(index))
                    else:
                        inputs = [previous]
                    previous = unit.build(self, e, scope.prefix + local, params, inputs, scope)
                    copy += 1
            if explicit is not None and e.repeat > 1:
                self.outputs[scope.prefix + explicit] = previous  # `from: layer1` = its last copy
            if e.repeat > 1 and len(self.decls) > before:
                self.groups.append(Group(None if explicit is None else scope.prefix + explicit, "repeat",
                                         e.type_name, before, len(self.decls), e.repeat))
        return previous

    def _skip(self, full: str, inputs, type_loc: Loc, reserved) -> str:
        """An entry whose `if` is false: no layer; its name stands for its (first) input, like an
        identity, so `from: [bn3, downsample]` or a left-out residual `add` keep working."""
        self._claim(full, type_loc, reserved)
        self.outputs[full] = inputs[0]
        return inputs[0]

    def _add_instance(self, full: str, block, params, inputs, type_loc: Loc, reserved,
                      scope: _Scope) -> str:
        self._claim(full, type_loc, reserved)
        if isinstance(block, Block) and len(inputs) != 1:  # a built-in block's first part checks its own
            raise scope.error(f"block '{block.name}' takes one input, got {len(inputs)} in 'from'",
                              reserved.loc_of("from"))
        body, args = self._instance_body(block, params, type_loc, scope, full)
        inner = _Scope(full + ".", inputs[0], args, block.name, full)
        before = len(self.decls)
        last = self.add_entries(body, inner.prefix, inputs[0] if len(inputs) == 1 else inputs, {}, inner)
        self.outputs[full] = last
        if len(self.decls) > before:
            kind = "block" if isinstance(block, Block) else "composite"  # a built-in block: `separable`
            self.groups.append(Group(full, kind, block.name, before, len(self.decls)))
        expect = reserved.get("expect") if isinstance(reserved, YMap) else None
        if expect is not None:  # an instance's expectations are its output layer's
            decl = self.decls[-1] if len(self.decls) > before else None
            if decl is None or decl.name != last or decl.expect is not None:
                raise scope.error(f"'expect' on instance '{full}' needs its last entry to be a layer "
                                  f"without its own 'expect'", reserved.loc_of("expect"))
            decl.expect, decl.expect_loc = expect, reserved.loc_of("expect")
        return last

    def _bind(self, block: Block, params, type_loc: Loc, scope: _Scope, instance: str = "?") -> dict:
        """Argument values for one instance: given ones, then defaults (which may use earlier ones)."""
        given = params if isinstance(params, dict) else {}
        if params is not None and not isinstance(params, dict):
            raise scope.error(f"block '{block.name}' takes a mapping of arguments, got {params!r}", type_loc)
        values = {}
        for name, value in given.items():
            if name not in block.args:
                choices = ", ".join(block.args) or "none"
                raise scope.error(f"block '{block.name}' has no argument '{name}'"
                                  f"{did_you_mean(name, block.args)} (its arguments: {choices})",
                                  given.key_locs.get(name, type_loc) if isinstance(given, YMap) else type_loc)
            values[name] = value
        for name, default in block.args.items():
            if name in values:
                continue
            if default is None:
                raise scope.error(f"block '{block.name}' needs argument '{name}' (it has no default)", type_loc)
            values[name] = self._subst(default, _Scope(args=dict(values), block=block.name, instance=instance),
                                       block.arg_locs[name])
        return values

    def _inputs(self, reserved, previous: str, scope: _Scope, loc: Loc) -> list[str]:
        if "from" not in reserved:
            return list(previous) if isinstance(previous, list) else [previous]
        refs = reserved["from"]
        refs = refs if isinstance(refs, list) else [refs]
        if not refs or not all(isinstance(r, str) and r for r in refs):
            raise SpecError("'from' must be a layer name or a list of layer names", reserved.loc_of("from"))
        resolved = []
        for ref in refs:
            if ref == "input":
                resolved.append(scope.input)
                continue
            name = scope.prefix + ref  # inside an instance, names are the instance's own
            if name in self.outputs:
                resolved.append(self.outputs[name])
            else:  # judged once every name is known: a later layer, itself, or a typo
                self.unresolved.append((name, ref, reserved.loc_of("from"), scope.prefix))
                resolved.append(name)
        return resolved

    def check_unresolved(self) -> None:
        for name, ref, loc, prefix in self.unresolved:
            if name in self.outputs:
                raise SpecError(f"'from: {ref}' refers to a layer further down (or to itself); layers run "
                                f"in file order, so a layer can only take inputs from layers above it", loc)
            known = [n[len(prefix):] for n in self.outputs if n and n.startswith(prefix)]
            where = f" inside instance '{prefix[:-1]}'" if prefix else ""
            raise SpecError(f"'from' refers to unknown layer '{ref}'{where}{did_you_mean(ref, known)}", loc)

    def _claim(self, full: str, type_loc: Loc, reserved) -> None:
        if full in self.outputs or full in self.defined_at:
            first = self.defined_at.get(full)
            where = f" (first defined at line {first.line})" if first else ""
            raise SpecError(f"layer name '{full}' is used twice{where}", reserved.loc_of("name")
                            if isinstance(reserved, YMap) and "name" in reserved else type_loc)
        self.defined_at[full] = type_loc

    def _add_layer(self, full: str, kind, type_name: str, raw, inputs, type_loc: Loc, reserved) -> str:
        self._claim(full, type_loc, reserved)
        expect = reserved.get("expect") if isinstance(reserved, YMap) else None
        expect_loc = reserved.loc_of("expect") if expect is not None else None
        self.decls.append(LayerDecl(full, type_name, raw, inputs, type_loc, expect, expect_loc))
        self.outputs[full] = full
        if len(self.decls) > MAX_LAYERS:
            raise SpecError(f"the spec expands to more than {MAX_LAYERS:,} layers", type_loc)
        return full

    # -- the size pre-pass: refuse a huge expansion before building any of it -------------------
    def check_size(self, entries: YList, scope: _Scope = TOP) -> int:
        """The number of primitive layers `entries` expand to; raises past MAX_LAYERS."""
        total = 0
        for index in range(len(entries)):
            try:
                e = self._entry(entries, index, scope)
                unit = self._unit(e)
                size = sum(count * unit.size(self, e, params, scope) for params, count in self._runs(e))
            except _TooBig:
                raise
            except SpecError:
                continue  # the expansion reports it, naming the instance
            total += size
            if total > MAX_LAYERS:
                where = f"block '{scope.block}': " if scope.block else ""
                raise _TooBig(f"{where}the spec expands to more than {MAX_LAYERS:,} layers (this "
                              f"'{e.type_name}' entry alone gives {size:,}); refusing to build it", e.type_loc)
        return total

    def _instance_size(self, block, params, type_loc: Loc, scope: _Scope) -> int:
        """check_size of one instance, remembered per (block, arguments) so that nested repeats
        with `first:` cost one visit per distinct instance, not one per copy."""
        body, args = self._instance_body(block, params, type_loc, scope)
        key = (block.name, repr(sorted((args if args is not None else params or {}).items(),
                                       key=lambda item: item[0])))
        if key not in self._sizes:
            self._sizes[key] = self.check_size(body, _Scope("", "input", args, block.name, "?"))
        return self._sizes[key]


class _Unit(NamedTuple):
    """What one copy of an entry becomes, stated once for the size pre-pass and the build."""

    size: object   # (builder, entry, params, scope) → number of primitive layers
    build: object  # (builder, entry, full name, params, inputs, scope) → the copy's output name


_SKIP = _Unit(lambda b, e, params, scope: 0,
              lambda b, e, full, params, inputs, scope: b._skip(full, inputs, e.type_loc, e.reserved))
_LAYER = _Unit(lambda b, e, params, scope: 1,
               lambda b, e, full, params, inputs, scope: b._add_layer(full, e.kind, e.type_name, params, inputs,
                                                                      e.type_loc, e.reserved))
_INSTANCE = _Unit(lambda b, e, params, scope: b._instance_size(e.kind, params, e.type_loc, scope),
                  lambda b, e, full, params, inputs, scope: b._add_instance(full, e.kind, params, inputs,
                                                                            e.type_loc, e.reserved, scope))


def _is_block(kind) -> bool:
    """A `blocks:` definition or a built-in block (such as separable): expanded as an instance."""
    return isinstance(kind, (Block, BuiltinBlock))


def _parse_blocks(blocks, blocks_loc) -> dict[str, Block]:
    from netcalc.layers import ALIASES, REGISTRY, load_all

    if blocks is None:
        return {}
    if not isinstance(blocks, YMap):
        raise SpecError("'blocks' must be a mapping: block name → {args: {...}, layers: [...]}", blocks_loc)
    load_all()
    out = {}
    for name, body in blocks.items():
        loc = blocks.key_locs[name]
        if not isinstance(name, str) or not _IDENT.fullmatch(name):
            raise SpecError(f"block name {name!r} must be a word (letters, digits, _)", loc)
        if name in REGISTRY or name in ALIASES or name == "input":
            raise SpecError(f"block name '{name}' clashes with a layer type; pick another name", loc)
        if name in RESERVED_LAYER_KEYS:
            raise SpecError(f"block name '{name}' clashes with the reserved key '{name}'; pick another name", loc)
        if not isinstance(body, YMap):
            raise SpecError(f"block '{name}' must be a mapping with 'layers' (and optional 'args')", loc)
        for key in body:
            if key not in BLOCK_KEYS:
                raise SpecError(f"block '{name}': unknown key '{key}'{did_you_mean(key, BLOCK_KEYS)} "
                                f"(allowed: {', '.join(BLOCK_KEYS)})", body.key_locs[key])
        layers = body.get("layers")
        if not isinstance(layers, YList) or not layers:
            raise SpecError(f"block '{name}' needs a non-empty 'layers' list", body.loc_of("layers"))
        args = body.get("args")
        args = _merged(None, None, body.loc) if args is None else args
        if not isinstance(args, YMap):
            raise SpecError(f"block '{name}': 'args' must be a mapping of argument → default "
                            f"(null for a required argument)", body.loc_of("args"))
        for arg in args:
            if not isinstance(arg, str) or not _IDENT.fullmatch(arg):
                raise SpecError(f"block '{name}': argument name {arg!r} must be a word (letters, digits, _)",
                                args.key_locs[arg])
        out[name] = Block(name, dict(args), {a: args.loc_of(a) for a in args}, layers, loc)
    return out


def _check_recursion(blocks: dict[str, Block]) -> None:
    """A block that uses itself, directly or through others, is an error (before any expansion)."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in done:
            return
        block = blocks[name]
        for index, entry in enumerate(block.layers):
            type_name, _, _, type_loc = split_entry(entry, block.layers.loc_of(index))
            if not isinstance(type_name, str) or type_name not in blocks:
                continue
            if type_name in path + [name]:
                cycle = " → ".join([*path[path.index(type_name):], name, type_name]) if type_name in path \
                    else f"{name} → {type_name}"
                raise SpecError(f"block '{type_name}' uses itself ({cycle}); blocks cannot be recursive", type_loc)
            visit(type_name, path + [name])
        done.add(name)

    for name in blocks:
        visit(name, [])


def _merged(base, extra, fallback: Loc) -> YMap:
    """`base` with `extra`'s keys on top, keeping every key's file location."""
    out = YMap(base or {})
    out.update(extra or {})
    out.loc = getattr(base, "loc", None) or getattr(extra, "loc", fallback)
    out.key_locs, out.value_locs = {}, {}
    for src in (base, extra):
        out.key_locs.update(getattr(src, "key_locs", {}))
        out.value_locs.update(getattr(src, "value_locs", {}))
    return out


def _parse_dotted_names(doc: YMap) -> bool:
    """`dotted_names: true` (as `netcalc import` writes): top-level explicit names may be module
    paths such as `layer1.0.conv1`, each part non-empty."""
    value = doc.get("dotted_names", False)
    if not isinstance(value, bool):
        raise SpecError(f"'dotted_names' must be true or false, got {value!r}", doc.loc_of("dotted_names"))
    return value


def _check_name(reserved: YMap, dotted: bool = False) -> None:
    """An entry's `name:` (its place is looked up only to report a problem)."""
    name = reserved["name"]
    problem = None
    if not isinstance(name, str) or not name:
        problem = f"'name' must be a non-empty string, got {name!r}"
    elif dotted and "." in name:
        if "" in name.split("."):
            problem = f"layer name '{name}' has an empty part between dots"
    elif "." in name:
        problem = f"layer name '{name}' may not contain a dot (dots separate block paths)"
    if name == "input":
        problem = "'input' is reserved for the network input; pick another layer name"
    if problem is not None:
        raise SpecError(problem, reserved.loc_of("name"))
