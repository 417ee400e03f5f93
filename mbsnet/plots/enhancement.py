"""Figures for data, training and evaluation: spectrograms, training curves, metric bars."""
from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import numpy as np
import torch

from mbsnet.data.audio import stft
from mbsnet.plots import style_axes

SYSTEM_COLORS = {"clean": "#2c3e50", "noisy": "#95a5a6", "wiener": "#e67e22", "model": "#1e8449"}


def spectrogram(ax, wav, title: str = "", sample_rate: int = 16_000, vmin: float = -90.0):
    """Log-power spectrogram (dB re full scale) of a waveform (s,) on `ax`, time in s, frequency in kHz."""

    spec = stft(torch.as_tensor(np.asarray(wav, dtype=np.float32))).abs().numpy()   # (f, t)
    db = 20 * np.log10(spec / 256 + 1e-9)                 # 256 = Hann window sum / 1: 0 dB ~ full scale
    seconds = len(wav) / sample_rate
    image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=0,
                      extent=(0, seconds, 0, sample_rate / 2000))
    style_axes(ax, "time (s)", "frequency (kHz)", title)
    ax.grid(False)
    return image


def spectrogram_grid(named_wavs: dict, sample_rate: int = 16_000, ncols: int = 1, height: float = 2.0,
                     width: float = 5.5, dpi: int = 60):
    """One spectrogram per (name -> waveform) entry, stacked, with a shared colour bar.

    A low default dpi keeps notebooks small (spectrogram images compress poorly).
    """
    n = len(named_wavs)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols + 1, height * nrows), squeeze=False,
                             constrained_layout=True, dpi=dpi)
    image = None
    for ax, (name, wav) in zip(axes.flat, named_wavs.items()):
        image = spectrogram(ax, wav, name, sample_rate)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.colorbar(image, ax=axes, label="level (dB)")
    return fig


def read_train_log(path) -> dict:
    """train_log.csv -> {column: np.ndarray} (empty loss terms become NaN)."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows])
            for k in rows[0]} if rows else {}


def training_curve(log: dict, evals: list | None = None, smooth: int = 25):
    """Loss per step (raw and moving average) and, if given, the periodic SI-SDR / PESQ evaluations.

    A log with a `run_phase` column (a warm-started continuation, see checkpoint.export_run) gets
    its moving average per phase and a dashed line where each later phase starts."""
    panels = 2 if evals else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 3.4), squeeze=False, constrained_layout=True)
    phase = log.get("run_phase", np.ones_like(log["step"]))
    starts = [log["step"][np.argmax(phase == p)] for p in np.unique(phase)]
    ax = axes[0, 0]
    ax.plot(log["step"], log["loss"], color="0.75", lw=0.8, label="per step")
    kernel = np.ones(smooth) / smooth
    for i, p in enumerate(np.unique(phase)):
        steps, loss = log["step"][phase == p], log["loss"][phase == p]
        if len(loss) >= smooth:
            ax.plot(steps[smooth - 1:], np.convolve(loss, kernel, "valid"), color="#1e8449",
                    label=f"mean of {smooth}" if i == 0 else None)
    style_axes(ax, "step", "training loss", "loss")
    if evals:
        ax = axes[0, 1]
        steps = [e["step"] for e in evals]
        ax.plot(steps, [e["eval"]["si_sdr_improvement"] for e in evals], "o-", color="#2874a6",
                label="SI-SDR improvement (dB)")
        ax.plot(steps, [e["eval"]["pesq_improvement"] for e in evals], "s-", color="#c0392b",
                label="PESQ improvement")
        ax.axhline(0, color="0.4", lw=0.8)
        style_axes(ax, "step", "improvement over noisy input", "held-out evaluation")
    for ax in axes[0]:
        for i, start in enumerate(starts[1:]):
            ax.axvline(start - 0.5, color="0.3", ls="--", lw=0.9,
                       label="warm restart (new phase)" if i == 0 else None)
        ax.legend(fontsize=8)
    return fig


def loss_comparison(logs: dict, smooth: int = 50, ax=None):
    """Moving-average training loss of several runs on one axis: {label: read_train_log(...)}.

    Averaged within each run phase (a warm restart's loss is on other crops); a dashed line where
    a later phase starts."""
    ax = ax or plt.subplots(figsize=(7, 3.4), constrained_layout=True)[1]
    kernel = np.ones(smooth) / smooth
    for (label, log), color in zip(logs.items(), ("#c0392b", "#1e8449", "#2874a6", "#7d3c98")):
        phase = log.get("run_phase", np.ones_like(log["step"]))
        for i, p in enumerate(np.unique(phase)):
            steps, loss = log["step"][phase == p], log["loss"][phase == p]
            if len(loss) >= smooth:
                ax.plot(steps[smooth - 1:], np.convolve(loss, kernel, "valid"), color=color,
                        label=label if i == 0 else None)
            if i > 0:
                ax.axvline(steps[0] - 0.5, color="0.3", ls="--", lw=0.9)
    style_axes(ax, "step", f"training loss (mean of {smooth} steps)", "the same recipe, two models")
    ax.legend(fontsize=8)
    return ax


def metric_bars(summaries: dict, metrics=("pesq", "stoi", "si_sdr")):
    """Grouped bars: for each test set (key of `summaries`) the mean metric of each system."""
    labels = {"pesq": "PESQ (wideband)", "stoi": "STOI", "si_sdr": "SI-SDR (dB)"}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), constrained_layout=True)
    sets = list(summaries)
    width = 0.8 / 3
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        for j, system in enumerate(("noisy", "wiener", "model")):
            values = [summaries[s][system][metric] for s in sets]
            ax.bar(np.arange(len(sets)) + (j - 1) * width, values, width, label=system,
                   color=SYSTEM_COLORS[system])
        ax.set_xticks(np.arange(len(sets)), sets)
        style_axes(ax, None, labels[metric], labels[metric])
    np.atleast_1d(axes)[0].legend()
    return fig
