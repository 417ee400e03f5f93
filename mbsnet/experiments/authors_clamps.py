"""The authors' first attempt with and without its clamps: a short training run, side by side.

    PYTHONPATH=$PWD python -m mbsnet.experiments.authors_clamps results/authors_clamps.json 90 0.25

Preset `authors_attempt` (chunked scan in chunks of 32 without recomputation, d_state 12,
expand 1, scan_clamps=True) and the same config with scan_clamps=False, built from the same seed
(identical initial parameters), trained with the trainer's step (mbsnet.step.train_step,
StepSettings()) on the same batches, one step of one variant after the other's (alternating which goes first), one thread.
Data: a few synthetic speech+noise pairs, made in memory as the synthetic corpus makes them
(mbsnet.data.corpus: eSpeak NG utterances mixed with generated noise at 0-15 dB SNR, random
level), batch 1, random crops of `seconds`.

Per step: loss, gradient norm (before clipping), whether the loss, the gradients or the
parameters held a NaN/inf, the CPU time (time.process_time), and for each of the five clamps of
chunked_scan (mbsnet.scan.CLAMP_RANGES) the fraction of elements that lay outside its range
before it was applied (counted by chunked_scan's `counter`, in both variants: in the unclamped
one it is where the clamp would have bound). Counting costs time, so the last `timed_steps`
steps of each variant run without the counter: their median CPU time per variant, and the
ratio clamped / unclamped, is what the clamps cost.
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from mbsnet import presets
from mbsnet.results import save_result

NOISE_KINDS = ("white", "pink", "brown", "hum", "fan", "transients")   # no talkers needed


def speech_noise_batches(n: int, seconds: float, seed: int = 0, utterances: int = 6,
                         sample_rate: int = 16_000) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`n` (clean, noisy) batches of shape (1, s), s = seconds * sample_rate: crops of a few eSpeak
    utterances (mbsnet.data.corpus.utterance) mixed with a random noise of NOISE_KINDS at a random
    training SNR (corpus.make_pair). Deterministic for a seed within one process."""
    from mbsnet.data import corpus

    rng = np.random.default_rng(seed)
    sents, variants = corpus.sentences(), corpus.speech_variants()
    pool = [corpus.utterance(rng, sents, variants)[0] for _ in range(utterances)]
    s = int(seconds * sample_rate)
    batches = []
    while len(batches) < n:
        speech = pool[int(rng.integers(len(pool)))]
        if len(speech) < s:
            speech = np.pad(speech, (0, s - len(speech)))
        start = int(rng.integers(len(speech) - s + 1))
        crop = speech[start:start + s]
        if np.sqrt(np.mean(crop ** 2)) < 0.1 * np.sqrt(np.mean(speech ** 2)):
            continue                     # mostly the silence around the utterance: crop again
        kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
        snr = float(corpus.TRAIN_SNRS_DB[int(rng.integers(len(corpus.TRAIN_SNRS_DB)))])
        try:
            clean, noisy = corpus.make_pair(rng, crop, kind, snr, ())
        except ValueError:               # a noise silent over the crop (transients): draw again
            continue
        batches.append((torch.from_numpy(clean)[None], torch.from_numpy(noisy)[None]))
    return batches


def _nonfinite(tensors) -> bool:
    return any(t is not None and not bool(torch.isfinite(t).all()) for t in tensors)


class _Run:
    """One variant: its model, optimizer and the counter its scans fill (None: not counting)."""

    def __init__(self, cfg, settings, seed: int):
        from mbsnet.model import MambaBlock, build_model
        from mbsnet.step import make_optimizer

        torch.manual_seed(seed)
        self.cfg, self.settings = cfg, settings
        self.model = build_model(cfg)
        self.optimizer = make_optimizer(self.model, settings)
        self.blocks = [m for m in self.model.modules() if isinstance(m, MambaBlock)]
        self.base_options = [dict(b.scan_options) for b in self.blocks]
        self.params_finite = True

    def count(self, counter: dict | None) -> None:
        for block, options in zip(self.blocks, self.base_options):
            block.scan_options = {**options, "counter": counter} if counter is not None else options

    def step(self, clean, noisy, counted: bool) -> dict:
        from mbsnet.scan import clamp_fractions
        from mbsnet.step import TrainingDiverged, split_batch, train_step

        counter = {} if counted else None
        self.count(counter)
        micro = split_batch(clean, noisy, self.cfg, self.settings)
        row = {"counted": counted}
        start = time.process_time()
        try:
            out = train_step(self.model, self.optimizer, micro, self.settings)
            row.update(loss=out["loss"], grad_norm=out["grad_norm"], diverged=None)
        except TrainingDiverged as err:      # the step is skipped: no optimizer step
            row.update(loss=None, grad_norm=None, diverged=str(err))
        row["cpu_s"] = time.process_time() - start
        self.count(None)
        params = list(self.model.parameters())
        loss_bad = row["loss"] is None and "loss" in (row["diverged"] or "")
        row["nonfinite"] = {"loss": loss_bad, "grads": _nonfinite(p.grad for p in params),
                            "params": _nonfinite(params)}
        self.params_finite = not row["nonfinite"]["params"]
        row["bind"] = clamp_fractions(counter) if counted else None
        return row


def _summary(rows: list[dict]) -> dict:
    counted = [r for r in rows if r["counted"]]
    losses = [r["loss"] for r in rows if r["loss"] is not None]
    names = list(counted[0]["bind"]) if counted else []
    timed = [r["cpu_s"] for r in rows if not r["counted"]]
    return {"steps": len(rows),
            "nonfinite_steps": {k: sum(r["nonfinite"][k] for r in rows)
                                for k in ("loss", "grads", "params")},
            "diverged_steps": sum(r["diverged"] is not None for r in rows),
            "first_nonfinite_step": next((i for i, r in enumerate(rows)
                                          if any(r["nonfinite"].values())), None),
            "loss_first": losses[0] if losses else None,
            "loss_last10_mean": statistics.fmean(losses[-10:]) if losses else None,
            "bind_mean": {n: statistics.fmean(r["bind"][n] for r in counted) for n in names},
            "bind_max": {n: max(r["bind"][n] for r in counted) for n in names},
            "bind_steps": {n: sum(r["bind"][n] > 0 for r in counted) for n in names},
            "median_cpu_s_counted": statistics.median(r["cpu_s"] for r in counted) if counted else None,
            "median_cpu_s": statistics.median(timed) if timed else None}


def run(steps: int = 90, seconds: float = 0.25, timed_steps: int = 10, seed: int = 0,
        cfg=None, out_path=None, log=print, save_every: int = 10) -> dict:
    """Train both variants `steps` counted + `timed_steps` uncounted steps -> the result dict.

    cfg: the clamped config (default presets.get("authors_attempt"); tests pass a tiny one);
    the other variant is replace(cfg, scan_clamps=False). Saved to `out_path` every
    `save_every` steps when given (a partial run is kept)."""
    from mbsnet.scan import CLAMP_RANGES
    from mbsnet.step import StepSettings

    cfg = cfg or presets.get("authors_attempt")
    settings = StepSettings()
    variants = {"clamps": cfg, "no_clamps": replace(cfg, scan_clamps=False, name=cfg.name + "_noclamps")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batches = speech_noise_batches(steps + timed_steps, seconds, seed, sample_rate=cfg.sample_rate)
        runs = {k: _Run(c, settings, seed) for k, c in variants.items()}
        same_init = all(torch.equal(a, b) for a, b in zip(runs["clamps"].model.parameters(),
                                                          runs["no_clamps"].model.parameters()))
        rows = {k: [] for k in runs}
        result = {"preset": cfg.name, "config": {k: c.__dict__ for k, c in variants.items()},
                  "parameters": sum(p.numel() for p in runs["clamps"].model.parameters()),
                  "same_initial_parameters": same_init, "batch": 1, "seconds": seconds,
                  "steps_counted": steps, "timed_steps": timed_steps, "seed": seed, "threads": 1,
                  "step": settings.to_dict(), "clamp_ranges": CLAMP_RANGES,
                  "data": "eSpeak NG utterances + generated noise (" + ", ".join(NOISE_KINDS)
                          + "), corpus.make_pair, 0-15 dB SNR",
                  "clock": "process CPU time (time.process_time), one thread; cost from the "
                           "uncounted steps", "rows": rows}
        for i, (clean, noisy) in enumerate(batches):
            counted = i < steps
            for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):   # alternate who goes first
                r = runs[name]
                if r.params_finite:       # a variant whose parameters went NaN stops
                    rows[name].append(r.step(clean, noisy, counted))
            if log:
                log(f"step {i}: " + "  ".join(
                    f"{n} loss {rows[n][-1]['loss']} {rows[n][-1]['cpu_s']:.1f} s"
                    for n in runs if rows[n]))
            if out_path and (i + 1) % save_every == 0:
                save_result(out_path, result)
    finally:
        torch.set_num_threads(threads)
    result["summary"] = {k: _summary(v) for k, v in rows.items()}
    med = {k: s["median_cpu_s"] for k, s in result["summary"].items()}
    result["cost_ratio_clamps_to_no_clamps"] = (med["clamps"] / med["no_clamps"]
                                                if med["clamps"] and med["no_clamps"] else None)
    if out_path:
        save_result(out_path, result)
    return result


def format_summary(result: dict) -> str:
    """A few lines: per variant NaN/inf steps, mean / max bind fractions, losses, CPU times."""
    lines = [f"{result['preset']}: {result['parameters']:,} parameters, batch 1 x "
             f"{result['seconds']} s, {result['steps_counted']} counted + "
             f"{result['timed_steps']} timed steps"]
    for name, s in result["summary"].items():
        bind = ", ".join(f"{k} {v:.2e}/{s['bind_max'][k]:.2e}" for k, v in s["bind_mean"].items())
        lines += [f"{name}: nonfinite steps {s['nonfinite_steps']}, diverged {s['diverged_steps']}",
                  f"  loss {s['loss_first']:.4f} -> last-10 mean {s['loss_last10_mean']:.4f}; "
                  f"median CPU {s['median_cpu_s']:.2f} s (counted {s['median_cpu_s_counted']:.2f} s)",
                  f"  bind mean/max: {bind}"]
    ratio = result["cost_ratio_clamps_to_no_clamps"]
    lines.append(f"cost ratio clamps / no clamps: {ratio:.3f}" if ratio else "cost ratio: n/a")
    return "\n".join(lines)


if __name__ == "__main__":
    out = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 90
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.25
    res = run(steps, seconds, out_path=out, log=lambda m: print(m, flush=True))
    print(format_summary(res))
