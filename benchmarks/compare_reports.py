"""Are `analyze --format json` reports byte-identical between a git revision and the working tree?
For every bundled spec and a generated 5,000-layer chain. Prints one line per spec and exits 1 on
any difference (a speed-up must not change a number).

    python benchmarks/compare_reports.py [REV]      # default REV: main
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_analyze import deep_spec  # noqa: E402

# Runs netcalc's CLI from a given source tree, bypassing the editable install of this one.
RUN_FROM = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f)]
sys.path.insert(0, sys.argv.pop(1))
from netcalc.cli import cli
cli(sys.argv[1:])
"""


def report(source: Path, spec: Path) -> bytes:
    return subprocess.run([sys.executable, "-c", RUN_FROM, str(source), "analyze", str(spec), "--format", "json"],
                          capture_output=True, check=False).stdout


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "main"
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
        tarfile.open(fileobj=BytesIO(archive)).extractall(old)
        deep = Path(tmp) / "deep5000.yaml"
        deep.write_text(deep_spec(5000))
        differ = 0
        for spec in [*sorted((ROOT / "specs").glob("*.yaml")), deep]:
            same = report(old, spec) == report(ROOT, spec)
            differ += not same
            print(f"{'same' if same else 'DIFFERENT':9s} {spec.name}")
    print(f"{differ} report(s) differ from {rev}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
