"""README's generated tables must equal what the registry generates now."""

from pathlib import Path

from netcalc import docs

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_conventions_table_matches_the_registry():
    text = README.read_text(encoding="utf-8")
    assert docs.conventions_block() in text, "run `python -m netcalc.docs` and paste the block into README.md"


def test_every_registered_type_is_documented():
    table = docs.conventions_table()
    for name in docs.load_all():
        assert f"`{name}`" in table
