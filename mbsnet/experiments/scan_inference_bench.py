"""`python -m mbsnet bench inference`: the no-grad scan's kernels side by side at the shapes `enhance` runs.

`enhance` feeds the `final` model chunks of CHUNK_SECONDS (8 s: 1001 STFT frames, 31 bands, d = 128, n = 16).
Along time each band is a sequence (b = 31, l = 1001); across bands each frame is one (b = 1001, l = 31). Per case,
interleaved, CPU seconds of one thread (medians):
    recompute forward   recompute's own plain forward (the scan before the inference path)
    torch               inference_scan's blocked torch path
    native              inference_scan's C kernel (mbsnet.scan.native)
and each one's largest error relative to a float64 run of the torch path (the largest |y|).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict

import torch

from mbsnet import presets
from mbsnet.enhance import CHUNK_SECONDS
from mbsnet.scan import inference_scan, native, recompute_scan
from mbsnet.scan.shapes import ScanShape, scan_inputs

KERNELS = ("recompute forward", "torch", "native")


def enhance_shapes() -> list[ScanShape]:
    """The `final` model's two scan shapes on one enhance chunk."""
    cfg = presets.get("final")
    frames = int(CHUNK_SECONDS * cfg.sample_rate) // cfg.hop_length + 1
    bands = len(cfg.band_widths)
    return [ScanShape(f"final temporal, {CHUNK_SECONDS:g} s chunk", bands, frames, cfg.d_inner, cfg.d_state),
            ScanShape(f"final cross-band, {CHUNK_SECONDS:g} s chunk", frames, bands, cfg.d_inner, cfg.d_state)]


def _kernel(name):
    if name == "recompute forward":
        return lambda **x: recompute_scan(**x, delta_softplus=True)
    return lambda **x: inference_scan(**x, delta_softplus=True, kernel=name)


def bench_inference(repeats: int = 5, shapes=None) -> dict:
    """{"cases": [...], "native_available": bool}: each case's per-kernel CPU seconds (runs, median), the
    speedup over "recompute forward", and the error against float64."""
    kernels = [k for k in KERNELS if k != "native" or native.library() is not None]
    cases = []
    for shape in shapes or enhance_shapes():
        x = {k: v.detach() for k, v in scan_inputs(shape).items()}
        with torch.no_grad():
            ref = inference_scan(**{k: v.double() for k, v in x.items()}, delta_softplus=True, kernel="torch")
            scale = float(ref.abs().max())
            errors = {k: float((_kernel(k)(**x).double() - ref).abs().max()) / scale for k in kernels}
            del ref
            times = {k: [] for k in kernels}
            for _ in range(repeats):                               # round robin: the same load for each
                for k in kernels:
                    t0 = time.process_time()
                    _kernel(k)(**x)
                    times[k].append(time.process_time() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        cases.append({"shape": asdict(shape), "cpu_seconds": times, "cpu_seconds_median": med,
                      "speedup_vs_recompute_forward": {k: med["recompute forward"] / med[k] for k in kernels},
                      "max_rel_error_vs_float64": errors})
    return {"threads": torch.get_num_threads(), "repeats": repeats, "kernels": kernels,
            "native_available": "native" in kernels, "cases": cases}


def format_inference_table(result: dict) -> str:
    lines = [f"{'case':<30}{'kernel':<20}{'CPU s (median)':>15}{'speedup':>9}{'rel. error':>12}"]
    for case in result["cases"]:
        for i, k in enumerate(result["kernels"]):
            lines.append(f"{case['shape']['name'] if i == 0 else '':<30}{k:<20}"
                         f"{case['cpu_seconds_median'][k]:>15.4f}{case['speedup_vs_recompute_forward'][k]:>8.2f}x"
                         f"{case['max_rel_error_vs_float64'][k]:>12.1e}")
    if not result["native_available"]:
        lines.append("the C kernel is unavailable here (no C compiler, or MBSNET_NATIVE_SCAN=0)")
    return "\n".join(lines)
