"""Figures of notebook 1 (meet MBS-Net): spectrograms and the parameter audit."""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
import torch

from mbsnet.data.audio import stft
from mbsnet.config import MBSNetConfig
from mbsnet.plots import style_axes

GROUP_COLORS = {"band split": "#7f8c8d", "encoders (Mamba)": "#2e86c1",
                "output nets": "#f39c12", "decoders": "#c0392b"}


def spectrograms(waves: dict, cfg: MBSNetConfig = MBSNetConfig(), floor_db: float = -80.0):
    """One log-magnitude spectrogram (dB re the loudest bin of the first wave) per {title: (s,)}."""
    specs = {k: stft(torch.as_tensor(np.asarray(v), dtype=torch.float32), cfg).abs()
             for k, v in waves.items()}                                     # (f, t) each
    ref = max(float(next(iter(specs.values())).max()), 1e-12)
    fig, axes = plt.subplots(1, len(specs), figsize=(0.8 + 3.1 * len(specs), 3.0), squeeze=False,
                             sharey=True, dpi=110, layout="constrained")
    for ax, (title, mag) in zip(axes[0], specs.items()):
        db = 20 * torch.log10(mag.clamp_min(1e-12) / ref).clamp_min(floor_db).numpy()
        seconds = mag.shape[1] * cfg.hop_length / cfg.sample_rate
        im = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=floor_db, vmax=0,
                       extent=(0, seconds, 0, cfg.sample_rate / 2000))
        style_axes(ax, "time (s)", "frequency (kHz)" if ax is axes[0][0] else None, title)
        ax.grid(False)
    fig.colorbar(im, ax=axes[0].tolist(), label="magnitude (dB)")
    return fig


def parameter_audit(breakdown, claimed: dict):
    """Top: parameters per component (bars coloured by group). Bottom: the claimed split of the
    total vs the counted one, as stacked bars. `claimed`: {label: parameters}."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.2, 7.8), gridspec_kw={"height_ratios": [3, 1.6]})
    names = list(breakdown)[::-1]
    top.barh(names, [breakdown[n] / 1e6 for n in names], color=[GROUP_COLORS[_group(n)] for n in names])
    for i, n in enumerate(names):
        top.text(breakdown[n] / 1e6 + 0.02, i, f"{breakdown[n]:,} ({breakdown.share(n):.1%})",
                 va="center", fontsize=8)
    top.set_xlim(0, max(breakdown.values()) / 1e6 * 1.3)
    style_axes(top, "parameters (millions)", None, f"Seed MBS-Net: {breakdown.total:,} parameters")
    rows = {"the source's account": claimed, "counted from the code": breakdown.grouped()}
    for y, parts in enumerate(rows.values()):
        left = 0.0
        for i, (label, n) in enumerate(parts.items()):
            bottom.barh(y, n / 1e6, left=left, color=GROUP_COLORS[_group(label)], edgecolor="white",
                        height=0.6)
            big = n > 700_000                     # small segments: label above or below the bar
            first = i == 0 and big                # left-aligned, so that it stays inside the axes
            bottom.text(left + 0.08 if first else left + n / 2e6, y if big else y + (0.45 if i % 2 else -0.45),
                        f"{label}\n{n / 1e6:.2f}M" if big else f"{label} {n / 1e6:.2f}M",
                        ha="left" if first else "center", va="center",
                        fontsize=8, color="white" if big else "black")
            left += n / 1e6
    bottom.set_yticks(range(len(rows)), list(rows))
    bottom.set_ylim(-0.75, len(rows) - 0.25)
    bottom.invert_yaxis()
    style_axes(bottom, "parameters (millions)", None, "Where the 7.33M are: the claim and the count")
    fig.tight_layout()
    return fig


def _group(label: str) -> str:
    label = label.lower()
    return ("decoders" if "decoder" in label else "encoders (Mamba)" if "encoder" in label
            or "mamba" in label else "output nets" if "output" in label else "band split")
