"""Reporters for an Analysis: rich table, JSON (contract §3), CSV and Markdown.

Machine formats carry exact integers; the table uses readable units. rich is imported only
by the table reporter so that `--format json` stays quick to start.
"""

from __future__ import annotations

import csv
import io
import json
from math import prod

from netcalc import __version__, jsontext, units
from netcalc.analysis import Analysis, LayerResult
from netcalc.units import fraction_text, human, human_bytes  # noqa: F401 (re-exported for reporters)

SCHEMA_VERSION = 1
FORMATS = ("table", "json", "csv", "markdown")


def number(value):
    """Exact JSON number: an int when whole, else a float (rf jump and start)."""
    return None if value is None else units.json_number(value)


def rf_dict(layer: LayerResult):
    if layer.rf is None:
        return None
    return {"size": list(layer.rf.size), "jump": [number(j) for j in layer.rf.jump],
            "start": [number(s) for s in layer.rf.start]}


def to_dict(analysis: Analysis) -> dict:
    memory = analysis.memory
    layer_memory = memory_by_layer(analysis)
    layers = []
    rf_dicts = {}  # id(LayerRF) → its dict: layers that share a LayerRF (pointwise ones) share it
    for layer in analysis.layers:
        node = layer.node
        if id(layer.rf) not in rf_dicts:
            rf_dicts[id(layer.rf)] = rf_dict(layer)
        layers.append({
            "name": node.name, "type": node.kind.name, "from": list(node.inputs),
            "output": list(node.out_shape), "params": layer.params, "buffers": layer.buffers,
            "macs": layer.macs, "flops": layer.flops, "rf": rf_dicts[id(layer.rf)],
            "cpr": layer.cpr, "memory": layer_memory[node.name],
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "netcalc_version": __version__,
        "name": analysis.name,
        "input": list(analysis.graph.input_shape),
        "layers": layers,
        "totals": {
            "params": analysis.total("params"), "buffers": analysis.total("buffers"),
            "macs": analysis.total("macs"), "flops": analysis.total("flops"),
            "activation_bytes": analysis.activation_bytes, "rf": analysis.final_rf,
            "batch": memory.setting.batch, "dtype": memory.setting.dtype,
            "macs_batch": memory.setting.batch * analysis.total("macs"),
            "flops_batch": memory.setting.batch * analysis.total("flops"),
        },
        "kinds": analysis.by_family(),
        "memory": memory.to_dict(),
        "warnings": list(analysis.warnings),
    }


def memory_by_layer(analysis: Analysis) -> dict[str, dict]:
    """Per layer, bytes at the report's batch and dtype: its output, and what it keeps for
    backward that no earlier layer keeps already (so the `saved` column sums to the total)."""
    memory = analysis.memory
    b, size = memory.setting.batch, memory.setting.itemsize
    saved = {layer.name: layer.new_bytes for layer in memory.training.layers}
    out = {}
    for layer in analysis.layers:
        name = layer.node.name
        out[name] = {"output": b * prod(layer.node.out_shape) * size, "saved": saved[name]}
    return out


def render_json(analysis: Analysis) -> str:
    return jsontext.dumps(to_dict(analysis), indent=2) + "\n"


COLUMNS = ("name", "type", "output", "params", "macs", "flops", "rf_size", "rf_jump", "rf_start")
# contract §9, in bytes at the report's batch and dtype: per layer its output and what it keeps for
# backward; the memory totals only on the total row
MEMORY_COLUMNS = ("cpr", "output_bytes", "saved_bytes", "input_bytes", "params_bytes", "buffers_bytes",
                  "inference_peak", "training_gradients", "training_optimizer", "training_total")


def _flat_row(layer: LayerResult) -> list:
    rf = layer.rf
    join = lambda values: "x".join(fraction_text(v) for v in values)  # noqa: E731
    return [layer.name, layer.type, "x".join(map(str, layer.output)), layer.params, layer.macs, layer.flops,
            join(rf.size) if rf else "", join(rf.jump) if rf else "", join(rf.start) if rf else ""]


def render_csv(analysis: Analysis) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS + MEMORY_COLUMNS)
    layer_memory = memory_by_layer(analysis)
    blank = [""] * (len(MEMORY_COLUMNS) - 3)
    for layer in analysis.layers:
        own = layer_memory[layer.name]
        writer.writerow(_flat_row(layer) + ["" if layer.cpr is None else layer.cpr, own["output"], own["saved"]]
                        + blank)
    m, t = analysis.memory, analysis.memory.training
    writer.writerow(["total", "", "", analysis.total("params"), analysis.total("macs"), analysis.total("flops"),
                     analysis.final_rf or "", "", "", "", m.activations, t.saved, m.input, m.params, m.buffers,
                     m.inference_peak, t.gradients, t.optimizer, t.total])
    return out.getvalue()


def render_markdown(analysis: Analysis) -> str:
    header = ["name", "type", "output", "params", "MACs", "FLOPs", "RF size", "RF jump", "RF start"]
    lines = [f"## {analysis.name}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * 6) + "|"]
    for layer in analysis.layers:
        row = _flat_row(layer)
        row[2] = f"[{row[2].replace('x', ', ')}]"
        lines.append("| " + " | ".join(str(c) if c != "" else "-" for c in row) + " |")
    lines.append(f"| **total** | | | {analysis.total('params')} | {analysis.total('macs')} | "
                 f"{analysis.total('flops')} | {analysis.final_rf or '-'} | | |")
    lines.append("")
    lines.append(f"Activations: {analysis.activation_bytes} bytes (float32, one sample).")
    lines.append("")
    lines.extend(["```text", *summary_lines(analysis), "```"])
    return "\n".join(lines) + "\n"


def _per_axis(values) -> str:
    """A per-axis rf value for the table: one number when every axis agrees (427, not 427×427, so
    the column stays narrow), else each axis (7×1). JSON, CSV and markdown always list every axis."""
    texts = [fraction_text(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else "×".join(texts)


TABLE_COLUMNS = (("name", "left"), ("type", "left"), ("output", "left"), ("params", "right"), ("MACs", "right"),
                 ("FLOPs", "right"), ("RF size", "right"), ("RF jump", "right"), ("CPR", "right"))


def table_title(analysis: Analysis) -> str:
    return f"{analysis.name}  input {list(analysis.graph.input_shape)}"


def table_rows(analysis: Analysis) -> tuple[list[list[str]], list[str]]:
    """The table's cells: one row per layer, and the total row."""
    rows = []
    for layer in analysis.layers:
        rf = layer.rf
        rows.append([layer.name, layer.type, str(list(layer.output)), human(layer.params) if layer.params else "",
                     human(layer.macs) if layer.macs else "", human(layer.flops) if layer.flops else "",
                     _per_axis(rf.size) if rf else "", _per_axis(rf.jump) if rf else "", human_ratio(layer.cpr)])
    total = ["total", "", "", human(analysis.total("params")), human(analysis.total("macs")),
             human(analysis.total("flops")), str(analysis.final_rf or ""), "", ""]
    return rows, total


def plain_table(analysis: Analysis, width: int) -> str | None:
    """The table and summary exactly as rich draws them without colour (tests/test_cli.py checks
    every bundled spec), in a fraction of rich's time; None when something would not fit `width`
    (rich then folds the name and type columns)."""
    rows, total = table_rows(analysis)
    header = [title for title, _ in TABLE_COLUMNS]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, total)]
    table_width = sum(w + 3 for w in widths) + 1
    summary = _summary_text(analysis)
    if table_width > width or any(len(line) > width for line in summary):
        return None

    def rule(left, fill, middle, right):
        return left + middle.join(fill * (w + 2) for w in widths) + right

    def cells(row, edge="│"):
        return edge + edge.join(f" {cell.ljust(w) if justify == 'left' else cell.rjust(w)} "
                                for cell, w, (_, justify) in zip(row, widths, TABLE_COLUMNS)) + edge

    lines = [table_title(analysis).ljust(table_width), rule("┏", "━", "┳", "┓"), cells(header, "┃"),
             rule("┡", "━", "╇", "┩"), *map(cells, rows), rule("├", "─", "┼", "┤"), cells(total),
             rule("└", "─", "┴", "┘"), *summary]
    return "\n".join(lines) + "\n"


def _summary_text(analysis: Analysis) -> list[str]:
    final = f" · final receptive field {analysis.final_rf}" if analysis.final_rf else ""
    return [f"params {analysis.total('params'):,} · buffers {analysis.total('buffers'):,} · "
            f"MACs {analysis.total('macs'):,} · FLOPs {analysis.total('flops'):,}",
            f"activations {analysis.activation_bytes:,} B ({human_bytes(analysis.activation_bytes)}, "
            f"float32, one sample){final}", *summary_lines(analysis)]


def render_table(analysis: Analysis, console) -> None:
    """Print the rich table and summary to `console`."""
    from rich.table import Table

    table = Table(title=table_title(analysis), title_justify="left")
    for title, justify in TABLE_COLUMNS:
        # numbers never shrink to "12.5…": when the table is wider than the console, the name and
        # type columns fold onto a second line instead
        wraps = title in ("name", "type")
        table.add_column(title, justify=justify, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
    rows, total = table_rows(analysis)
    for row in rows:
        table.add_row(*row)
    table.add_section()
    table.add_row(*total, style="bold")
    console.print(table)
    for line in _summary_text(analysis):
        console.print(line, highlight=False)


# ---- batch, precision, memory (contract §9) ----

def human_ratio(value: float | None) -> str:
    """A CPR for the table: 12459.3 → '12.46 K', 1.0 → '1', 0.5 → '0.5'."""
    if value is None:
        return ""
    if value >= 1000:
        return human(round(value))
    return f"{value:.3g}"


def summary_lines(analysis: Analysis) -> list[str]:
    """The lines under the table: where params and MACs sit by layer kind, then memory."""
    lines = []
    kinds = analysis.by_family()
    if kinds:
        lines.append("params and MACs by kind:")
        width = max(len(k["kind"]) for k in kinds)
        for k in kinds:
            lines.append(f"  {k['kind']:<{width}}  {k['layers']:>3} layer{'s' if k['layers'] != 1 else ' '}"
                         f"  {k['params_share']:>6.1%} of params  {k['macs_share']:>6.1%} of MACs")
    m = analysis.memory
    s, t = m.setting, m.training
    if s.batch != 1:
        lines.append(f"batch {s.batch}: MACs {s.batch * analysis.total('macs'):,} · "
                     f"FLOPs {s.batch * analysis.total('flops'):,}")
    lines.append(f"memory at batch {s.batch}, {s.dtype}:")
    lines.append(f"  input {human_bytes(m.input)} · params {human_bytes(m.params)} · buffers "
                 f"{human_bytes(m.buffers)} · every output {human_bytes(m.activations)}")
    where = f" (at {m.peak_layer})" if m.peak_layer else ""
    lines.append(f"  inference peak {human_bytes(m.inference_peak)} = live activations "
                 f"{human_bytes(m.activations_peak)}{where} + input + params + buffers")
    lines.append(f"  training step {human_bytes(t.total)} ({t.optimizer_name}, {s.training_mode}):")
    parts = [f"{label} {human_bytes(n)}" for label, n in t.parts()]
    import textwrap

    glued = " + ".join(part.replace(" ", "\u00a0") for part in parts)  # wrap between parts only
    lines.extend(line.replace("\u00a0", " ") for line in textwrap.wrap(
        glued, 110, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False))
    return lines


def render_text(analysis: Analysis, fmt: str) -> str:
    """Every machine format as a string."""
    return {"json": render_json, "csv": render_csv, "markdown": render_markdown}[fmt](analysis)
