"""Time and peak memory of `netcalc verify SPEC --rf` as a whole process, per bundled spec (the
support probe by default; `--probe float` for the reference): wall time, CPU time (user + system
of the child: the fairer figure on a shared machine) and peak RSS, with the machine's load
average before and after. Prints figures; asserts nothing.

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


def run(spec: Path, probe: str) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS in bytes, verify's summary) of one fresh process."""
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
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probe", choices=("support", "float"), default="support")
    parser.add_argument("specs", nargs="*", type=Path)
    args = parser.parse_args()
    specs = args.specs or sorted((ROOT / "specs").glob("*.yaml"))
    print(f"netcalc verify SPEC --rf --probe {args.probe} (whole process, incl. the shape check's forward)")
    print("load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'spec':34s} {'wall':>8s} {'cpu':>8s} {'peak RSS':>10s}  summary")
    total_wall = total_cpu = 0.0
    for spec in specs:
        seconds, cpu, rss, summary = run(spec, args.probe)
        total_wall += seconds
        total_cpu += cpu
        print(f"{spec.name:34s} {seconds:7.2f}s {cpu:7.2f}s {rss / 2 ** 20:7.0f} MiB  {summary}", flush=True)
    print(f"{'total':34s} {total_wall:7.2f}s {total_cpu:7.2f}s")
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))

if __name__ == "__main__":
    main()
