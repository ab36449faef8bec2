"""Benchmark the NumPy reference executor on ResNet-50 (224×224, batch 1, float32).

Prints: forward wall time; the conv layers' achieved GFLOP/s (2·MACs / time) both for the bare
GEMMs (np.matmul calls inside netcalc.kernels) and for whole conv layers (im2col included),
against this machine's np.matmul peak measured in the same run; peak memory (tracemalloc, and
the process's max RSS) against the executor's own estimate.

    python benchmarks/bench_executor.py [--repeat 3]

The spec is generated here (torchvision's ResNet-50 v1.5 layout: stride on the 3×3 conv).
"""

from __future__ import annotations

import argparse
import pathlib
import resource
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from netcalc import kernels  # noqa: E402
from netcalc.analysis import analyze_graph  # noqa: E402
from netcalc.executor import Executor, estimate_memory  # noqa: E402
from netcalc.graph import build_graph  # noqa: E402
from netcalc.layers.conv import Conv  # noqa: E402
from netcalc.spec import load_spec_text  # noqa: E402


def resnet50_spec() -> str:
    lines = ["name: resnet50", "input: [3, 224, 224]", "layers:"]

    def add(entry, name, src=None):
        lines.append(f"  - {entry}")
        lines.append(f"    name: {name}")
        if src:
            lines.append(f"    from: {src}")

    add("conv: {out: 64, kernel: 7, stride: 2, padding: 3, bias: false}", "conv1")
    add("batchnorm", "bn1")
    add("relu", "relu")
    add("maxpool: {kernel: 3, stride: 2, padding: 1}", "maxpool")
    prev, in_ch = "maxpool", 64
    for stage, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
        for b in range(blocks):
            p = f"layer{stage}_{b}"
            s = stride if b == 0 else 1
            add(f"conv: {{out: {planes}, kernel: 1, bias: false}}", f"{p}_conv1", prev)
            add("batchnorm", f"{p}_bn1")
            add("relu", f"{p}_relu1")
            add(f"conv: {{out: {planes}, kernel: 3, stride: {s}, padding: 1, bias: false}}", f"{p}_conv2")
            add("batchnorm", f"{p}_bn2")
            add("relu", f"{p}_relu2")
            add(f"conv: {{out: {planes * 4}, kernel: 1, bias: false}}", f"{p}_conv3")
            add("batchnorm", f"{p}_bn3")
            shortcut = prev
            if b == 0 and (s != 1 or in_ch != planes * 4):
                add(f"conv: {{out: {planes * 4}, kernel: 1, stride: {s}, bias: false}}", f"{p}_down", prev)
                add("batchnorm", f"{p}_down_bn")
                shortcut = f"{p}_down_bn"
            add("add", f"{p}_add", f"[{p}_bn3, {shortcut}]")
            add("relu", f"{p}_out")
            prev, in_ch = f"{p}_out", planes * 4
    add("global_avgpool", "avgpool")
    add("flatten", "flatten")
    add("linear: {out: 1000}", "fc")
    text = "\n".join(lines) + "\n"
    return text.replace("  - batchnorm\n", "  - batchnorm:\n").replace("  - relu\n", "  - relu:\n") \
        .replace("  - add\n", "  - add:\n").replace("  - global_avgpool\n", "  - global_avgpool:\n") \
        .replace("  - flatten\n", "  - flatten:\n")


def matmul_peak(repeat: int) -> float:
    """Best GFLOP/s of np.matmul on float32 GEMMs shaped like ResNet-50's (and a square one)."""
    rng = np.random.default_rng(0)
    best = 0.0
    for m, k, n in [(2048, 2048, 2048), (256, 2304, 784), (128, 1152, 3136)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        np.matmul(a, b)
        for _ in range(repeat):
            t0 = time.perf_counter()
            np.matmul(a, b)
            best = max(best, 2 * m * k * n / (time.perf_counter() - t0) / 1e9)
    return best


class _TimedNumpy:
    """Stands in for `numpy` inside netcalc.kernels; times every np.matmul call."""

    def __init__(self):
        self.matmul_seconds = 0.0

    def __getattr__(self, name):
        return getattr(np, name)

    def matmul(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = np.matmul(*args, **kwargs)
        self.matmul_seconds += time.perf_counter() - t0
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    graph = build_graph(load_spec_text(resnet50_spec(), "resnet50.yaml"))
    analysis = analyze_graph(graph)
    conv_flops = 2 * sum(r.macs for r in analysis.layers if isinstance(r.node.kind, Conv))
    print(f"ResNet-50: {len(graph.nodes)} layers, params {analysis.total('params'):,}, "
          f"MACs {analysis.total('macs'):,} (conv {conv_flops // 2:,})")

    peak = matmul_peak(args.repeat)

    ex = Executor(graph, dtype=np.float32, seed=0)
    x = ex.random_input(1)
    ex.forward(x)  # warm-up

    conv_seconds = [0.0]
    real_forward = Conv.forward

    def timed_forward(self, node, inputs, weights, ctx):
        t0 = time.perf_counter()
        out = real_forward(self, node, inputs, weights, ctx)
        conv_seconds[0] += time.perf_counter() - t0
        return out

    walls, gemm, layer = [], [], []
    timed_np = _TimedNumpy()
    kernels.np = timed_np
    Conv.forward = timed_forward
    try:
        for _ in range(args.repeat):
            timed_np.matmul_seconds, conv_seconds[0] = 0.0, 0.0
            t0 = time.perf_counter()
            ex.forward(x)
            walls.append(time.perf_counter() - t0)
            gemm.append(timed_np.matmul_seconds)
            layer.append(conv_seconds[0])
    finally:
        kernels.np = np
        Conv.forward = real_forward
    best = int(np.argmin(walls))
    peak = max(peak, matmul_peak(args.repeat))  # before and after: the machine is shared
    print(f"np.matmul peak (float32, best of {2 * args.repeat} per shape, before and after): {peak:.1f} GFLOP/s")
    print(f"forward wall time (best of {args.repeat}): {walls[best]:.3f} s  "
          f"(all runs: {', '.join(f'{w:.3f}' for w in walls)})")
    print(f"conv GEMMs: {gemm[best]:.3f} s → {conv_flops / gemm[best] / 1e9:.1f} GFLOP/s "
          f"= {100 * conv_flops / gemm[best] / 1e9 / peak:.0f}% of peak")
    print(f"conv layers incl. im2col: {layer[best]:.3f} s → {conv_flops / layer[best] / 1e9:.1f} GFLOP/s "
          f"= {100 * conv_flops / layer[best] / 1e9 / peak:.0f}% of peak")
    print(f"whole forward: {conv_flops / walls[best] / 1e9:.1f} conv GFLOP/s per wall second "
          f"= {100 * conv_flops / walls[best] / 1e9 / peak:.0f}% of peak")

    estimate = estimate_memory(graph, 1, 4)
    tracemalloc.start()
    ex.forward(x)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    no_weights = estimate.peak - estimate.weights
    print(f"peak memory: traced {traced / 2**20:.1f} MiB (arrays allocated during the forward, "
          f"weights and input excluded) vs estimate {no_weights / 2**20:.1f} MiB without weights, "
          f"{estimate.peak / 2**20:.1f} MiB in all "
          f"(activations {estimate.activations_peak / 2**20:.1f}, workspace {estimate.workspace_peak / 2**20:.1f}, "
          f"weights {estimate.weights / 2**20:.1f}); process max RSS {rss / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
