"""Statistics of the quality proxy: spread over seeds, the pooled seed-to-seed noise, a difference against it."""
from __future__ import annotations

import statistics

import numpy as np

QUALITY_METRICS = ("si_sdr_improvement", "si_sdr", "pesq", "pesq_improvement")


def spread(values) -> dict:
    """mean, std (sample, 0 for one value), min, max, n of a list of numbers."""
    values = [float(v) for v in values if v == v]
    if not values:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"),
                "max": float("nan"), "n": 0}
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def quality_columns(runs: list[dict]) -> dict:
    """Per-metric spread over seeds, and the median step time over all runs' steps
    (the first step of each run, a warm-up, left out)."""
    out = {m: spread(r[m] for r in runs) for m in QUALITY_METRICS}
    times = [t for r in runs for t in r["step_seconds"][1:]] or [t for r in runs for t in r["step_seconds"]]
    out["step_seconds_median"] = statistics.median(times) if times else float("nan")
    out["seeds"] = [r["seed"] for r in runs]
    return out


def pooled_noise(result: dict, metric: str = "si_sdr_improvement") -> float:
    """Seed-to-seed standard deviation of `metric`, pooled over every trained preset
    (sqrt of the mean per-preset variance): one noise level estimated from all the runs."""
    variances = [result["rows"][p]["quality"][metric]["std"] ** 2
                 for p in result["quality_groups"] if "quality" in result["rows"][p]
                 and result["rows"][p]["quality"][metric]["n"] > 1]
    if not variances:
        raise ValueError("pooled_noise needs presets trained with at least 2 seeds")
    return float(np.sqrt(np.mean(variances)))


def compare(result: dict, a: str, b: str, metric: str = "si_sdr_improvement",
            z: float = 2.0) -> dict:
    """Quality of preset `b` minus preset `a` on `metric`, against the noise.

    The difference of two means over n seeds each has standard deviation
    noise * sqrt(2 / n) (noise = pooled_noise); |difference| above z times that is called a
    difference, otherwise "within noise". Returns {"a", "b", "metric", "difference", "threshold",
    "verdict": "b better" | "b worse" | "within noise" | "not measured"} ("not measured" when
    either preset has no quality runs in `result`).
    """
    if "quality" not in result["rows"][a] or "quality" not in result["rows"][b]:
        return {"a": a, "b": b, "metric": metric, "difference": float("nan"),
                "threshold": float("nan"), "verdict": "not measured"}
    qa, qb = result["rows"][a]["quality"][metric], result["rows"][b]["quality"][metric]
    n = min(qa["n"], qb["n"])
    threshold = z * pooled_noise(result, metric) * np.sqrt(2 / n)
    diff = qb["mean"] - qa["mean"]
    verdict = "within noise" if abs(diff) <= threshold else ("b better" if diff > 0 else "b worse")
    return {"a": a, "b": b, "metric": metric, "difference": diff, "threshold": float(threshold),
            "verdict": verdict}
