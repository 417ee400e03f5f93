"""Figures of the optimization ladder (notebooks 5-9): parameters, predicted memory, quality."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from mbsnet.plots import GiB, preset_color, style_axes

GROUP_COLORS = {"band split": "#7f8c8d", "encoders (Mamba)": "#2e86c1",
                "output nets": "#f5b041", "decoders": "#c0392b"}


def parameter_bars(rows: dict, names, ax=None):
    """Stacked bars of parameters per group (millions) for each preset in `names`.

    rows: {preset: {"parameter_groups": {group: count}}} (a ladder result's "rows").
    """
    ax = ax or plt.subplots(figsize=(7, 3.8))[1]
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    for group, color in GROUP_COLORS.items():
        values = np.array([rows[n]["parameter_groups"].get(group, 0) / 1e6 for n in names])
        ax.bar(x, values, bottom=bottom, color=color, label=group)
        bottom += values
    ax.axhline(2.7, color="k", ls="--", lw=1, label="the authors' expected 2.7M")
    ax.set_xticks(x, names, rotation=40, ha="right", fontsize=8)
    ax.legend(fontsize=8, ncol=2)
    return style_axes(ax, ylabel="parameters (millions)")


def memory_bars(rows: dict, names, usable_gib: float, ax=None):
    """Predicted CUDA training peak at batch 2 and 6 (GiB, 2 s segments) per preset, in each
    preset's colour (batch 6 hatched)."""
    from matplotlib.patches import Patch

    ax = ax or plt.subplots(figsize=(7, 3.8))[1]
    x = np.arange(len(names))
    handles = []
    for offset, b, hatch in ((-0.2, 2, None), (0.2, 6, "//")):
        values = [rows[n][f"peak_b{b}_gib"] for n in names]
        ax.bar(x + offset, values, width=0.4, color=[preset_color(n) for n in names],
               hatch=hatch, edgecolor="k", lw=0.5)
        handles.append(Patch(facecolor="white", edgecolor="k", hatch=hatch, label=f"batch {b}"))
    line = ax.axhline(usable_gib, color="k", ls="--", lw=1,
                      label=f"12 GiB card, usable {usable_gib:.1f} GiB")
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=40, ha="right", fontsize=8)
    ax.legend(handles=handles + [line], fontsize=8)
    return style_axes(ax, ylabel="predicted peak (GiB, log scale)")


def quality_points(rows: dict, names, x_key: str, metric: str = "si_sdr_improvement",
                   x_scale: float = 1.0, ax=None, baselines: dict | None = None):
    """Quality proxy (mean ± std over seeds) against a cost column (e.g. peak_b6_gib), one
    point per preset, with the Pareto front (lower cost, higher quality) drawn as a step line.

    Points are told apart by each preset's colour and marker, named in the legend (presets that
    share their runs and their cost, e.g. seed = recompute_scan, share a point and an entry), so
    no label sits on another. `baselines`: {"noisy input": y, "Wiener filter": y}, drawn as
    horizontal lines. Returns the legend handles, for a legend shared by several panels.
    """
    from matplotlib.ticker import ScalarFormatter

    from mbsnet.plots import baseline_lines, marker_size, preset_marker

    ax = ax or plt.subplots(figsize=(7, 4.5))[1]
    points: dict[tuple, list[str]] = {}       # presets at the same point (same runs, same cost)
    for n in names:
        q = rows[n].get("quality")
        if q:
            points.setdefault((rows[n][x_key] * x_scale, q[metric]["mean"], q[metric]["std"]), []).append(n)
    for (x, y, e), members in points.items():
        marker = preset_marker(members[-1])
        ax.errorbar(x, y, yerr=e, fmt=marker, color=preset_color(members[-1]), capsize=3,
                    ms=marker_size(marker), mec="k", mew=0.5, label=" = ".join(members), zorder=3)
    front = pareto_front([(x, y) for x, y, _ in points])
    if front:
        fx, fy = zip(*front)
        ax.plot(fx, fy, "o", ms=16, mfc="none", mec="0.3", label="Pareto front", zorder=2)
        if len(front) > 1:
            ax.step(fx, fy, where="post", color="0.4", lw=1, ls=":", zorder=2)
    if baselines:
        baseline_lines(ax, baselines)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="x", which="minor", labelsize=7)
    return ax.get_legend_handles_labels()


def pareto_front(points):
    """Points (cost, quality) not beaten by another with lower-or-equal cost and higher
    quality, sorted by cost."""
    front, best = [], -np.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def seed_spread(runs: list, names, metric: str = "si_sdr_improvement", ax=None,
                baselines: dict | None = None):
    """Each seed's value of `metric` per trained preset: how far apart seeds land.
    `baselines`: {"noisy input": y, "Wiener filter": y}, drawn as horizontal lines."""
    from mbsnet.plots import baseline_lines, marker_size, preset_marker

    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    for i, n in enumerate(names):
        ys = [r[metric] for r in runs if r["preset"] == n]
        ax.scatter([i] * len(ys), ys, color=preset_color(n), marker=preset_marker(n),
                   s=marker_size(preset_marker(n), 6) ** 2,
                   edgecolors="k", linewidths=0.5, zorder=3)
    if baselines:
        baseline_lines(ax, baselines)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)   # clear of the points
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
    return ax


__all__ = ["parameter_bars", "memory_bars", "quality_points", "pareto_front", "seed_spread",
           "GiB"]
