"""Built-in blocks: an entry type (such as `separable`) that the spec builder expands exactly
as it expands a `blocks:` instance — same naming (`<name>.<part>`), same counters (its parts do
not advance the file's conv/depthwise numbering), same `repeat`/`first:`/`if:`/`expect:` rules,
same size pre-check — but whose parameters are declared like a layer type's (PyTorch aliases,
defaults, did-you-mean) and whose parts are stated here as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netcalc.errors import Loc
from netcalc.params import Param, check_param_names
from netcalc.yamlio import YList, YMap


@dataclass(frozen=True)
class Part:
    """One inner layer: `<instance>.<name>` of type `type_name`, given the instance's parameters
    listed in `takes` (as the user wrote them: same key, same line) plus the `fixed` ones."""

    name: str
    type_name: str
    takes: tuple[str, ...]
    fixed: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BuiltinBlock:
    name: str
    summary: str
    params: tuple[Param, ...]
    parts: tuple[Part, ...]
    params_rule: str
    macs_rule: str
    flops_rule: str
    aliases: tuple[str, ...] = ()

    def entries(self, raw, type_loc: Loc) -> YList:
        """The instance's layer entries, as a `blocks:` body would list them, with every value
        still pointing at the user's line; unknown or missing parameters are SpecErrors."""
        check_param_names(self.params, raw, self.name, type_loc)
        raw = raw if raw is not None else YMap()
        canonical = {key: p.name for key in raw for p in self.params if key == p.name or key in p.aliases}
        out = YList()
        out.loc, out.item_locs = type_loc, []
        for part in self.parts:
            params = YMap(part.fixed)
            params.loc = getattr(raw, "loc", None) or type_loc
            params.key_locs, params.value_locs = {}, {}
            for key in raw:  # in the user's order, keeping the user's spelling and lines
                if canonical[key] in part.takes:
                    params[key] = raw[key]
                    for locs in ("key_locs", "value_locs"):
                        if key in getattr(raw, locs, {}):
                            getattr(params, locs)[key] = getattr(raw, locs)[key]
            entry = YMap({part.type_name: params, "name": part.name})
            entry.loc, entry.key_locs, entry.value_locs = type_loc, dict.fromkeys(entry, type_loc), {}
            out.append(entry)
            out.item_locs.append(type_loc)
        return out
