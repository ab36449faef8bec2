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
