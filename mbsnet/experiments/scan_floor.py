"""A floor for the selective scan's forward + backward on this CPU: the least time any kernel could take.

    PYTHONPATH=$PWD python -m mbsnet.experiments.scan_floor results/scan_floor_cpu.json

A roofline estimate from three rates measured here on one thread (process CPU time, medians of
`repeats` runs): vectorised exp (torch.exp over a cache-resident buffer), fp32 multiply-adds
(a 512 x 512 matmul: the core's peak), and memory traffic (a copy of a 256 MiB buffer: read +
write). At a shape (b, l, d, n), with N = b·l·d·n state elements:

    compute  = N * (EXPS / exp rate + FLOPS / flop rate)
    traffic  = the bytes that must cross memory / copy bandwidth
    floor    = max(compute, traffic)

EXPS and FLOPS count what an exact scan must do per state element and step (forward, then the
backward with the states recomputed, as the recompute and compiled scans do):
  forward   exp(Δ·A) (1 mul, 1 exp); Δ·u·B (1 mul: Δ·u is per channel); h = Ā·h + B̄u (2);
            y += C·h (2)                                                    -> 1 exp,  6 flops
  backward  recompute Ā and h (1 exp, 4); g = C·dy + Ā·g' (3); dĀ = g·h_prev (1); dΔ += dĀ·Ā·A
            + g·u·B (5); dA += dĀ·Ā·Δ (3); dB += g·Δ·u (2); du += g·Δ·B (2); dC += dy·h (2)
                                                                            -> 1 exp, 22 flops
The traffic counts each (b, l, d) and (b, l, n) input read twice (forward and backward), the
output y written once, dy read once and each input's gradient written once; the (b, l, d, n)
states never leave the cache in such a kernel. It leaves out the chunk-start states (l/64 of a
state tensor), the reductions over b for dA and dD, and every overhead of a real kernel (loads
that miss, the serial dependence of h along l, which keeps a core from its peak): a real kernel
sits above this floor, and the ratio says how far.
"""
from __future__ import annotations

import statistics
import sys
import time

import torch

from mbsnet.results import save_result
from mbsnet.scan.shapes import seed_shapes

EXPS = 1 + 1
FLOPS = 6 + 22
FLOAT = 4          # bytes


def _cpu_seconds(fn, repeats: int) -> float:
    """Median process CPU time of fn() over `repeats` runs, after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def measure_rates(repeats: int = 5) -> dict:
    """{exp_per_s, flop_per_s, copy_bytes_per_s}: this machine's rates on the current torch thread count."""
    x = torch.rand(1 << 16) - 0.5                     # 256 KiB: stays in cache
    out = torch.empty_like(x)
    reps = 400

    def exps():
        for _ in range(reps):
            torch.exp(x, out=out)

    a, b = torch.rand(512, 512), torch.rand(512, 512)
    c = torch.empty(512, 512)
    mm_reps = 20

    def matmuls():
        for _ in range(mm_reps):
            torch.mm(a, b, out=c)

    big = torch.rand(64 << 20)                         # 256 MiB: far beyond the caches
    dst = torch.empty_like(big)
    return {"exp_per_s": reps * x.numel() / _cpu_seconds(exps, repeats),
            "flop_per_s": mm_reps * 2 * 512 ** 3 / _cpu_seconds(matmuls, repeats),
            "copy_bytes_per_s": 2 * big.numel() * FLOAT / _cpu_seconds(lambda: dst.copy_(big), repeats)}


def scan_traffic_bytes(b: int, l: int, d: int, n: int) -> int:
    """Bytes an ideal fused forward + backward must move at (b, l, d, n) (see the module docstring)."""
    per_d, per_n = b * l * d * FLOAT, b * l * n * FLOAT
    inputs = 3 * per_d + 2 * per_n                     # u, Δ, z; B, C
    return 2 * inputs + per_d + per_d + inputs         # read twice; y written; dy read; gradients written


def floor_seconds(rates: dict, b: int, l: int, d: int, n: int) -> dict:
    """{compute_s, traffic_s, floor_s, state_elements, traffic_bytes} at one shape."""
    elements = b * l * d * n
    compute = elements * (EXPS / rates["exp_per_s"] + FLOPS / rates["flop_per_s"])
    traffic_bytes = scan_traffic_bytes(b, l, d, n)
    traffic = traffic_bytes / rates["copy_bytes_per_s"]
    return {"compute_s": compute, "traffic_s": traffic, "floor_s": max(compute, traffic),
            "state_elements": elements, "traffic_bytes": traffic_bytes}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m mbsnet.experiments.scan_floor OUT.json", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    rates = measure_rates()
    shapes = {s.name: floor_seconds(rates, s.b, s.l, s.d, s.n) | {"shape": [s.b, s.l, s.d, s.n]}
              for s in seed_shapes()}
    result = {"threads": 1, "clock": "process CPU time", "exps_per_element": EXPS,
              "flops_per_element": FLOPS, "rates": rates, "shapes": shapes}
    save_result(argv[0], result, command=f"python -m mbsnet.experiments.scan_floor {argv[0]}")
    for name, f in shapes.items():
        print(f"{name}: compute {f['compute_s'] * 1e3:.0f} ms, traffic {f['traffic_s'] * 1e3:.0f} ms, "
              f"floor {f['floor_s'] * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
