"""No spec text, however mangled, makes netcalc crash: it answers (exit 0) or gives one located
line (exit 2), never an internal error (exit 3) or a traceback."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from netcalc.cli import cli

SPECS = sorted((Path(__file__).resolve().parents[1] / "specs").glob("*.yaml"))
NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")
REPLACEMENTS = st.sampled_from(["0", "-1", "1", "2", "7", "999999", "1.5", "x", "[1, 2]", "null", "true",
                                "[[1, 0]]", "same", "{}", "'1/2'"])


@settings(max_examples=120, deadline=None)
@given(spec=st.sampled_from(SPECS), data=st.data())
def test_mangled_numbers_never_crash(tmp_path_factory, spec, data):
    text = spec.read_text(encoding="utf-8")
    spots = [m.span() for m in NUMBER.finditer(text)]
    chosen = data.draw(st.lists(st.sampled_from(spots), min_size=1, max_size=3, unique=True)) if spots else []
    for start, end in sorted(chosen, reverse=True):
        text = text[:start] + data.draw(REPLACEMENTS) + text[end:]
    path = tmp_path_factory.mktemp("fuzz") / spec.name
    path.write_text(text, encoding="utf-8")
    for command in (["analyze", "--format", "json"], ["check"], ["explain"]):
        result = CliRunner().invoke(cli, [command[0], str(path), *command[1:]])
        assert result.exit_code in (0, 1, 2), (command, result.stderr, result.exception)
        if result.exit_code == 2:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert "Traceback" not in result.stderr


@settings(max_examples=150, deadline=None)
@given(spec=st.sampled_from(SPECS), data=st.data())
def test_deleted_lines_never_crash(tmp_path_factory, spec, data):
    lines = spec.read_text(encoding="utf-8").splitlines()
    gone = data.draw(st.sets(st.integers(0, len(lines) - 1), min_size=1, max_size=3))
    path = tmp_path_factory.mktemp("fuzz") / spec.name
    path.write_text("\n".join(l for i, l in enumerate(lines) if i not in gone) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["analyze", str(path), "--format", "json"])
    assert result.exit_code in (0, 2), (result.stderr, result.exception)
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
