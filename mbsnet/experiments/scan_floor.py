"""A floor for the selective scan's forward + backward on this CPU: the least time any kernel could take.

    PYTHONPATH=$PWD python -m mbsnet.experiments.scan_floor results/scan_floor_cpu.json

A roofline estimate from three rates measured here on one thread (process CPU time): vectorised exp (torch.exp over a cache-resident buffer), fp32 multiply-adds
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
sits above this floor, and the ratio says how far. `main` measures the rates and times the
compiled scan's forward + backward at the seed's temporal shape in the same rounds, interleaved
(a loaded machine slows both alike), and stores the median of the per-round ratios.
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


def _cpu_seconds(fn) -> float:
    """Process CPU time of one fn(), after one untimed warm-up call."""
    fn()
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def measure_rates() -> dict:
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
    return {"exp_per_s": reps * x.numel() / _cpu_seconds(exps),
            "flop_per_s": mm_reps * 2 * 512 ** 3 / _cpu_seconds(matmuls),
            "copy_bytes_per_s": 2 * big.numel() * FLOAT / _cpu_seconds(lambda: dst.copy_(big))}


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


def floor_beside_scan(method: str = "compiled", rounds: int = 5) -> dict:
    """The rates and `method`'s forward + backward at the seed's temporal shape, timed in the same
    rounds (one thread, process CPU time) -> {"rates", "floor", "scan_s", "ratio", "runs"}: medians
    over rounds, "ratio" the median of each round's scan time over its floor."""
    from mbsnet.experiments.scan_bench import _forward_backward, scan_function
    from mbsnet.scan.shapes import scan_inputs

    shape = seed_shapes()[0]
    inputs = {k: v.detach().requires_grad_(True) for k, v in scan_inputs(shape).items()}
    grad_out = torch.randn(shape.b, shape.l, shape.d, generator=torch.Generator().manual_seed(1))
    fn = scan_function(method)
    _forward_backward(fn, inputs, grad_out, clock=time.process_time)        # compiles, or loads the cache
    runs = []
    for _ in range(rounds):
        rates = measure_rates()
        scan_s = _forward_backward(fn, inputs, grad_out, clock=time.process_time)
        floor = floor_seconds(rates, shape.b, shape.l, shape.d, shape.n)
        runs.append({"rates": rates, "floor": floor, "scan_s": scan_s, "ratio": scan_s / floor["floor_s"]})
    med = lambda key, sub=None: statistics.median(r[key][sub] if sub else r[key] for r in runs)
    rates = {k: med("rates", k) for k in runs[0]["rates"]}
    return {"shape": [shape.b, shape.l, shape.d, shape.n], "method": method, "rates": rates,
            "floor": floor_seconds(rates, shape.b, shape.l, shape.d, shape.n),
            "scan_s": med("scan_s"), "ratio": med("ratio"), "runs": runs}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m mbsnet.experiments.scan_floor OUT.json", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    result = {"threads": 1, "clock": "process CPU time", "exps_per_element": EXPS,
              "flops_per_element": FLOPS, **floor_beside_scan()}
    save_result(argv[0], result, command=f"python -m mbsnet.experiments.scan_floor {argv[0]}")
    f = result["floor"]
    print(f"seed temporal {result['shape']}: compute {f['compute_s'] * 1e3:.0f} ms, traffic "
          f"{f['traffic_s'] * 1e3:.0f} ms, floor {f['floor_s'] * 1e3:.0f} ms; {result['method']} "
          f"{result['scan_s'] * 1e3:.0f} ms = {result['ratio']:.1f}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
