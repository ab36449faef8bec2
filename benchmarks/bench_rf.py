"""Time and peak memory of `netcalc verify SPEC --rf` as a whole process, per bundled spec (the
support probe by default; `--probe float` for the reference). Prints figures; asserts nothing.

    python benchmarks/bench_rf.py [--probe support|float] [SPEC ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(spec: Path, probe: str) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in bytes, verify's summary) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "netcalc", "verify", str(spec), "--rf", "--probe", probe,
                             "--format", "json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: ru_maxrss in KiB on Linux
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        summary = json.loads(out)["summary"]
    except (ValueError, KeyError):
        summary = f"exit {proc.returncode}"
    return seconds, usage.ru_maxrss * 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probe", choices=("support", "float"), default="support")
    parser.add_argument("specs", nargs="*", type=Path)
    args = parser.parse_args()
    specs = args.specs or sorted((ROOT / "specs").glob("*.yaml"))
    print(f"netcalc verify SPEC --rf --probe {args.probe} (whole process, incl. the shape check's forward)")
    print(f"{'spec':28s} {'time':>8s} {'peak RSS':>10s}  summary")
    total = 0.0
    for spec in specs:
        seconds, rss, summary = run(spec, args.probe)
        total += seconds
        print(f"{spec.name:28s} {seconds:7.2f}s {rss / 2 ** 20:8.0f} MiB  {summary}", flush=True)
    print(f"{'total':28s} {total:7.2f}s")


if __name__ == "__main__":
    main()
