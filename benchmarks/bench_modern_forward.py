"""The executor's forward pass on today's CNNs (issue 9): efficientnet_b0 and convnext_tiny at
224×224, batch 1, float32. Prints the wall time, the share of it spent outside GEMMs (anything
but dense/grouped convs and linear layers: depthwise convs, norms, activations, merges, pooling),
and for those memory-bound layers the bytes they move per second next to the machine's measured
copy bandwidth. Prints figures; asserts nothing.

    python benchmarks/bench_modern_forward.py [--repeat 3] [SPEC ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from math import prod
from pathlib import Path

import numpy as np

from netcalc.analysis import analyze_file
from netcalc.executor import Executor

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["efficientnet_b0", "convnext_tiny"]


def copy_bandwidth(megabytes: int = 256, repeat: int = 5) -> float:
    """Bytes per second of np.copyto between two large float32 arrays (read + write counted)."""
    src = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - start)
    return 2 * src.nbytes / min(times)


def is_gemm(node) -> bool:
    """Layers whose work is a matrix multiply: convs with more than one input channel per group,
    and linear. A depthwise conv (one channel per group) is a memory-bound stencil."""
    geometry = node.geometry
    groups = getattr(geometry, "groups", None)
    if node.kind.name == "linear":
        return True
    return groups is not None and getattr(geometry, "c_in", 0) // groups > 1


def moved_bytes(node, itemsize: int = 4) -> int:
    """Bytes a layer must read and write at least once: its inputs, its output, its weights."""
    weights = sum(prod(s) for s in node.kind.weight_shapes(node).values())
    return itemsize * (sum(prod(s) for s in node.in_shapes) + prod(node.out_shape) + weights)


def profile(name: str, repeat: int):
    analysis = analyze_file(ROOT / "specs" / f"{name}.yaml")
    ex = Executor(analysis.graph, dtype=np.float32, seed=0)
    x = ex.random_input(1, seed=1)
    ex.forward(x)  # warm-up
    per_layer = defaultdict(list)
    walls = []
    for _ in range(repeat):
        stamps = [time.perf_counter()]
        ex.forward(x, on_layer=lambda node: stamps.append(time.perf_counter()))
        walls.append(stamps[-1] - stamps[0])
        for node, (t0, t1) in zip(analysis.graph.nodes, zip(stamps, stamps[1:])):
            per_layer[node.name].append(t1 - t0)
    nodes = {n.name: n for n in analysis.graph.nodes}
    seconds = {n: statistics.median(ts) for n, ts in per_layer.items()}
    by_type = defaultdict(float)
    outside, outside_bytes = 0.0, 0
    for layer, t in seconds.items():
        node = nodes[layer]
        key = "GEMM (conv, linear)" if is_gemm(node) else node.kind.name
        by_type[key] += t
        if not is_gemm(node):
            outside += t
            outside_bytes += moved_bytes(node)
    return statistics.median(walls), sum(seconds.values()), by_type, outside, outside_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("specs", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    bandwidth = copy_bandwidth()
    print(f"machine copy bandwidth (np.copyto, 256 MiB, read + write): {bandwidth / 1e9:6.2f} GB/s")
    for name in args.specs:
        wall, total, by_type, outside, outside_bytes = profile(name, args.repeat)
        print(f"\n{name} forward, 224×224, batch 1, float32: {wall * 1000:8.1f} ms wall")
        print(f"  outside GEMMs: {outside * 1000:8.1f} ms = {outside / total:5.1%} of the layer time; "
              f"they move {outside_bytes / 1e6:7.1f} MB → {outside_bytes / outside / 1e9:5.2f} GB/s "
              f"({outside_bytes / outside / bandwidth:5.1%} of copy bandwidth)")
        for key, t in sorted(by_type.items(), key=lambda kv: -kv[1]):
            print(f"    {key:22s} {t * 1000:8.1f} ms  {t / total:5.1%}")


if __name__ == "__main__":
    main()
