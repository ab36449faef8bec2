"""Reporters for an Analysis: rich table, JSON (contract §3), CSV and Markdown.

Machine formats carry exact integers; the table uses readable units. rich is imported only
by the table reporter so that `--format json` stays quick to start.
"""

from __future__ import annotations

import csv
import io
import json

from netcalc import __version__, units
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
    layers = []
    for layer in analysis.layers:
        layers.append({
            "name": layer.name, "type": layer.type, "from": list(layer.node.inputs),
            "output": list(layer.output), "params": layer.params, "buffers": layer.buffers,
            "macs": layer.macs, "flops": layer.flops, "rf": rf_dict(layer),
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
        },
        "warnings": list(analysis.warnings),
    }


def render_json(analysis: Analysis) -> str:
    return json.dumps(to_dict(analysis), indent=2) + "\n"


COLUMNS = ("name", "type", "output", "params", "macs", "flops", "rf_size", "rf_jump", "rf_start")


def _flat_row(layer: LayerResult) -> list:
    rf = layer.rf
    join = lambda values: "x".join(fraction_text(v) for v in values)  # noqa: E731
    return [layer.name, layer.type, "x".join(map(str, layer.output)), layer.params, layer.macs, layer.flops,
            join(rf.size) if rf else "", join(rf.jump) if rf else "", join(rf.start) if rf else ""]


def render_csv(analysis: Analysis) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for layer in analysis.layers:
        writer.writerow(_flat_row(layer))
    writer.writerow(["total", "", "", analysis.total("params"), analysis.total("macs"), analysis.total("flops"),
                     analysis.final_rf or "", "", ""])
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
    return "\n".join(lines) + "\n"


def render_table(analysis: Analysis, console) -> None:
    """Print the rich table and summary to `console`."""
    from rich.table import Table

    table = Table(title=f"{analysis.name}  input {list(analysis.graph.input_shape)}", title_justify="left")
    for title, justify in (("name", "left"), ("type", "left"), ("output", "left"), ("params", "right"),
                           ("MACs", "right"), ("FLOPs", "right"), ("RF size", "right"), ("RF jump", "right")):
        table.add_column(title, justify=justify, no_wrap=True)
    for layer in analysis.layers:
        rf = layer.rf
        table.add_row(layer.name, layer.type, str(list(layer.output)), human(layer.params) if layer.params else "",
                      human(layer.macs) if layer.macs else "", human(layer.flops) if layer.flops else "",
                      "×".join(fraction_text(s) for s in rf.size) if rf else "",
                      "×".join(fraction_text(j) for j in rf.jump) if rf else "")
    table.add_section()
    table.add_row("total", "", "", human(analysis.total("params")), human(analysis.total("macs")),
                  human(analysis.total("flops")), str(analysis.final_rf or ""), "", style="bold")
    console.print(table)
    console.print(f"params {analysis.total('params'):,} · buffers {analysis.total('buffers'):,} · "
                  f"MACs {analysis.total('macs'):,} · FLOPs {analysis.total('flops'):,}", highlight=False)
    final = f" · final receptive field {analysis.final_rf}" if analysis.final_rf else ""
    console.print(f"activations {analysis.activation_bytes:,} B ({human_bytes(analysis.activation_bytes)}, "
                  f"float32, one sample){final}", highlight=False)


def render_text(analysis: Analysis, fmt: str) -> str:
    """Every machine format as a string."""
    return {"json": render_json, "csv": render_csv, "markdown": render_markdown}[fmt](analysis)
