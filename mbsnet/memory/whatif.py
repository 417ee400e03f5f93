"""What-if answers for any model's training step: peak vs batch, the largest batch for a GPU, what each remedy saves.

Every function takes the arguments of predict_training_peak with `batch` a function of the batch
size (batch(b) -> the batch).

    peak_vs_batch     peak(b) = intercept + slope * b from two batch sizes, checked at a third
    max_batch_for     the largest batch whose predicted peak fits a named GPU (mbsnet.memory.gpus)
    savings           the predicted saving of checkpointing each of the top modules, of bf16
                      autocast, and of half the micro-batch with 2-step accumulation
"""
from __future__ import annotations

from mbsnet.errors import InputError
from mbsnet.memory import gpus
from mbsnet.memory.budget import affine_fit, largest_fitting
from mbsnet.memory.generic import predict_training_peak


def _peak_fn(build, batch, loss, optimizer=None, precision="fp32", **kw):
    cache: dict[int, int] = {}

    def peak(b: int) -> int:
        if b not in cache:
            cache[b] = predict_training_peak(build, batch, loss, optimizer, precision,
                                             batch_size=b, **kw).peak_bytes
        return cache[b]
    return peak


def peak_vs_batch(build, batch, loss, optimizer=None, precision="fp32", sizes=(1, 2),
                  check_batch: int = 3, tolerance: float = 0.01) -> dict:
    """{"intercept", "slope", "check"} of the affine fit from batch sizes `sizes`, checked at
    `check_batch` (AssertionError beyond `tolerance`, relative)."""
    return affine_fit(_peak_fn(build, batch, loss, optimizer, precision), sizes, check_batch,
                      tolerance, "the model")


def max_batch_for(build, batch, loss, optimizer=None, precision="fp32", gpu: str = gpus.DEFAULT_GPU) -> dict:
    """{"gpu", "usable_bytes", "fit", "max_batch"}: the largest batch whose predicted peak is at
    most the GPU's usable memory (the affine guess, then corrected with full predictions)."""
    card = gpus.get(gpu)
    peak = _peak_fn(build, batch, loss, optimizer, precision)
    fit = affine_fit(peak, (1, 2), None, 0.0, "the model")
    guess = max(int((card.usable - fit["intercept"]) // max(fit["slope"], 1)), 0)
    return {"gpu": card.name, "usable_bytes": card.usable, "fit": fit,
            "max_batch": largest_fitting(peak, card.usable, guess)}


def checkpoint_candidates(report, top: int = 3) -> list[str]:
    """The `top` modules that ran (the root excluded) whose saved activations at the peak, their
    own and their submodules', are largest; a module saving exactly what one of its submodules
    saves is left out (the submodule is the smaller change)."""
    totals = {}
    for name in report.called:
        if name:
            totals[name] = sum(n for m, n in report.saved_by_module.items()
                               if m == name or m.startswith(name + "."))
    ranked = sorted((n for n, v in totals.items() if v > 0), key=lambda n: (-totals[n], -n.count(".")))
    chosen = [n for n in ranked if not any(c.startswith(n + ".") and totals[c] == totals[n]
                                           for c in ranked)]
    return chosen[:top]


def savings(build, batch, loss, optimizer=None, precision="fp32", batch_size: int = 8,
            top: int = 3) -> dict:
    """Predicted peak at `batch_size` and the bytes each remedy saves (positive: less memory):
    {"peak_bytes", "checkpoint": {module: saving}, "bf16": saving, "accumulate": {"micro_batch",
    "accumulate", "saving"}}."""
    if batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    base = predict_training_peak(build, batch, loss, optimizer, precision, batch_size=batch_size)
    out = {"batch_size": batch_size, "peak_bytes": base.peak_bytes, "checkpoint": {}}
    for name in checkpoint_candidates(base, top):
        r = predict_training_peak(build, batch, loss, optimizer, precision, batch_size=batch_size,
                                  checkpoint=(name,))
        out["checkpoint"][name] = base.peak_bytes - r.peak_bytes
    if precision != "bf16":
        r = predict_training_peak(build, batch, loss, optimizer, "bf16", batch_size=batch_size)
        out["bf16"] = base.peak_bytes - r.peak_bytes
    if batch_size >= 2 and batch_size % 2 == 0:
        r = predict_training_peak(build, batch, loss, optimizer, precision,
                                  batch_size=batch_size // 2, accumulate=2)
        out["accumulate"] = {"micro_batch": batch_size // 2, "accumulate": 2,
                             "saving": base.peak_bytes - r.peak_bytes}
    return out
