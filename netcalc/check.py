"""Checking answers and budgets (netcalc check): per-layer `expect:` values and top-level
`limits:` (contract §1), optionally from a separate answers file.

Every check remembers the exact place (file, line, column) of the key that stated it, so a
failure can be reported as a GitHub annotation on that line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from netcalc import units
from netcalc.analysis import Analysis, analyze_graph
from netcalc.errors import ExitCode, Loc, SpecError, did_you_mean
from netcalc.graph import build_graph
from netcalc.yamlio import YMap, load_yaml_file

EXPECT_KEYS = ("output", "params", "macs", "flops", "rf")
RF_KEYS = ("size", "jump")
LIMIT_KEYS = ("params", "macs", "flops", "activations", "rf_min", "rf_max")
BYTE_LIMITS = ("activations",)


def parse_amount(value, what: str, loc: Loc | None, of_bytes: bool = False) -> int:
    """An expected count or a budget in netcalc.units' amount syntax, as a SpecError at `loc`."""
    try:
        return units.parse_amount(value, of_bytes)
    except units.UnitError as exc:
        raise SpecError(f"'{what}' {exc}", loc) from None


def _parse_answer(value, what: str, loc: Loc | None) -> units.Answer:
    """An rf size or jump: an int, a decimal, or a fraction written 'p/q' (units.Answer)."""
    try:
        return units.parse_answer(value)
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"'{what}' must be a number (or a fraction like '1/2'), got {value!r}", loc) from None


@dataclass
class Check:
    where: str  # a layer name, or 'limits'
    key: str  # output, params, …, rf.size, rf.jump; or a limit key
    expected: object
    actual: object
    ok: bool
    loc: Loc | None
    explanation: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        who = f"layer '{self.where}'" if self.where != "limits" else "limits"
        if self.ok:
            return f"{who}: {self.key} {show(self.actual)} as expected"
        if self.where == "limits":
            return f"{who}: {self.key} budget {show(self.expected)} does not hold: actual {show(self.actual)}"
        return f"{who}: expected {self.key} {show(self.expected)}, got {show(self.actual)}"

    def to_dict(self) -> dict:
        return {"where": self.where, "key": self.key, "expected": _json(self.expected), "actual": _json(self.actual),
                "ok": self.ok, "file": self.loc.file if self.loc else None, "line": self.loc.line if self.loc else None,
                "col": self.loc.col if self.loc else None, "message": self.message, "explanation": self.explanation}


def show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (Fraction, units.Answer)):
        return str(value) if isinstance(value, units.Answer) else units.fraction_text(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    return str(value)


def _json(value):
    if isinstance(value, units.Answer):
        return value.to_json()
    if isinstance(value, Fraction):
        return units.json_number(value)
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


@dataclass
class CheckResult:
    analysis: Analysis
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict:
        return {"name": self.analysis.name, "ok": self.ok,
                "summary": {"checks": len(self.checks), "passed": len(self.checks) - len(self.failures),
                            "failed": len(self.failures)},
                "checks": [c.to_dict() for c in self.checks]}


def _key_loc(mapping, key, fallback):
    return mapping.key_locs.get(key, fallback) if isinstance(mapping, YMap) else fallback


def check_expect(analysis: Analysis, layer_name: str, expect, loc: Loc | None) -> list[Check]:
    """The checks stated by one `expect:` mapping (from the spec or an answers file)."""
    from netcalc.explain import explain_layer

    if not isinstance(expect, dict):
        raise SpecError(f"'expect' must be a mapping like {{params: 9472}}, got {expect!r}", loc, layer_name)
    for key in expect:
        if key not in EXPECT_KEYS:
            raise SpecError(f"unknown expect key '{key}'{did_you_mean(key, EXPECT_KEYS)} "
                            f"(allowed: {', '.join(EXPECT_KEYS)})", _key_loc(expect, key, loc), layer_name)
    layer = analysis.layer(layer_name)
    worked = None

    def why(metric):
        nonlocal worked
        if worked is None:
            worked = explain_layer(analysis, layer).sections
        return list(worked.get(metric, []))

    checks = []
    for key, value in expect.items():
        key_loc = _key_loc(expect, key, loc)
        if key == "output":
            if (not isinstance(value, list) or not value
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
                raise SpecError(f"expect 'output' must be a list of positive integers like [64, 112, 112], "
                                f"got {value!r}", key_loc, layer_name)
            actual = list(layer.output)
            checks.append(Check(layer_name, "output", list(value), actual, list(value) == actual, key_loc))
        elif key in ("params", "macs", "flops"):
            wanted = parse_amount(value, f"expect {key}", key_loc)
            actual = getattr(layer, key)
            checks.append(Check(layer_name, key, wanted, actual, wanted == actual, key_loc))
        else:  # rf
            if not isinstance(value, dict):
                raise SpecError(f"expect 'rf' must be a mapping like {{size: 7, jump: 2}}, got {value!r}",
                                key_loc, layer_name)
            for sub, sub_value in value.items():
                sub_loc = _key_loc(value, sub, key_loc)
                if sub not in RF_KEYS:
                    raise SpecError(f"unknown expect rf key '{sub}'{did_you_mean(sub, RF_KEYS)} "
                                    f"(allowed: {', '.join(RF_KEYS)})", sub_loc, layer_name)
                checks.append(_check_rf(layer, layer_name, sub, sub_value, sub_loc))
    for check in checks:
        if not check.ok:
            check.explanation = why(check.key.split(".")[0])
    return checks


def _check_rf(layer, layer_name: str, sub: str, value, loc: Loc) -> Check:
    items = value if isinstance(value, list) else None
    if items is not None:
        wanted = [_parse_answer(v, f"rf {sub}", loc) for v in items]
    else:
        wanted = _parse_answer(value, f"rf {sub}", loc)
    if layer.rf is None:
        return Check(layer_name, f"rf.{sub}", wanted, None, False, loc)
    actual = [Fraction(v) if v is not None else None for v in (layer.rf.size if sub == "size" else layer.rf.jump)]
    if items is not None:
        ok = len(wanted) == len(actual) and all(a is not None and w.matches(a) for w, a in zip(wanted, actual))
    else:
        ok = all(a is not None and wanted.matches(a) for a in actual)
    shown = actual if items is not None or len(set(actual)) > 1 else actual[0]
    return Check(layer_name, f"rf.{sub}", wanted, shown, ok, loc)


def check_limits(analysis: Analysis, limits, loc: Loc | None) -> list[Check]:
    if not isinstance(limits, dict):
        raise SpecError(f"'limits' must be a mapping like {{params: 25M}}, got {limits!r}", loc)
    checks = []
    for key, value in limits.items():
        key_loc = _key_loc(limits, key, loc)
        if key not in LIMIT_KEYS:
            raise SpecError(f"unknown limit '{key}'{did_you_mean(key, LIMIT_KEYS)} "
                            f"(allowed: {', '.join(LIMIT_KEYS)})", key_loc)
        bound = parse_amount(value, f"limits {key}", key_loc, of_bytes=key in BYTE_LIMITS)
        if key in ("params", "macs", "flops"):
            actual = analysis.total(key)
            n = len(analysis.layers)
            why = [f"total {key} over the {n} layer{'s' if n != 1 else ''} = {actual:,} "
                   f"{'≤' if actual <= bound else '>'} {bound:,}"]
        elif key == "activations":
            actual = analysis.activation_bytes
            why = [f"float32 bytes of every layer's output, one sample: 4 · "
                   f"{actual // 4:,} elements = {actual:,} B {'≤' if actual <= bound else '>'} {bound:,} B"]
        else:
            actual = analysis.final_rf
            why = ["final receptive field: the largest rf size of the last layer with spatial dims"
                   + (f" = {actual}" if actual is not None else ": none (no layer has spatial dims)")]
        if actual is None:
            ok = False
        elif key == "rf_min":
            ok = actual >= bound
        else:
            ok = actual <= bound
        checks.append(Check("limits", key, bound, actual, ok, key_loc, [] if ok else why))
    return checks


def load_answers(path: str, analysis: Analysis) -> list[tuple[str, object, Loc]]:
    """An answers file: `layer name → expect mapping`, plus an optional `limits` mapping.
    Returns (layer or 'limits', mapping, location) triples."""
    doc = load_yaml_file(path)
    if not isinstance(doc, YMap):
        raise SpecError("an answers file must be a mapping of layer names to expected values, "
                        "e.g. conv1: {params: 9472}", getattr(doc, "loc", Loc(path, 1, 1)))
    names = [layer.name for layer in analysis.layers]
    entries = []
    for key, value in doc.items():
        key_loc = doc.key_locs[key]
        if key == "limits":
            entries.append(("limits", value, key_loc))
            continue
        target = analysis.resolve_name(key)
        if target is None:
            raise SpecError(f"answers name unknown layer '{key}'{did_you_mean(key, names + ['limits'])}", key_loc)
        entries.append((target, value, key_loc))
    return entries


def run_checks(analysis: Analysis, answers: str | None = None) -> CheckResult:
    spec = analysis.graph.spec
    checks: list[Check] = []
    for decl in spec.layers:
        if decl.expect is not None:
            checks += check_expect(analysis, decl.name, decl.expect, decl.expect_loc)
    if spec.limits is not None:
        checks += check_limits(analysis, spec.limits, spec.limits_loc)
    if answers is not None:
        for where, mapping, loc in load_answers(answers, analysis):
            if where == "limits":
                checks += check_limits(analysis, mapping, loc)
            else:
                checks += check_expect(analysis, where, mapping, loc)
    return CheckResult(analysis, checks)


def check_file(path: str, answers: str | None = None) -> CheckResult:
    from netcalc.loading import load_network  # a spec, or an ONNX model (its answers in --answers)

    return run_checks(analyze_graph(build_graph(load_network(path))), answers)


@dataclass
class SpecCheck:
    """The outcome of checking one spec: its result, or the error that stopped it."""

    spec: str
    result: CheckResult | None = None
    error: SpecError | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return ExitCode(self.error.exit_code)
        return ExitCode.OK if self.result.ok else ExitCode.FAILED

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"spec": self.spec, "ok": False, "error": str(self.error)}
        return dict(spec=self.spec, **self.result.to_dict())


def check_specs(paths, answers: str | None = None):
    """Check each spec in turn (a generator, so the caller can print as they come); a bad spec
    is an outcome, not the end: the others are still checked."""
    for path in paths:
        try:
            yield SpecCheck(path, result=check_file(path, answers))
        except SpecError as exc:
            yield SpecCheck(path, error=exc)
        except RecursionError:
            yield SpecCheck(path, error=SpecError(f"{path}: the spec nests too deeply to analyse"))


def worst_exit(outcomes: list[SpecCheck]) -> ExitCode:
    """With several specs, `check` exits with the worst code (2 over 1 over 0)."""
    return max((o.exit_code for o in outcomes), default=ExitCode.OK)


def json_report(outcomes: list[SpecCheck]) -> dict | None:
    """One spec that could be checked: its report; otherwise {"ok", "specs": [...]}."""
    if len(outcomes) == 1 and outcomes[0].error is None:
        return outcomes[0].to_dict()
    if not outcomes:
        return None
    return {"ok": worst_exit(outcomes) == ExitCode.OK, "specs": [o.to_dict() for o in outcomes]}


def error_annotation(error: SpecError) -> str:
    message = error.message if error.layer is None else f"layer '{error.layer}': {error.message}"
    return github_annotation(message, error.loc)


# ---- output ----

def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(message: str, loc: Loc | None, title: str | None = None) -> str:
    """`::error file=F,line=L,col=C::message` (GitHub Actions workflow command)."""
    props = []
    if loc is not None:
        props += [f"file={_escape_property(loc.file)}", f"line={loc.line}", f"col={loc.col}"]
    if title:
        props.append(f"title={_escape_property(title)}")
    return f"::error {','.join(props)}::{_escape_data(message)}" if props else f"::error::{_escape_data(message)}"


def render_github(result: CheckResult) -> str:
    lines = []
    for check in result.failures:
        body = check.message + ("\n" + "\n".join(check.explanation) if check.explanation else "")
        lines.append(github_annotation(body, check.loc))
    return "\n".join(lines) + ("\n" if lines else "")


def render_plain_summary(result: CheckResult) -> str:
    failed = len(result.failures)
    total = len(result.checks)
    if not total:
        return "nothing to check: the spec has no expect: values or limits:"
    return (f"{total - failed} of {total} checks hold" + (f"; {failed} failed" if failed else "") + ".")


def render_table(result: CheckResult, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{result.analysis.name}: checks", title_justify="left")
    for title, justify in (("", "left"), ("layer", "left"), ("what", "left"), ("expected", "right"),
                           ("actual", "right"), ("line", "right")):
        table.add_column(title, justify=justify, no_wrap=True)
    for c in result.checks:
        mark = "[green]✓[/green]" if c.ok else "[bold red]✗[/bold red]"
        if c.where == "limits":
            expected = ("≥ " if c.key == "rf_min" else "≤ ") + show(c.expected)
        else:
            expected = show(c.expected)
        table.add_row(mark, escape(c.where), c.key, escape(expected), escape(show(c.actual)),
                      str(c.loc.line) if c.loc else "")
    if result.checks:
        console.print(table)
    for c in result.failures:
        if c.explanation:
            console.print(f"[bold red]✗[/bold red] {escape(c.message)}")
            for line in c.explanation:
                console.print(f"    {escape(line)}", soft_wrap=True)
    console.print(render_plain_summary(result), highlight=False)
