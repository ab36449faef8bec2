"""netcalc schema (generated from the registry) and netcalc layers."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from netcalc.cli import cli
from netcalc.layers import ALIASES, REGISTRY, load_all
from netcalc.schema import spec_schema
from netcalc.spec import load_spec
from netcalc.yamlio import load_yaml_file

ROOT = Path(__file__).parent.parent
SPECS = sorted(ROOT.glob("specs/**/*.yaml")) + sorted(ROOT.glob("specs/**/*.yml")) + sorted(
    p for p in (ROOT / "tests" / "data").glob("**/*.yaml") if not p.name.startswith("answers"))


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(CliRunner().invoke(cli, ["schema"]).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def plain(value):
    """YMap/YList → dict/list, as an editor's YAML plugin would see the file."""
    return json.loads(json.dumps(value))


def test_own_specs_load():
    for path in SPECS:
        if "tests" in path.parts:
            load_spec(path)


def test_there_are_specs_to_validate():
    assert any(p.parent.name == "specs" or "specs" in p.parts for p in SPECS)
    assert len(SPECS) >= 8


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bundled_spec_validates(validator, path):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(plain(load_yaml_file(path)))]
    assert errors == []


BAD = {
    "unknown parameter": "input: [1, 8, 8]\nlayers:\n  - conv: {out: 1, kernal: 3}\n",
    "unknown layer type": "input: [1, 8, 8]\nlayers:\n  - cnv: {out: 1, kernel: 3}\n",
    "unknown bare type": "input: [1, 8, 8]\nlayers:\n  - rleu\n",
    "missing required parameter": "input: [1, 8, 8]\nlayers:\n  - conv: {kernel: 3}\n",
    "wrong parameter type": "input: [1, 8, 8]\nlayers:\n  - conv: {out: 1, kernel: three}\n",
    "bad choice": "input: [1, 8, 8]\nlayers:\n  - upsample: {scale: 2, mode: cubic}\n",
    "unknown top-level key": "input: [1, 8, 8]\nlayer:\n  - relu\n",
    "missing input": "layers:\n  - relu\n",
    "bad limits key": "input: [1, 8, 8]\nlimits: {parms: 1M}\nlayers:\n  - relu\n",
    "bad limits suffix": "input: [1, 8, 8]\nlimits: {params: 1X}\nlayers:\n  - relu\n",
    "bad expect key": "input: [1, 8, 8]\nlayers:\n  - relu:\n    expect: {parms: 1}\n",
    "dotted name": "input: [1, 8, 8]\nlayers:\n  - relu:\n    name: a.b\n",
    "two type keys": "input: [1, 8, 8]\nlayers:\n  - relu:\n    tanh:\n",
}


@pytest.mark.parametrize("name", BAD)
def test_bad_specs_are_rejected(validator, tmp_path, name):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD[name])
    assert not validator.is_valid(plain(load_yaml_file(path)))


def test_aliases_and_defaults_come_from_the_registry(validator):
    schema = spec_schema()
    load_all()
    assert set(schema["$defs"]["params"]) == set(REGISTRY)
    conv = schema["$defs"]["params"]["conv"]["properties"]
    assert conv["kernel_size"]["description"] == "alias of 'kernel'" and conv["stride"]["default"] == 1
    assert validator.is_valid({"input": [3, 8, 8], "layers": [{"fc": {"out": 2}}, {"dense": {"out_features": 2}},
                                                              {"deconv": {"out_channels": 2, "kernel_size": 2}}]})
    names = schema["$defs"]["entry"]["anyOf"][0]["enum"]
    assert set(names) == set(REGISTRY) | set(ALIASES)


def test_blocks_make_entries_loose(validator):
    spec = {"input": [3, 8, 8], "blocks": {"basic": {}}, "layers": [{"basic": {"c": 8}, "name": "b1"}]}
    assert validator.is_valid(spec)


def test_layers_lists_every_type():
    load_all()
    result = CliRunner().invoke(cli, ["layers"])
    assert result.exit_code == 0
    for kind in REGISTRY.values():
        assert f"{kind.name}" in result.stdout and kind.flops_rule in result.stdout
    assert "conv_transpose (aliases: deconv)" in result.stdout
    assert "out (out_channels) = required; kernel (kernel_size) = required; stride = 1" in result.stdout
    assert "stride = kernel;" in result.stdout
    rows = json.loads(CliRunner().invoke(cli, ["layers", "--format", "json"]).stdout)
    assert [r["type"] for r in rows] == list(REGISTRY)


def test_layers_rich_table_renders():
    from rich.console import Console

    from netcalc.schema import layer_rows, render_layers_table

    console = Console(record=True, width=200, color_system=None)
    render_layers_table(layer_rows(), console)
    assert "maxpool" in console.export_text()


def test_every_command_has_help():
    runner = CliRunner()
    assert {"check", "explain", "schema", "layers"} <= set(cli.commands)
    for name, command in cli.commands.items():
        assert command.help and command.help.strip(), name
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.stdout, name
