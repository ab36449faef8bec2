"""Comparing two networks layer by layer (netcalc diff, contract §10).

Both sides are analysed exactly as `analyze` does. Layers are matched by name first; the
layers left over are then paired by position: between two layers matched by name, the
unmatched old and new layers are aligned in order by type (the longest common subsequence of
their types), so a renamed conv pairs with the conv that took its place. What stays unpaired
is removed (old only) or added (new only). A side may be `git:REV:path`, the file as it was at
a git revision.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from difflib import SequenceMatcher

from netcalc.analysis import Analysis, LayerResult, analyze_file, analyze_graph
from netcalc.errors import SpecError

TOTALS = ("params", "macs", "flops", "activations")
LABELS = {"params": "params", "macs": "MACs", "flops": "FLOPs", "activations": "activations"}
LAYER_METRICS = ("params", "macs", "flops")


class DiffError(SpecError):
    """A side that cannot be read (missing git, unknown revision or path)."""


# ---- loading a side ----

def load_side(source: str) -> Analysis:
    """A spec path (or anything analyze reads), or `git:REV:path` for the file at revision REV;
    the path is relative to the current directory, as git's `REV:./path`."""
    if not source.startswith("git:"):
        return analyze_file(source)
    rev, sep, path = source[4:].partition(":")
    if not sep or not rev or not path:
        raise DiffError(f"{source}: write git:REV:path, e.g. git:HEAD~1:specs/resnet18.yaml")
    from netcalc.graph import build_graph
    from netcalc.spec import load_spec_text

    return analyze_graph(build_graph(load_spec_text(git_show(rev, path, source), source)))


def git_show(rev: str, path: str, source: str) -> str:
    if rev.startswith("-"):
        raise DiffError(f"{source}: a revision may not start with '-'")
    if os.path.isabs(path):
        path = os.path.relpath(path)
    ref = path if path.startswith("./") else f"./{path}"  # relative to the current directory
    try:
        done = subprocess.run(["git", "show", f"{rev}:{ref}"], capture_output=True, timeout=60)
    except FileNotFoundError:
        raise DiffError(f"{source}: git is not installed (needed for git:REV:path)") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiffError(f"{source}: cannot run git: {exc}") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffError(f"{source}: git cannot show {rev}:{path}: {why[-1] if why else 'unknown error'}")
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise DiffError(f"{source}: the file at {rev} is not UTF-8 text") from None


# ---- matching ----

@dataclass
class LayerDiff:
    name: str
    status: str  # added | removed | changed | same
    old: LayerResult | None
    new: LayerResult | None

    @property
    def renamed_from(self) -> str | None:
        if self.old is not None and self.new is not None and self.old.name != self.new.name:
            return self.old.name
        return None

    def delta(self, metric: str) -> int:
        return (getattr(self.new, metric) if self.new else 0) - (getattr(self.old, metric) if self.old else 0)


def _facts(layer: LayerResult) -> tuple:
    rf = (tuple(layer.rf.size), tuple(layer.rf.jump)) if layer.rf is not None else None
    return layer.type, tuple(layer.output), layer.params, layer.macs, layer.flops, rf


def _pair(old: LayerResult | None, new: LayerResult | None) -> LayerDiff:
    if old is None:
        return LayerDiff(new.name, "added", None, new)
    if new is None:
        return LayerDiff(old.name, "removed", old, None)
    status = "same" if _facts(old) == _facts(new) else "changed"
    return LayerDiff(new.name, status, old, new)


def match_layers(old: list[LayerResult], new: list[LayerResult]) -> list[LayerDiff]:
    """Rows in the new network's order, removed layers where they stood in the old one."""
    old_names, new_names = [l.name for l in old], [l.name for l in new]
    common = set(old_names) & set(new_names)
    old_by_name = {l.name: l for l in old}
    rows = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old_names, new_names, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [_pair(old[i], new[j]) for i, j in zip(range(i1, i2), range(j1, j2))]
            continue
        olds = [old[i] for i in range(i1, i2) if old_names[i] not in common]
        news = [new[j] for j in range(j1, j2)]
        free = [l for l in news if l.name not in common]
        partner = {}  # new layer name → old layer paired with it by position and type
        types = SequenceMatcher(None, [l.type for l in olds], [l.type for l in free], autojunk=False)
        for a, b, size in types.get_matching_blocks():
            for k in range(size):
                partner[free[b + k].name] = olds[a + k]
        paired = {id(l) for l in partner.values()}
        rows += [_pair(l, None) for l in olds if id(l) not in paired]
        for layer in news:  # a common name out of order is still matched by its name
            rows.append(_pair(old_by_name[layer.name] if layer.name in common else partner.get(layer.name), layer))
    return rows


# ---- totals and the whole diff ----

@dataclass
class Total:
    old: int
    new: int

    @property
    def delta(self) -> int:
        return self.new - self.old

    @property
    def percent(self) -> float | None:
        """Relative change in percent; None when the old total is 0 (growth from nothing)."""
        return None if self.old == 0 else 100.0 * self.delta / self.old


def _total(analysis: Analysis, metric: str) -> int:
    return analysis.activation_bytes if metric == "activations" else analysis.total(metric)


@dataclass
class Diff:
    old_label: str
    new_label: str
    old: Analysis
    new: Analysis
    layers: list[LayerDiff]

    @property
    def totals(self) -> dict[str, Total]:
        return {m: Total(_total(self.old, m), _total(self.new, m)) for m in TOTALS}

    @property
    def final_rf(self) -> tuple[int | None, int | None]:
        """The final receptive field of each side (contract §1 `limits`: the largest size of the
        last layer with spatial dims); a field, not a cost, so --fail-over leaves it alone."""
        return self.old.final_rf, self.new.final_rf

    def count(self, status: str) -> int:
        return sum(1 for row in self.layers if row.status == status)

    def grown_over(self, percent: float) -> list[str]:
        """The totals that grow by more than `percent` (growth from 0 always counts)."""
        out = []
        for metric, total in self.totals.items():
            if total.delta > 0 and (total.percent is None or total.percent > percent):
                out.append(metric)
        return out

    def headline(self) -> str:
        parts = []
        for metric, total in self.totals.items():
            parts.append(f"{LABELS[metric]} {signed_human(total.delta, metric)} ({percent_text(total)})")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        def side(layer):
            if layer is None:
                return None
            rf = None if layer.rf is None else [int(s) if s is not None else None for s in layer.rf.size]
            return {"type": layer.type, "output": list(layer.output), "params": layer.params, "macs": layer.macs,
                    "flops": layer.flops, "activations": layer.activation_bytes, "rf": rf}

        rows = []
        for row in self.layers:
            item = {"name": row.name, "status": row.status, "old": side(row.old), "new": side(row.new)}
            if row.renamed_from:
                item["renamed_from"] = row.renamed_from
            rows.append(item)
        totals = {}
        for metric, total in self.totals.items():
            totals[metric] = {"old": total.old, "new": total.new, "delta": total.delta,
                              "percent": None if total.percent is None else round(total.percent, 4)}
        old_rf, new_rf = self.final_rf
        totals["rf"] = {"old": old_rf, "new": new_rf,
                        "delta": None if old_rf is None or new_rf is None else new_rf - old_rf}
        return {"old": self.old_label, "new": self.new_label, "headline": self.headline(), "totals": totals,
                "layers": rows, "summary": {s: self.count(s) for s in ("added", "removed", "changed", "same")}}


def diff(old_source: str, new_source: str) -> Diff:
    old, new = load_side(old_source), load_side(new_source)
    return Diff(old_source, new_source, old, new, match_layers(old.layers, new.layers))


# ---- text ----

_UNITS = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3))


def signed_human(delta: int, metric: str = "") -> str:
    """+1234567 → '+1.23 M', −310000000 → '−310 M', −72 → '−72'; bytes in KiB/MiB/GiB."""
    if delta == 0:
        return "±0"
    sign = "+" if delta > 0 else "−"
    units = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)) if metric == "activations" else _UNITS
    for unit, scale in units:
        if abs(delta) >= scale:
            return f"{sign}{abs(delta) / scale:.3g} {unit}"
    return f"{sign}{abs(delta)}" + (" B" if metric == "activations" else "")


def percent_text(total: Total) -> str:
    if total.percent is None:
        return "new" if total.delta else "±0 %"
    if total.delta == 0:
        return "±0 %"
    return f"{'+' if total.delta > 0 else '−'}{abs(total.percent):.1f} %"


def _arrow(old, new, fmt=str) -> str:
    if old is None:
        return fmt(new)
    if new is None:
        return fmt(old)
    return fmt(new) if old == new else f"{fmt(old)} → {fmt(new)}"


def _shape(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _rf(layer) -> str:
    if layer is None or layer.rf is None:
        return "-"
    return "×".join(str(s) for s in layer.rf.size) if len(set(layer.rf.size)) > 1 else str(layer.rf.size[0])


def _metric_cell(row: LayerDiff, metric: str) -> str:
    old = getattr(row.old, metric) if row.old else None
    new = getattr(row.new, metric) if row.new else None
    text = _arrow(old, new, lambda v: f"{v:,}")
    delta = row.delta(metric)
    return text + (f" ({'+' if delta > 0 else '−'}{abs(delta):,})" if delta and old is not None and new is not None
                   else "")


def _status(row: LayerDiff) -> str:
    return row.status + (f" (was {row.renamed_from})" if row.renamed_from else "")


def _type(row: LayerDiff) -> str:
    return _arrow(row.old.type if row.old else None, row.new.type if row.new else None)


def shown_rows(d: Diff) -> list[LayerDiff]:
    """Rows worth a reader's eye: everything but unchanged layers that kept their name."""
    return [row for row in d.layers if row.status != "same" or row.renamed_from]


def layer_cells(row: LayerDiff) -> list[str]:
    return [row.name, _status(row), _type(row),
            _arrow(tuple(row.old.output) if row.old else None, tuple(row.new.output) if row.new else None, _shape),
            *(_metric_cell(row, m) for m in LAYER_METRICS),
            _arrow(_rf(row.old) if row.old else None, _rf(row.new) if row.new else None)]


LAYER_HEADER = ["layer", "status", "type", "output", "params", "MACs", "FLOPs", "RF"]


def total_cells(metric: str, total: Total) -> list[str]:
    unit = " B" if metric == "activations" else ""
    delta = f"{'+' if total.delta > 0 else '−' if total.delta < 0 else '±'}{abs(total.delta):,}{unit}"
    return [LABELS[metric], f"{total.old:,}{unit}", f"{total.new:,}{unit}", delta, percent_text(total)]


TOTAL_HEADER = ["total", "old", "new", "change", "%"]


def rf_total_cells(d: Diff) -> list[str]:
    old, new = d.final_rf
    if old is None or new is None:
        change = "-" if old == new else "new" if old is None else "gone"
    else:
        change = f"{'+' if new > old else '−' if new < old else '±'}{abs(new - old)}"
    return ["final RF", "-" if old is None else str(old), "-" if new is None else str(new), change, ""]


def _unchanged_line(d: Diff) -> str:
    same = sum(1 for row in d.layers if row.status == "same" and not row.renamed_from)
    return (f"{d.count('added')} added, {d.count('removed')} removed, {d.count('changed')} changed, "
            f"{same} unchanged layer{'s' if same != 1 else ''} not listed.")


def render_markdown(d: Diff) -> str:
    def row(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [f"**netcalc diff** `{d.old_label}` → `{d.new_label}`: {d.headline()}", "",
             row(TOTAL_HEADER), "|---|---:|---:|---:|---:|"]
    lines += [row(total_cells(m, t)) for m, t in d.totals.items()]
    lines.append(row(rf_total_cells(d)))
    lines.append("")
    rows = shown_rows(d)
    if rows:
        lines += [row(LAYER_HEADER), "|---|---|---|---|---:|---:|---:|---:|"]
        lines += [row(layer_cells(r)) for r in rows]
        lines.append("")
    lines.append(_unchanged_line(d))
    return "\n".join(lines) + "\n"


def render_table(d: Diff, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]{escape(d.old_label)}[/bold] → [bold]{escape(d.new_label)}[/bold]: {escape(d.headline())}",
                  highlight=False, soft_wrap=True)
    totals = Table(title_justify="left")
    for i, title in enumerate(TOTAL_HEADER):
        totals.add_column(title, justify="left" if i == 0 else "right", no_wrap=True)
    for metric, total in d.totals.items():
        totals.add_row(*total_cells(metric, total))
    totals.add_row(*rf_total_cells(d))
    console.print(totals)
    rows = shown_rows(d)
    if rows:
        table = Table()
        for i, title in enumerate(LAYER_HEADER):
            table.add_column(title, justify="right" if i >= 4 else "left", no_wrap=i == 0)
        colour = {"added": "green", "removed": "red", "changed": "yellow", "same": "cyan"}
        for r in rows:
            cells = [escape(c) for c in layer_cells(r)]
            cells[1] = f"[{colour[r.status]}]{cells[1]}[/]"
            table.add_row(*cells)
        console.print(table)
    console.print(_unchanged_line(d), highlight=False)
