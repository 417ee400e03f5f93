"""The remedies' figure (notebook 8): predicted peak against CPU step time, one point per rung."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mbsnet.plots import marker_size, preset_color, preset_marker, style_axes


def memory_vs_time(points: dict, usable_gib: float, budget_gib: float = 12.0, batch: int = 2,
                   time_label: str = "CPU step time / the seed's", ax=None):
    """points: {preset: (step time ratio, predicted peak GiB)} -> one marker per preset, in its
    colour and marker, named in the legend; the card's capacity and its usable part as lines;
    both axes on log scales."""
    ax = ax or plt.subplots(figsize=(7.5, 4.6))[1]
    for name, (x, y) in points.items():
        marker = preset_marker(name)
        ax.plot(x, y, marker, color=preset_color(name), ms=marker_size(marker, 9), mec="k", mew=0.6,
                label=name, zorder=3, ls="none")
    ax.axhline(budget_gib, color="k", ls="--", lw=1, label=f"{budget_gib:g} GiB card")
    ax.axhline(usable_gib, color="0.4", ls=":", lw=1, label=f"usable: {usable_gib:.1f} GiB")
    ax.set_yscale("log")
    ax.set_xscale("log")
    for axis in (ax.xaxis, ax.yaxis):             # plain labels on the log scales: 0.05, 0.1, 0.2, ...
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return style_axes(ax, xlabel=f"{time_label} (log scale)",
                      ylabel=f"predicted peak at batch {batch} (GiB, log scale)")


def precision_runs(runs: dict, metric: str = "si_sdr_db", ax=None):
    """runs: {"fp32_seed0": {"evals": [{"step", metric, ...}, ...]}, "bf16_seed0": ...} -> the held-out
    metric against the training step, one line per run: colour by precision, line style by seed."""
    ax = ax or plt.subplots(figsize=(6.5, 3.8))[1]
    colors, styles = {"fp32": "C0", "bf16": "C3"}, ["-", "--", ":", "-."]
    seeds = sorted({name.split("_seed")[1] for name in runs})
    for name, run in runs.items():
        precision, seed = name.split("_seed")
        steps = [e["step"] for e in run["evals"]]
        ax.plot(steps, [e[metric] for e in run["evals"]], color=colors.get(precision, "k"),
                ls=styles[seeds.index(seed) % len(styles)], marker="o", ms=3,
                label=f"{precision}, seed {seed}")
    ax.legend(fontsize=8)
    labels = {"si_sdr_db": "held-out SI-SDR (dB)", "loss": "held-out loss"}
    return style_axes(ax, xlabel="training step", ylabel=labels.get(metric, metric))
