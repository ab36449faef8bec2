"""netcalc quiz: for many seeds and every level the key passes `check --answers` (exit 0), one changed
number fails (exit 1) on exactly that line, one seed gives the same bytes, --count gives distinct
exercises; and the keys of levels 1 and 2 agree with a hand-formula interpreter written here."""

from __future__ import annotations

import json
import random
import re

import pytest
import yaml
from click.testing import CliRunner

from netcalc.check import check_file
from netcalc.cli import cli
from netcalc.quiz import numbered, quiz_set

SEEDS = range(12)


def write_pair(tmp_path, seed, level):
    ((spec, key),) = quiz_set(seed, level)
    ex, answers = tmp_path / f"ex{seed}-{level}.yaml", tmp_path / f"key{seed}-{level}.yaml"
    ex.write_text(spec)
    answers.write_text(key)
    return ex, answers


def check(*args):
    return CliRunner().invoke(cli, ["check", *map(str, args)])


@pytest.mark.parametrize("level", [1, 2, 3])
def test_key_passes_and_one_changed_number_fails_on_its_line(tmp_path, level):
    for seed in SEEDS:
        ex, key = write_pair(tmp_path, seed, level)
        result = check_file(str(ex), str(key))
        assert result.ok and result.checks, (seed, level)
        lines = key.read_text().splitlines()
        rng = random.Random(seed)
        line_no = rng.choice([i for i, line in enumerate(lines, 1) if not line.startswith("#")])
        numbers = list(re.finditer(r"\d+", lines[line_no - 1].split(":", 1)[1]))
        target = rng.choice(numbers)
        offset = len(lines[line_no - 1].split(":", 1)[0]) + 1
        line = lines[line_no - 1]
        lines[line_no - 1] = (line[:offset + target.start()] + str(int(target.group()) + 1)
                              + line[offset + target.end():])
        wrong = tmp_path / "wrong.yaml"
        wrong.write_text("\n".join(lines) + "\n")
        graded = check(ex, "--answers", wrong, "--format", "json")
        assert graded.exit_code == 1, (seed, level, lines[line_no - 1])
        failures = [c for c in json.loads(graded.stdout)["checks"] if not c["ok"]]
        assert len(failures) == 1 and failures[0]["line"] == line_no, (seed, level, failures)


@pytest.mark.parametrize("level", ["1", "2", "3"])
def test_cli_key_passes_check_exit_0(tmp_path, level):
    ex, key = tmp_path / "ex.yaml", tmp_path / "key.yaml"
    made = CliRunner().invoke(cli, ["quiz", "--seed", "7", "--level", level, "-o", str(ex), "--key", str(key)])
    assert made.exit_code == 0 and made.stdout == f"wrote {ex}\nwrote {key}\n"
    assert check(ex, "--answers", key).exit_code == 0


def test_same_seed_same_bytes_and_other_seeds_differ():
    runner = CliRunner()
    for level in ("1", "2", "3"):
        first = runner.invoke(cli, ["quiz", "--seed", "3", "--level", level]).stdout
        again = runner.invoke(cli, ["quiz", "--seed", "3", "--level", level]).stdout
        assert first == again and first.startswith(f"# netcalc quiz: level {level}, seed 3")
        others = {runner.invoke(cli, ["quiz", "--seed", str(s), "--level", level]).stdout for s in range(4, 9)}
        assert first not in others and len(others) > 1


def test_same_seed_same_files(tmp_path):
    out = []
    for run in ("a", "b"):
        ex, key = tmp_path / f"{run}.yaml", tmp_path / f"{run}-key.yaml"
        CliRunner().invoke(cli, ["quiz", "--seed", "11", "--level", "3", "-o", str(ex), "--key", str(key)])
        out.append((ex.read_bytes(), key.read_bytes()))
    assert out[0] == out[1]


def test_count_twenty_distinct_graded(tmp_path):
    result = CliRunner().invoke(cli, ["quiz", "--seed", "5", "--level", "1", "--count", "20",
                                      "-o", str(tmp_path / "ex.yaml"), "--key", str(tmp_path / "key.yaml")])
    assert result.exit_code == 0
    bodies = set()
    for i in range(1, 21):
        ex, key = tmp_path / f"ex-{i:02d}.yaml", tmp_path / f"key-{i:02d}.yaml"
        assert f"exercise {i} of 20" in ex.read_text()
        bodies.add(ex.read_text().split("layers:", 1)[1])
        assert check_file(str(ex), str(key)).ok
    assert len(bodies) == 20


def test_count_needs_an_output_file():
    result = CliRunner().invoke(cli, ["quiz", "--count", "2"])
    assert result.exit_code == 2 and result.stderr.startswith("netcalc: error: --count above 1 needs -o")


def test_numbered_paths():
    assert numbered("ex.yaml", 3, 20) == "ex-03.yaml"
    assert numbered("ex.yaml", 1, 1) == "ex.yaml"
    assert numbered("dir.v2/ex", 2, 5) == "dir.v2/ex-2"


def test_wrong_answer_shows_the_worked_formula(tmp_path):
    ex, key = write_pair(tmp_path, 7, 1)
    first = next(line for line in key.read_text().splitlines() if not line.startswith("#"))
    name = first.split(":")[0]
    student = tmp_path / "student.yaml"
    student.write_text(f"{name}: {{params: 1}}\n")
    result = check(ex, "--answers", student)
    assert result.exit_code == 1
    assert "C_out·(C_in/g)·Πk" in result.stdout and "0 of 1 checks hold; 1 failed." in result.stdout


def test_questions_name_the_layers_of_the_key(tmp_path):
    for level in (1, 2, 3):
        ex, key = write_pair(tmp_path, 2, level)
        asked = re.findall(r"# Q\d+ \(([^)]+)\)", ex.read_text())
        keyed = [line.split(":")[0] for line in key.read_text().splitlines() if not line.startswith("#")]
        assert asked == keyed and asked


# ---- the keys against an interpreter of the seed formulas (levels 1 and 2) ----

def hand_key(spec: dict) -> dict:
    """Shapes, params, MACs and FLOPs of the plain chains levels 1 and 2 use, straight from the
    seed formulas: out = ⌊(n + 2p − k)/s⌋ + 1; conv params C_out·(C_in/g)·k² (+ C_out),
    MACs C_out·H·W·(C_in/g)·k², FLOPs per output 2n − 1 (+ 1 bias); pooling k² per output."""
    shape, counts, seen = list(spec["input"]), {}, {}
    for entry in spec["layers"]:
        kind, params = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        params = params or {}
        seen[kind] = seen.get(kind, 0) + 1
        name = f"{kind}{seen[kind]}"
        c = shape[0]
        if kind in ("conv", "depthwise", "maxpool", "avgpool"):
            k, s = params["kernel"], params.get("stride", 1 if kind in ("conv", "depthwise") else params["kernel"])
            p = params.get("padding", 0)
            hw = (shape[1] + 2 * p - k) // s + 1
            if kind in ("conv", "depthwise"):
                groups = params.get("groups", 1) if kind == "conv" else c
                out = params["out"] if kind == "conv" else c * params.get("multiplier", 1)
                bias = params.get("bias", True)
                n = c // groups * k * k
                counts[name] = {"output": [out, hw, hw], "params": out * n + out * bias,
                                "macs": out * hw * hw * n, "flops": out * hw * hw * (2 * n - 1 + bias)}
                shape = [out, hw, hw]
            else:
                shape = [c, hw, hw]
                counts[name] = {"output": shape, "params": 0, "flops": c * hw * hw * k * k}
        elif kind == "global_avgpool":
            shape = [c, 1, 1]
        elif kind == "flatten":
            shape = [shape[0] * shape[1] * shape[2]]
        elif kind == "linear":
            bias = params.get("bias", True)
            counts[name] = {"params": shape[0] * params["out"] + params["out"] * bias, "macs": shape[0] * params["out"],
                            "flops": (2 * shape[0] - 1 + bias) * params["out"]}
            shape = [params["out"]]
    return counts


@pytest.mark.parametrize("level", [1, 2])
def test_key_agrees_with_hand_formulas(level):
    for seed in SEEDS:
        ((spec, key),) = quiz_set(seed, level)
        expected = hand_key(yaml.safe_load(spec))
        for name, answers in yaml.safe_load(key).items():
            for metric, value in answers.items():
                assert expected[name][metric] == value, (seed, name, metric)


def test_level_3_fields_agree_with_the_classic_arithmetic():
    # Up to the pooling, level 3 is a conv/pool chain with two centred branches: size += d·(k − 1)·jump,
    # jump ·= stride; the merge's field is the wider branch's (both are centred on the same pixel).
    # A 2×2 stride-2 transposed conv maps each output to one input: size stays, jump halves (contract §5).
    for seed in SEEDS:
        ((spec, key),) = quiz_set(seed, 3)
        entries = yaml.safe_load(spec)["layers"]
        layers = {e["name"]: e for e in entries if isinstance(e, dict) and "name" in e}
        answers = yaml.safe_load(key)
        stem = entries[0]["conv"]
        size, jump = stem["kernel"], 2
        assert answers["conv1"]["rf"] == {"size": size, "jump": jump}
        b = layers["b"]["conv"]
        expected = {"a": size + 2 * jump, "b": size + b["dilation"] * 2 * jump}
        expected["merge"] = max(expected.values())
        for name, field in expected.items():
            assert answers[name]["rf"] == {"size": field, "jump": jump}, (seed, name)
        size = expected["merge"]
        if "maxpool1" in answers:
            size, jump = size + jump, jump * 2
            assert answers["maxpool1"]["rf"] == {"size": size, "jump": jump}, seed
        transposed = next(e["conv_transpose"] for e in entries if isinstance(e, dict) and "conv_transpose" in e)
        if transposed["kernel"] == 2:
            assert answers["conv_transpose1"]["rf"] == {"size": size, "jump": jump // 2}, seed
