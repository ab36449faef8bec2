"""Memory figures of every bundled spec: netcalc's float32 inference peak against the reference
executor's own pass (numpy allocations traced with tracemalloc, as `verify --memory` does), and
the training step at batch 1, float32, Adam.

    python benchmarks/bench_memory.py [--batch 1] [--only resnet18,lenet5]

Prints one row per spec: calculated peak, measured peak, their ratio, the layer where each
happens, the training total and the time the traced pass took. Specs whose pass would need more
than --max-memory (default 2 GiB) are listed without a measurement.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from netcalc.analysis import analyze_graph  # noqa: E402
from netcalc.executor import estimate_memory  # noqa: E402
from netcalc.graph import build_graph  # noqa: E402
from netcalc.memory import Setting  # noqa: E402
from netcalc.spec import load_spec  # noqa: E402
from netcalc.units import human_bytes  # noqa: E402
from netcalc.verification import measure_peak  # noqa: E402

SPECS = pathlib.Path(__file__).resolve().parent.parent / "specs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated spec names")
    parser.add_argument("--max-memory", type=int, default=2 * 2**30, help="bytes")
    args = parser.parse_args()
    wanted = {name for name in args.only.split(",") if name}
    print(f"{'spec':<16} {'calculated':>12} {'measured':>12} {'ratio':>7}  {'peak layer (calc / measured)':<44} "
          f"{'training':>11} {'time':>7}")
    for path in sorted(SPECS.glob("*.yaml")):
        if wanted and path.stem not in wanted:
            continue
        graph = build_graph(load_spec(path))
        memory = analyze_graph(graph, Setting(args.batch)).memory
        calc, train = memory.inference_peak, memory.training.total
        if estimate_memory(graph, args.batch).peak > args.max_memory:
            print(f"{path.stem:<16} {human_bytes(calc):>12} {'(skipped)':>12}")
            continue
        start = time.perf_counter()
        measured, where = measure_peak(graph, args.batch)
        seconds = time.perf_counter() - start
        print(f"{path.stem:<16} {human_bytes(calc):>12} {human_bytes(measured):>12} {measured / calc:>7.2%}  "
              f"{f'{memory.peak_layer} / {where}':<44} {human_bytes(train):>11} {seconds:>6.1f}s")


if __name__ == "__main__":
    main()
