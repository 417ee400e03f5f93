"""What the remedies cost and what they save at the step level: CPU step time of each rung as a ratio to its parent, claim 2's full-step peaks, gradient accumulation.

    PYTHONPATH=$PWD python -m mbsnet.experiments.remedy_costs times results/remedies_times.json 0.25 3
    PYTHONPATH=$PWD python -m mbsnet.experiments.remedy_costs peaks results/remedies_steps.json
    PYTHONPATH=$PWD python -m mbsnet.experiments.remedy_costs predict results/predict_times.json
    PYTHONPATH=$PWD python -m mbsnet.experiments.remedy_costs scan results/step_scan_cpu.json 2.0 5

`times`: real CPU training steps (the trainer's step, mbsnet.step.StepSettings()) of every rung
in RUNGS, built side by side and timed interleaved (one rung after the other, `repeats` rounds,
one thread), median per rung of the process's CPU time (wall-clock time is kept too, but on a
machine shared with other jobs it mostly measures them), then each rung's median over its parent's (mbsnet.presets.parent)
and over the seed's. At a small size (batch 1; 1 s segments by default, the stored run 0.25 s):
the seed at batch 2 on 2 s needs ~19 GiB of RAM, and its sequential scan is slow on a CPU
(~150 s a step on one shared thread at batch 1 x 0.5 s here). On a CPU the trainer runs fp32 whatever the precision, so a bf16
rung's CPU time is its fp32 parent's (autocast applies on CUDA only).

`peaks`: the predicted CUDA peak of the trainer's step for claim 2 at the step level (seed,
chunked_scan, recompute_scan at batch 1, recompute_scan at 2; results/remedies.json has the
others at batch 2), and gradient accumulation (final at batch 6 vs
batch 6 as 3 micro-batches of 2), with the categories at the peak. A few minutes on a laptop CPU.

`scan`: the `final` training step (batch 2, 2 s segments) with its default scan ("recompute") beside the
same model with scan_method="compiled" (mbsnet.scan.compiled) and "native" (mbsnet.scan.native), timed as
`times` does; "final_compiled"'s
warm-up step includes compiling the scan's kernels (or loading them from torch's cache).

`predict`: what the prediction itself costs: the process CPU time of predict_peak (the trainer's
step, 2 s segments) for every preset at batch 2 and 6, one after the other in one process.
"""
from __future__ import annotations

import statistics
import sys
import time

import torch

from mbsnet import presets
from mbsnet.results import save_result
from mbsnet.units import GiB

RUNGS = ("seed", "seed_checkpointed", "chunked_scan", "recompute_scan", "final",
         "final_checkpointed", "final_bf16", "final_checkpointed_bf16", "final_scan_chunk4",
         "final_lean")
# results/remedies.json holds the seed's and chunked_scan's batch-2 peaks of the same step.
CLAIM2 = {"seed": (1,), "chunked_scan": (1,), "recompute_scan": (1, 2)}


def step_time_ratios(names=RUNGS, batch: int = 1, seconds: float = 1.0, repeats: int = 5,
                     cfgs: dict | None = None) -> dict:
    """Interleaved CPU step times -> {"median_s", "times_s", "ratio_to_parent", "ratio_to_seed", ...}.

    A rung whose parent is not among `names` has no ratio_to_parent. `cfgs` ({name:
    MBSNetConfig}) replaces presets.get for the names it holds (tests use tiny configs).
    """
    from mbsnet.model import build_model
    from mbsnet.step import StepSettings, make_optimizer, split_batch, train_step

    get = (cfgs or {}).get
    settings = StepSettings()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        setups = {}
        for name in names:
            cfg = get(name) or presets.get(name)
            torch.manual_seed(0)
            model = build_model(cfg)
            opt = make_optimizer(model, settings)
            wav = torch.randn(2, batch, int(seconds * cfg.sample_rate))
            setups[name] = (model, opt, split_batch(wav[0], wav[1], cfg, settings))
            train_step(model, opt, setups[name][2], settings)          # warm-up step
        times = {name: [] for name in names}
        wall = {name: [] for name in names}
        for _ in range(repeats):
            for name in names:
                model, opt, micro = setups[name]
                start, start_wall = time.process_time(), time.perf_counter()
                train_step(model, opt, micro, settings)
                times[name].append(time.process_time() - start)
                wall[name].append(time.perf_counter() - start_wall)
    finally:
        torch.set_num_threads(threads)
    med = {name: statistics.median(t) for name, t in times.items()}
    parents = {n: presets.parent(n) if n in presets.names() + presets.remedy_names() else None
               for n in names}
    return {"batch": batch, "seconds": seconds, "threads": 1, "repeats": repeats,
            "clock": "process CPU time (time.process_time), one thread", "step": settings.to_dict(),
            "parents": parents, "times_s": times, "wall_s": wall, "median_s": med,
            "ratio_to_parent": {n: med[n] / med[p] for n, p in parents.items() if p in med},
            "ratio_to_seed": {n: med[n] / med[names[0]] for n in names} if names[0] == "seed" else {},
            "cpu_precision_note": "bf16 rungs run fp32 on a CPU (autocast is applied on CUDA only)"}


def _peak(cfg, batch, seconds, settings, log=print) -> dict:
    from mbsnet.memory.predict import predict_peak

    r = predict_peak(cfg, batch, seconds, step=settings)
    log(f"{cfg.name} b{batch} accumulate {settings.accumulate}: {r.peak_gib:.3f} GiB "
        f"({r.elapsed_s:.0f} s)")
    return {"peak_bytes": r.peak_bytes, "peak_gib": round(r.peak_gib, 3), "peak_phase": r.peak_phase,
            "micro_batch": r.micro_batch, "accumulate": r.accumulate,
            "categories_gib": {k: round(v / GiB, 3) for k, v in r.categories.items()},
            "predict_seconds": round(r.elapsed_s, 1)}


def step_peaks(claim2=CLAIM2, accumulate_preset="final", seconds=2.0, log=print, out_path=None,
               cfgs: dict | None = None) -> dict:
    """Claim 2's full-step peaks ({preset: batches}) and accumulation's, predicted for the
    trainer's step (saved to `out_path` after each piece when given; `cfgs` as in
    step_time_ratios)."""
    from mbsnet.step import StepSettings

    cfgs = cfgs or {}
    get = lambda name: cfgs.get(name) or presets.get(name)  # noqa: E731

    result = {"step": StepSettings().to_dict(), "seconds": seconds, "claim2": {}, "accumulation": {}}
    for name, batches in claim2.items():
        result["claim2"][name] = {f"b{b}": _peak(get(name), b, seconds, StepSettings(), log)
                                  for b in batches}
        if out_path:
            save_result(out_path, result)
    cfg = get(accumulate_preset)
    result["accumulation"] = {"preset": accumulate_preset, "global_batch": 6,
                              "batch6": _peak(cfg, 6, seconds, StepSettings(), log),
                              "batch2_x3": _peak(cfg, 6, seconds, StepSettings(accumulate=3), log),
                              "batch2": _peak(cfg, 2, seconds, StepSettings(), log)}
    if out_path:
        save_result(out_path, result)
    return result


def predict_times(names=None, batches=(2, 6), seconds=2.0, log=print, out_path=None) -> dict:
    """{preset: {"b2": {"cpu_s", "peak_gib"}, ...}} for every preset (default: the ladder and the remedies)."""
    from mbsnet.memory.predict import predict_peak
    from mbsnet.step import StepSettings

    names = list(names or [*presets.names(), *presets.remedy_names()])
    result = {"step": StepSettings().to_dict(), "seconds": seconds, "clock": "process CPU time",
              "rows": {}}
    for name in names:
        row = {}
        for batch in batches:
            start = time.process_time()
            r = predict_peak(presets.get(name), batch, seconds, step=StepSettings())
            row[f"b{batch}"] = {"cpu_s": round(time.process_time() - start, 2), "peak_gib": round(r.peak_gib, 3)}
        result["rows"][name] = row
        log(f"{name}: {row}")
        if out_path:
            save_result(out_path, result)
    result["max_cpu_s"] = max(v["cpu_s"] for row in result["rows"].values() for v in row.values())
    if out_path:
        save_result(out_path, result)
    return result


if __name__ == "__main__":
    part, out = sys.argv[1], sys.argv[2]
    if part == "times":          # times OUT [seconds] [repeats]
        seconds, repeats = (float(sys.argv[3]) if len(sys.argv) > 3 else 1.0,
                            int(sys.argv[4]) if len(sys.argv) > 4 else 5)
        save_result(out, step_time_ratios(seconds=seconds, repeats=repeats))
    elif part == "scan":         # scan OUT [seconds] [repeats]
        from dataclasses import replace
        final = presets.get("final")
        seconds, repeats = (float(sys.argv[3]) if len(sys.argv) > 3 else 2.0,
                            int(sys.argv[4]) if len(sys.argv) > 4 else 5)
        save_result(out, step_time_ratios(("final", "final_compiled", "final_native"), batch=2, seconds=seconds,
                                          repeats=repeats,
                                          cfgs={"final_compiled": replace(final, scan_method="compiled"),
                                                "final_native": replace(final, scan_method="native")}))
    elif part == "peaks":
        step_peaks(out_path=out, log=lambda m: print(m, flush=True))
    elif part == "predict":
        predict_times(out_path=out, log=lambda m: print(m, flush=True))
    else:
        raise SystemExit(f"error: unknown part {part!r} (times, peaks, predict, scan)")
