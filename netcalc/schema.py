"""The JSON Schema of the spec format (draft 2020-12) and the `layers` listing, both generated
from the layer registry and the spec/check key lists — never maintained by hand.

The schema is strict for specs without `blocks:` (every entry must name a known layer type
with known parameters); once a spec defines blocks, entries may also name a block, so layer
entries are checked loosely there.
"""

from __future__ import annotations

from netcalc import units
from netcalc.check import BYTE_LIMITS, EXPECT_KEYS, LIMIT_KEYS, RF_KEYS
from netcalc.layers import REGISTRY, load_all
from netcalc.params import Param
from netcalc.spec import RESERVED_LAYER_KEYS, TOP_LEVEL_KEYS

SCHEMA_ID = "https://netcalc.invalid/spec.schema.json"

_INT = {"type": "integer"}


def _amount(of_bytes: bool = False) -> dict:
    suffixes = "|".join(sorted(units.suffixes(of_bytes), key=len, reverse=True))
    return {"anyOf": [{"type": "integer", "minimum": 0},
                      {"type": "string", "pattern": rf"^\s*\d+(\.\d+)?\s*({suffixes})?\s*$"}],
            "description": "a whole number; suffixes K M G T = 1000^n, KB MB GB TB and KiB MiB GiB TiB = 1024^n"
                           + (", B = bytes" if of_bytes else "") + " (25M, 4.1G, 512MB, 1GiB)"}


def _dims(minimum) -> dict:
    one = {"type": "integer"} if minimum is None else {"type": "integer", "minimum": minimum}
    return {"anyOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": 3}]}


def param_schema(p: Param) -> dict:
    kind = p.kind
    if kind == "int":
        out = dict(_INT, **({"minimum": p.minimum} if p.minimum is not None else {}))
    elif kind == "dims":
        out = _dims(p.minimum)
    elif kind == "padding":
        pair = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}
        out = {"anyOf": [{"type": "integer", "minimum": 0}, {"enum": ["same", "valid"]},
                         {"type": "array", "minItems": 1, "maxItems": 3,
                          "items": {"anyOf": [{"type": "integer", "minimum": 0}, pair]}}]}
    elif kind == "bool":
        out = {"type": "boolean"}
    elif kind == "float":
        out = dict({"type": "number"}, **({"minimum": p.minimum} if p.minimum is not None else {}))
    elif kind == "choice":
        out = {"enum": list(p.choices)}
    elif kind == "levels":
        out = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}
    elif kind == "scale":
        number = {"type": "number", "exclusiveMinimum": 0}
        out = {"anyOf": [number, {"type": "array", "items": number, "minItems": 1, "maxItems": 3}]}
    else:  # a new kind must be described here; fail loudly rather than accept anything
        raise AssertionError(f"no schema for parameter kind {kind!r}")
    description = p.describe_type() + (f" — {p.doc}" if p.doc else "")
    out["description"] = description
    if not p.required and p.default is not None:
        out["default"] = p.default
    return out


def params_schema(kind) -> dict:
    properties = {}
    for p in kind.params:
        properties[p.name] = param_schema(p)
        for alias in p.aliases:
            properties[alias] = dict(param_schema(p), description=f"alias of '{p.name}'")
    out = {"type": ["object", "null"] if not any(p.required for p in kind.params) else "object",
           "properties": properties, "additionalProperties": False}
    required = [p for p in kind.params if p.required]
    if required:
        out["allOf"] = [{"anyOf": [{"required": [name]} for name in (p.name, *p.aliases)]} for p in required]
    return out


def expect_schema() -> dict:
    number_or_list = {"anyOf": [{"type": "number"}, {"type": "string"},
                                {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "string"}]}}]}
    properties = {"output": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
                  "rf": {"type": "object", "properties": {k: number_or_list for k in RF_KEYS},
                         "additionalProperties": False}}
    for key in EXPECT_KEYS:
        properties.setdefault(key, _amount())
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "description": "answers to check with `netcalc check`"}


def _reserved() -> dict:
    out = {"name": {"type": "string", "minLength": 1, "pattern": r"^[^.]+$"},
           "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
           "repeat": {"type": "integer", "minimum": 1},
           "expect": {"$ref": "#/$defs/expect"},
           "if": {"anyOf": [{"type": "boolean"}, {"type": "string"}],
                  "description": "leave the entry out when false (a block argument name inside blocks)"},
           "first": {"type": "object", "description": "parameters merged over the first repetition only"}}
    assert set(out) == set(RESERVED_LAYER_KEYS), "reserved layer keys changed: update the schema generator"
    return out


def spec_schema() -> dict:
    load_all()
    type_names = []
    entries = []
    for kind in REGISTRY.values():
        for name in (kind.name, *kind.aliases):
            type_names.append(name)
            entries.append({"type": "object", "required": [name],
                            "properties": {name: {"$ref": f"#/$defs/params/{kind.name}"}, **_reserved()},
                            "additionalProperties": False,
                            "description": kind.summary})
    loose_entry = {"anyOf": [{"type": "string"},
                             {"type": "object", "minProperties": 1, "properties": _reserved()}]}
    limits = {"type": "object", "properties": {key: _amount(key in BYTE_LIMITS) for key in LIMIT_KEYS}, "additionalProperties": False,
              "description": "budgets checked by `netcalc check` (inclusive; rf_min is a lower bound)"}
    top = {
        "name": {"type": "string", "minLength": 1},
        "input": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 4,
                  "description": "channels first: [C, L] | [C, H, W] | [C, D, H, W]"},
        "layers": {"type": "array", "minItems": 1},
        "blocks": {"type": "object", "description": "reusable parameterised sub-networks (checked loosely)"},
        "limits": limits,
        "dotted_names": {"type": "boolean",
                         "description": "explicit names may be module paths with dots (as `netcalc import` writes)"},
    }
    assert set(top) == set(TOP_LEVEL_KEYS), "top-level keys changed: update the schema generator"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "netcalc spec",
        "type": "object",
        "required": ["input", "layers"],
        "properties": top,
        "additionalProperties": False,
        # blocks, and the dotted module-path names `netcalc import` writes, are checked loosely
        "if": {"anyOf": [{"required": ["blocks"]},
                         {"required": ["dotted_names"], "properties": {"dotted_names": {"const": True}}}]},
        "then": {"properties": {"layers": {"items": {"$ref": "#/$defs/looseEntry"}}}},
        "else": {"properties": {"layers": {"items": {"$ref": "#/$defs/entry"}}}},
        "$defs": {
            "entry": {"anyOf": [{"enum": type_names}, *entries]},
            "looseEntry": loose_entry,
            "expect": expect_schema(),
            "params": {kind.name: params_schema(kind) for kind in REGISTRY.values()},
        },
    }


# ---- netcalc layers ----

def layer_rows() -> list[dict]:
    load_all()
    rows = []
    for kind in REGISTRY.values():
        rows.append({
            "type": kind.name, "aliases": list(kind.aliases), "summary": kind.summary,
            "params": [{"name": p.name, "aliases": list(p.aliases), "default": p.shown_default(),
                        "type": p.describe_type()} for p in kind.params],
            "params_rule": kind.params_rule, "macs_rule": kind.macs_rule, "flops_rule": kind.flops_rule,
        })
    return rows


def _param_text(p: dict) -> str:
    alias = f" ({', '.join(p['aliases'])})" if p["aliases"] else ""
    return f"{p['name']}{alias} = {p['default']}"


def render_layers_plain(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        alias = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        lines.append(f"{row['type']}{alias}: {row['summary']}")
        lines.append("  parameters: " + ("; ".join(_param_text(p) for p in row["params"]) or "none"))
        lines.append(f"  params: {row['params_rule']}")
        lines.append(f"  MACs:   {row['macs_rule']}")
        lines.append(f"  FLOPs:  {row['flops_rule']}")
        lines.append("")
    return "\n".join(lines)


def render_layers_table(rows: list[dict], console) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="netcalc layer types", title_justify="left", show_lines=True)
    for title in ("type", "parameters (default)", "params", "MACs", "FLOPs"):
        table.add_column(title)
    for row in rows:
        name = row["type"] + (f"\n({', '.join(row['aliases'])})" if row["aliases"] else "")
        table.add_row(escape(name), escape("\n".join(_param_text(p) for p in row["params"]) or "none"),
                      escape(row["params_rule"]), escape(row["macs_rule"]), escape(row["flops_rule"]))
    console.print(table)
