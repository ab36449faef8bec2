"""`netcalc analyze` of a ~100 MB ONNX model (ResNet-50 with its weights) as a whole process:
wall time and peak memory, beside the same network's YAML spec. The model is built here with
`netcalc export`. Target (issue 10): under 1 s and under twice the file size in memory — analysis
reads initializer dims only, never their data. Prints figures; asserts nothing.

    python benchmarks/bench_onnx.py [--repeat 5] [--spec specs/resnet50.yaml]
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

# runs one command in a child and reports its peak resident memory (ru_maxrss is in KiB on Linux)
CHILD = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def measure(args: list[str], repeat: int) -> tuple[float, int]:
    """Median wall time (s) and the largest peak RSS (bytes) of fresh `python -m netcalc` processes."""
    times, peaks = [], []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", CHILD, sys.executable, "-m", "netcalc", *args], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout.split()
        times.append(float(out[0]))
        peaks.append(int(out[1]))
    return statistics.median(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--spec", default=str(ROOT / "specs" / "resnet50.yaml"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / (Path(args.spec).stem + ".onnx")
        subprocess.run([sys.executable, "-m", "netcalc", "export", args.spec, "-o", str(model)], cwd=ROOT, check=True,
                       stderr=subprocess.DEVNULL)
        size = os.path.getsize(model)
        print(f"{model.name}: {size / 2**20:.1f} MiB (built with netcalc export)")
        floor = measure(["--version"], args.repeat)
        print(f"  python -m netcalc --version          {floor[0] * 1000:7.1f} ms  peak {floor[1] / 2**20:6.1f} MiB")
        spec = measure(["analyze", args.spec, "--format", "json"], args.repeat)
        print(f"  analyze {Path(args.spec).name:28s} {spec[0] * 1000:7.1f} ms  peak {spec[1] / 2**20:6.1f} MiB")
        onnx = measure(["analyze", str(model), "--format", "json"], args.repeat)
        print(f"  analyze {model.name:28s} {onnx[0] * 1000:7.1f} ms  peak {onnx[1] / 2**20:6.1f} MiB")
        print(f"  → {onnx[0]:.2f} s (target < 1 s); peak memory {onnx[1] / size:.2f}× the file size (target < 2×)")


if __name__ == "__main__":
    main()
