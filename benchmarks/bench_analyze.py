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


# As installed: Python's compiled bytecode cached, as pip and a first run leave it. With
# PYTHONDONTWRITEBYTECODE set and no cache, every run would compile netcalc's modules again
# (about 60 ms that no installed netcalc pays).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run_process(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one fresh `python -m netcalc ...` process. CPU
    time is what a busy machine does not inflate much (the wall time grows with the load)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "netcalc", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV)
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

    run_process(["analyze", str(ROOT / "specs" / "tiny_segnet.yaml")])  # leaves the bytecode cache
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
            runs = [run_process(["analyze", str(path), "--format", "json"]) for _ in range(args.repeat)]
            seconds, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            best = min(r[0] for r in runs)  # the least disturbed run: near an idle machine's time
            per_layer = (seconds - baseline) / depth * 1e6
            growth = "" if previous is None else f"   ×{seconds / previous[0]:.2f} time for ×{depth / previous[1]:.1f} depth"
            print(f"  {depth:6d} layers  {seconds:7.3f} s wall (best {best:.3f} s)  {cpu:7.3f} s CPU  "
                  f"({per_layer:6.1f} µs/layer above start-up){growth}")
            previous = seconds, depth
    print(f"\nload average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
