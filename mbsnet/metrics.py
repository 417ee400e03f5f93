"""Speech quality metrics of one (reference, estimate) pair: wideband PESQ, STOI, SI-SDR; means over pairs.

PESQ (ITU-T P.862.2 wideband, `pesq` package) fails on silent or too-short inputs; here it
never raises: `pesq_wb` returns NaN and the reason (`PesqResult`), and `summarize` reports how
many utterances PESQ could not score. Means skip NaNs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
_PESQ_CODES = {-1: "unknown error", -2: "invalid sample rate", -3: "out of memory",
               -4: "out of memory", -5: "out of memory", -6: "buffer too short",
               -7: "no utterances detected (silent reference?)"}
MIN_PESQ_SECONDS = 0.25


@dataclass(frozen=True)
class PesqResult:
    score: float          # NaN when PESQ could not score the pair
    error: str | None     # why not


def _as_1d(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a waveform of shape (s,), got {x.shape}")
    return x


def _pair(ref, est):
    ref, est = _as_1d(ref, "ref"), _as_1d(est, "est")
    if ref.shape != est.shape:
        raise ValueError(f"ref {ref.shape} and est {est.shape} must have the same length")
    return ref, est


def pesq_wb(ref, est, sample_rate: int = SAMPLE_RATE) -> PesqResult:
    """Wideband PESQ of `est` against `ref` (both (s,) at 16 kHz); never raises on bad audio."""
    from pesq import PesqError, pesq

    ref, est = _pair(ref, est)
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"sample_rate: wideband PESQ needs 16000 Hz, got {sample_rate}")
    if len(ref) < MIN_PESQ_SECONDS * sample_rate:
        return PesqResult(float("nan"), f"too short ({len(ref)} samples < {MIN_PESQ_SECONDS} s)")
    if not np.any(ref) or not np.any(est):
        return PesqResult(float("nan"), "silent input")
    try:
        score = pesq(sample_rate, ref, est, "wb", on_error=PesqError.RETURN_VALUES)
    except Exception as exc:  # the C code can still raise for odd inputs
        return PesqResult(float("nan"), f"{type(exc).__name__}: {exc}")
    if score < 0:
        return PesqResult(float("nan"), _PESQ_CODES.get(int(score), f"error code {score}"))
    return PesqResult(float(score), None)


def stoi(ref, est, sample_rate: int = SAMPLE_RATE) -> float:
    """Short-time objective intelligibility (pystoi), NaN for silent or too-short input."""
    from pystoi import stoi as _stoi

    ref, est = _pair(ref, est)
    if len(ref) < 0.4 * sample_rate or not np.any(ref):
        return float("nan")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pystoi warns when few frames are non-silent
        value = float(_stoi(ref, est, sample_rate, extended=False))
    return value if np.isfinite(value) else float("nan")


def si_sdr(ref, est, eps: float = 1e-12) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), means removed. ref, est: (s,)."""
    ref, est = _pair(ref, est)
    ref, est = ref - ref.mean(), est - est.mean()
    energy = float(np.dot(ref, ref))
    if energy < eps:
        return float("nan")
    target = np.dot(est, ref) / energy * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


METRICS = ("pesq", "stoi", "si_sdr")


def score_pair(ref, est, metrics=METRICS) -> dict:
    """{metric: value} for one pair; "pesq_error" is set when PESQ could not score it."""
    out = {}
    if "pesq" in metrics:
        result = pesq_wb(ref, est)
        out["pesq"] = result.score
        if result.error:
            out["pesq_error"] = result.error
    if "stoi" in metrics:
        out["stoi"] = stoi(ref, est)
    if "si_sdr" in metrics:
        out["si_sdr"] = si_sdr(ref, est)
    return out


def summarize(rows: list[dict], metrics=METRICS) -> dict:
    """Means over rows (NaNs skipped), the count scored and the PESQ failures."""
    summary = {"n": len(rows)}
    for m in metrics:
        values = np.array([r[m] for r in rows if m in r], dtype=np.float64)
        finite = values[np.isfinite(values)]
        summary[m] = float(finite.mean()) if len(finite) else float("nan")
        summary[f"{m}_n"] = int(len(finite))
    failures = [r["pesq_error"] for r in rows if "pesq_error" in r]
    if failures:
        summary["pesq_failures"] = len(failures)
    return summary
