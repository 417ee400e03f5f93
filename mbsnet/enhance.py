"""Enhance a wav file with a trained checkpoint: python -m mbsnet enhance IN.wav OUT.wav

Handling of awkward input (each one tested):
- any sample rate: resampled to the model's 16 kHz, and the output back to the input's rate;
- stereo / multichannel: mixed down to mono (and the command says so);
- very short clips (one frame, 10 ms): padded internally, output has the input's length;
- silence: passes through as (near) silence;
- long files: processed in chunks of `chunk_seconds` with cross-faded overlap-add, so memory
  stays bounded whatever the length;
- unreadable audio or a corrupt checkpoint: a clear error, exit status 2.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from mbsnet.checkpoint import load_model
from mbsnet.data.audio import istft, load_wav, resample, save_wav, stft
from mbsnet.errors import InputError

CHUNK_SECONDS = 8.0
OVERLAP_SECONDS = 0.5
PROGRESS_SECONDS = 30.0      # enhance_long shows a progress bar from this length on
KEEP = "keep"                # enhance_file(mask_floor_db=KEEP): the checkpoint's own setting
PRECISIONS = ("fp32", "bf16")  # set_precision: the matmuls in float32, or in bfloat16 under autocast


def set_scan_method(model, method: str):
    """Run every Mamba block of `model` with scan `method` (one of SCAN_METHODS; all compute the
    same function) -> model. For inference only: the checkpoint's config keeps its own method."""
    from mbsnet.config import SCAN_METHODS
    from mbsnet.model import MambaBlock

    if method not in SCAN_METHODS:
        raise ValueError(f"unknown scan method {method!r}; choose one of {SCAN_METHODS}")
    for block in model.modules():
        if isinstance(block, MambaBlock):
            if block.scan_options and method != block.scan_method:
                raise ValueError(f"this model's scan has options {block.scan_options} "
                                 f"(the authors' clamps): only {block.scan_method!r} computes them")
            block.scan_method = method
    return model


def set_mask_floor(model, floor_db):
    """Hold `model`'s magnitude mask at or above `floor_db` (dB below 0; None: as trained) -> model.
    An inference setting (MBSNetConfig.mask_floor_db): the weights stay as they are."""
    from dataclasses import replace

    model.cfg = replace(model.cfg, mask_floor_db=floor_db)      # validated there
    return model


def set_precision(model, precision: str):
    """Run `model`'s inference in `precision` (PRECISIONS) -> model. "bf16": under torch.autocast with
    bfloat16, so matmuls and convolutions run in bf16 (fast on CPUs with AVX-512 BF16 or AMX, slow
    elsewhere); the scan and the STFT stay float32. An inference setting: the weights stay as they are."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    model.inference_precision = precision
    return model


@torch.no_grad()
def enhance_waveform(model, wav) -> torch.Tensor:
    """Enhance a waveform with `model`: STFT -> model -> iSTFT, same length as the input.

    wav: (s,) or (b, s), numpy or torch, at the model's sample rate -> float32 torch, same shape.
    """
    cfg = model.cfg
    x = torch.as_tensor(np.asarray(wav) if not isinstance(wav, torch.Tensor) else wav,
                        dtype=torch.float32)
    squeeze = x.dim() == 1
    if squeeze:
        x = x.unsqueeze(0)
    if x.dim() != 2:
        raise ValueError(f"expected a waveform of shape (s,) or (b, s), got {tuple(x.shape)}")
    device = next(model.parameters()).device
    length = x.shape[-1]
    if length < cfg.n_fft:  # center=True reflect-pads n_fft // 2: pad short clips with silence
        x = torch.nn.functional.pad(x, (0, cfg.n_fft - length))
    bf16 = getattr(model, "inference_precision", "fp32") == "bf16"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        spectrum = model(stft(x.to(device), cfg))
    out = istft(spectrum, x.shape[-1], cfg)[..., :length].float().cpu()
    return out[0] if squeeze else out


def enhance_long(model, wav, chunk_seconds: float = CHUNK_SECONDS,
                 overlap_seconds: float = OVERLAP_SECONDS, progress=None) -> np.ndarray:
    """Enhance a waveform (s,) of any length in overlapping chunks -> float32 (s,).

    Chunks of `chunk_seconds` overlap by `overlap_seconds`; in each overlap the outputs are
    cross-faded with linear ramps that sum to one. Peak memory is that of one chunk (plus the
    input and output waveforms, 4 bytes a sample each). A waveform no longer than one chunk is
    processed whole. progress: a tqdm bar over the chunks (None: only for inputs of at least
    PROGRESS_SECONDS).
    """
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"wav must be mono (s,), got shape {wav.shape}")
    if len(wav) == 0:
        raise ValueError("wav has no samples")
    rate = model.cfg.sample_rate
    chunk, overlap = int(chunk_seconds * rate), int(overlap_seconds * rate)
    if not 0 <= overlap < chunk:
        raise ValueError(f"need 0 <= overlap_seconds < chunk_seconds, got {overlap_seconds}, {chunk_seconds}")
    if len(wav) <= chunk:
        return enhance_waveform(model, wav).numpy()
    from tqdm.auto import tqdm

    out = np.zeros(len(wav), dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1]
    starts = range(0, len(wav) - overlap, chunk - overlap)
    show = len(wav) >= PROGRESS_SECONDS * rate if progress is None else progress
    for start in tqdm(starts, desc="enhance", unit="chunk", disable=not show):
        piece = enhance_waveform(model, wav[start:start + chunk]).numpy()
        if start > 0:
            piece[:overlap] *= ramp
        if start + chunk < len(wav):
            piece[-overlap:] *= ramp[::-1]
        out[start:start + len(piece)] += piece
    return out


def enhance_file(src, dst, checkpoint=None, model=None, chunk_seconds: float = CHUNK_SECONDS,
                 verbose: bool = True, progress=None, scan_method=None, mask_floor_db=KEEP,
                 precision: str | None = None) -> dict:
    """Enhance wav `src` into `dst` (same sample rate as `src`) -> info about what was done.

    progress: see enhance_long. scan_method: run the model's scans with this method (all compute
    the same function; default: the checkpoint's). mask_floor_db: the mask's floor (None: none;
    default KEEP: the checkpoint's). precision: see set_precision (default: as set on the model, else fp32).
    """
    model = model or load_model(checkpoint)
    if scan_method:
        set_scan_method(model, scan_method)
    if mask_floor_db != KEEP:
        set_mask_floor(model, mask_floor_db)
    if precision:
        set_precision(model, precision)
    rate = model.cfg.sample_rate
    wav, info = load_wav(src, rate, mono=True)
    if len(wav) == 0:
        raise InputError(f"{src} contains no samples")
    notes = []
    if info["mixed_down"]:
        notes.append(f"mixed {info['channels']} channels down to mono")
    if info["resampled"]:
        notes.append(f"resampled {info['original_rate']} Hz -> {rate} Hz for the model and back")
    if len(wav) < model.cfg.n_fft:
        notes.append(f"short input ({len(wav)} samples) padded internally to {model.cfg.n_fft}")
    if not np.any(wav):
        notes.append("input is silent; output is silent")
    enhanced = enhance_long(model, wav, chunk_seconds, progress=progress)
    if info["resampled"]:
        enhanced = resample(enhanced, rate, info["original_rate"])
        n_out = int(round(len(wav) * info["original_rate"] / rate))
        enhanced = np.pad(enhanced, (0, max(0, n_out - len(enhanced))))[:n_out]
    peak = float(np.abs(enhanced).max()) if len(enhanced) else 0.0
    if peak > 1.0:  # 16-bit output: scale instead of clipping
        enhanced = enhanced / peak
        notes.append(f"output peak {peak:.2f} scaled to 1.0 to avoid clipping")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    save_wav(dst, enhanced, info["original_rate"])
    if verbose:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    return {**info, "notes": notes, "samples": len(enhanced)}
