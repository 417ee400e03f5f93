"""Benchmarks: `python -m mbsnet bench scan` times the scans and counts what autograd saves.

Every method runs the same function, y = selective_scan(u, delta, A, B, C, D, z, delta_bias,
delta_softplus=True), forward + backward, interleaved round-robin so that all methods see the same
machine load; the table reports medians, ratios to "recompute" and speedups over "mambapy". Each
method's first forward + backward is timed on its own (wall time, "first_seconds"; for "compiled" it includes
compiling the kernels, also reported as "compile_seconds") and never enters the medians; its output
and gradients are compared with the float64 recompute scan ("max_rel_error": the largest
max|x - x64| / max|x64| over y and the eight gradients).
The clock ("clock" in the result): on the CPU with one torch thread, the process' CPU time
(time.process_time), which other jobs on a shared machine do not inflate the way they inflate wall
time; else (several threads, CUDA) wall time.
The peer "mambapy" is the pure-PyTorch Blelloch scan of PyPI `mambapy` (alxndrTL/mamba.py), fed the
(b, l, d, n) tensors exp(dt*A) and dt*B*u built as its own selective_scan does (timed too).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mbsnet.memory.saved import saved_tensor_bytes
from mbsnet.scan import compiled_kernels, selective_scan
from mbsnet.scan.shapes import SWEEP_LENGTHS, ScanShape, scan_inputs, seed_shapes, sweep_shapes

SCAN_PEERS = ("mambapy",)
BENCH_METHODS = ("sequential", "chunked", "recompute", "compiled", "native") + SCAN_PEERS


def mambapy_scan(u, delta, A, B, C, D, z, delta_bias):
    """The same function through mambapy's pscan, materializing its (b, l, d, n) inputs."""
    from mambapy.pscan import pscan

    dt = F.softplus(delta + delta_bias)
    delta_a = torch.exp(dt.unsqueeze(-1) * A)                                 # (b, l, d, n)
    bx = dt.unsqueeze(-1) * B.unsqueeze(2) * u.unsqueeze(-1)                  # (b, l, d, n)
    hs = pscan(delta_a, bx)
    y = (hs @ C.unsqueeze(-1)).squeeze(3) + D * u
    return y * F.silu(z)


def scan_function(method: str, chunk_size: int = 64):
    """A callable(**inputs) -> y for a method of mbsnet.scan or a peer."""
    if method == "mambapy":
        return mambapy_scan
    if method not in BENCH_METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {BENCH_METHODS}")
    return lambda **x: selective_scan(**x, delta_softplus=True, method=method, chunk_size=chunk_size)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock_for(device) -> tuple[str, object]:
    """(name, function) of the clock the benchmark reads on `device` (see the module docstring)."""
    if torch.device(device).type == "cpu" and torch.get_num_threads() == 1:
        return "process CPU time", time.process_time
    return "wall time", time.perf_counter


def _forward_backward(fn, inputs, grad_out, keep=False, clock=None):
    """Seconds of one forward + backward (on `clock`, default clock_for's); with keep, also
    (y, the inputs' gradients)."""
    for v in inputs.values():
        v.grad = None
    device = grad_out.device
    clock = clock or clock_for(device)[1]
    _synchronize(device)
    t0 = clock()
    y = fn(**inputs)
    y.backward(grad_out)
    _synchronize(device)                  # CUDA runs asynchronously: wait before reading the clock
    seconds = clock() - t0
    if not keep:
        return seconds
    return seconds, [y.detach()] + [inputs[k].grad for k in sorted(inputs)]


def _reference(inputs, grad_out, chunk_size):
    """y and the gradients of the float64 recompute scan (itself gradchecked against float64)."""
    x64 = {k: v.detach().double().requires_grad_(True) for k, v in inputs.items()}
    return _forward_backward(scan_function("recompute", chunk_size), x64, grad_out.double(), True)[1]


def _max_rel_error(got, ref) -> float:
    return max(float((g.double() - r).abs().max() / r.abs().max().clamp_min(1e-30))
               for g, r in zip(got, ref))


def bench_shape(shape: ScanShape, methods, repeats: int = 5, chunk_size: int = 64,
                warmup: int = 1, check: bool = True, device=None) -> dict:
    """Median forward+backward seconds and saved-activation bytes of each method at `shape`,
    on `device` (default the CPU; on CUDA each run is timed between two synchronizations).

    The first call of each method is timed apart ("first_seconds": compilation for "compiled",
    whose kernels' first-compile seconds are in "compile_seconds") and, with check, its output and
    gradients compared with the float64 reference ("max_rel_error"); then `warmup` untimed rounds.
    """
    device = torch.device(device or "cpu")
    inputs = {k: v.detach().to(device).requires_grad_(True) for k, v in scan_inputs(shape).items()}
    grad_out = torch.randn(shape.b, shape.l, shape.d,
                           generator=torch.Generator().manual_seed(1)).to(device)
    fns = {m: scan_function(m, chunk_size) for m in methods}
    ref = _reference(inputs, grad_out, chunk_size) if check else None
    first, compiled, errors = {}, {}, {}
    for m in methods:
        before = compiled_kernels.compile_seconds()
        # wall time: compilation runs partly in worker processes, outside this process' CPU time
        first[m], got = _forward_backward(fns[m], inputs, grad_out, keep=True, clock=time.perf_counter)
        compiled[m] = {k: v for k, v in compiled_kernels.compile_seconds().items() if k not in before}
        if check:
            errors[m] = _max_rel_error(got, ref)
        del got
    del ref
    saved = {m: saved_tensor_bytes(lambda m=m: fns[m](**inputs)) for m in methods}
    times = {m: [] for m in methods}
    for i in range(warmup + repeats):                       # round robin: same load for every method
        for m in methods:
            t = _forward_backward(fns[m], inputs, grad_out)
            if i >= warmup:
                times[m].append(t)
    input_bytes = sum(v.numel() * v.element_size() for v in inputs.values())
    # recompute's transient working set: four (T, b, d, n) float32 buffers during backward
    scratch = 4 * 4 * shape.b * min(chunk_size, shape.l) * shape.d * shape.n
    out = {"shape": asdict(shape), "clock": clock_for(device)[0], "input_bytes": input_bytes,
           "state_bytes": shape.state_bytes,
           "recompute_scratch_bytes": scratch, "methods": {}}
    for m in methods:
        r = out["methods"][m] = {"seconds": statistics.median(times[m]), "runs": times[m],
                                 "saved_bytes": saved[m], "first_seconds": first[m]}
        if check:
            r["max_rel_error"] = errors[m]
        if m == "compiled":
            r["compile_seconds"] = compiled[m]
            r["compile_available"] = compiled_kernels.compile_available()
    return out


def bench_scan(repeats: int = 5, chunk_size: int = 64, quick: bool = False, batch: int = 2,
               max_sequential_length: int = 4096, methods=BENCH_METHODS, progress=True,
               cases=None) -> dict:
    """All cases of `bench scan`: the seed's two shapes, then the sweep over lengths.

    quick: batch 1 for the seed shapes, lengths up to 1024, sequential skipped at the seed's
    temporal shape (it takes tens of seconds there). cases: keep only the cases whose name
    contains one of these strings (e.g. ["seed temporal"]).
    """
    unknown = [m for m in methods if m not in BENCH_METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown method(s) {unknown}; choose from {BENCH_METHODS}")
    shapes = seed_shapes(1 if quick else batch)
    shapes += sweep_shapes(tuple(l for l in SWEEP_LENGTHS if not quick or l <= 1024))
    if cases:
        shapes = [s for s in shapes if any(c in s.name for c in cases)]
    results, skipped = [], []
    for shape in tqdm(shapes, desc="bench scan", disable=not progress):
        ms = [m for m in methods if m != "sequential" or
              (shape.l <= max_sequential_length and not (quick and shape.name == "seed temporal"))]
        skipped += [f"sequential at {shape.name}" for m in methods if m not in ms]
        results.append(bench_shape(shape, ms, repeats, chunk_size))
    return {"repeats": repeats, "chunk_size": chunk_size, "quick": quick,
            "threads": torch.get_num_threads(), "methods": list(methods), "skipped": skipped,
            "cases": results}


def ratio_table(result: dict, baseline: str = "recompute", peer: str = "mambapy") -> list[dict]:
    """One row per case: seconds, first-call seconds, saved MiB and error per method; time ratios
    method / baseline, and speedups peer / method ("mambapy/compiled": times faster than mambapy).
    Ratios are left out where the baseline or the peer was not run."""
    rows = []
    for case in result["cases"]:
        row = {"case": case["shape"]["name"], "b": case["shape"]["b"], "l": case["shape"]["l"],
               "d": case["shape"]["d"], "n": case["shape"]["n"],
               "inputs MiB": case["input_bytes"] / 2**20}
        runs = case["methods"]
        base = runs[baseline]["seconds"] if baseline in runs else None
        peer_s = runs[peer]["seconds"] if peer in runs else None
        for m, r in runs.items():
            row[f"{m} s"] = r["seconds"]
            if "first_seconds" in r:
                row[f"{m} first call s"] = r["first_seconds"]
            row[f"{m} saved MiB"] = r["saved_bytes"] / 2**20
            if "max_rel_error" in r:
                row[f"{m} max rel error"] = r["max_rel_error"]
            if m != baseline and base:
                row[f"{m}/{baseline}"] = r["seconds"] / base
            if m != peer and peer_s:
                row[f"{peer}/{m}"] = peer_s / r["seconds"]
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Plain-text table, one block per case."""
    lines = []
    for row in rows:
        lines.append(f"{row['case']}  (b={row['b']}, l={row['l']}, d={row['d']}, n={row['n']}, "
                     f"inputs {row['inputs MiB']:.1f} MiB)")
        for k, v in row.items():
            if k.endswith("error"):
                lines.append(f"    {k:<28} {v:10.1e}")
            elif k.endswith(" s") or "/" in k or k.endswith("saved MiB"):
                lines.append(f"    {k:<28} {v:10.3f}")
    return "\n".join(lines)
