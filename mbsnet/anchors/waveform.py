"""The anchors' waveform plumbing: input checks, 16 <-> 48 kHz resampling (soxr), constant-delay removal."""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000


def as_waveform(noisy) -> np.ndarray:
    """The input as contiguous float32 (t,); ValueError for anything but one channel."""
    x = np.ascontiguousarray(noisy, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a mono waveform of shape (t,) at 16 kHz, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("the waveform contains NaN or infinite samples")
    return x


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """soxr resampling of (t,) with its filter delay removed (soxr.resample is zero-phase aligned)."""
    import soxr

    if rate_in == rate_out:
        return x
    return np.ascontiguousarray(soxr.resample(x, rate_in, rate_out, quality="HQ"), dtype=np.float32)


def advance(y: np.ndarray, delay: int, length: int) -> np.ndarray:
    """y[delay : delay + length] as float32 (length,), zero-padded at the end if y is short.

    Removes a constant processing delay of `delay` samples; callers append at least `delay`
    zeros to the input first, so the padding is only ever reached on malformed output.
    """
    out = np.zeros(length, dtype=np.float32)
    piece = y[delay:delay + length]
    out[:len(piece)] = piece
    return out


def at_native_rate(noisy, enhance_native, native_rate: int, delay_native: int) -> np.ndarray:
    """Run an enhancer that works at `native_rate` on 16 kHz audio: (t,) -> (t,), delay removed.

    Resamples up, enhances (`enhance_native((t',)) -> (t',)`), advances by the enhancer's
    `delay_native` samples, resamples back and keeps the input's length.
    """
    x = as_waveform(noisy)
    if len(x) == 0:
        return x.copy()
    x_native = resample(x, SAMPLE_RATE, native_rate)
    y_native = advance(enhance_native(x_native), delay_native, len(x_native))
    return advance(resample(y_native, native_rate, SAMPLE_RATE), 0, len(x))
