"""Synthetic noises for the offline corpus, and mixing at a given SNR.

Every generator takes (rng, n_samples, sample_rate) and returns float32 noise (s,) with unit RMS,
so the SNR alone sets its level. `rng` is a numpy Generator: same seed, same noise.
Babble needs speech: `babble` mixes talkers taken from a pool of waveforms passed in.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

NOISE_TYPES = ("white", "pink", "brown", "babble", "hum", "fan", "transients", "cafe")


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return (x / max(rms, 1e-12)).astype(np.float32)


def _shaped(rng, n, exponent):
    """Gaussian noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    spectrum *= freqs ** (-exponent / 2)
    spectrum[0] = 0.0  # no DC offset
    return _unit_rms(np.fft.irfft(spectrum, n))


def white(rng, n, sample_rate=16_000):
    return _shaped(rng, n, 0.0)


def pink(rng, n, sample_rate=16_000):
    return _shaped(rng, n, 1.0)


def brown(rng, n, sample_rate=16_000):
    return _shaped(rng, n, 2.0)


def hum(rng, n, sample_rate=16_000):
    """Mains hum: 50 or 60 Hz and its harmonics (odd ones stronger), slight drift, a little hiss."""
    t = np.arange(n) / sample_rate
    f0 = rng.choice([50.0, 60.0]) * (1 + rng.uniform(-0.005, 0.005))
    out = np.zeros(n)
    for k in range(1, 16):
        level = rng.uniform(0.3, 1.0) / k ** (0.7 if k % 2 else 1.3)
        out += level * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    out = _unit_rms(out) + 0.05 * white(rng, n)
    return _unit_rms(out)


def fan(rng, n, sample_rate=16_000):
    """Fan / engine: low-passed broadband noise with a slow wobble, plus blade-pass tones."""
    t = np.arange(n) / sample_rate
    cutoff = rng.uniform(300, 2500)
    b, a = signal.butter(2, cutoff / (sample_rate / 2))
    broadband = signal.lfilter(b, a, rng.standard_normal(n))
    wobble = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t + rng.uniform(0, 2 * np.pi))
    blade = rng.uniform(80, 400)
    tones = sum(np.sin(2 * np.pi * k * blade * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
    return _unit_rms(_unit_rms(broadband * wobble) + rng.uniform(0.2, 0.8) * _unit_rms(tones))


def transients(rng, n, sample_rate=16_000):
    """Knocks, clicks and door slams: decaying filtered bursts at random times over faint noise."""
    out = 0.02 * rng.standard_normal(n)
    n_events = max(1, int(rng.poisson(3 * n / sample_rate)))
    for _ in range(n_events):
        length = int(sample_rate * rng.uniform(0.005, 0.25))
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / rng.uniform(3, 8)))
        low = rng.uniform(100, 2000)
        b, a = signal.butter(2, [low / (sample_rate / 2), min(0.95, 4 * low / (sample_rate / 2))],
                             btype="band")
        burst = signal.lfilter(b, a, burst) * rng.uniform(0.3, 1.0)
        start = int(rng.integers(0, max(1, n - length)))
        out[start:start + length] += burst[: n - start]
    return _unit_rms(out)


def babble(rng, n, sample_rate=16_000, talkers=()):
    """Several overlapping talkers from the pool `talkers` (list of (s,) waveforms), looped."""
    if len(talkers) == 0:
        raise ValueError("babble needs a non-empty pool of talker waveforms (talkers=...)")
    out = np.zeros(n)
    for _ in range(int(rng.integers(4, 9))):
        voice = talkers[int(rng.integers(len(talkers)))]
        reps = int(np.ceil((n + len(voice)) / len(voice)))
        looped = np.tile(voice, reps)
        start = int(rng.integers(len(voice)))
        out += rng.uniform(0.5, 1.0) * _unit_rms(looped[start:start + n])
    return _unit_rms(out)


def cafe(rng, n, sample_rate=16_000, talkers=()):
    """Babble + clatter + a little pink noise."""
    return _unit_rms(babble(rng, n, sample_rate, talkers) + 0.5 * transients(rng, n, sample_rate)
                     + 0.3 * pink(rng, n, sample_rate))


_GENERATORS = {"white": white, "pink": pink, "brown": brown, "hum": hum, "fan": fan,
               "transients": transients, "babble": babble, "cafe": cafe}


def make_noise(kind: str, rng, n: int, sample_rate: int = 16_000, talkers=()) -> np.ndarray:
    """Noise of type `kind` (one of NOISE_TYPES): float32 (n,), unit RMS."""
    if kind not in _GENERATORS:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {NOISE_TYPES}")
    if n < 1:
        raise ValueError(f"n must be >= 1 sample, got {n}")
    if kind in ("babble", "cafe"):
        return _GENERATORS[kind](rng, n, sample_rate, talkers=talkers)
    return _GENERATORS[kind](rng, n, sample_rate)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """clean + noise scaled so that 10 log10(P_clean / P_noise) = snr_db. Shapes (s,)."""
    if clean.shape != noise.shape:
        raise ValueError(f"clean {clean.shape} and noise {noise.shape} must have the same shape")
    p_clean = float(np.mean(np.square(clean, dtype=np.float64)))
    p_noise = float(np.mean(np.square(noise, dtype=np.float64)))
    if p_clean == 0 or p_noise == 0:
        raise ValueError("mix_at_snr: clean or noise is silent; the SNR is undefined")
    gain = np.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))
    return (clean + gain * noise).astype(np.float32)
