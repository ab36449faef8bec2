"""Layer parameter declarations and their parsing: defaults, PyTorch-style aliases, types and
validation, with errors that point at the offending value."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from netcalc.errors import SpecError, did_you_mean
from netcalc.yamlio import YMap

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One parameter of a layer type.

    kind: 'int' (one whole number), 'dims' (int, or one per spatial dim), 'padding' (dims, or
    [before, after] pairs, or 'same'/'valid'), 'bool', 'float', 'choice', 'levels' (list of
    positive ints), 'scale' (positive number, or one per spatial dim).
    """

    name: str
    kind: str
    default: object = REQUIRED
    aliases: tuple[str, ...] = ()
    minimum: int | None = None
    choices: tuple = ()
    doc: str = ""
    default_text: str | None = None  # how to show a default computed from other parameters

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def shown_default(self) -> str:
        """The default as `netcalc layers`, the schema and README's conventions table show it."""
        if self.required:
            return "required"
        if self.default_text is not None:
            return self.default_text
        if self.default is None:
            return "—"
        return str(self.default).lower() if isinstance(self.default, bool) else str(self.default)

    def describe_type(self) -> str:
        return {
            "int": "integer", "dims": "integer or list of integers (one per spatial dim)",
            "padding": "integer, list, list of [before, after] pairs, 'same' or 'valid'",
            "bool": "true/false", "float": "number", "choice": " | ".join(map(str, self.choices)),
            "levels": "list of positive integers", "scale": "positive number or list of numbers",
        }[self.kind]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_min(param: Param, values, ctx):
    if param.minimum is not None:
        for v in values:
            if v < param.minimum:
                raise SpecError(f"'{param.name}' must be ≥ {param.minimum}, got {v}", ctx)


def parse_value(param: Param, value, ndim: int, loc=None):
    """Validate one raw value and return it normalised; per-dim kinds become tuples of length
    `ndim`."""
    name, kind = param.name, param.kind

    def bad(expect: str):
        shown = "null" if value is None else repr(value) if isinstance(value, str) else value
        return SpecError(f"'{name}' must be {expect}, got {shown}", loc)

    if kind == "int":
        if not _is_int(value):
            raise bad("an integer")
        _check_min(param, [value], loc)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "float":
        if not _is_number(value):
            raise bad("a number")
        if param.minimum is not None and value < param.minimum:
            raise SpecError(f"'{name}' must be ≥ {param.minimum}, got {value}", loc)
        return float(value)
    if kind == "choice":
        if value not in param.choices:
            raise SpecError(f"'{name}' must be one of {', '.join(map(str, param.choices))}, got {value!r}"
                            f"{did_you_mean(value, param.choices)}", loc)
        return value
    if kind == "levels":
        if not isinstance(value, list) or not value or not all(_is_int(v) and v >= 1 for v in value):
            raise bad("a non-empty list of positive integers")
        return tuple(value)
    if kind in ("dims", "padding"):
        if kind == "padding" and isinstance(value, str):
            if value not in ("same", "valid"):
                raise SpecError(f"'{name}' must be a number, a list, 'same' or 'valid', got {value!r}"
                                f"{did_you_mean(value, ['same', 'valid'])}", loc)
            return value
        values = _per_dim(value, ndim, name, loc, allow_pairs=(kind == "padding"))
        if kind == "padding":
            flat = [x for pair in values for x in pair]
            if any(v < 0 for v in flat):
                raise SpecError(f"'{name}' must be ≥ 0, got {value}", loc)
            return values
        _check_min(param, values, loc)
        return values
    if kind == "scale":
        items = value if isinstance(value, list) else [value] * ndim
        if not isinstance(value, list) and not _is_number(value):
            raise bad("a positive number or a list of them")
        if len(items) != ndim:
            raise SpecError(f"'{name}' has {len(items)} values but the tensor has {ndim} spatial dims", loc)
        if not all(_is_number(v) and v > 0 for v in items):
            raise bad("a positive number or a list of them")
        return tuple(Fraction(str(v)) for v in items)  # decimal-exact: 1.5 → 3/2
    raise AssertionError(f"unknown parameter kind {kind}")


def _per_dim(value, ndim: int, name: str, loc, allow_pairs: bool):
    if _is_int(value):
        return tuple((value, value) for _ in range(ndim)) if allow_pairs else (value,) * ndim
    if not isinstance(value, list):
        raise SpecError(f"'{name}' must be an integer or a list of {ndim} integers, got {value!r}", loc)
    if len(value) != ndim:
        raise SpecError(f"'{name}' has {len(value)} values but the tensor has {ndim} spatial dim"
                        f"{'s' if ndim != 1 else ''}", loc)
    out = []
    for v in value:
        if _is_int(v):
            out.append((v, v) if allow_pairs else v)
        elif allow_pairs and isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v):
            out.append(tuple(v))
        else:
            expect = "integers or [before, after] pairs" if allow_pairs else "integers"
            raise SpecError(f"'{name}' must be a list of {expect}, got {value}", loc)
    return tuple(out)


_BY_NAME: dict[int, tuple] = {}  # id(declared) → (declared, its name/alias map), kept alive together


def _by_name(declared) -> dict:
    """Name and alias → Param; built once per layer type's parameter list (asked for every layer)."""
    known = _BY_NAME.get(id(declared))
    if known is not None and known[0] is declared:
        return known[1]
    by_name = {}
    for p in declared:
        by_name[p.name] = p
        for alias in p.aliases:
            by_name[alias] = p
    _BY_NAME[id(declared)] = (declared, by_name)
    return by_name


def check_param_names(declared: tuple[Param, ...], raw, type_name: str, loc) -> None:
    """Reject unknown parameter names (with a did-you-mean) and missing required ones."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"parameters of '{type_name}' must be a mapping like {{out: 64}}, got {raw!r}", loc)
    by_name = _by_name(declared)
    seen = set()
    for key in raw:
        p = by_name.get(key)
        key_loc = raw.loc_of(key) if isinstance(raw, YMap) and (p is None or p.name in seen) else loc
        if p is None:
            known = [q.name for q in declared]
            hint = did_you_mean(key, list(by_name)) or (
                f" ({type_name} takes: {', '.join(known)})" if known else f" ({type_name} takes no parameters)")
            raise SpecError(f"unknown parameter '{key}' for {type_name}{hint}", key_loc)
        if p.name in seen:
            raise SpecError(f"parameter '{p.name}' given twice (as '{key}' and an alias)", key_loc)
        seen.add(p.name)
    for p in declared:
        if p.required and p.name not in seen:
            raise SpecError(f"{type_name} needs parameter '{p.name}' ({p.describe_type()})", loc)


def parse_params(declared: tuple[Param, ...], raw, ndim: int, type_name: str, loc) -> dict:
    """Map a raw parameter mapping onto the declared parameters: resolve aliases, reject
    unknown names (with a did-you-mean), fill defaults, parse each value."""
    by_name = _by_name(declared)
    values: dict = {}
    if raw is not None and not isinstance(raw, dict):
        check_param_names(declared, raw, type_name, loc)  # says what is wrong
    for key, value in (raw or {}).items():
        p = by_name.get(key)
        if p is None or p.name in values:  # unknown, or given twice under an alias
            check_param_names(declared, raw, type_name, loc)
        try:
            values[p.name] = parse_value(p, value, ndim)
        except SpecError as exc:  # located only now: a value's place is needed only to report it
            raise exc.located(raw.loc_of(key) if isinstance(raw, YMap) else loc) from None
    for p in declared:
        if p.name not in values:
            if p.required:
                check_param_names(declared, raw, type_name, loc)
            values[p.name] = _default(p, ndim)
    return values


_DEFAULTS: dict[tuple, object] = {}  # (id of a Param, spatial dims) → (the Param, its parsed default)


def _default(p: Param, ndim: int):
    """A parameter's default at `ndim` spatial dims (a per-dim default such as stride 1 becomes
    (1, 1)); parsed once per type and dimensionality, not once per layer."""
    if not (p.kind in ("dims", "padding") and p.default is not None):
        return p.default
    known = _DEFAULTS.get((id(p), ndim))
    if known is None or known[0] is not p:
        known = _DEFAULTS[(id(p), ndim)] = (p, parse_value(p, p.default, ndim))
    return known[1]
