"""Is bf16 autocast quality-neutral? A proxy on a CPU: `final` trained in fp32 and under CUDA autocast's bf16 policy.

    PYTHONPATH=$PWD python -m mbsnet.experiments.bf16_proxy results/bf16_proxy.json [STEPS] [SECONDS] [SEEDS]

No GPU here, so the bf16 runs use `CudaAutocastEmulation` (mbsnet.precision) on real CPU tensors:
the forward pass casts what CUDA autocast casts (matmuls, linears and convolutions to bf16;
transcendentals, norms, reductions and losses in fp32). The CPU's bf16 kernels are not cuBLAS's
(both accumulate in fp32 and round the output to bf16, but tile orders differ), so this measures
the policy's rounding, not a particular GPU.

For each seed: the `final` preset built from that seed (same initial parameters in both
precisions), trained with the trainer's step (mbsnet.step.train_step, StepSettings with the
precision set) on the same batches, batch 2 of `seconds` crops (speech_noise_batches: eSpeak NG
utterances + generated noise, 0-15 dB SNR). The runs go one step each in turn (the same load on
all). Every `eval_every` steps each run is scored on the same 8 held-out pairs (seed 1000, 1 s,
batch 1): the trainer's loss and the SI-SDR of the enhanced waveform, both with an fp32 forward
pass (what the trained weights do, whatever precision trained them).

The comparison: bf16 minus fp32 on the same seed, beside fp32 seed 0 minus fp32 seed 1 (the
seed-to-seed noise), at every evaluation.
"""
from __future__ import annotations

import statistics
import sys
import time

import torch

from mbsnet import presets
from mbsnet.experiments.authors_clamps import speech_noise_batches
from mbsnet.results import save_result

PRECISIONS = ("fp32", "bf16")
HELD_OUT_SEED, HELD_OUT_N, HELD_OUT_SECONDS = 1000, 8, 1.0


def held_out_scores(model, cfg, pairs, settings) -> dict:
    """Mean trainer's loss and SI-SDR (dB) of `model` on (clean, noisy) (1, s) pairs, fp32 forward."""
    from mbsnet.data.audio import istft
    from mbsnet.metrics import si_sdr
    from mbsnet.step import split_batch, step_loss

    losses, sdrs = [], []
    model.eval()
    with torch.no_grad():
        for clean, noisy in pairs:
            (mb,) = split_batch(clean, noisy, cfg, settings)
            estimate = model(mb.noisy)
            loss, _ = step_loss(model, estimate, mb, settings)
            losses.append(float(loss))
            wav = istft(estimate, clean.shape[-1], cfg)
            sdrs.append(si_sdr(clean[0].numpy(), wav[0].numpy()))
    model.train()
    return {"loss": statistics.fmean(losses), "si_sdr_db": statistics.fmean(sdrs)}


def _batches(steps: int, seconds: float, seed: int, sample_rate: int):
    items = speech_noise_batches(2 * steps, seconds, seed, sample_rate=sample_rate)
    return [(torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]])) for a, b in zip(items[::2], items[1::2])]


def run(steps: int = 200, seconds: float = 0.5, seeds=(0, 1), eval_every: int = 50, cfg=None,
        out_path=None, log=print) -> dict:
    """Train every (seed, precision) `steps` steps -> the result dict (saved at every evaluation).

    cfg: the fp32 config (default presets.get("final"); tests pass a tiny one)."""
    from dataclasses import replace

    from mbsnet.model import build_model
    from mbsnet.precision import emulate_cuda_autocast_on
    from mbsnet.step import StepSettings, TrainingDiverged, make_optimizer, split_batch, train_step

    cfg = cfg or presets.get("final")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    held_out = speech_noise_batches(HELD_OUT_N, HELD_OUT_SECONDS, HELD_OUT_SEED,
                                    sample_rate=cfg.sample_rate)
    runs = {}
    for seed in seeds:
        batches = _batches(steps, seconds, seed, cfg.sample_rate)
        for precision in PRECISIONS:
            torch.manual_seed(seed)
            model = build_model(replace(cfg, precision=precision))
            settings = StepSettings(precision=precision)
            runs[f"{precision}_seed{seed}"] = {"model": model, "settings": settings, "batches": batches,
                                               "optimizer": make_optimizer(model, settings),
                                               "rows": [], "evals": []}
    result = {"preset": cfg.name, "parameters": sum(p.numel() for p in runs[next(iter(runs))]["model"]
                                                    .parameters()),
              "steps": steps, "batch": 2, "seconds": seconds, "seeds": list(seeds),
              "eval_every": eval_every, "threads": 1, "step": StepSettings().to_dict(),
              "held_out": {"seed": HELD_OUT_SEED, "n": HELD_OUT_N, "seconds": HELD_OUT_SECONDS},
              "data": "eSpeak NG utterances + generated noise, corpus.make_pair, 0-15 dB SNR",
              "bf16": "CudaAutocastEmulation(bfloat16) on CPU tensors (CUDA autocast's op lists)",
              "runs": {k: {"rows": r["rows"], "evals": r["evals"]} for k, r in runs.items()}}

    def evaluate(step):
        for r in runs.values():
            r["evals"].append({"step": step, **held_out_scores(r["model"], cfg, held_out, r["settings"])})
        if log:
            log(f"eval {step}: " + "  ".join(f"{k} loss {r['evals'][-1]['loss']:.4f} si-sdr "
                                             f"{r['evals'][-1]['si_sdr_db']:.2f}" for k, r in runs.items()))
        if out_path:
            save_result(out_path, result)

    try:
        with emulate_cuda_autocast_on("cpu"):
            evaluate(0)
            for i in range(steps):
                for name, r in runs.items():
                    clean, noisy = r["batches"][i]
                    start = time.process_time()
                    try:
                        out = train_step(r["model"], r["optimizer"], split_batch(clean, noisy, cfg,
                                                                                 r["settings"]),
                                         r["settings"])
                        r["rows"].append({"loss": out["loss"], "grad_norm": out["grad_norm"],
                                          "cpu_s": time.process_time() - start})
                    except TrainingDiverged as err:
                        r["rows"].append({"loss": None, "diverged": str(err),
                                          "cpu_s": time.process_time() - start})
                if log and (i + 1) % 10 == 0:
                    log(f"step {i + 1}: " + "  ".join(f"{k} {r['rows'][-1]['loss']:.4f}"
                                                      for k, r in runs.items()
                                                      if r["rows"][-1]["loss"] is not None))
                if (i + 1) % eval_every == 0 or i + 1 == steps:
                    evaluate(i + 1)
    finally:
        torch.set_num_threads(threads)
    result["summary"] = summarize(result)
    if out_path:
        save_result(out_path, result)
    return result


def summarize(result: dict) -> dict:
    """bf16 - fp32 per seed beside the fp32 seed-to-seed spread: the held-out loss and SI-SDR at
    every evaluation after the first (`evals`) and at the last (`last`), and the training loss
    averaged over the last quarter of the steps; the CPU time ratio."""
    runs, seeds = result["runs"], result["seeds"]

    def compare(value):           # value(run name) -> a number
        diffs = [value(f"bf16_seed{s}") - value(f"fp32_seed{s}") for s in seeds]
        fp32 = [value(f"fp32_seed{s}") for s in seeds]
        return {"bf16_minus_fp32": diffs, "fp32_seed_spread": max(fp32) - min(fp32),
                "within_seed_noise": max(abs(d) for d in diffs) <= max(fp32) - min(fp32)}

    n_evals = len(runs[f"fp32_seed{seeds[0]}"]["evals"])
    evals = [{"step": runs[f"fp32_seed{seeds[0]}"]["evals"][i]["step"],
              **{m: compare(lambda k: runs[k]["evals"][i][m]) for m in ("loss", "si_sdr_db")}}
             for i in range(1, n_evals)]
    out = {"evals": evals, "last": evals[-1] if evals else None}
    quarter = max(1, len(runs[f"fp32_seed{seeds[0]}"]["rows"]) // 4)
    out["train_loss_last_quarter"] = compare(lambda k: statistics.fmean(
        r["loss"] for r in runs[k]["rows"][-quarter:] if r["loss"] is not None))
    med = {p: statistics.median(row["cpu_s"] for s in seeds for row in runs[f"{p}_seed{s}"]["rows"])
           for p in PRECISIONS}
    out["median_cpu_s"] = med
    out["cpu_ratio_bf16_to_fp32"] = med["bf16"] / med["fp32"]
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m mbsnet.experiments.bf16_proxy OUT.json [STEPS] [SECONDS] [SEEDS]")
        return 2
    steps = int(argv[1]) if len(argv) > 1 else 200
    seconds = float(argv[2]) if len(argv) > 2 else 0.5
    seeds = tuple(range(int(argv[3]))) if len(argv) > 3 else (0, 1)
    result = run(steps, seconds, seeds, out_path=argv[0])
    print(result["summary"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
