"""Figures of the scan notebook: time and saved memory over sequence length, per method; the
methods at one shape beside the machine's floor."""
from __future__ import annotations

import matplotlib.pyplot as plt

from mbsnet.plots import MiB, style_axes

METHOD_COLORS = {"sequential": "#c0392b", "chunked": "#e67e22", "recompute": "#1e8449",
                 "mambapy": "#2874a6", "compiled": "#7d3c98"}
METHOD_STYLES = {"sequential": ("o", "-"), "chunked": ("s", "--"), "recompute": ("D", "-"),
                 "mambapy": ("^", ":")}      # distinct markers: several methods save the same bytes


def plot_scan_sweep(result: dict, prefix: str = "sweep"):
    """Forward+backward seconds and saved MiB over l, from a `bench scan` result."""
    cases = [c for c in result["cases"] if c["shape"]["name"].startswith(prefix)]
    fig, (ax_t, ax_m) = plt.subplots(2, 1, figsize=(7, 6.6), sharex=True)
    methods = list(dict.fromkeys(m for c in cases for m in c["methods"]))
    for m in methods:
        pts = [(c["shape"]["l"], c["methods"][m]) for c in cases if m in c["methods"]]
        ls = [p[0] for p in pts]
        marker, line = METHOD_STYLES.get(m, ("o", "-"))
        kw = dict(color=METHOD_COLORS.get(m, "0.5"), marker=marker, ls=line, label=m)
        ax_t.plot(ls, [p[1]["seconds"] for p in pts], **kw)
        ax_m.plot(ls, [p[1]["saved_bytes"] / MiB for p in pts], **kw)
    ax_m.plot([c["shape"]["l"] for c in cases], [c["input_bytes"] / MiB for c in cases], "k--",
              lw=1, label="inputs")
    shape = cases[0]["shape"]
    for ax in (ax_t, ax_m):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    style_axes(ax_t, None, "forward + backward time (s)",
               f"median time, b={shape['b']}, d={shape['d']}, n={shape['n']}")
    style_axes(ax_m, "sequence length l (steps)", "saved for backward (MiB)",
               "what autograd keeps")
    fig.tight_layout()
    return fig


def plot_scan_floor(case: dict, floor: dict, methods=("mambapy", "recompute", "compiled"), goal: float = 12):
    """Median forward+backward seconds of `methods` at one shape (a `bench scan` case) as bars, on a
    log scale, with the machine's floor (mbsnet.experiments.scan_floor's result) and the goal
    (`goal` times faster than mamba.py) as lines."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    seconds = [case["methods"][m]["seconds"] for m in methods]
    bars = ax.bar(methods, seconds, color=[METHOD_COLORS.get(m, "0.5") for m in methods])
    ax.bar_label(bars, labels=[f"{s:.2f} s" for s in seconds], fontsize=8)
    for y, ls, label in ((floor["floor"]["floor_s"], "--", "floor on this CPU"),
                         (case["methods"]["mambapy"]["seconds"] / goal, ":", f"goal: {goal:g}× mamba.py")):
        ax.axhline(y, color="k", ls=ls, lw=1)
        ax.text(-0.45, y * 1.1, f"{label}: {y:.2f} s", ha="left", fontsize=8,
                bbox=dict(facecolor="white", alpha=0.8, lw=0, pad=1))
    ax.set_yscale("log")
    ax.set_ylim(floor["floor"]["floor_s"] / 2, max(seconds) * 3)
    shape = case["shape"]
    style_axes(ax, None, "forward + backward (s)",
               f"{shape['name']} (b={shape['b']}, l={shape['l']}, d={shape['d']}, n={shape['n']}), one thread")
    fig.tight_layout()
    return fig
