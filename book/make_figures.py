"""Draw the intro's figure: the seed MBS-Net pipeline, each stage with its tensor shape and
its share of the 7,325,830 parameters (counted by mbsnet.params.breakdown, not typed in).

Usage: python book/make_figures.py [OUT.png]   (default: book/_generated/pipeline.png)
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from mbsnet import build_model, params, presets

# (label, shape, components of params.breakdown, x, y) per box; y = 1 magnitude row, 0 phase row.
STAGES = [
    ("noisy STFT", "(b, 257, t)", [], 0.0, 0.5),
    ("band split\n31 bands", "(b, 128, t, 31)", ["band_split"], 1.0, 0.5),
    ("4 × BiMamba\nalong time", "(b·31, t, 128)", ["magnitude_encoder.temporal"], 2.0, 1.0),
    ("BiMamba\nacross bands", "(b·t, 31, 128)", ["magnitude_encoder.crossband"], 3.0, 1.0),
    ("output net", "(b, 128, t, 31)", ["magnitude_output"], 4.0, 1.0),
    ("31 band\ndecoders", "mask (b, 257, t)", ["magnitude_decoder"], 5.0, 1.0),
    ("4 × BiMamba\nalong time", "(b·31, t, 128)", ["phase_encoder.temporal"], 2.0, 0.0),
    ("BiMamba\nacross bands", "(b·t, 31, 128)", ["phase_encoder.crossband"], 3.0, 0.0),
    ("output net", "(b, 128, t, 31)", ["phase_output"], 4.0, 0.0),
    ("31 band\ndecoders", "offset (b, 257, t)", ["phase_decoder"], 5.0, 0.0),
    ("enhanced\nSTFT", "(b, 257, t)", [], 6.0, 0.5),
]
EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (1, 6), (6, 7), (7, 8), (8, 9), (5, 10), (9, 10)]
W, H, DX = 1.04, 0.72, 1.2


def draw(out: Path) -> Path:
    counts = params.breakdown(build_model(presets.get("seed")))
    fig, ax = plt.subplots(figsize=(13, 5.0))
    cmap = plt.get_cmap("Reds")
    for label, shape, components, x, y in STAGES:
        x *= DX
        n = sum(counts[c] for c in components)
        share = n / counts.total
        face = cmap(0.08 + 1.6 * share) if components else "#e8eef7"
        ax.add_patch(FancyBboxPatch((x - W / 2, y - H / 2), W, H, boxstyle="round,pad=0.02",
                                    facecolor=face, edgecolor="0.3"))
        dark = share > 0.2
        ax.text(x, y + 0.13, label, ha="center", va="center", fontsize=12, weight="bold",
                color="white" if dark else "black")
        ax.text(x, y - 0.09, shape, ha="center", va="center", fontsize=9.5,
                color="white" if dark else "0.25")
        if components:
            ax.text(x, y - 0.23, f"{n / 1e6:.2f}M ({share:.0%})", ha="center",
                    va="center", fontsize=11, color="white" if dark else "black")
    for a, b in EDGES:
        (xa, ya), (xb, yb) = STAGES[a][3:], STAGES[b][3:]
        xa, xb = xa * DX, xb * DX
        ax.add_patch(FancyArrowPatch((xa + W / 2, ya), (xb - W / 2, yb), arrowstyle="-|>",
                                     mutation_scale=12, color="0.35", shrinkA=2, shrinkB=2))
    ax.text(3.5 * DX, 1.42, "magnitude branch", ha="center", fontsize=13, style="italic")
    ax.text(3.5 * DX, -0.42, "phase branch", ha="center", fontsize=13, style="italic")
    decoders = counts["magnitude_decoder"] + counts["phase_decoder"]
    ax.set_title(f"Seed MBS-Net: {counts.total:,} parameters (millions per stage); "
                 f"the decoders hold {decoders / counts.total:.0%}", fontsize=15)
    ax.set_xlim(-0.6, 6 * DX + 0.6)
    ax.set_ylim(-0.55, 1.55)
    ax.axis("off")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def favicon(out: Path) -> Path:
    """A 64 px icon: two stacked bars, the decoders' red over the Mamba blue."""
    fig = plt.figure(figsize=(0.64, 0.64), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.bar([0], [0.38], color="#2e86c1", width=0.8)
    ax.bar([0], [0.6], bottom=[0.4], color="#c0392b", width=0.8)
    ax.set_xlim(-0.5, 0.5)
    ax.set_ylim(0, 1)
    ax.axis("off")
    fig.savefig(out, transparent=True)
    plt.close(fig)
    return out


if __name__ == "__main__":
    generated = Path(__file__).resolve().parent / "_generated"
    print(f"wrote {draw(Path(sys.argv[1]) if len(sys.argv) > 1 else generated / 'pipeline.png')}")
    print(f"wrote {favicon(generated / 'favicon.png')}")
