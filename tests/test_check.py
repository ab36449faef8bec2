"""netcalc check: expect answers, limits budgets, answers files, exit codes and output formats.

Every expected number below is worked by hand in the data files' comments (or here) from the
seed formulas and contract §4, never copied from netcalc's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from netcalc.check import parse_amount
from netcalc.cli import cli
from netcalc.errors import SpecError

DATA = Path(__file__).parent / "data" / "check"


def run(*args):
    return CliRunner().invoke(cli, ["check", *map(str, args)])


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- amounts with suffixes (by hand) ----

@pytest.mark.parametrize("text, value", [
    ("25M", 25_000_000), ("512MB", 536_870_912), ("4.1G", 4_100_000_000), ("1K", 1000), ("2KB", 2048),
    ("1GB", 1_073_741_824), ("3T", 3_000_000_000_000), ("1.5K", 1500), (1000, 1000), ("1000", 1000),
    (0, 0), ("0.25MB", 262_144), (" 7 M ", 7_000_000),
])
def test_parse_amount(text, value):
    assert parse_amount(text, "x", None) == value


@pytest.mark.parametrize("bad", ["25X", "M", "-3", "1.5", "0.0001K", True, None, [1], "1e6", "5 mb"])
def test_parse_amount_rejects(bad):
    with pytest.raises(SpecError):
        parse_amount(bad, "x", None)


# ---- right answers: exit 0 ----

@pytest.mark.parametrize("name", ["seed_conv", "stem_right", "budget_pass", "budget_suffix"])
def test_right_answers_exit_0(name):
    result = run(DATA / f"{name}.yaml")
    assert result.exit_code == 0, result.output
    assert "✗" not in result.stdout
    assert "✓" in result.stdout


def test_answers_file_right():
    result = run(DATA / "homework.yaml", "--answers", DATA / "answers_right.yaml", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["summary"] == {"checks": 17, "passed": 17, "failed": 0}
    # `s` (a separable entry) means its last layer, s.pointwise
    assert {c["where"] for c in report["checks"]} == {"conv1", "s.depthwise", "s.pointwise", "linear1", "limits"}


# ---- wrong answers: exit 1, one field at a time ----

SEED = """input: [1, 5, 5]
layers:
  - conv: {{out: 1, kernel: 3, bias: false}}
    name: c
    expect:
      {key}: {value}
"""

WRONG = [  # (key, wrong value, the check's key, the hand-worked right value)
    ("output", "[1, 5, 5]", "output", [1, 3, 3]),
    ("params", "10", "params", 9),
    ("macs", "80", "macs", 81),
    ("flops", "162", "flops", 153),  # 162 = 9·18 forgets that 9 products need only 8 adds
    ("rf", "{size: 4}", "rf.size", 3),
    ("rf", "{size: [3, 4]}", "rf.size", [3, 3]),
    ("rf", "{jump: 2}", "rf.jump", 1),
    ("rf", "{jump: [1, 0.5]}", "rf.jump", [1, 1]),
]


@pytest.mark.parametrize("key, value, check_key, actual", WRONG)
def test_each_wrong_field_exit_1(tmp_path, key, value, check_key, actual):
    spec = write(tmp_path, SEED.format(key=key, value=value))
    result = run(spec, "--format", "json")
    assert result.exit_code == 1, result.output
    (check,) = json.loads(result.stdout)["checks"]
    assert not check["ok"] and check["key"] == check_key and check["actual"] == actual
    assert check["line"] == 6  # the line of the key that stated the wrong answer
    assert check["explanation"], "a wrong answer comes with its worked formula"


@pytest.mark.parametrize("key, value", [("output", "[1, 3, 3]"), ("params", "9"), ("macs", "81"), ("flops", "153"),
                                        ("rf", "{size: 3, jump: 1}"), ("rf", "{size: [3, 3], jump: [1, 1]}"),
                                        ("rf", "{jump: 1.0}"), ("rf", "{jump: '1/1'}")])
def test_each_right_field_exit_0(tmp_path, key, value):
    result = run(write(tmp_path, SEED.format(key=key, value=value)))
    assert result.exit_code == 0, result.output


def test_wrong_answer_shows_formula_with_numbers(tmp_path):
    result = run(write(tmp_path, SEED.format(key="flops", value=162)))
    assert result.exit_code == 1
    assert "expected flops 162, got 153" in result.stdout
    assert "2·9 − 1 = 17" in result.stdout and "9·17 = 153" in result.stdout


def test_fractional_jump_after_upsample(tmp_path):
    # upsample ×2 halves the jump: 1/2 (contract §5)
    spec = write(tmp_path, "input: [1, 4, 4]\nlayers:\n  - upsample: {scale: 2}\n"
                           "    expect: {rf: {jump: 0.5, size: 1}}\n")
    assert run(spec).exit_code == 0
    spec = write(tmp_path, "input: [1, 4, 4]\nlayers:\n  - upsample: {scale: 2}\n    expect: {rf: {jump: '1/2'}}\n")
    assert run(spec).exit_code == 0


def test_rf_expected_on_flat_layer_fails(tmp_path):
    spec = write(tmp_path, "input: [1, 4, 4]\nlayers:\n  - flatten:\n    expect: {rf: {size: 1}}\n")
    result = run(spec)
    assert result.exit_code == 1


def test_answers_file_wrong():
    result = run(DATA / "homework.yaml", "--answers", DATA / "answers_wrong.yaml", "--format", "json")
    assert result.exit_code == 1
    failed = [(c["where"], c["key"], c["line"]) for c in json.loads(result.stdout)["checks"] if not c["ok"]]
    assert failed == [("conv1", "output", 1), ("conv1", "params", 1), ("s.depthwise", "rf.size", 2),
                      ("s.depthwise", "rf.jump", 2), ("linear1", "flops", 3), ("limits", "params", 4)]


# ---- budgets ----

def test_budgets_fail_one_by_one():
    result = run(DATA / "budget_fail.yaml", "--format", "json")
    assert result.exit_code == 1
    checks = json.loads(result.stdout)["checks"]
    assert [(c["key"], c["ok"], c["actual"], c["line"]) for c in checks] == [
        ("params", False, 9, 3), ("macs", False, 81, 4), ("flops", False, 153, 5),
        ("activations", False, 36, 6), ("rf_min", False, 3, 7), ("rf_max", False, 3, 8)]


@pytest.mark.parametrize("limit, holds", [("params: 9", True), ("params: 8", False), ("activations: 36", True),
                                          ("activations: 35", False), ("activations: 1KB", True),
                                          ("rf_min: 3", True), ("rf_min: 4", False), ("rf_max: 3", True),
                                          ("rf_max: 2", False), ("macs: 0.081K", True), ("macs: 0.08K", False)])
def test_limits_are_inclusive(tmp_path, limit, holds):
    spec = write(tmp_path, f"input: [1, 5, 5]\nlimits: {{{limit}}}\nlayers:\n  - conv: {{out: 1, kernel: 3, bias: false}}\n")
    assert run(spec).exit_code == (0 if holds else 1)


def test_suffix_budget_25M(tmp_path):
    # a 5000→5000 linear layer: 25,000,000 weights + 5000 biases > 25M; without bias exactly 25M
    for bias, code in (("false", 0), ("true", 1)):
        spec = write(tmp_path, f"input: [5000]\nlimits: {{params: 25M}}\nlayers:\n  - linear: {{out: 5000, bias: {bias}}}\n")
        assert run(spec).exit_code == code


def test_suffix_budget_512MB(tmp_path):
    # 512MB = 536,870,912 B = 134,217,728 float32 = a [2, 8192, 8192] relu output
    spec = "input: [2, 8192, 8192]\nlimits: {{activations: {}}}\nlayers:\n  - relu\n"
    assert run(write(tmp_path, spec.format("512MB"))).exit_code == 0
    assert run(write(tmp_path, spec.format("536870911"))).exit_code == 1


# ---- bad spec: exit 2 ----

@pytest.mark.parametrize("text, message", [
    ("input: [1, 5, 5]\nlayers:\n  - relu:\n    expect: {parms: 9}\n", "unknown expect key 'parms' (did you mean 'params'?)"),
    ("input: [1, 5, 5]\nlayers:\n  - relu:\n    expect: {rf: {sise: 1}}\n", "unknown expect rf key 'sise' (did you mean 'size'?)"),
    ("input: [1, 5, 5]\nlimits: {parms: 9}\nlayers:\n  - relu\n", "unknown limit 'parms' (did you mean 'params'?)"),
    ("input: [1, 5, 5]\nlimits: {rfmin: 9}\nlayers:\n  - relu\n", "(did you mean 'rf_min'?)"),
    ("input: [1, 5, 5]\nlimits: {params: 25X}\nlayers:\n  - relu\n", "'limits params' must be a number"),
    ("input: [1, 5, 5]\nlayers:\n  - relu:\n    expect: {output: 5}\n", "expect 'output' must be a list"),
    ("input: [1, 5, 5]\nlayers:\n  - relu:\n    expect: {flops: lots}\n", "'expect flops' must be a number"),
    ("input: [1, 5, 5]\nlayers:\n  - relu:\n    expect: {rf: {size: big}}\n", "'rf size' must be a number"),
    ("input: [1, 5, 5]\nlayers:\n  - relu:\n    expect: 7\n", "'expect' must be a mapping"),
    ("input: [1, 5, 5]\nlayers:\n  - cnv: {out: 1}\n", "unknown layer type 'cnv'"),
])
def test_bad_spec_exit_2(tmp_path, text, message):
    result = run(write(tmp_path, text))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'spec.yaml'}:" in result.stderr


def test_answers_unknown_layer_exit_2():
    result = run(DATA / "homework.yaml", "--answers", DATA / "answers_typo.yaml")
    assert result.exit_code == 2
    assert "answers_typo.yaml:2:1: answers name unknown layer 'linaer1' (did you mean 'linear1'?)" in result.stderr


def test_missing_answers_file_exit_2(tmp_path):
    result = run(DATA / "homework.yaml", "--answers", tmp_path / "nope.yaml")
    assert result.exit_code == 2


# ---- GitHub annotations ----

def test_github_annotations_exact_lines(tmp_path):
    spec = write(tmp_path, (
        "input: [1, 5, 5]\n"           # 1
        "limits:\n"                    # 2
        "  params: 100\n"              # 3
        "  flops: 100\n"               # 4
        "layers:\n"                    # 5
        "  - conv: {out: 1, kernel: 3, bias: false}\n"  # 6
        "    expect:\n"                # 7
        "      output: [1, 3, 3]\n"    # 8
        "      params: 8\n"            # 9
        "      rf: {size: 3, jump: 2}\n"))  # 10
    result = run(spec, "--format", "github")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("::error ") for line in lines)
    assert lines[0].startswith(f"::error file={spec},line=9,col=7::"
                               f"layer 'conv1': expected params 8, got 9%0A")
    assert lines[1].startswith(f"::error file={spec},line=10,col=21::"
                               f"layer 'conv1': expected rf.jump 2, got 1%0A")
    assert lines[2].startswith(f"::error file={spec},line=4,col=3::"
                               f"limits: flops budget 100 does not hold: actual 153")


def test_github_all_hold_prints_nothing():
    result = run(DATA / "stem_right.yaml", "--format", "github")
    assert result.exit_code == 0 and result.stdout == ""


def test_github_bad_spec_points_at_the_key(tmp_path):
    spec = write(tmp_path, "input: [1, 5, 5]\nlayers:\n  - relu:\n    expect: {parms: 9}\n")
    result = run(spec, "--format", "github")
    assert result.exit_code == 2
    assert result.stdout.startswith(f"::error file={spec},line=4,col=14::"
                                    f"layer 'relu1': unknown expect key 'parms'")


def test_github_escapes_properties_and_data():
    from netcalc.check import github_annotation
    from netcalc.errors import Loc

    assert github_annotation("50% done\nnext", Loc("a,b:c.yaml", 3, 4)) == \
        "::error file=a%2Cb%3Ac.yaml,line=3,col=4::50%25 done%0Anext"


def test_no_checks_is_ok(tmp_path):
    result = run(write(tmp_path, "input: [1, 5, 5]\nlayers:\n  - relu\n"))
    assert result.exit_code == 0 and "nothing to check" in result.stdout


# ---- several specs (pre-commit passes every changed file at once) ----

def test_several_specs_worst_exit_code(tmp_path):
    bad = write(tmp_path, "input: [1, 5, 5]\nlayers:\n  - cnv\n", "bad.yaml")
    assert run(DATA / "budget_pass.yaml", DATA / "seed_conv.yaml").exit_code == 0
    assert run(DATA / "budget_pass.yaml", DATA / "budget_fail.yaml").exit_code == 1
    result = run(DATA / "budget_fail.yaml", bad, DATA / "budget_pass.yaml", "--format", "json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert [s["ok"] for s in report["specs"]] == [False, False, True] and "error" in report["specs"][1]


def test_answers_needs_one_spec():
    result = run(DATA / "homework.yaml", DATA / "seed_conv.yaml", "--answers", DATA / "answers_right.yaml")
    assert result.exit_code == 2 and "--answers needs exactly one SPEC" in result.stderr


def test_pre_commit_hook_definition():
    import re

    import yaml

    (hook,) = yaml.safe_load((Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "netcalc-check" and hook["entry"] == "netcalc check"
    files = re.compile(hook["files"])
    assert files.search("specs/resnet18.yaml") and files.search("models/specs/a.yml")
    assert not files.search("other/resnet18.yaml") and not files.search("specs/notes.txt")
    assert not files.search(".github/workflows/ci.yaml")


def test_real_process_exit_codes_and_clean_stdout():
    import subprocess
    import sys

    root = Path(__file__).parent.parent

    def proc(*args):
        return subprocess.run([sys.executable, "-m", "netcalc", "check", *map(str, args)], cwd=root,
                              capture_output=True, text=True, timeout=60)

    ok = proc(DATA / "stem_right.yaml", "--format", "github")
    assert (ok.returncode, ok.stdout) == (0, "")
    failed = proc(DATA / "budget_fail.yaml", "--format", "github")
    assert failed.returncode == 1
    assert all(line.startswith("::error file=") for line in failed.stdout.splitlines())
    assert "Traceback" not in failed.stderr
    bad = proc(DATA / "homework.yaml", "--answers", DATA / "answers_typo.yaml")
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1
