"""Figures for data, training and evaluation: spectrograms, training curves, metric bars."""
from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import numpy as np
import torch

from mbsnet.data.audio import stft
from mbsnet.plots import style_axes

SYSTEM_COLORS = {"clean": "#2c3e50", "noisy": "#95a5a6", "wiener": "#e67e22", "model": "#1e8449",
                 "previous": "#a9dfbf"}


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
                     width: float = 5.8, dpi: int = 110):
    """One spectrogram per (name -> waveform) entry, stacked, with a shared colour bar.

    `width` is one panel's width in inches; keep width * ncols + 1 near 7 so that the figure is
    shown at its own size in the book's column (about 690 px) and its labels stay legible.
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
    """Loss per step (raw and moving average) and, if given, the periodic SI-SDR / PESQ evaluations
    below it (as improvements over the noisy input, whose level is the 0 line).

    A log with a `run_phase` column (a warm-started continuation, see checkpoint.export_run) gets
    its moving average per phase and a dashed line where each later phase starts."""
    panels = 2 if evals else 1
    fig, axes = plt.subplots(panels, 1, figsize=(7, 3.0 * panels), squeeze=False, constrained_layout=True,
                             sharex=True)
    axes = axes.T
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
        ax.axhline(0, color="0.45", ls="--", lw=1.0, label="noisy input")
        style_axes(ax, "step", "improvement over noisy input", "held-out evaluation")
    for ax in axes[0]:
        for i, start in enumerate(starts[1:]):
            ax.axvline(start - 0.5, color="0.3", ls="--", lw=0.9,
                       label="warm restart (new phase)" if i == 0 else None)
        ax.legend(fontsize=8)
    return fig


def loss_comparison(logs: dict, smooth: int = 50, ax=None, colors: dict | None = None):
    """Moving-average training loss of several runs on one axis: {label: read_train_log(...)}.

    Averaged within each run phase (a warm restart's loss is on other crops); a dashed line where
    a later phase starts. `colors`: {label: colour} (e.g. each run's preset_color)."""
    ax = ax or plt.subplots(figsize=(7, 3.4), constrained_layout=True)[1]
    kernel = np.ones(smooth) / smooth
    fallback = ("#2874a6", "#7d3c98", "#e67e22", "#17202a")
    for i, (label, log) in enumerate(logs.items()):
        color = (colors or {}).get(label, fallback[i % len(fallback)])
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


SYSTEM_LABELS = {"noisy": "noisy input", "wiener": "Wiener filter", "model": "model",
                 "previous": "previous model (eSpeak only)", "gtcrn": "GTCRN",
                 "deepfilternet3": "DeepFilterNet3", "rnnoise": "RNNoise"}
ANCHOR_COLORS = {"gtcrn": "#2874a6", "deepfilternet3": "#7d3c98", "rnnoise": "#c0392b"}


def metric_bars(summaries: dict, metrics=("pesq", "stoi", "si_sdr"), systems=("noisy", "wiener", "model")):
    """Grouped bars: for each test set (key of `summaries`, {test set: {system: means}}) the mean
    metric of each of `systems`, the value written on each bar; one legend above the panels, clear of
    the bars. Three systems: the panels side by side; more: one panel per row, full width."""
    labels = {"pesq": "PESQ (wideband)", "stoi": "STOI", "si_sdr": "SI-SDR (dB)"}
    colors = {**SYSTEM_COLORS, **ANCHOR_COLORS}
    wide = len(systems) > 3
    fig, axes = plt.subplots(len(metrics) if wide else 1, 1 if wide else len(metrics),
                             figsize=(7.2, 2.1 * len(metrics) + 0.5) if wide else (7.2, 3.2), layout="constrained")
    sets = list(summaries)
    width = 0.8 / len(systems)
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        for j, system in enumerate(systems):
            values = [summaries[s][system][metric] for s in sets]
            bars = ax.bar(np.arange(len(sets)) + (j - (len(systems) - 1) / 2) * width, values, width,
                          label=SYSTEM_LABELS.get(system, system), color=colors.get(system, "#7f8c8d"))
            ax.bar_label(bars, fmt="%.1f" if metric == "si_sdr" else "%.2f", fontsize=7, padding=2,
                         rotation=90)
        ax.set_xticks(np.arange(len(sets)), sets, fontsize=8)
        ax.margins(y=0.25 if wide else 0.18)
        style_axes(ax, None, None, labels[metric])
    handles, names = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside upper center", ncol=min(len(systems), 4), fontsize=8, frameon=False)
    return fig


def recipe_comparison(scores: dict, baselines: dict, steps=(780, 1980), labels: dict | None = None):
    """The full-corpus recipe, per model, after each phase: one panel per (test set, metric),
    with the noisy input and the Wiener filter as horizontal lines.

    scores: {preset: {phase (1, 2): {test set: {metric: value}}}}; baselines: {test set: {system
    ("noisy" | "wiener"): {metric: value}}}; labels: {preset: legend label} (default: the name).
    Each model in its preset's colour and marker."""
    from mbsnet.plots import BASELINE_STYLES, marker_size, preset_color, preset_marker

    sets = list(baselines)
    metrics = ("pesq", "si_sdr")
    fig, axes = plt.subplots(len(sets), len(metrics), figsize=(7, 2.7 * len(sets) + 0.5),
                             layout="constrained", squeeze=False)
    names = {"synthetic": "synthetic", "arctic": "real ARCTIC"}
    for row, k in zip(axes, sets):
        for ax, m in zip(row, metrics):
            for name, phases in scores.items():
                ax.plot(steps, [phases[p][k][m] for p in (1, 2)], marker=preset_marker(name),
                        ms=marker_size(preset_marker(name), 7), color=preset_color(name),
                        label=(labels or {}).get(name, name), mec="k", mew=0.5)
            for system, label in (("noisy", "noisy input"), ("wiener", "Wiener filter")):
                ax.axhline(baselines[k][system][m], label=label, **BASELINE_STYLES[label])
            ax.set_xticks(steps)
            ax.set_xlim(steps[0] - 250, steps[1] + 250)
            ax.margins(y=0.15)
            style_axes(ax, "training steps" if k == sets[-1] else None, "PESQ" if m == "pesq" else "SI-SDR (dB)",
                       f"{names.get(k, k)}: {'PESQ' if m == 'pesq' else 'SI-SDR'}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig
