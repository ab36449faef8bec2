"""Spec loading: YAML → a flat list of named primitive layer declarations (contract §1, §6).

This layer knows the file format (entries, reserved keys, automatic names, `repeat`,
composites such as `separable`); it does not compute shapes — graph.py does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from netcalc.errors import Loc, SpecError, did_you_mean
from netcalc.params import check_param_names
from netcalc.yamlio import YList, YMap, load_yaml_file, load_yaml_text

TOP_LEVEL_KEYS = ("name", "input", "layers", "blocks", "limits")
RESERVED_LAYER_KEYS = ("name", "from", "repeat", "expect")
MAX_LAYERS = 1_000_000  # expansion past this is an error, not a hang


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

    builder = _Builder(path, doc.get("blocks"), doc.loc_of("blocks") if "blocks" in doc else None)
    builder.add_entries(layers, prefix="", previous="input", counters={})
    builder.check_unresolved()
    return Spec(name, path, input_shape, doc.loc_of("input"), builder.decls, limits,
                doc.loc_of("limits") if limits is not None else None, builder.outputs)


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
    return type_name, entry[type_name], entry, entry.key_locs[type_name]


class _Builder:
    def __init__(self, path: str, blocks, blocks_loc):
        self.path = path
        self.blocks = blocks
        self.blocks_loc = blocks_loc
        self.decls: list[LayerDecl] = []
        self.outputs: dict[str, str] = {"input": "input"}
        self.defined_at: dict[str, Loc] = {}
        self.unresolved: list[tuple[str, str, Loc]] = []

    def add_entries(self, entries: YList, prefix: str, previous: str, counters: dict) -> str:
        """Append the entries' layers; returns the name of the last output."""
        from netcalc.layers import lookup

        for index, entry in enumerate(entries):
            loc = entries.loc_of(index)
            type_name, raw, reserved, type_loc = split_entry(entry, loc)
            kind = lookup(type_name, type_loc)
            repeat = reserved.get("repeat", 1)
            if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
                raise SpecError(f"'repeat' must be a positive integer, got {repeat!r}", reserved.loc_of("repeat"))
            explicit = reserved.get("name")
            if explicit is not None:
                _check_name(explicit, reserved.loc_of("name"))
            for copy in range(repeat):
                counters[kind.name] = counters.get(kind.name, 0) + 1
                if explicit is None:
                    local = f"{kind.name}{counters[kind.name]}"
                else:
                    local = explicit if repeat == 1 else f"{explicit}.{copy}"
                full = prefix + local
                inputs = self._inputs(reserved, previous, prefix, loc) if copy == 0 else [previous]
                previous = self._add_layer(full, kind, type_name, raw, inputs, type_loc, reserved)
        return previous

    def _inputs(self, reserved, previous: str, prefix: str, loc: Loc) -> list[str]:
        if "from" not in reserved:
            return [previous]
        refs = reserved["from"]
        from_loc = reserved.loc_of("from")
        refs = refs if isinstance(refs, list) else [refs]
        if not refs or not all(isinstance(r, str) and r for r in refs):
            raise SpecError("'from' must be a layer name or a list of layer names", from_loc)
        resolved = []
        for ref in refs:
            name = prefix + ref if ref != "input" and prefix + ref in self.outputs else ref
            if name in self.outputs:
                resolved.append(self.outputs[name])
            else:  # judged once every name is known: a later layer, itself, or a typo
                self.unresolved.append((prefix + ref if prefix else ref, ref, from_loc))
                resolved.append(ref)
        return resolved

    def check_unresolved(self) -> None:
        for name, ref, loc in self.unresolved:
            if name in self.outputs:
                raise SpecError(f"'from: {ref}' refers to a layer further down (or to itself); layers run "
                                f"in file order, so a layer can only take inputs from layers above it", loc)
            raise SpecError(f"'from' refers to unknown layer '{ref}'"
                            f"{did_you_mean(ref, [n for n in self.outputs if n])}", loc)

    def _add_layer(self, full: str, kind, type_name: str, raw, inputs, type_loc: Loc, reserved) -> str:
        if full in self.outputs or full in self.defined_at:
            first = self.defined_at.get(full)
            where = f" (first defined at line {first.line})" if first else ""
            raise SpecError(f"layer name '{full}' is used twice{where}", reserved.loc_of("name")
                            if isinstance(reserved, YMap) and "name" in reserved else type_loc)
        self.defined_at[full] = type_loc
        expect = reserved.get("expect") if isinstance(reserved, YMap) else None
        expect_loc = reserved.loc_of("expect") if expect is not None else None
        if getattr(kind, "composite", False):
            check_param_names(kind.params, raw, kind.name, type_loc)
            last = inputs
            parts = kind.expand(raw)
            for i, (suffix, inner_type, inner_raw) in enumerate(parts):
                name = f"{full}.{suffix}"
                inner = _with_locs(inner_raw, raw, type_loc)
                self.decls.append(LayerDecl(name, inner_type, inner, last, type_loc,
                                            expect if i == len(parts) - 1 else None, expect_loc))
                self.outputs[name] = name
                last = [name]
            self.outputs[full] = last[0]
        else:
            self.decls.append(LayerDecl(full, type_name, raw, inputs, type_loc, expect, expect_loc))
            self.outputs[full] = full
        if len(self.decls) > MAX_LAYERS:
            raise SpecError(f"the spec expands to more than {MAX_LAYERS:,} layers", type_loc)
        return self.outputs[full]


def _check_name(name, loc: Loc) -> None:
    if not isinstance(name, str) or not name:
        raise SpecError(f"'name' must be a non-empty string, got {name!r}", loc)
    if "." in name:
        raise SpecError(f"layer name '{name}' may not contain a dot (dots separate block paths)", loc)
    if name == "input":
        raise SpecError("'input' is reserved for the network input; pick another layer name", loc)


def _with_locs(inner: dict, outer, fallback: Loc) -> YMap:
    """A parameter mapping for an inner layer that still points at the user's lines."""
    out = YMap(inner)
    out.loc = getattr(outer, "loc", fallback)
    out.key_locs = {k: outer.key_locs[k] for k in inner if isinstance(outer, YMap) and k in outer.key_locs}
    out.value_locs = {k: outer.value_locs[k] for k in inner if isinstance(outer, YMap) and k in outer.value_locs}
    return out
