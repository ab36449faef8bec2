"""How long `netcalc analyze` takes as a whole process: every bundled spec, and generated specs
of growing depth (linear growth expected). Prints figures; asserts nothing.

    python benchmarks/bench_analyze.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_process(args: list[str], repeat: int) -> float:
    """Median wall time of a fresh `python -m netcalc ...` process, in seconds."""
    return statistics.median(run_process(args)[0] for _ in range(repeat))


def run_process(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one fresh `python -m netcalc ...` process. CPU
    time is what a busy machine does not inflate much (the wall time grows with the load)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "netcalc", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"netcalc {' '.join(args)} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def deep_spec(depth: int) -> str:
    """A residual chain `depth` layers long: conv, batchnorm, relu, then an add of the relu and
    the block's input, over and over (every layer feeds the next block)."""
    lines = ["input: [16, 32, 32]", "layers:"]
    for i in range(depth // 4):
        lines += ["  - conv: {out: 16, kernel: 3, padding: 1}", "  - batchnorm", "  - relu: {}",
                  f"    name: r{i}", "  - add:", f"    from: [r{i}, {'input' if i == 0 else f'add{i}'}]"]
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
        for depth in (1000, 2000, 5000, 10000):
            path = Path(tmp) / f"deep{depth}.yaml"
            path.write_text(deep_spec(depth))
            runs = [run_process(["analyze", str(path), "--format", "json"]) for _ in range(max(1, args.repeat // 2))]
            seconds, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            per_layer = (seconds - baseline) / depth * 1e6
            growth = "" if previous is None else f"   ×{seconds / previous[0]:.2f} time for ×{depth / previous[1]:.1f} depth"
            print(f"  {depth:6d} layers  {seconds:7.3f} s wall  {cpu:7.3f} s CPU  "
                  f"({per_layer:6.1f} µs/layer above start-up){growth}")
            previous = seconds, depth
    print(f"\nload average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
