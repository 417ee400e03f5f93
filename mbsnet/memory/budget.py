"""Budgets: whether a batch fits a named GPU, the peak as an affine function of batch size, the largest batch."""
from __future__ import annotations

from mbsnet.config import MBSNetConfig
from mbsnet.memory import gpus
from mbsnet.memory.predict import cached_predict_peak


def fits(cfg: MBSNetConfig, batch_size: int, gpu: str = gpus.DEFAULT_GPU, seconds: float = 2.0,
         optimizer: str = "adam") -> bool:
    """Whether the predicted peak fits the GPU's usable memory (capacity - CUDA context)."""
    return cached_predict_peak(cfg, batch_size, seconds, optimizer).peak_bytes <= gpus.get(gpu).usable


def affine_in_batch(cfg: MBSNetConfig, seconds: float = 2.0, optimizer: str = "adam",
                    check_batch: int | None = 3, tolerance: float = 0.005) -> dict:
    """Fit peak(b) = intercept + slope * b from b = 1 and 2; check it at `check_batch`.

    Raises AssertionError if the check point is off by more than `tolerance` (relative).
    """
    p1 = cached_predict_peak(cfg, 1, seconds, optimizer).peak_bytes
    p2 = cached_predict_peak(cfg, 2, seconds, optimizer).peak_bytes
    fit = {"intercept": 2 * p1 - p2, "slope": p2 - p1}
    if check_batch:
        actual = cached_predict_peak(cfg, check_batch, seconds, optimizer).peak_bytes
        affine = fit["intercept"] + fit["slope"] * check_batch
        fit["check"] = {"batch_size": check_batch, "predicted": actual, "affine": affine,
                        "relative_error": abs(affine - actual) / actual}
        if fit["check"]["relative_error"] > tolerance:
            raise AssertionError(f"peak is not affine in batch size for {cfg.name}: "
                                 f"{fit['check']}")
    return fit


def max_batch(cfg: MBSNetConfig, gpu: str = gpus.DEFAULT_GPU, seconds: float = 2.0,
              optimizer: str = "adam", verify: bool = True) -> dict:
    """Largest batch whose predicted peak fits `gpu`, from the affine model in batch size.

    With `verify`, the answer m is confirmed by full predictions at m and m + 1.
    Returns {"max_batch": m (0 if even batch 1 does not fit), "gpu", "usable_bytes", "fit"}.
    """
    budget = gpus.get(gpu).usable
    fit = affine_in_batch(cfg, seconds, optimizer, check_batch=None)
    m = max(int((budget - fit["intercept"]) // fit["slope"]), 0)
    result = {"gpu": gpu, "usable_bytes": budget, "fit": fit, "max_batch": m}
    if verify:
        if m >= 1 and not fits(cfg, m, gpu, seconds, optimizer):
            raise AssertionError(f"affine model says batch {m} fits {gpu}, prediction disagrees")
        if fits(cfg, m + 1, gpu, seconds, optimizer):
            raise AssertionError(f"affine model says batch {m + 1} does not fit {gpu}, "
                                 f"prediction disagrees")
        result["verified_at"] = [b for b in (m, m + 1) if b >= 1]
    return result
