"""netcalc.units: one amount syntax (limits:, expect:, --max-memory), decimal answers against exact
values, exact numbers as text and JSON. Expected values are worked by hand."""

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from netcalc import units
from netcalc.cli import cli
from netcalc.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]


# ---- amounts ----

@pytest.mark.parametrize("text, of_bytes, value", [
    ("4G", False, 4 * 10**9), ("4G", True, 4 * 10**9), ("512MB", True, 512 * 2**20), ("2GB", True, 2 * 2**30),
    ("1GiB", True, 2**30), ("1GiB", False, 2**30), ("3KiB", True, 3072), ("0.5MiB", True, 524_288),
    ("2TiB", True, 2 * 2**40), ("1TB", True, 2**40), ("1.5K", False, 1500), ("1024", True, 1024),
    ("1024B", True, 1024), (" 8 MiB ", True, 8 * 2**20), (1000, False, 1000), (2.5e6, False, 2_500_000),
])
def test_amounts_by_hand(text, of_bytes, value):
    assert units.parse_amount(text, of_bytes) == value


@pytest.mark.parametrize("bad, of_bytes", [
    ("1B", False),     # B is bytes; a billion params is 1G
    ("1gib", True),    # suffixes are case-sensitive (m would be milli)
    ("5 mb", True), ("1.5", True), ("0.1B", True), ("1e6", False), ("-1K", False), ("lots", True),
    ("1GIB", True), (True, False), (None, True), ([1], False),
])
def test_amounts_refused(bad, of_bytes):
    with pytest.raises(units.UnitError):
        units.parse_amount(bad, of_bytes)


def test_a_billion_hint_for_counts():
    with pytest.raises(units.UnitError, match="B is for bytes; for a billion write G"):
        units.parse_amount("7B")


SMALL = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n"  # output 4·6·6 = 144 floats = 576 B


def _write(tmp_path, text):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("budget, code", [
    ("1KiB", ExitCode.OK), ("576B", ExitCode.OK), ("576", ExitCode.OK), ("575", ExitCode.FAILED),
    ("0.5KiB", ExitCode.FAILED), ("0.5KB", ExitCode.FAILED),  # 512 B < 576 B
    ("0.0005MiB", ExitCode.BAD_INPUT),  # 524.288 B is not a whole number of bytes
])
def test_limits_activations_take_the_byte_syntax(tmp_path, budget, code):
    spec = _write(tmp_path, SMALL + f"limits: {{activations: {budget}}}\n")
    result = CliRunner().invoke(cli, ["check", spec, "--format", "json"])
    assert result.exit_code == code, result.stdout + result.stderr
    if code == ExitCode.BAD_INPUT:
        assert "whole number" in result.stderr and "net.yaml:4" in result.stderr
        return
    (check,) = json.loads(result.stdout)["checks"]
    assert check["actual"] == 576 and check["expected"] == units.parse_amount(budget, of_bytes=True)


def test_limits_on_counts_refuse_bytes_only_suffix(tmp_path):
    spec = _write(tmp_path, SMALL + "limits: {params: 1B}\n")
    result = CliRunner().invoke(cli, ["check", spec])
    assert result.exit_code == 2 and "net.yaml:4" in result.stderr and "for a billion write G" in result.stderr


@pytest.mark.parametrize("size, refused", [("1KiB", True), ("1GiB", False), ("4G", False), ("1gb", None)])
def test_max_memory_takes_the_same_syntax(tmp_path, size, refused):
    spec = _write(tmp_path, SMALL)
    result = subprocess.run([sys.executable, "-m", "netcalc", "verify", spec, "--max-memory", size],
                            cwd=ROOT, capture_output=True, text=True)
    if refused is None:  # lower case is not a suffix, in limits: nor here
        assert result.returncode == 2 and "not a memory size" in result.stderr
    elif refused:
        assert result.returncode == 2 and "above the memory limit 1.00 KiB" in result.stderr
    else:
        assert result.returncode == 0, result.stderr


# ---- decimal answers ----

JUMP = "input: [1, 12]\nlayers:\n  - upsample: {size: 13}\n    expect: {rf: {jump: %s}}\n"  # jump 12/13


@pytest.mark.parametrize("answer, ok", [
    ("0.9230769230769231", True),   # what netcalc's own JSON prints for 12/13
    ("12/13", True), ("0.923", True), ("0.9231", True), ("0.92", True), ("0.9", True),
    ("0.93", False), ("0.924", False), ("'0.9230'", False),  # 0.92307… to 4 decimals is 0.9231
    ("1", False), ("0.9230769230769", True), ("0.9230769230768", False),
])
def test_decimal_answer_agrees_to_the_digits_given(tmp_path, answer, ok):
    spec = _write(tmp_path, JUMP % answer)
    result = CliRunner().invoke(cli, ["check", spec])
    assert result.exit_code == (ExitCode.OK if ok else ExitCode.FAILED), result.stdout + result.stderr


def test_netcalc_json_round_trips_through_check(tmp_path):
    """Every rf jump netcalc prints in JSON passes check as an answer (12/13, 1/3, 3/2, 2)."""
    spec = _write(tmp_path, "input: [1, 12, 9]\nlayers:\n  - upsample: {size: [13, 27]}\n"
                            "  - conv: {out: 1, kernel: 3, stride: 2}\n")
    report = json.loads(CliRunner().invoke(cli, ["analyze", spec, "--format", "json"]).stdout)
    answers = {layer["name"]: {"rf": {"jump": layer["rf"]["jump"], "size": layer["rf"]["size"]}}
               for layer in report["layers"]}
    assert answers["upsample1"]["rf"]["jump"] == [12 / 13, 1 / 3]
    key = tmp_path / "key.yaml"
    key.write_text(json.dumps(answers))
    result = CliRunner().invoke(cli, ["check", spec, "--answers", str(key)])
    assert result.exit_code == 0, result.stdout


def test_answer_text_and_json():
    assert str(units.parse_answer(0.9230769230769231)) == "0.9230769230769231"
    assert str(units.parse_answer("0.9230")) == "0.9230" and str(units.parse_answer("-1.50")) == "-1.50"
    assert str(units.parse_answer("12/13")) == "12/13" and units.parse_answer(7).to_json() == 7
    assert units.parse_answer(0.25).to_json() == 0.25 and units.parse_answer("1/2").to_json() == 0.5
    assert units.parse_answer(1e-05).decimals is None  # exponent form: compared exactly


# ---- exact numbers ----

def test_fraction_text_and_json_number():
    assert units.fraction_text(Fraction(12, 13)) == "12/13" and units.fraction_text(4) == "4"
    assert units.fraction_text(None) == "-"
    assert units.json_number(Fraction(6, 3)) == 2 and isinstance(units.json_number(Fraction(6, 3)), int)
    assert units.json_number(Fraction(1, 3)) == 1 / 3 and units.json_number(5) == 5
    assert units.human(25_557_032) == "25.56 M" and units.human_bytes(3 * 2**20) == "3.00 MiB"


def test_schema_takes_the_same_amount_syntax():
    jsonschema = pytest.importorskip("jsonschema")
    from netcalc.schema import spec_schema

    validator = jsonschema.Draft202012Validator(spec_schema())
    spec = {"input": [3, 8, 8], "layers": ["relu"]}
    assert validator.is_valid({**spec, "limits": {"activations": "1GiB", "params": "25M"}})
    assert validator.is_valid({**spec, "limits": {"activations": "576B"}})
    assert not validator.is_valid({**spec, "limits": {"params": "7B"}})
    assert not validator.is_valid({**spec, "limits": {"activations": "1gib"}})
