"""How long `netcalc analyze` takes as a whole process: every bundled spec, and generated specs
of growing depth (linear growth expected). Prints figures; asserts nothing.

    python benchmarks/bench_analyze.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_process(args: list[str], repeat: int) -> float:
    """Median wall time of a fresh `python -m netcalc ...` process, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "netcalc", *args], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def deep_spec(depth: int) -> str:
    """A plain conv/bn/relu chain with a residual add every few layers, `depth` layers long."""
    lines = ["input: [16, 32, 32]", "layers:"]
    for i in range(depth // 4):
        lines += [f"  - conv: {{out: 16, kernel: 3, padding: 1}}", "    name: c%d" % i,
                  "  - batchnorm", "  - relu",
                  "  - add:", f"    from: [c{i}, {'input' if i == 0 else f'add{i}'}]"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    baseline = time_process(["--version"], args.repeat)
    print(f"python -m netcalc --version (start-up floor): {baseline * 1000:7.1f} ms")
    print("\nbundled specs (analyze --format json, whole process):")
    for spec in sorted((ROOT / "specs").glob("*.yaml")):
        seconds = time_process(["analyze", str(spec), "--format", "json"], args.repeat)
        print(f"  {spec.name:28s} {seconds * 1000:7.1f} ms")
    print("\ngenerated specs (analyze --format json):")
    with tempfile.TemporaryDirectory() as tmp:
        previous = None
        for depth in (1000, 2500, 5000, 10000):
            path = Path(tmp) / f"deep{depth}.yaml"
            path.write_text(deep_spec(depth))
            seconds = time_process(["analyze", str(path), "--format", "json"], max(1, args.repeat // 2))
            per_layer = (seconds - baseline) / depth * 1e6
            growth = "" if previous is None else f"   ×{seconds / previous:.2f} time for ×{depth / prev_depth:.1f} depth"
            print(f"  {depth:6d} layers  {seconds:7.3f} s  ({per_layer:6.1f} µs/layer above start-up){growth}")
            previous, prev_depth = seconds, depth


if __name__ == "__main__":
    main()
