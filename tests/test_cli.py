"""The analyze command: formats, exit codes, help text, golden table, machine-readable output."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from netcalc import __version__, report
from netcalc.analysis import analyze_file
from netcalc.cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "specs" / "tiny_segnet.yaml"
GOLDEN = Path(__file__).parent / "golden"


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def test_every_command_has_help_text():
    for name, command in cli.commands.items():
        assert command.help and command.help.strip(), name
        result = invoke(name, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_json_follows_the_contract():
    result = invoke("analyze", EXAMPLE, "--format", "json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)  # nothing else on stdout
    assert doc["schema_version"] == 1 and doc["netcalc_version"] == __version__
    assert doc["name"] == "tiny_segnet" and doc["input"] == [3, 64, 64]
    first = doc["layers"][0]
    assert set(first) >= {"name", "type", "from", "output", "params", "buffers", "macs", "flops", "rf"}
    assert first["from"] == ["input"] and first["rf"] == {"size": [3, 3], "jump": [1, 1], "start": [0, 0]}  # [−1, 1]
    for key in ("params", "buffers", "macs", "flops"):
        assert doc["totals"][key] == sum(layer[key] for layer in doc["layers"])
    # composite layers are listed by their inner dotted names
    assert "separable1.depthwise" in [layer["name"] for layer in doc["layers"]]


def test_json_is_deterministic():
    outputs = {invoke("analyze", EXAMPLE, "--format", "json").stdout for _ in range(3)}
    assert len(outputs) == 1


def test_fractional_rf_values_are_json_floats(tmp_path):
    spec = tmp_path / "up.yaml"
    spec.write_text("input: [1, 8]\nlayers:\n  - upsample: {scale: 2}\n")
    rf = json.loads(invoke("analyze", spec, "--format", "json").stdout)["layers"][0]["rf"]
    # nearest ×2: outputs 0 and 1 both read input 0 → jump ½, field [0, 0]
    assert rf == {"size": [1], "jump": [0.5], "start": [0]}
    assert isinstance(rf["jump"][0], float)


def test_totals_equal_the_sum_of_rows_on_the_report_object():
    analysis = analyze_file(EXAMPLE)
    doc = report.to_dict(analysis)
    assert doc["totals"]["params"] == sum(l.params for l in analysis.layers)
    assert doc["totals"]["activation_bytes"] == 4 * sum(
        __import__("math").prod(l.output) for l in analysis.layers)


def test_csv_has_exact_integers():
    result = invoke("analyze", EXAMPLE, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    analysis = analyze_file(EXAMPLE)
    assert [r["name"] for r in rows[:-1]] == [l.name for l in analysis.layers]
    assert int(rows[-1]["params"]) == analysis.total("params")
    assert int(rows[-1]["flops"]) == analysis.total("flops")


def test_markdown_table():
    result = invoke("analyze", EXAMPLE, "--format", "markdown")
    lines = result.stdout.splitlines()
    assert lines[0] == "## tiny_segnet"
    assert lines[2].startswith("| name | type | output |")
    assert any(line.startswith("| **total** |") for line in lines)


def test_table_golden_without_colour():
    # tests/golden/tiny_segnet.table.txt: the table at 120 columns, no colour
    result = invoke("analyze", EXAMPLE, env={"COLUMNS": "120", "NO_COLOR": "1"})
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout
    golden = GOLDEN / "tiny_segnet.table.txt"
    if os.environ.get("NETCALC_UPDATE_GOLDEN"):
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == golden.read_text(encoding="utf-8")


def test_table_uses_readable_units():
    out = invoke("analyze", EXAMPLE, env={"COLUMNS": "120"}).stdout
    assert "29.33 M" in out and "params 27,156" in out


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_bad_spec_exit_code_in_every_format(tmp_path, fmt):
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers: [rleu]\n")
    result = invoke("analyze", spec, "--format", fmt)
    assert result.exit_code == 2 and result.stdout == ""


def test_unknown_format_is_a_usage_error():
    assert invoke("analyze", EXAMPLE, "--format", "xml").exit_code == 2


@pytest.mark.parametrize("spec", sorted(p.name for p in (Path(__file__).parents[1] / "specs").glob("*.yaml")))
@pytest.mark.parametrize("width", [120, 200])
def test_plain_table_is_what_rich_draws(spec, width):
    # piped output skips rich for speed: the plain renderer must draw exactly rich's table, or
    # decline (None) when it would not fit and rich has to fold columns
    import io

    from rich.console import Console

    from netcalc import report
    from netcalc.analysis import analyze_file

    analysis = analyze_file(str(Path(__file__).parents[1] / "specs" / spec))
    buffer = io.StringIO()
    report.render_table(analysis, Console(file=buffer, width=width, no_color=True, highlight=False, soft_wrap=False))
    plain = report.plain_table(analysis, width)
    assert plain is None or plain == buffer.getvalue()
    if width == 200 and len(analysis.layers) < 400:
        assert plain is not None  # the bundled specs' tables fit 200 columns
