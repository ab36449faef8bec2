"""`netcalc verify`: the executor's real shapes (and measured receptive fields) against the
calculation. The CLI stays thin; this module holds the comparison and its rendering."""

from __future__ import annotations

from dataclasses import dataclass, field

from netcalc.analysis import Analysis


@dataclass
class LayerCheck:
    name: str
    type: str
    calculated: tuple
    executed: tuple | None  # None: the layer did not run (an earlier failure)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.executed is not None and tuple(self.executed) == tuple(self.calculated)


@dataclass
class VerifyResult:
    analysis: Analysis
    batch: int
    memory_estimate: int
    layers: list[LayerCheck]
    rf: list = field(default_factory=list)  # rfprobe.RFCheck, when --rf
    rf_checked: bool = False

    @property
    def shape_mismatches(self) -> int:
        return sum(not c.ok for c in self.layers)

    @property
    def rf_mismatches(self) -> int:
        return sum(c.status == "mismatch" for c in self.rf)

    @property
    def ok(self) -> bool:
        return self.shape_mismatches == 0 and self.rf_mismatches == 0

    def summary(self) -> str:
        n = len(self.layers)
        text = (f"{n - self.shape_mismatches}/{n} layer shapes agree with the calculation "
                f"(batch {self.batch})")
        if self.rf_checked:
            agree = sum(c.status == "ok" for c in self.rf)
            clipped = sum(c.clipped for c in self.rf)
            text += f"; receptive fields: {agree}/{len(self.rf)} agree"
            if clipped:
                text += f" ({clipped} wider than the probe input, compared clipped)"
        return text + (" ✓" if self.ok else " ✗")

    def to_dict(self) -> dict:
        rf_by_layer = {c.layer: c for c in self.rf}
        layers = []
        for c in self.layers:
            entry = {"name": c.name, "type": c.type, "calculated": list(c.calculated),
                     "executor": None if c.executed is None else list(c.executed), "ok": c.ok}
            if c.error:
                entry["error"] = c.error
            if self.rf_checked:
                check = rf_by_layer.get(c.name)
                entry["rf"] = None if check is None else check.to_dict()
            layers.append(entry)
        return {"schema_version": 1, "name": self.analysis.name, "input": list(self.analysis.graph.input_shape),
                "batch": self.batch, "memory_estimate": self.memory_estimate, "layers": layers,
                "shape_mismatches": self.shape_mismatches,
                "rf_mismatches": self.rf_mismatches if self.rf_checked else None,
                "ok": self.ok, "summary": self.summary()}


def verify(analysis: Analysis, batch: int = 1, seed: int = 0, memory_limit: int | None = None,
           check_rf: bool = False, on_layer=None, probe: str = "support") -> VerifyResult:
    """Run the executor on a seeded random input and compare shapes (and rfs)."""
    from netcalc.executor import Executor, ForwardResult, check_memory, default_memory_limit

    graph = analysis.graph
    limit = default_memory_limit() if memory_limit is None else memory_limit
    estimate = check_memory(graph, batch, 4, limit)
    executor = Executor(graph, seed=seed)
    x = executor.random_input(batch, seed=seed)
    checks = {node.name: LayerCheck(node.name, node.kind.name, tuple(node.out_shape), None)
              for node in graph.nodes}
    result = ForwardResult({})
    try:
        executor.forward(x, on_layer=on_layer, into=result)
    except Exception as exc:  # a kernel that cannot run the calculated geometry is a mismatch
        failed = graph.nodes[len(result.shapes)].name
        checks[failed].error = f"{type(exc).__name__}: {exc}"
    for name, shape in result.shapes.items():
        checks[name].executed = shape
    out = VerifyResult(analysis, batch, estimate.peak, list(checks.values()))
    if check_rf:
        from netcalc import rfprobe

        out.rf_checked = True
        out.rf = rfprobe.measure(analysis, memory_limit=limit, on_layer=on_layer, probe=probe)
    return out


def render_table(result: VerifyResult, console) -> None:
    from rich.table import Table

    from netcalc.units import fraction_text

    analysis = result.analysis
    table = Table(title=f"{analysis.name}  input {list(analysis.graph.input_shape)}  verify (batch {result.batch})",
                  title_justify="left")
    for title in ("name", "type", "calculated", "executor", "ok"):
        table.add_column(title, no_wrap=title != "name", min_width=2)
    if result.rf_checked:
        for title in ("RF calc size/jump", "RF measured", "rf ok"):
            table.add_column(title, no_wrap=True, min_width=2)
    rf_by_layer = {c.layer: c for c in result.rf}

    def rf_text(size, jump):
        if size is None:
            return ""
        return "×".join(fraction_text(s) if s is not None else "-" for s in size) + " / " + \
            "×".join(fraction_text(j) if j is not None else "-" for j in jump)

    for c in result.layers:
        executed = "—" if c.executed is None else str(list(c.executed))
        if c.error:
            executed = f"error: {c.error}"
        row = [c.name, c.type, str(list(c.calculated)), executed, "✓" if c.ok else "✗"]
        if result.rf_checked:
            check = rf_by_layer.get(c.name)
            if check is None:
                row += ["", "", ""]
            else:
                mark = {"ok": "✓", "mismatch": "✗", "skipped": "–"}[check.status]
                row += [rf_text(check.expected_size, check.expected_jump),
                        ("clipped extents" if check.clipped else
                         rf_text(check.measured_size, check.measured_jump) or check.status), mark]
        table.add_row(*row)
    console.print(table)
    notes = [f"  {c.layer}: {c.note}" for c in result.rf if c.note]
    if notes:
        console.print("RF notes:\n" + "\n".join(notes), highlight=False)
    console.print(result.summary(), highlight=False)
