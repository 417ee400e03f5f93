"""Audio I/O and the STFT front end (16 kHz, n_fft 512, hop 128, Hann, center=True)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mbsnet.config import MBSNetConfig
from mbsnet.errors import InputError

if TYPE_CHECKING:
    import torch

_DEFAULT = MBSNetConfig()


def _window(cfg: MBSNetConfig, device=None):
    import torch  # here, not at the top: corpus workers read and write audio without torch

    return torch.hann_window(cfg.n_fft, device=device)


def stft(wav: torch.Tensor, cfg: MBSNetConfig = _DEFAULT) -> torch.Tensor:
    """Waveform (b, s) or (s,) -> complex STFT (b, f, t) or (f, t), f = n_fft // 2 + 1."""
    import torch

    return torch.stft(wav, cfg.n_fft, cfg.hop_length, window=_window(cfg, wav.device),
                      center=True, return_complex=True)


def istft(spec: torch.Tensor, length: int, cfg: MBSNetConfig = _DEFAULT) -> torch.Tensor:
    """Complex STFT (b, f, t) -> waveform (b, length)."""
    import torch

    return torch.istft(spec, cfg.n_fft, cfg.hop_length, window=_window(cfg, spec.device),
                       center=True, length=length)


def load_wav(path, sample_rate: int = 16_000, mono: bool = True):
    """Read a wav file as float32 numpy at `sample_rate`, returns (audio (s,) or (ch, s), info).

    `info` says what was done (original rate, channels, whether resampled or mixed down).
    InputError if the file is missing or not readable audio.
    """
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (s, ch)
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise InputError(f"cannot read audio file {path}: {exc}") from exc
    info = {"original_rate": rate, "channels": data.shape[1], "mixed_down": False, "resampled": False}
    audio = data.T                                                           # (ch, s)
    if mono and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True)
        info["mixed_down"] = True
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
        info["resampled"] = True
    audio = audio[0] if mono else audio
    return np.ascontiguousarray(audio, dtype=np.float32), info


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """High-quality resampling along the last axis (soxr)."""
    import soxr

    if orig_rate == target_rate:
        return audio
    if audio.ndim == 1:
        return soxr.resample(audio, orig_rate, target_rate).astype(np.float32)
    return np.stack([soxr.resample(ch, orig_rate, target_rate) for ch in audio]).astype(np.float32)


def save_wav(path, audio, sample_rate: int = 16_000) -> None:
    import soundfile as sf

    audio = audio.detach().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)  # a torch tensor
    sf.write(str(path), audio.astype(np.float32), sample_rate, subtype="PCM_16")
