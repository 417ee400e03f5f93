"""The remedies the analysis never names, measured: predicted peaks of the remedy presets, what is live at them, MemTracker agreement.

    PYTHONPATH=$PWD python -m mbsnet.experiments.remedies peaks /tmp/remedies_peaks.json
    PYTHONPATH=$PWD python -m mbsnet.experiments.remedies checks /tmp/remedies_checks.json
    PYTHONPATH=$PWD python -m mbsnet.experiments.remedies memtracker /tmp/remedies_mt.json final_lean 0.25
    (with a 5th argument `memtracker`, the part replaces the checks' MemTracker check at merge)
    PYTHONPATH=$PWD python -m mbsnet.experiments.remedies merge /tmp/remedies_peaks.json \
        /tmp/remedies_checks.json results/remedies.json [/tmp/remedies_mt.json,...]

merge: peaks files are comma-separated, a later file's rows replace an earlier one's; the extra
files (comma-separated) add their keys (memtracker_<s>s: the MemTracker check at another shape).

For each remedy preset (mbsnet.presets.remedy_names()) and its parent: parameters, the predicted
peak of the trainer's step (mbsnet.step.StepSettings(): AdamW, enhancement_loss, clipping) at
batch 2 and 6 on 2 s segments, with the categories at the peak, and the largest batch on a 12 GiB
card from the line through those two points (an estimate: the peak is nearly affine in batch).
Then: what is live at the peak of final_checkpointed_bf16 and final_lean at batch 6 (the largest
tensors, and the temporaries grouped by the op, shape and dtype that made them); both at batch 6
with other scan chunk sizes; torch's MemTracker
against predict_peak (unrounded, the original's fp32 step) on the checkpointed presets at a small
shape. The two parts can run side by side; each saves after every piece. The CPU step times of
the rungs are mbsnet.experiments.remedy_costs's (process CPU time, interleaved).
"""
from __future__ import annotations

import sys
from dataclasses import replace

import torch

from mbsnet import presets
from mbsnet.memory import gpus
from mbsnet.memory.predict import predict_peak, torch_memtracker_peak
from mbsnet.model import build_model
from mbsnet.results import save_result
from mbsnet.step import StepSettings
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


def peak_anatomy(name, batch=6, top=8, log=print) -> dict:
    """What is live at the peak of `name`'s trainer step: the categories, the live tensors grouped
    by (category, op, shape, dtype) with count and bytes (largest groups first), the largest ones."""
    r = predict_peak(presets.get(name), batch, SECONDS, step=StepSettings(), details=True)
    kinds = [{**k, "gib": round(k.pop("bytes") / GiB, 3)} for k in r.live_by_kind[:top]]
    log(f"{name} b{batch}: {r.peak_gib:.3f} GiB; " + "; ".join(
        f"{k['count']}x {k['op']} {tuple(k['shape'])} {k['dtype']} {k['gib']} GiB" for k in kinds[:3]))
    return {"batch": batch, "peak_gib": round(r.peak_gib, 3), "peak_phase": r.peak_phase,
            "categories_gib": {k: round(v / GiB, 3) for k, v in r.categories.items()},
            "live_by_kind": kinds, "largest_tensors": r.largest[:top]}


def chunk_sweep(name="final_lean", batch=6, chunks=(64, 32, 16), log=print) -> dict:
    out = {}
    for chunk in chunks:
        r = predict_peak(replace(presets.get(name), scan_chunk_size=chunk), batch, SECONDS, step=StepSettings())
        out[str(chunk)] = {"peak_bytes": r.peak_bytes, "peak_gib": round(r.peak_gib, 3),
                           "temporaries_gib": round(r.categories["temporaries"] / GiB, 3),
                           "saved_activations_gib": round(r.categories["saved_activations"] / GiB, 3)}
        log(f"{name} chunk {chunk}: {r.peak_gib:.3f} GiB")
    return out


def memtracker_check(names=("seed_checkpointed", "final_checkpointed", "final"), batch=1, seconds=0.1,
                     log=print) -> dict:
    out = {}
    for name in names:
        cfg = presets.get(name)
        theirs = torch_memtracker_peak(cfg, batch, seconds)
        # MemTracker runs the fp32 step (fake CPU tensors have no CUDA autocast): so does ours here
        ours = predict_peak(cfg, batch, seconds, round_to=1,
                            step=StepSettings.original(precision="fp32")).peak_bytes
        out[name] = {"memtracker_bytes": theirs, "predict_peak_unrounded_bytes": ours,
                     "relative_difference": abs(ours - theirs) / theirs}
        log(f"memtracker {name}: {theirs} vs {ours} ({out[name]['relative_difference']:.3%})")
    return {"batch": batch, "seconds": seconds,
            "step": "original, fp32 (MemTracker runs the fp32 step: a bf16 preset is compared in fp32, "
                    "with its checkpointing and scan chunks)", "rows": out}


PEAK_ORDER = ("seed_checkpointed", "final_lean", "final_scan_chunk4", "final_checkpointed_bf16",
              "final_checkpointed", "final_bf16", "final", "authors_attempt", "chunked_scan", "seed")
SWEEPS = {"final_checkpointed_bf16": (64, 16, 8, 4, 2), "final_lean": (64, 8, 4, 3, 2)}


def _log(msg):
    print(msg, flush=True)


def run_peaks(out_path, names=PEAK_ORDER) -> dict:
    """Predicted peaks of every remedy preset and its parent, saved after each preset."""
    result = {"step": StepSettings().to_dict(), "seconds": SECONDS, "batches": list(BATCHES), "rows": {}}
    for name in names:
        result["rows"].update(peak_rows([name], log=_log))
        save_result(out_path, result)
    return result


def run_checks(out_path) -> dict:
    """MemTracker agreement; what is live at final_checkpointed_bf16's and final_lean's peaks; their
    scan chunk sizes (SWEEPS). (CPU step times: mbsnet.experiments.remedy_costs.)"""
    result = {"memtracker": memtracker_check(("final_checkpointed", "seed_checkpointed", "final_lean"),
                                             seconds=0.02, log=_log)}
    save_result(out_path, result)
    result["peak_anatomy_b6"] = {name: peak_anatomy(name, log=_log) for name in SWEEPS}
    save_result(out_path, result)
    for name, chunks in SWEEPS.items():
        result[f"{name}_chunk_sweep_b6"] = chunk_sweep(name, chunks=chunks, log=_log)
        save_result(out_path, result)
    return result


def merge(peaks_paths, checks_path, out_path, extra_paths=None) -> dict:
    """results/remedies.json from the parts (comma-separated peaks files; each part's provenance
    kept) and the goals."""
    import json

    parts = [json.loads(open(p).read()) for p in peaks_paths.split(",")]
    from pathlib import Path

    checks = json.loads(Path(checks_path).read_text()) if Path(checks_path).exists() \
        else {"provenance": None, "checks_missing": f"{checks_path} was not written (still running)"}
    rows = {}
    for part in parts:
        rows.update(part["rows"])
    peaks = {**parts[0], "rows": {n: rows[n] for n in PEAK_ORDER if n in rows}}
    result = {"parts_provenance": {"peaks": [p.pop("provenance") for p in parts],
                                   "checks": checks.pop("provenance")},
              **{k: v for k, v in peaks.items() if k != "provenance"}, **checks}
    if "authors_attempt" in rows:
        result["authors_attempt_parameters"] = {"counted": rows["authors_attempt"]["parameters"],
                                                "reported": presets.AUTHORS_ATTEMPT_PARAMETERS}
    goals = {}
    if "seed_checkpointed" in rows:
        goals["seed_checkpointed_b2_le_12gib"] = rows["seed_checkpointed"]["peak_b2_bytes"] <= 12 * GiB
    if "final_lean" in rows:
        goals["final_lean_b6_le_1gib"] = rows["final_lean"]["peak_b6_bytes"] <= 1 * GiB
        goals["final_lean_b6_le_0.5gib"] = rows["final_lean"]["peak_b6_bytes"] <= 0.5 * GiB
    if extra_paths:
        for path in extra_paths.split(","):
            part = json.loads(open(path).read())
            result["parts_provenance"].setdefault("extra", []).append(part.pop("provenance"))
            for key, value in part.items():     # sweeps of several parts add up
                if isinstance(value, dict) and isinstance(result.get(key), dict):
                    result[key] = {**result[key], **value}
                else:
                    result[key] = value
    checks_mt = [v for k, v in result.items() if k.startswith("memtracker") and isinstance(v, dict)]
    if checks_mt:
        goals["memtracker_within_2pct"] = all(r["relative_difference"] <= 0.02
                                              for check in checks_mt for r in check["rows"].values())
    result["goals"] = goals
    result["missing_presets"] = [n for n in PEAK_ORDER if n not in rows]
    save_result(out_path, result)
    return result


if __name__ == "__main__":
    part = sys.argv[1]
    if part == "peaks":
        run_peaks(sys.argv[2], sys.argv[3].split(",") if len(sys.argv) > 3 else PEAK_ORDER)
    elif part == "checks":
        run_checks(sys.argv[2])
    elif part == "memtracker":      # memtracker OUT NAMES SECONDS [KEY]: the check at another shape
        key = sys.argv[5] if len(sys.argv) > 5 else f"memtracker_{sys.argv[4]}s"
        save_result(sys.argv[2], {key: memtracker_check(sys.argv[3].split(","), seconds=float(sys.argv[4]),
                                                        log=_log)})
    elif part == "chunks":
        save_result(sys.argv[2], {"final_lean_chunk_sweep_b6": chunk_sweep(chunks=tuple(int(c) for c in (sys.argv[3] if len(sys.argv) > 3 else "64,16,8").split(",")), log=_log)})
    else:
        print(merge(*sys.argv[2:6])["goals"])
