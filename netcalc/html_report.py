"""A self-contained HTML report (netcalc analyze --format html -o FILE).

One page that works offline: no request leaves it (its Content-Security-Policy allows nothing
but its own inline style and script and data: images). It holds the layer table (click a header
to sort by that column), the totals, the memory breakdown when the report has one, bar charts of
params and MACs per layer and the receptive-field size per layer against the input size
(matplotlib, inline SVG), and the network diagram (Graphviz's dot, inline SVG) when Graphviz is
installed.

`render` builds the page from the JSON report (report.to_dict) and ready-made SVG strings, so
it needs neither matplotlib nor Graphviz; `build` makes the charts and diagrams.
"""

from __future__ import annotations

import html
import io
import re

from netcalc.analysis import Analysis

MAX_BARS = 150  # a bar chart shows at most this many layers (the largest), to stay readable
MAX_DIAGRAM_NODES = 600  # larger diagrams are left out of the page (netcalc draw makes them)
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "font-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'")


def build(analysis: Analysis, report: dict | None = None) -> str:
    """The whole page for an analysis: charts need matplotlib (`netcalc[plot]`); the diagram is
    included when Graphviz's dot is installed, and a note says how to get it otherwise."""
    from netcalc.optional import has_graphviz
    from netcalc.report import to_dict

    report = to_dict(analysis) if report is None else report
    charts = make_charts(report)
    diagrams = make_diagrams(analysis) if has_graphviz() else None
    return render(report, charts, diagrams)


# ---------------------------------------------------------------------------
# Charts and diagrams (SVG strings)
# ---------------------------------------------------------------------------

def make_charts(report: dict) -> dict[str, str]:
    """{'params': svg, 'macs': svg, 'rf': svg} (the rf chart only when some layer has a field)."""
    from netcalc.optional import pyplot

    plt = pyplot("analyze --format html")
    import matplotlib

    charts = {}
    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 8, "font.family": "DejaVu Sans"}):
        for key, title in (("params", "parameters per layer"), ("macs", "MACs per layer")):
            with matplotlib.rc_context({"svg.hashsalt": f"netcalc-{key}"}):
                charts[key] = _svg(plt, _bar_chart(plt, report, key, title))
        if any(layer.get("rf") for layer in report["layers"]):
            with matplotlib.rc_context({"svg.hashsalt": "netcalc-rf"}):
                charts["rf"] = _svg(plt, _rf_chart(plt, report))
    return charts


def _svg(plt, fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return inline_svg(buffer.getvalue())


def _human_axis(ax, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter

    from netcalc.report import human

    formatter = FuncFormatter(lambda value, _: human(int(value)) if value >= 0 else "")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(formatter)


def _bar_chart(plt, report: dict, key: str, title: str):
    rows = [(i, layer["name"], layer[key]) for i, layer in enumerate(report["layers"]) if layer.get(key)]
    note = ""
    if len(rows) > MAX_BARS:
        note = f" (the {MAX_BARS} largest of {len(rows)})"
        rows = sorted(sorted(rows, key=lambda row: -row[2])[:MAX_BARS])
    height = 1.1 + 0.15 * max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(6.2, height), layout="constrained")
    if rows:
        positions = range(len(rows))
        ax.barh(list(positions), [row[2] for row in rows], color="#4a78c2" if key == "macs" else "#8a5cc2",
                height=0.72)
        ax.set_yticks(list(positions), [row[1] for row in rows], fontsize=6.5)
        ax.invert_yaxis()
        _human_axis(ax, "x")
    else:
        ax.text(0.5, 0.5, f"no layer has {key}", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_title(f"{title}{note}", loc="left", fontsize=9)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _rf_chart(plt, report: dict):
    from netcalc.layers.base import axis_names

    spatial = report["input"][1:]
    names = axis_names(len(spatial))
    points = [(i, layer["rf"]["size"]) for i, layer in enumerate(report["layers"]) if layer.get("rf")]
    fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    colours = ("#c2452d", "#2d7ec2", "#3a9a3a")
    same = all(len(set(v for v in sizes if v is not None)) <= 1 for _, sizes in points) and len(set(spatial)) == 1
    for axis, name in enumerate(names[:1] if same else names):
        xs = [i for i, sizes in points if sizes[axis] is not None]
        ys = [sizes[axis] for _, sizes in points if sizes[axis] is not None]
        label = "rf size" if same else f"rf size ({name})"
        ax.plot(xs, ys, marker="o", ms=2.2, lw=1.2, color=colours[axis % 3], label=label)
        ax.axhline(spatial[axis], ls="--", lw=1, color=colours[axis % 3], alpha=0.6,
                   label=f"input {'size' if same else name} = {spatial[axis]}")
    ax.set_xlabel("layer (execution order)")
    ax.set_ylabel("receptive field size (input pixels)")
    ax.set_title("receptive-field size per layer against the input size", loc="left", fontsize=9)
    ax.set_xlim(-0.5, len(report["layers"]) - 0.5)
    ax.set_ylim(bottom=0)
    ax.grid(color="#e4e4e4", lw=0.6)
    ax.legend(fontsize=7, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def make_diagrams(analysis: Analysis) -> list[tuple[str, str]]:
    """[(title, svg or a note)]: the folded diagram when folding changes anything, and every
    layer. A diagram of more than MAX_DIAGRAM_NODES nodes is left out (Graphviz would take long
    and nobody reads it in a page); the note says how to draw it."""
    from netcalc import draw

    out = []
    folded = draw.build(analysis, collapse=True)
    full = draw.build(analysis)
    for title, diagram in (("blocks folded (netcalc draw --collapse)", folded), ("every layer (netcalc draw)", full)):
        if diagram is folded and len(folded.nodes) == len(full.nodes):
            continue  # nothing to fold
        if len(diagram.nodes) > MAX_DIAGRAM_NODES:
            flag = " --collapse" if diagram is folded else ""
            out.append((title, f"<p class=note>{len(diagram.nodes):,} nodes are too many for this page: draw "
                               f"them with <code>netcalc draw SPEC -o net.svg{flag}</code>.</p>"))
            continue
        svg = draw.render(diagram, "svg", "analyze --format html (diagram)").decode()
        out.append((title, inline_svg(svg)))
    return out


def inline_svg(text: str) -> str:
    """An SVG document as an element to embed: no XML prolog, doctype, comments or metadata."""
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return text.strip()


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------

def _int(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else html.escape(str(value))


def _dims(values) -> str:
    if values is None:
        return ""
    return "×".join("–" if v is None else (f"{v:g}" if isinstance(v, float) else str(v)) for v in values)


def _key(value) -> str:
    """A sort key for a numeric cell (data-v)."""
    return "" if value is None else repr(value)


COLUMNS = (  # (title, numeric?)
    ("#", True), ("name", False), ("type", False), ("from", False), ("output", True), ("params", True),
    ("buffers", True), ("MACs", True), ("FLOPs", True), ("RF size", True), ("RF jump", True), ("RF start", True),
)


def _layer_row(index: int, layer: dict) -> str:
    rf = layer.get("rf") or {}
    size, jump, start = rf.get("size"), rf.get("jump"), rf.get("start")
    elements = 1
    for s in layer["output"]:
        elements *= s
    cells = [
        (str(index), index),
        (html.escape(layer["name"]), None),
        (html.escape(layer["type"]), None),
        (html.escape(", ".join(layer.get("from", []))), None),
        (html.escape(_dims(layer["output"])), elements),
        (_int(layer["params"]), layer["params"]),
        (_int(layer.get("buffers", 0)), layer.get("buffers", 0)),
        (_int(layer["macs"]), layer["macs"]),
        (_int(layer["flops"]), layer["flops"]),
        (_dims(size), max((s for s in size or [] if s is not None), default=None)),
        (_dims(jump), max(jump, default=None) if jump else None),
        (_dims(start), min(start, default=None) if start else None),
    ]
    out = []
    for (text, key), (_, numeric) in zip(cells, COLUMNS):
        attr = f' data-v="{_key(key)}"' if numeric else ""
        out.append(f"<td{attr}>{text}</td>")
    return "<tr>" + "".join(out) + "</tr>"


def _bytes_cell(value) -> str:
    from netcalc.report import human_bytes

    if isinstance(value, int) and not isinstance(value, bool):
        return f"<td>{value:,} B</td><td>{html.escape(human_bytes(value))}</td>"
    return f"<td colspan=2>{html.escape(str(value))}</td>"


def _memory_rows(memory: dict, depth: int = 0) -> list[str]:
    rows = []
    for key, value in memory.items():
        label = html.escape(str(key).replace("_", " "))
        pad = f' style="padding-left:{0.6 + 1.4 * depth:.1f}em"'
        if isinstance(value, dict):
            rows.append(f"<tr class=sub><th{pad}>{label}</th><td></td><td></td></tr>")
            rows.extend(_memory_rows(value, depth + 1))
        else:
            rows.append(f"<tr><th{pad}>{label}</th>{_bytes_cell(value)}</tr>")
    return rows


def _memory_section(report: dict) -> str:
    memory = report.get("memory")
    if not isinstance(memory, dict) or not memory:
        return ""
    totals = report.get("totals", {})
    context = ", ".join(f"{k} {totals[k]}" for k in ("dtype", "batch") if k in totals)
    heading = "Memory" + (f" <small>({html.escape(context)})</small>" if context else "")
    return (f"<section id=memory><h2>{heading}</h2><table class=kv>"
            + "".join(_memory_rows(memory)) + "</table></section>")


def _totals_section(report: dict) -> str:
    from netcalc.report import human, human_bytes

    totals = report.get("totals", {})
    items = []
    for key, label in (("params", "params"), ("buffers", "buffers"), ("macs", "MACs"), ("flops", "FLOPs")):
        if key in totals:
            items.append((label, f"{totals[key]:,}", human(totals[key])))
    if "activation_bytes" in totals:
        items.append(("activations", f"{totals['activation_bytes']:,} B",
                      f"{human_bytes(totals['activation_bytes'])} (float32, one sample)"))
    if totals.get("rf") is not None:
        items.append(("final receptive field", str(totals["rf"]), "input pixels"))
    shown = {"params", "buffers", "macs", "flops", "activation_bytes", "rf"}
    for key, value in totals.items():
        if key not in shown and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            items.append((key.replace("_", " "), _int(value), ""))
    cards = "".join(f"<div class=card><div class=k>{html.escape(k)}</div><div class=v>{v}</div>"
                    f"<div class=h>{html.escape(h)}</div></div>" for k, v, h in items)
    return f"<section id=totals><h2>Totals</h2><div class=cards>{cards}</div></section>"


def render(report: dict, charts: dict[str, str] | None = None,
           diagrams: list[tuple[str, str]] | None = None) -> str:
    """The page. charts: {'params'|'macs'|'rf': svg}; diagrams: [(title, svg)], or None when
    Graphviz is not installed (the page says how to get it)."""
    from netcalc import __version__

    name = html.escape(str(report.get("name", "network")))
    shape = html.escape(_dims(report.get("input", [])))
    head = "".join(f'<th data-col={i} data-type={"num" if numeric else "text"} tabindex=0>'
                   f'{html.escape(title)}<span class=arrow></span></th>'
                   for i, (title, numeric) in enumerate(COLUMNS))
    rows = "\n".join(_layer_row(i, layer) for i, layer in enumerate(report["layers"]))
    warnings = report.get("warnings") or []
    warn = ("<section id=warnings><h2>Warnings</h2><ul>"
            + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul></section>") if warnings else ""
    charts = charts or {}
    chart_html = "".join(f'<figure class="chart {key}">{charts[key]}</figure>'
                         for key in ("params", "macs") if key in charts)
    rf_html = f'<figure class="chart rf">{charts["rf"]}</figure>' if "rf" in charts else ""
    if diagrams is None:
        diagram_html = ("<p class=note>The diagram needs Graphviz's <code>dot</code> program: install the "
                        "graphviz package and run this again.</p>")
    else:
        parts = []
        for i, (title, svg) in enumerate(diagrams):
            opened = " open" if i == 0 else ""
            parts.append(f"<details{opened}><summary>{html.escape(title)}</summary>"
                         f"<div class=diagram>{svg}</div></details>")
        diagram_html = "".join(parts)
    return PAGE.format(
        csp=CSP, name=name, shape=shape, version=html.escape(__version__), count=len(report["layers"]),
        totals=_totals_section(report), memory=_memory_section(report), warnings=warn,
        head=head, rows=rows, charts=chart_html, rf=rf_html, diagram=diagram_html, style=STYLE, script=SCRIPT)


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1280px;padding:12px 24px;color:#1d1d1d}
h1{font-size:22px;margin:8px 0 2px}h1 small{font-weight:normal;color:#666;font-size:14px}
h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:140px;background:#fafafa}
.card .k{color:#666;font-size:12px}.card .v{font-size:17px;font-variant-numeric:tabular-nums}.card .h{color:#888;font-size:12px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.layers{width:100%;font-size:12.5px}
table.layers th{position:sticky;top:0;background:#f0f0f0;cursor:pointer;user-select:none;text-align:left;padding:4px 6px;border-bottom:2px solid #bbb;white-space:nowrap}
table.layers th:hover{background:#e4e4f4}
table.layers td{padding:2px 6px;border-bottom:1px solid #eee;white-space:nowrap}
table.layers td[data-v]{text-align:right}
table.layers tbody tr:hover{background:#f5f8ff}
th .arrow{color:#35c;margin-left:3px}
th[aria-sort=descending] .arrow::after{content:'\\25BC'}th[aria-sort=ascending] .arrow::after{content:'\\25B2'}
table.kv th{text-align:left;font-weight:normal;padding:2px 18px 2px 0}table.kv td{text-align:right;padding:2px 10px}
table.kv tr.sub th{font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure.chart{margin:0;flex:1 1 480px}figure.chart svg{max-width:100%;height:auto}
figure.rf{flex-basis:100%}figure.rf svg{width:100%}
.diagram{overflow:auto;max-height:900px;border:1px solid #eee;padding:4px}.diagram svg{max-width:100%;height:auto}
summary{cursor:pointer;margin:6px 0}.note{color:#777}
footer{color:#999;font-size:12px;margin:28px 0 8px}
"""

SCRIPT = """
(function () {
  var table = document.getElementById('layers');
  var body = table.tBodies[0];
  table.querySelectorAll('th').forEach(function (th) {
    function sort() {
      var col = +th.dataset.col, numeric = th.dataset.type === 'num';
      var dir = th.getAttribute('aria-sort') === 'descending' ? 'ascending'
              : th.getAttribute('aria-sort') === 'ascending' ? 'descending'
              : (numeric && col > 0 ? 'descending' : 'ascending');
      var sign = dir === 'ascending' ? 1 : -1;
      var rows = Array.prototype.slice.call(body.rows);
      function value(row) {
        var cell = row.cells[col];
        if (!numeric) return cell.textContent;
        var v = cell.getAttribute('data-v');
        return v === '' ? -Infinity : parseFloat(v);
      }
      rows.sort(function (a, b) {
        var x = value(a), y = value(b), c = 0;
        if (numeric) c = x < y ? -1 : x > y ? 1 : 0;
        else c = x.localeCompare(y);
        return c !== 0 ? sign * c : (+a.cells[0].textContent) - (+b.cells[0].textContent);
      });
      rows.forEach(function (row) { body.appendChild(row); });
      table.querySelectorAll('th').forEach(function (other) { other.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir);
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
  });
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="netcalc {version}">
<title>{name} · netcalc report</title>
<style>{style}</style>
</head>
<body>
<header><h1>{name} <small>input {shape} · {count} layers</small></h1></header>
{totals}
{memory}
{warnings}
<section id=charts><h2>Charts</h2><div class=charts>{charts}{rf}</div></section>
<section id=diagram><h2>Diagram</h2>{diagram}</section>
<section id=table><h2>Layers <small>(click a column to sort; again to reverse)</small></h2>
<table class=layers id=layers><thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody></table></section>
<footer>netcalc {version} · MACs are multiply–accumulates; FLOPs count every operation (see the README's counting conventions). Works offline: this page loads nothing.</footer>
<script>{script}</script>
</body>
</html>
"""
