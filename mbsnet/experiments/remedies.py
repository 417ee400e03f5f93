"""The remedies the analysis never names, measured: predicted peaks of the remedy presets, the CPU cost of checkpointing, MemTracker agreement.

    PYTHONPATH=$PWD python -m mbsnet.experiments.remedies results/remedies.json

For each remedy preset (mbsnet.presets.remedy_names()) and its parent: parameters, the predicted
peak of the trainer's step (mbsnet.step.StepSettings(): AdamW, enhancement_loss, clipping) at
batch 2 and 6 on 2 s segments, with the categories at the peak, and the largest batch on a 12 GiB
card from the line through those two points (an estimate: the peak is nearly affine in batch).
Then: final_lean at batch 6 with smaller cross-band/temporal scan chunks; the CPU step time of
seed_checkpointed vs seed (interleaved, one thread, median of `repeats`); torch's MemTracker
against predict_peak (unrounded, the original's fp32 step) on the checkpointed presets at a small
shape. Minutes on a laptop CPU.
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace

import torch

from mbsnet import presets
from mbsnet.memory import gpus
from mbsnet.memory.predict import predict_peak, torch_memtracker_peak
from mbsnet.model import build_model
from mbsnet.results import save_result
from mbsnet.step import StepSettings, make_optimizer, split_batch, train_step
from mbsnet.units import GiB

SECONDS = 2.0
BATCHES = (2, 6)


def _parameters(cfg) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(cfg).parameters())


def peak_rows(names, step: StepSettings = StepSettings(), log=print) -> dict:
    rows = {}
    usable = gpus.get("rtx3080ti").usable
    for name in names:
        cfg = presets.get(name)
        row = {"parent": presets.parent(name), "changes": {k: list(v) for k, v in presets.changes(name).items()},
               "parameters": _parameters(cfg)}
        for b in BATCHES:
            r = predict_peak(cfg, b, SECONDS, step=step)
            row[f"peak_b{b}_bytes"] = r.peak_bytes
            row[f"peak_b{b}_gib"] = round(r.peak_gib, 3)
            row[f"categories_b{b}_gib"] = {k: round(v / GiB, 3) for k, v in r.categories.items()}
            row[f"peak_phase_b{b}"] = r.peak_phase
            row["predict_seconds"] = max(row.get("predict_seconds", 0), round(r.elapsed_s, 1))
            log(f"{name} b{b}: {r.peak_gib:.3f} GiB ({r.elapsed_s:.0f} s)")
        slope = (row["peak_b6_bytes"] - row["peak_b2_bytes"]) / 4
        intercept = row["peak_b2_bytes"] - 2 * slope
        row["max_batch_12gib_affine_estimate"] = int((usable - intercept) // slope)
        rows[name] = row
    return rows


def chunk_sweep(name="final_lean", batch=6, chunks=(64, 32, 16), log=print) -> dict:
    out = {}
    for chunk in chunks:
        r = predict_peak(replace(presets.get(name), scan_chunk_size=chunk), batch, SECONDS, step=StepSettings())
        out[str(chunk)] = {"peak_bytes": r.peak_bytes, "peak_gib": round(r.peak_gib, 3),
                           "temporaries_gib": round(r.categories["temporaries"] / GiB, 3),
                           "saved_activations_gib": round(r.categories["saved_activations"] / GiB, 3)}
        log(f"{name} chunk {chunk}: {r.peak_gib:.3f} GiB")
    return out


def cpu_step_times(names=("seed", "seed_checkpointed"), batch=1, seconds=0.5, repeats=3) -> dict:
    """Real CPU training steps (the trainer's step), interleaved, one thread -> seconds per preset."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        setups = {}
        for name in names:
            torch.manual_seed(0)
            cfg = presets.get(name)
            model = build_model(cfg)
            opt = make_optimizer(model, StepSettings())
            wav = torch.randn(2, batch, int(seconds * cfg.sample_rate))
            setups[name] = (model, opt, split_batch(wav[0], wav[1], cfg, StepSettings()))
            train_step(model, opt, setups[name][2], StepSettings())          # warm-up step
        times = {name: [] for name in names}
        for _ in range(repeats):
            for name in names:
                model, opt, micro = setups[name]
                start = time.perf_counter()
                train_step(model, opt, micro, StepSettings())
                times[name].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    med = {name: statistics.median(t) for name, t in times.items()}
    return {"batch": batch, "seconds": seconds, "threads": 1, "repeats": repeats, "times_s": times,
            "median_s": med, "ratio_to_first": {n: med[n] / med[names[0]] for n in names}}


def memtracker_check(names=("seed_checkpointed", "final_checkpointed", "final"), batch=1, seconds=0.1,
                     log=print) -> dict:
    out = {}
    for name in names:
        cfg = presets.get(name)
        theirs = torch_memtracker_peak(cfg, batch, seconds)
        ours = predict_peak(cfg, batch, seconds, round_to=1).peak_bytes
        out[name] = {"memtracker_bytes": theirs, "predict_peak_unrounded_bytes": ours,
                     "relative_difference": abs(ours - theirs) / theirs}
        log(f"memtracker {name}: {theirs} vs {ours} ({out[name]['relative_difference']:.3%})")
    return {"batch": batch, "seconds": seconds, "step": "original (MemTracker runs the fp32 step)",
            "rows": out}


def run(out_path) -> dict:
    names = []
    for name in presets.remedy_names():
        for n in (presets.parent(name), name):
            if n not in names:
                names.append(n)
    result = {"step": StepSettings().to_dict(), "seconds": SECONDS, "batches": list(BATCHES)}
    result["memtracker"] = memtracker_check()
    save_result(out_path, result)
    result["cpu_step_time"] = cpu_step_times()
    print(result["cpu_step_time"]["median_s"], flush=True)
    save_result(out_path, result)
    result["rows"] = peak_rows(names)
    save_result(out_path, result)
    result["final_lean_chunk_sweep_b6"] = chunk_sweep()
    lean = result["rows"]["final_lean"]
    seed_ck = result["rows"]["seed_checkpointed"]
    result["authors_attempt_parameters"] = {"counted": result["rows"]["authors_attempt"]["parameters"],
                                            "reported": presets.AUTHORS_ATTEMPT_PARAMETERS}
    result["goals"] = {
        "seed_checkpointed_b2_le_12gib": seed_ck["peak_b2_bytes"] <= 12 * GiB,
        "final_lean_b6_le_1gib": lean["peak_b6_bytes"] <= 1 * GiB,
        "final_lean_b6_le_0.5gib": lean["peak_b6_bytes"] <= 0.5 * GiB,
        "memtracker_within_2pct": all(r["relative_difference"] <= 0.02
                                      for r in result["memtracker"]["rows"].values()),
        "seed_checkpointed_cpu_time_le_1.35x": result["cpu_step_time"]["ratio_to_first"]["seed_checkpointed"] <= 1.35,
    }
    save_result(out_path, result)
    return result


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "results/remedies.json"
    res = run(out)
    print(res["goals"])
