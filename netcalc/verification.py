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
    memory: "MemoryCheck | None" = None  # when --memory

    @property
    def shape_mismatches(self) -> int:
        return sum(not c.ok for c in self.layers)

    @property
    def rf_mismatches(self) -> int:
        return sum(c.status == "mismatch" for c in self.rf)

    @property
    def ok(self) -> bool:
        return self.shape_mismatches == 0 and self.rf_mismatches == 0 and (self.memory is None or self.memory.ok)

    def summary(self) -> str:
        n = len(self.layers)
        text = (f"{n - self.shape_mismatches}/{n} layer shapes agree with the calculation "
                f"(batch {self.batch})")
        if self.rf_checked:
            agree = sum(c.status == "ok" for c in self.rf)
            clipped = sum(c.clipped for c in self.rf)
            text += f"; receptive fields: {agree}/{len(self.rf)} agree"
            if clipped:
                bounds_only = sum(c.clipped and not c.exact_ends for c in self.rf)
                text += f" ({clipped} wider than the probe input, compared clipped; {bounds_only} of them only as bounds)"
        if self.memory is not None:
            text += "; " + self.memory.summary()
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
                "memory": self.analysis.memory.to_dict(),
                "memory_check": None if self.memory is None else self.memory.to_dict(),
                "shape_mismatches": self.shape_mismatches,
                "rf_mismatches": self.rf_mismatches if self.rf_checked else None,
                "ok": self.ok, "summary": self.summary()}


@dataclass
class MemoryCheck:
    """The executor's real peak against netcalc's float32 inference peak at the same batch: the
    bytes traced (tracemalloc) right after each layer's output exists, before its dead inputs
    are dropped — weights, input and live activations, without a kernel's transient scratch."""

    batch: int
    calculated: int
    measured: int
    measured_layer: str | None

    @property
    def ok(self) -> bool:
        return self.measured <= self.calculated

    def summary(self) -> str:
        from netcalc.units import human_bytes

        ratio = self.measured / self.calculated if self.calculated else 0.0
        return (f"memory: the executor's peak {human_bytes(self.measured)} is {ratio:.1%} of the calculated "
                f"inference peak {human_bytes(self.calculated)} (float32, batch {self.batch})")

    def to_dict(self) -> dict:
        return {"batch": self.batch, "dtype": "float32", "calculated": self.calculated, "measured": self.measured,
                "measured_layer": self.measured_layer, "ok": self.ok}


NUMPY_TRACE_DOMAIN = 389047  # numpy reports array data to tracemalloc under this domain


class PeakProbe:
    """Traces allocations from creation to stop(); `probe(node)` records the bytes alive."""

    def __init__(self):
        import tracemalloc

        import numpy.random  # noqa: F401  (imported before tracing: modules are not memory a pass needs)

        from netcalc import kernels  # noqa: F401

        self._tm = tracemalloc
        tracemalloc.start()
        self.peak, self.layer = 0, None

    def probe(self, node) -> None:
        # only numpy's array data (its own tracemalloc domain), not the interpreter's objects
        snapshot = self._tm.take_snapshot().filter_traces([self._tm.DomainFilter(True, NUMPY_TRACE_DOMAIN)])
        current = sum(stat.size for stat in snapshot.statistics("filename"))
        if current > self.peak:
            self.peak, self.layer = current, node.name

    def stop(self) -> None:
        self._tm.stop()


def measure_peak(graph, batch: int = 1, seed: int = 0, on_layer=None) -> tuple[int, str | None]:
    """The executor's measured float32 inference peak (see MemoryCheck) and where it happens."""
    from netcalc.executor import Executor

    tracer = PeakProbe()
    try:
        executor = Executor(graph, seed=seed)
        executor.forward(executor.random_input(batch, seed=seed), on_layer=on_layer, on_computed=tracer.probe)
    finally:
        tracer.stop()
    return tracer.peak, tracer.layer


def verify(analysis: Analysis, batch: int = 1, seed: int = 0, memory_limit: int | None = None,
           check_rf: bool = False, on_layer=None, check_memory: bool = False,
           probe: str = "support") -> VerifyResult:
    """Run the executor on a seeded random input and compare shapes (and rfs, and with
    check_memory its traced peak against the float32 inference peak)."""
    from netcalc.executor import Executor, ForwardResult, default_memory_limit
    from netcalc.executor import check_memory as refuse_if_too_big

    graph = analysis.graph
    limit = default_memory_limit() if memory_limit is None else memory_limit
    estimate = refuse_if_too_big(graph, batch, 4, limit)
    tracer = PeakProbe() if check_memory else None
    try:
        executor = Executor(graph, seed=seed)
        x = executor.random_input(batch, seed=seed)
        checks = {node.name: LayerCheck(node.name, node.kind.name, tuple(node.out_shape), None)
                  for node in graph.nodes}
        result = ForwardResult({})
        try:
            executor.forward(x, on_layer=on_layer, into=result, on_computed=tracer and tracer.probe)
        except Exception as exc:  # a kernel that cannot run the calculated geometry is a mismatch
            failed = graph.nodes[len(result.shapes)].name
            checks[failed].error = f"{type(exc).__name__}: {exc}"
    finally:
        if tracer is not None:
            tracer.stop()
    for name, shape in result.shapes.items():
        checks[name].executed = shape
    out = VerifyResult(analysis, batch, estimate.peak, list(checks.values()))
    if tracer is not None:
        from netcalc import memory
        from netcalc.memory import Setting

        calculated, _ = memory.compute(analysis, Setting(batch, "float32"))
        out.memory = MemoryCheck(batch, calculated.inference_peak, tracer.peak, tracer.layer)
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
