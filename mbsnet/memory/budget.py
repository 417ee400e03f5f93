"""Budgets: whether a batch fits a GPU (named, or any capacity in bytes), the peak as an affine function
of batch size, the largest batch.

Every function takes `step` (mbsnet.step.StepSettings; None: the original's step with `optimizer`),
passed to predict_peak."""
from __future__ import annotations

import math

from mbsnet.config import MBSNetConfig
from mbsnet.memory import gpus
from mbsnet.memory.predict import cached_predict_peak


def fits_bytes(cfg: MBSNetConfig, batch_size: int, usable_bytes: int, seconds: float = 2.0,
               optimizer: str = "adam", step=None) -> bool:
    """Whether the predicted peak is at most `usable_bytes`."""
    return cached_predict_peak(cfg, batch_size, seconds, optimizer, step).peak_bytes <= usable_bytes


def fits(cfg: MBSNetConfig, batch_size: int, gpu: str = gpus.DEFAULT_GPU, seconds: float = 2.0,
         optimizer: str = "adam", step=None) -> bool:
    """Whether the predicted peak fits the GPU's usable memory (capacity - CUDA context)."""
    return fits_bytes(cfg, batch_size, gpus.get(gpu).usable, seconds, optimizer, step)


def affine_in_batch(cfg: MBSNetConfig, seconds: float = 2.0, optimizer: str = "adam",
                    check_batch: int | None = 3, tolerance: float = 0.005, step=None) -> dict:
    """Fit peak(b) = intercept + slope * b from b = 1 and 2; check it at `check_batch`.

    Raises AssertionError if the check point is off by more than `tolerance` (relative).
    """
    def peak(b):
        return cached_predict_peak(cfg, b, seconds, optimizer, step).peak_bytes

    return affine_fit(peak, (1, 2), check_batch, tolerance, cfg.name)


def affine_fit(peak, sizes=(1, 2), check_batch: int | None = 3, tolerance: float = 0.005,
               name: str = "the model") -> dict:
    """Fit peak(b) = intercept + slope * b from peak(sizes[0]) and peak(sizes[1]) (peak: batch
    size -> bytes); check it at `check_batch`: AssertionError beyond `tolerance` (relative)."""
    b1, b2 = sizes
    p1, p2 = peak(b1), peak(b2)
    slope = (p2 - p1) / (b2 - b1)
    fit = {"intercept": p1 - slope * b1, "slope": slope}
    if b2 - b1 == 1:
        fit = {"intercept": p1 - (p2 - p1) * b1, "slope": p2 - p1}     # exact integers
    if check_batch:
        actual = peak(check_batch)
        affine = fit["intercept"] + fit["slope"] * check_batch
        fit["check"] = {"batch_size": check_batch, "predicted": actual, "affine": affine,
                        "relative_error": abs(affine - actual) / actual}
        if fit["check"]["relative_error"] > tolerance:
            raise AssertionError(f"peak is not affine in batch size for {name}: {fit['check']}")
    return fit


def max_batch_for_bytes(cfg: MBSNetConfig, usable_bytes: int, seconds: float = 2.0,
                        optimizer: str = "adam", verify: bool = True, step=None) -> dict:
    """Largest batch whose predicted peak is at most `usable_bytes`.

    usable_bytes: what PyTorch may allocate, e.g. gpus.usable_bytes(a device's total memory).
    The affine model in batch size (from batch 1 and 2) gives the answer without `verify`. The
    peak is only nearly affine (allocations are rounded up one by one; at thousands of sequences
    the extrapolation is ~0.1% low, a few batches too many), so with `verify` the answer m is
    corrected with full predictions until m fits and m + 1 does not (usually just those two).
    Returns {"usable_bytes", "fit", "max_batch": m (0 if even batch 1 does not fit)}, plus
    "verified_at" with `verify`.
    """
    fit = affine_in_batch(cfg, seconds, optimizer, check_batch=None, step=step)
    m = max(int((usable_bytes - fit["intercept"]) // fit["slope"]), 0)
    if verify:
        m = largest_fitting(lambda b: cached_predict_peak(cfg, b, seconds, optimizer, step).peak_bytes,
                            usable_bytes, m)
    result = {"usable_bytes": usable_bytes, "fit": fit, "max_batch": m}
    if verify:
        result["verified_at"] = [b for b in (m, m + 1) if b >= 1]
    return result


def largest_fitting(peak, usable_bytes: int, guess: int) -> int:
    """The largest m with peak(m) <= usable_bytes (0 if none; peak: batch size -> bytes), starting
    from `guess`: secant steps along the chord from batch 1, then single steps to the boundary."""
    m = guess
    for _ in range(4):
        if m <= 1:
            break
        chord = (peak(m) - peak(1)) / (m - 1)
        jump = math.floor((usable_bytes - peak(m)) / chord)
        if jump == 0:
            break
        m = max(m + jump, 1)
    while m >= 1 and peak(m) > usable_bytes:
        m -= 1
    while peak(m + 1) <= usable_bytes:
        m += 1
    return m


def max_batch(cfg: MBSNetConfig, gpu: str = gpus.DEFAULT_GPU, seconds: float = 2.0,
              optimizer: str = "adam", verify: bool = True, step=None) -> dict:
    """Largest batch whose predicted peak fits the named `gpu` (max_batch_for_bytes of its usable memory).

    Returns {"gpu", "usable_bytes", "fit", "max_batch"} (and "verified_at" with `verify`).
    """
    return {"gpu": gpu, **max_batch_for_bytes(cfg, gpus.get(gpu).usable, seconds, optimizer, verify, step)}
