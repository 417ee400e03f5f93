"""Recording-condition augmentation for corpus v3: simulated room impulse responses, microphone EQ, level, clipping, and rendering one mixture.

Target choice: the model denoises and keeps the room. With a simulated room, the input is
(speech * RIR) + noise and the target is speech * RIR (the reverberant speech), as in the DNS
challenge's noise-suppression track; `AugmentSpec.early_reverb_ms` switches the target to the
direct path + the first milliseconds of the RIR (partial dereverberation) instead.
Microphone colouring (EQ) is applied to speech and noise alike (the microphone hears both) and
is kept in the target; level changes scale input and target together; clipping hits only the
input (the recorder clips, the target stays unclipped). The SNR is set between the speech as it
reaches the input (reverberant, coloured) and the coloured noise. All randomness comes from the
numpy Generator passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AugmentSpec:
    """Probabilities and ranges of the recording-condition augmentation (uniform draws)."""

    rir_prob: float = 0.3
    rt60_s: tuple = (0.2, 0.8)
    drr_db: tuple = (0.0, 10.0)          # direct-to-reverberant ratio
    eq_prob: float = 0.5
    level_dbfs: tuple = (-38.0, -14.0)   # RMS of the noisy input
    clip_prob: float = 0.03
    clip_at: tuple = (0.3, 0.7)          # clipping threshold, a fraction of the input's peak
    early_reverb_ms: float | None = None  # None: target = the reverberant speech


NO_AUGMENT = AugmentSpec(rir_prob=0.0, eq_prob=0.0, clip_prob=0.0)
RIR_MODEL = ("direct path at 0.5-3 ms; 4-10 early reflections at 1-30 ms (2-5 x the tail's envelope); a Gaussian "
             "tail decaying 60 dB in RT60, 2 ms build-up, 1st-order low-pass at 3-7 kHz; reflections + tail "
             "scaled to the DRR; length 1.1 x RT60")


def room_impulse_response(rng, rt60_s: float, drr_db: float, sample_rate: int = SAMPLE_RATE):
    """A synthetic RIR: direct path, a few early reflections, exponentially decaying noise tail.

    The tail's amplitude falls 60 dB in `rt60_s`; reflections and tail together carry
    `drr_db` less energy than the direct path (amplitude 1). -> (h float32 (s,), info).
    """
    if not 0.05 <= rt60_s <= 3.0:
        raise ValueError(f"rt60_s must be in [0.05, 3], got {rt60_s}")
    delay = int(rng.uniform(0.5e-3, 3e-3) * sample_rate)           # 0.2-1 m from the mouth
    n_tail = int(1.1 * rt60_s * sample_rate)
    t = np.arange(n_tail) / sample_rate
    envelope = np.exp(-3 * np.log(10) * t / rt60_s)
    tail = rng.standard_normal(n_tail) * envelope * (1 - np.exp(-t / 2e-3))   # diffuse build-up
    b, a = signal.butter(1, rng.uniform(3000, 7000) / (sample_rate / 2))   # walls absorb highs
    tail = signal.lfilter(b, a, tail)
    for _ in range(int(rng.integers(4, 11))):                      # early reflections, 1-30 ms
        k = int(rng.uniform(1e-3, 30e-3) * sample_rate)
        tail[k] += rng.choice([-1.0, 1.0]) * rng.uniform(2, 5) * envelope[k]
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail ** 2))
    h = np.zeros(delay + n_tail)
    h[delay] = 1.0
    h[delay + 1:] += tail[:-1]
    return h.astype(np.float32), {"rt60_s": round(float(rt60_s), 3), "drr_db": round(float(drr_db), 2),
                                  "delay_ms": round(1000 * delay / sample_rate, 2)}


def random_rir(rng, aug: AugmentSpec, sample_rate: int = SAMPLE_RATE):
    """A room drawn from `aug`'s RT60 and DRR ranges -> (h, info)."""
    return room_impulse_response(rng, rng.uniform(*aug.rt60_s), rng.uniform(*aug.drr_db), sample_rate)


def reverberate(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """x convolved with h, cut to len(x) (the same time axis as x)."""
    return signal.fftconvolve(x, h)[:len(x)].astype(np.float32)


def early_part(h: np.ndarray, ms: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The RIR up to `ms` after its direct path (its largest tap), a short fade at the end."""
    direct = int(np.argmax(np.abs(h)))
    end = min(len(h), direct + int(ms * sample_rate / 1000))
    out = h[:end].copy()
    fade = min(len(out) - direct, int(0.002 * sample_rate))
    if fade > 0:
        out[end - fade:] *= np.linspace(1, 0, fade)
    return out


def _shelf(kind: str, freq: float, gain_db: float, sample_rate: int) -> np.ndarray:
    """RBJ-cookbook low or high shelf (slope 1) as one sos row."""
    amp, w0 = 10 ** (gain_db / 40), 2 * np.pi * freq / sample_rate
    cos, alpha = np.cos(w0), np.sin(w0) / np.sqrt(2)
    s = 1 if kind == "low" else -1
    b = amp * np.array([(amp + 1) - s * (amp - 1) * cos + 2 * np.sqrt(amp) * alpha,
                        s * 2 * ((amp - 1) - s * (amp + 1) * cos),
                        (amp + 1) - s * (amp - 1) * cos - 2 * np.sqrt(amp) * alpha])
    a = np.array([(amp + 1) + s * (amp - 1) * cos + 2 * np.sqrt(amp) * alpha,
                  -s * 2 * ((amp - 1) + s * (amp + 1) * cos),
                  (amp + 1) + s * (amp - 1) * cos - 2 * np.sqrt(amp) * alpha])
    return np.concatenate([b, a]) / a[0]


def _peaking(freq: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ-cookbook peaking EQ as one sos row."""
    amp, w0 = 10 ** (gain_db / 40), 2 * np.pi * freq / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp]
    a = [1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp]
    return np.array(b + a) / a[0]


# (low, high) of every EQ parameter random_eq draws; the response stays within EQ_BOUNDS_DB.
EQ_RANGES = {"low_shelf_hz": (80, 400), "low_shelf_db": (-8, 6), "high_shelf_hz": (2000, 6000),
             "high_shelf_db": (-10, 5), "peak_hz": (200, 6000), "peak_db": (-6, 6), "peak_q": (0.7, 3),
             "highpass_hz": (60, 250)}
EQ_BOUNDS_DB = (-30.0, 23.0)   # sum of the cuts / boosts above (outside a high-pass's stop band)


def random_eq(rng, sample_rate: int = SAMPLE_RATE):
    """A microphone colouring: low and high shelf, 0-2 peaks, a high-pass 30 % of the time.

    -> (sos (k, 6), description list)."""
    r = EQ_RANGES
    desc = [{"type": "low_shelf", "hz": rng.uniform(*r["low_shelf_hz"]), "db": rng.uniform(*r["low_shelf_db"])},
            {"type": "high_shelf", "hz": rng.uniform(*r["high_shelf_hz"]), "db": rng.uniform(*r["high_shelf_db"])}]
    for _ in range(int(rng.integers(0, 3))):
        desc.append({"type": "peak", "hz": float(np.exp(rng.uniform(*np.log(r["peak_hz"])))),
                     "db": rng.uniform(*r["peak_db"]), "q": rng.uniform(*r["peak_q"])})
    rows = [_shelf("low" if d["type"] == "low_shelf" else "high", d["hz"], d["db"], sample_rate)
            if d["type"] != "peak" else _peaking(d["hz"], d["db"], d["q"], sample_rate) for d in desc]
    if rng.random() < 0.3:
        hz = rng.uniform(*r["highpass_hz"])
        desc.append({"type": "highpass", "hz": hz, "order": 2})
        rows.append(signal.butter(2, hz / (sample_rate / 2), "highpass", output="sos")[0])
    desc = [{k: (round(float(v), 2) if not isinstance(v, str) else v) for k, v in d.items()} for d in desc]
    return np.array(rows), desc


def apply_eq(x: np.ndarray, sos: np.ndarray, keep_level: bool = True) -> np.ndarray:
    """Filter x with sos; with keep_level, rescaled to x's RMS (colour only, level unchanged)."""
    y = signal.sosfilt(sos, x.astype(np.float64))
    if keep_level:
        y *= _rms(x) / max(_rms(y), 1e-12)
    return y.astype(np.float32)


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def render(rng, speech: np.ndarray, crop: tuple[int, int], noise_fn, snr_db: float, aug: AugmentSpec,
           sample_rate: int = SAMPLE_RATE) -> dict:
    """One training/test mixture from a whole utterance `speech` (s,).

    crop: (start, length) in samples of the part kept; noise_fn(n) -> unit-RMS noise (n,).
    -> {"clean" (target), "noisy", "speech" (the speech in the input), "noise" (in the input),
    "info" (what was applied)}, all float32 (length,), peaks <= 0.99.
    """
    info = {"rir": None, "eq": None, "clip": None}
    rev = target = np.asarray(speech, np.float32)
    if rng.random() < aug.rir_prob:
        h, info["rir"] = random_rir(rng, aug, sample_rate)
        rev = reverberate(speech, h)
        target = rev if aug.early_reverb_ms is None else reverberate(speech, early_part(h, aug.early_reverb_ms))
    sos = None
    if rng.random() < aug.eq_prob:
        sos, info["eq"] = random_eq(rng, sample_rate)
        scale = _rms(rev) / max(_rms(signal.sosfilt(sos, rev)), 1e-12)   # colour, not level
        same = target is rev
        rev = apply_eq(rev, sos, keep_level=False) * scale
        target = rev if same else apply_eq(target, sos, keep_level=False) * scale
    start, length = crop
    rev, target = rev[start:start + length], target[start:start + length]
    noise = np.asarray(noise_fn(length), np.float64)
    if sos is not None:
        noise = signal.sosfilt(sos, noise)
    p_speech, p_noise = _rms(rev) ** 2, _rms(noise) ** 2
    if p_speech == 0 or p_noise == 0:
        raise ValueError("render: speech or noise is silent; the SNR is undefined")
    noise *= np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    noisy = rev + noise
    if rng.random() < aug.clip_prob:
        fraction = rng.uniform(*aug.clip_at)
        limit = fraction * np.abs(noisy).max()
        info["clip"] = {"at_fraction_of_peak": round(float(fraction), 3),
                        "clipped_frac": round(float(np.mean(np.abs(noisy) >= limit)), 5)}
        noisy = np.clip(noisy, -limit, limit)
    gain = 10 ** (rng.uniform(*aug.level_dbfs) / 20) / max(_rms(noisy), 1e-12)
    gain = min(gain, 0.99 / max(float(np.abs(noisy).max()), float(np.abs(target).max()), 1e-12))
    info["level_dbfs"] = round(float(20 * np.log10(max(_rms(noisy) * gain, 1e-12))), 2)
    return {"clean": (target * gain).astype(np.float32), "noisy": (noisy * gain).astype(np.float32),
            "speech": (rev * gain).astype(np.float32), "noise": (noise * gain).astype(np.float32),
            "info": info}


def remix_at_snr(clean: np.ndarray, noisy: np.ndarray, snr_db: float, min_rms: float = 1e-4) -> np.ndarray:
    """The same pair at another SNR: clean + g * (noisy - clean), g setting clean / noise power to
    `snr_db` over these samples. clean, noisy (s,) -> noisy' (s,) float32. Left as it is (a copy) when
    the clean part or the noise part is below `min_rms` (a silent crop has no SNR to set).

    Training-time augmentation of a stored pair (mbsnet.train.make_batch): the noise is what the
    input adds to the target, so a clipped input's clipping error scales with it.
    """
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(noisy, dtype=np.float64) - clean
    p_clean, p_noise = float(np.mean(clean ** 2)), float(np.mean(noise ** 2))
    if p_clean < min_rms ** 2 or p_noise < min_rms ** 2:
        return np.array(noisy, dtype=np.float32)
    gain = np.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))
    return (clean + gain * noise).astype(np.float32)
