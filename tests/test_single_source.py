"""Concepts that used to be written twice now have one home; these tests pin that the places that
show them agree (issue 8)."""

import json

from click.testing import CliRunner

from netcalc import docs
from netcalc.cli import cli
from netcalc.layers import REGISTRY, load_all


def test_layers_and_readme_table_show_the_same_defaults():
    load_all()
    rows = {row["type"]: row for row in json.loads(CliRunner().invoke(cli, ["layers", "--format", "json"]).stdout)}
    table = docs.conventions_table()
    for kind in REGISTRY.values():
        for param, row in zip(kind.params, rows[kind.name]["params"]):
            aliases = "".join(f"/`{a}`" for a in param.aliases)
            assert f"`{param.name}`{aliases} {row['default']}" in table, (kind.name, param.name)
    maxpool = {p["name"]: p["default"] for p in rows["maxpool"]["params"]}
    assert maxpool["stride"] == "kernel" and maxpool["padding"] == "0" and maxpool["kernel"] == "required"


# ---- exit codes ----

def test_exit_codes_are_an_enum_matching_the_readme():
    from pathlib import Path

    from netcalc.errors import ExitCode

    assert [(c.name, int(c)) for c in ExitCode] == [("OK", 0), ("FAILED", 1), ("BAD_INPUT", 2), ("INTERNAL", 3)]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"\n| {int(code)} | " in readme


def test_an_internal_error_exits_3_with_one_line(monkeypatch, capsys, tmp_path):
    import pytest

    from netcalc import analysis, cli as cli_module
    from netcalc.errors import ExitCode

    def boom(path):
        raise RuntimeError("a bug")

    monkeypatch.setattr(analysis, "analyze_file", boom)
    monkeypatch.delenv("NETCALC_DEBUG", raising=False)
    monkeypatch.setattr("sys.argv", ["netcalc", "analyze", str(tmp_path / "x.yaml")])
    with pytest.raises(SystemExit) as exc:
        cli_module.main()
    assert exc.value.code == ExitCode.INTERNAL == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: a bug" in err


# ---- check over several specs: worst exit code and JSON envelope (check.py, not cli.py) ----

def test_check_specs_worst_code_and_envelope(tmp_path):
    from netcalc import check
    from netcalc.errors import ExitCode

    good = tmp_path / "good.yaml"
    good.write_text("input: [1, 4]\nlayers:\n  - relu:\n    expect: {output: [1, 4]}\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("input: [1, 4]\nlayers:\n  - relu:\n    expect: {output: [1, 5]}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [1, 4]\nlayers:\n  - relux\n")
    outcomes = list(check.check_specs([str(good), str(wrong)]))
    assert [o.exit_code for o in outcomes] == [ExitCode.OK, ExitCode.FAILED]
    assert check.worst_exit(outcomes) == ExitCode.FAILED
    assert check.json_report(outcomes[:1])["ok"] is True and "specs" not in check.json_report(outcomes[:1])
    outcomes += check.check_specs([str(bad)])
    assert check.worst_exit(outcomes) == ExitCode.BAD_INPUT
    report = check.json_report(outcomes)
    assert report["ok"] is False and [s["ok"] for s in report["specs"]] == [True, False, False]
    assert "bad.yaml:3" in report["specs"][2]["error"] and "did you mean 'relu'" in report["specs"][2]["error"]
    assert check.worst_exit([]) == ExitCode.OK


# ---- entry names: one resolver for explain --layer and check --answers ----

def test_entry_names_resolve_to_their_last_layer(tmp_path):
    from netcalc.analysis import analyze_file

    spec = tmp_path / "net.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - separable: {out: 4, kernel: 3}\n    name: s\n"
                    "  - relu:\n    name: r\n    repeat: 2\n")
    analysis = analyze_file(spec)
    assert analysis.resolve_name("s") == "s.pointwise" and analysis.resolve_name("s.depthwise") == "s.depthwise"
    assert analysis.resolve_name("r") == "r.1" and analysis.resolve_name("r.0") == "r.0"
    assert analysis.resolve_name("input") is None and analysis.resolve_name("nope") is None
    assert analysis.resolve_name(3) is None
    explained = CliRunner().invoke(cli, ["explain", str(spec), "--layer", "s"])
    assert explained.exit_code == 0 and "s.pointwise" in explained.stdout
