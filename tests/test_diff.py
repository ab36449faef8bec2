"""netcalc diff: hand-built pairs of specs (tests/data/diff, every delta worked by hand in the
files' comments), the markdown golden file, --fail-over exit codes and git:REV:path."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from netcalc.cli import cli
from netcalc.diff import diff

DATA = Path(__file__).parent / "data" / "diff"
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(autouse=True)
def in_data(monkeypatch):
    monkeypatch.chdir(DATA)  # the labels in the reports are the paths as given


def run(*args):
    return CliRunner().invoke(cli, ["diff", *map(str, args)])


def rows(d):
    return {row.name: row for row in d.layers}


def test_widened_layer():
    d = diff("base.yaml", "widened.yaml")
    t = d.totals
    assert (t["params"].old, t["params"].new, t["params"].delta) == (5418, 7946, 2528)
    assert (t["macs"].old, t["macs"].delta) == (1_622_336, 811_008)
    assert (t["flops"].old, t["flops"].delta) == (3_277_440, 1_630_208)
    assert (t["activations"].old, t["activations"].delta) == (196_904, 65_536)
    assert round(t["params"].percent, 2) == 46.66 and round(t["macs"].percent, 2) == 49.99
    r = rows(d)
    assert [row.status for row in d.layers] == ["changed", "changed", "changed", "same", "same", "same", "same"]
    assert (r["conv1"].delta("params"), r["conv1"].delta("macs")) == (224, 221_184)
    assert (r["conv2"].delta("params"), r["conv2"].delta("macs"), r["conv2"].delta("flops")) == (2304, 589_824,
                                                                                                 1_179_648)
    assert r["relu1"].new.output == (24, 32, 32) and r["relu1"].delta("flops") == 8192
    # totals are the sums of the rows
    for metric in ("params", "macs", "flops"):
        assert sum(row.delta(metric) for row in d.layers) == t[metric].delta


def test_added_block():
    d = diff("base.yaml", "added_block.yaml")
    r = rows(d)
    assert r["conv3"].status == "added" and r["conv3"].old is None
    assert (r["conv3"].new.params, r["conv3"].new.macs, r["conv3"].new.flops) == (9248, 2_359_296, 4_718_592)
    assert r["relu3"].status == "added" and r["relu3"].new.flops == 8192
    # the global pool after the block sees a wider field: 5 + 15·2 = 35 before, 9 + 15·2 = 39 after
    assert r["global_avgpool1"].status == "changed"
    assert (r["global_avgpool1"].old.rf.size[0], r["global_avgpool1"].new.rf.size[0]) == (35, 39)
    assert [row.name for row in d.layers][4:6] == ["conv3", "relu3"]  # in the new network's order
    t = d.totals
    assert (t["params"].delta, t["flops"].delta, t["activations"].delta) == (9248, 4_718_592 + 8192, 65_536)


def test_renamed_layer_matched_by_position():
    d = diff("base.yaml", "renamed.yaml")
    r = rows(d)
    assert r["down"].status == "same" and r["down"].renamed_from == "conv2"
    assert "conv2" not in r
    assert all(t.delta == 0 for t in d.totals.values())
    assert d.count("added") == d.count("removed") == 0


def test_renamed_and_changed(tmp_path):
    text = (DATA / "renamed.yaml").read_text().replace("stride: 2, padding: 1}", "stride: 1, padding: 1}")
    (tmp_path / "new.yaml").write_text(text)
    d = diff("base.yaml", str(tmp_path / "new.yaml"))
    r = rows(d)
    # stride 1 keeps 32×32: MACs 32·1024·144 = 4,718,592 instead of 1,179,648; params unchanged
    assert r["down"].status == "changed" and r["down"].renamed_from == "conv2"
    assert r["down"].delta("params") == 0 and r["down"].delta("macs") == 4_718_592 - 1_179_648


def test_removed_branch():
    d = diff("branch.yaml", "branch_removed.yaml")
    r = rows(d)
    assert (r["skip"].status, r["sum"].status) == ("removed", "removed")
    assert (r["skip"].old.params, r["skip"].old.macs, r["skip"].old.flops) == (72, 16_384, 32_768)
    assert r["sum"].old.flops == 2048
    assert r["relu1"].status == "same"  # the field through main (5) covers the skip's (3)
    t = d.totals
    assert (t["params"].delta, t["macs"].delta, t["flops"].delta, t["activations"].delta) == (
        -72, -16_384, -34_816, -16_384)
    assert [row.name for row in d.layers] == ["stem", "main", "skip", "sum", "relu1"]


def test_markdown_golden():
    # golden file: tests/golden/diff_widened.md (the widened pair, as pasted into a pull request)
    result = run("base.yaml", "widened.yaml", "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout == (GOLDEN / "diff_widened.md").read_text()
    # the README shows the same report (run from the repository root)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert result.stdout.replace("`base.yaml`", "`tests/data/diff/base.yaml`").replace(
        "`widened.yaml`", "`tests/data/diff/widened.yaml`") in readme


def test_headline():
    assert diff("base.yaml", "widened.yaml").headline() == (
        "params +2.53 K (+46.7 %), MACs +811 K (+50.0 %), FLOPs +1.63 M (+49.7 %), activations +64 KiB (+33.3 %)")
    assert diff("branch.yaml", "branch_removed.yaml").headline() == (
        "params −72 (−5.8 %), MACs −16.4 K (−5.3 %), FLOPs −34.8 K (−5.6 %), activations −16 KiB (−40.0 %)")


def test_json_schema_of_contract():
    result = run("base.yaml", "added_block.yaml", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["totals"]["params"] == {"old": 5418, "new": 14_666, "delta": 9248,
                                        "percent": pytest.approx(170.69, abs=0.01)}
    assert set(data["totals"]) == {"params", "macs", "flops", "activations", "rf"}
    assert data["totals"]["rf"] == {"old": 35, "new": 39, "delta": 4}  # see test_added_block
    layer = next(row for row in data["layers"] if row["name"] == "conv3")
    assert layer["status"] == "added" and layer["old"] is None
    assert {k: layer["new"][k] for k in ("output", "params", "macs", "flops")} == {
        "output": [32, 16, 16], "params": 9248, "macs": 2_359_296, "flops": 4_718_592}
    assert {row["status"] for row in data["layers"]} <= {"added", "removed", "changed", "same"}


def test_table_lists_changes():
    result = run("base.yaml", "widened.yaml")
    assert result.exit_code == 0
    assert "params +2.53 K (+46.7 %)" in result.stdout
    assert "conv1" in result.stdout and "0 added, 0 removed, 3 changed, 4 unchanged" in result.stdout


@pytest.mark.parametrize("percent, code", [(50, 0), (49, 1), (0, 1)])
def test_fail_over(percent, code):
    # growth: params 46.66 %, MACs 49.99 %, FLOPs 49.74 %, activations 33.28 %
    result = run("base.yaml", "widened.yaml", "--format", "json", "--fail-over", percent)
    assert result.exit_code == code
    if code:
        assert "MACs grew by +50.0 %" in result.stderr


def test_fail_over_ignores_shrinking():
    assert run("branch.yaml", "branch_removed.yaml", "--fail-over", 0).exit_code == 0


def test_bad_spec_one_line_exit_2():
    result = run("base.yaml", "missing.yaml")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "missing.yaml" in result.stderr


# ---- git:REV:path ----

def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git(tmp_path, "init", "-q")
    spec = tmp_path / "nets" / "net.yaml"
    spec.parent.mkdir()
    shutil.copy(DATA / "base.yaml", spec)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    shutil.copy(DATA / "widened.yaml", spec)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_git_revision(repo):
    result = run("git:HEAD:nets/net.yaml", "nets/net.yaml", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["params"] == {"old": 5418, "new": 7946, "delta": 2528,
                                                             "percent": pytest.approx(46.66, abs=0.01)}


def test_git_path_relative_to_the_current_directory(repo, monkeypatch):
    monkeypatch.chdir(repo / "nets")
    assert run("git:HEAD:net.yaml", "net.yaml", "--format", "json").exit_code == 0


@pytest.mark.parametrize("source, message", [
    ("git:nope:nets/net.yaml", "git cannot show nope:nets/net.yaml"),
    ("git:HEAD:nets/missing.yaml", "does not exist in 'HEAD'"),
    ("git:HEAD", "write git:REV:path"),
    ("git:--output=x:nets/net.yaml", "may not start with '-'"),
])
def test_git_errors_one_line(repo, source, message):
    result = run(source, "nets/net.yaml")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_git_missing(repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo / "empty"))
    result = run("git:HEAD:nets/net.yaml", "nets/net.yaml")
    assert result.exit_code == 2
    assert result.stderr.strip() == "netcalc: error: git:HEAD:nets/net.yaml: git is not installed (needed for " \
                                    "git:REV:path)"


# ---- matching rules on small networks ----

def match(old_layers, new_layers, shape=(4, 8, 8)):
    from helpers import analyze_spec
    from netcalc.diff import match_layers

    rows = match_layers(analyze_spec(shape, old_layers).layers, analyze_spec(shape, new_layers).layers)
    return [(row.name, row.status, row.renamed_from) for row in rows]


def conv(name, out=4, **extra):
    return {"conv": {"out": out, "kernel": 3, "padding": 1}, "name": name, **extra}


def test_a_name_wins_over_a_position():
    # y is inserted before x: x keeps its match by name (changed: its rf grows from 5 to 7),
    # y is added, not paired with x by position
    assert match([conv("a"), conv("x")], [conv("a"), conv("y"), conv("x")]) == [
        ("a", "same", None), ("y", "added", None), ("x", "changed", None)]


def test_layers_matched_by_name_out_of_order():
    # two parallel branches listed in the other order: both still matched by name
    p, q = conv("p", **{"from": "input"}), conv("q", **{"from": "input"})
    merge = {"add": None, "name": "s", "from": ["p", "q"]}
    assert sorted(match([p, q, merge], [q, p, merge])) == [
        ("p", "same", None), ("q", "same", None), ("s", "same", None)]


def test_position_pairs_by_type_only():
    # the conv renamed to 'k' pairs with old 'b'; the relu that replaced a pool does not pair with it
    old = [conv("a"), conv("b"), {"maxpool": {"kernel": 2}, "name": "m"}]
    new = [conv("a"), conv("k", 8), {"relu": None, "name": "r"}]
    assert match(old, new) == [("a", "same", None), ("m", "removed", None), ("k", "changed", "b"),
                               ("r", "added", None)]
