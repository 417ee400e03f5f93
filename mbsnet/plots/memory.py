"""Figures about training memory: category bars, live-memory timeline, modules, formula checks."""
from __future__ import annotations

from mbsnet.memory.gpus import GPUS
from mbsnet.memory import CATEGORIES
from mbsnet.plots import GiB, style_axes

CATEGORY_COLORS = {"parameters": "#1f77b4", "gradients": "#17becf", "optimizer_state": "#9467bd",
                   "inputs": "#7f7f7f", "saved_activations": "#d62728", "temporaries": "#ff7f0e"}
PHASE_COLORS = {"forward": "#e8f1fa", "loss": "#fdf2e3", "backward": "#fbe9e9",
                "optimizer": "#eef7ee"}


def plot_category_bars(ax, reports: dict, budget_gib: float | None = 12.0):
    """Stacked bars of the peak by category, one bar per {label: MemoryReport}."""
    labels = list(reports)
    bottoms = [0.0] * len(labels)
    for category in CATEGORIES:
        heights = [reports[k].categories.get(category, 0) / GiB for k in labels]
        ax.bar(labels, heights, bottom=bottoms, color=CATEGORY_COLORS[category],
               label=category.replace("_", " "))
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    if budget_gib:
        ax.axhline(budget_gib, color="k", ls="--", lw=1)
        ax.text(len(labels) - 0.5, budget_gib, f" {budget_gib:g} GiB card", va="bottom", ha="right")
    ax.legend(fontsize=8, loc="upper left")
    return style_axes(ax, ylabel="peak memory (GiB)")


def plot_timeline(ax, report, budget_gib: float | None = 12.0, label=None, color=None):
    """Live (allocated) memory over the ops of one training step, phases shaded."""
    ops = [p[0] for p in report.timeline]
    live = [p[1] / GiB for p in report.timeline]
    ax.plot(ops, live, color=color, lw=1.2, label=label or f"batch {report.batch_size}")
    starts = sorted(report.phase_starts.items(), key=lambda kv: kv[1])
    for (phase, start), nxt in zip(starts, starts[1:] + [("", report.n_ops)]):
        if phase in PHASE_COLORS:
            ax.axvspan(start, nxt[1], color=PHASE_COLORS[phase], zorder=0)
            ax.text((start + nxt[1]) / 2, 0, phase, ha="center", va="bottom", fontsize=8)
    if budget_gib:
        ax.axhline(budget_gib, color="k", ls="--", lw=1)
    return style_axes(ax, xlabel="op index in the training step",
                      ylabel="live tensor memory (GiB)")


def plot_module_breakdown(ax, report, depth: int = 3, top: int = 12):
    """Horizontal bars: bytes live at the peak, by module (first `depth` name parts)."""
    items = list(report.by_module(depth).items())[:top][::-1]
    ax.barh([k for k, _ in items], [v / GiB for _, v in items], color="#d62728")
    ax.tick_params(axis="y", labelsize=8)
    return style_axes(ax, xlabel="live at the peak (GiB)")


def plot_peak_vs_budgets(ax, categories: dict):
    """One stacked horizontal bar (the predicted peak by category) against GPU budgets."""
    left = 0.0
    for category in CATEGORIES:
        width = categories.get(category, 0) / GiB
        ax.barh([0], [width], left=left, color=CATEGORY_COLORS[category],
                label=category.replace("_", " "))
        left += width
    for i, gpu in enumerate(GPUS.values()):
        ax.axvline(gpu.usable / GiB, color="k", ls=":", lw=1)
        ax.text(gpu.usable / GiB, 0.45 - 0.12 * (i % 2), gpu.label, rotation=0, fontsize=7,
                ha="right")
    ax.set_yticks([])
    ax.set_xlim(0, max(left, max(g.usable for g in GPUS.values()) / GiB) * 1.05)
    ax.legend(fontsize=7, loc="lower right", ncol=3)
    return style_axes(ax, xlabel="memory (GiB); dotted: usable memory of each GPU")


def plot_formula_vs_prediction(ax, xs, formula, predicted, xlabel, title=None):
    """Formula (line) against predict_peak (dots) over a sweep."""
    ax.plot(xs, [v / GiB for v in formula], "-", color="0.3", label="formula")
    ax.plot(xs, [v / GiB for v in predicted], "o", color="#d62728", label="predict_peak")
    ax.legend(fontsize=8)
    return style_axes(ax, xlabel=xlabel, ylabel="peak (GiB)", title=title)


# The calculator's variants of the seed (notebook 3): not presets, so not in preset colours; each
# with its own colour, line and marker, so that curves that nearly coincide stay apart.
VARIANT_STYLES = {"seed": dict(color="#c0392b", ls="-", marker="o"),
                  "expand 1": dict(color="#2874a6", ls="-", marker="s", lw=3.2, alpha=0.55),
                  "d_state 8": dict(color="#7d3c98", ls="-", marker="D"),
                  "uni": dict(color="#e67e22", ls="--", marker="^"),
                  "all three": dict(color="#17202a", ls="-.", marker="v")}


def plot_variant_peaks(ax, peaks: dict, batches, budgets: dict):
    """Predicted peak (GiB, log) over batch for each {variant: [bytes per batch]}, with each GPU's
    usable memory as a dotted line labelled in the right margin, clear of the curves: {label: bytes}."""
    for label, values in peaks.items():
        style = {"color": "0.5", "ls": "-", "marker": "."} | VARIANT_STYLES.get(label, {})
        ax.plot(list(batches), [v / GiB for v in values], ms=4, label=label, **style)
    for label, usable in budgets.items():
        ax.axhline(usable / GiB, color="k", ls=":", lw=0.8)
        ax.text(1.01, usable / GiB, label, ha="left", va="center", fontsize=7,
                transform=ax.get_yaxis_transform())
    ax.set_yscale("log")
    ax.legend(fontsize=8, loc="lower right", ncol=2)
    return style_axes(ax, "batch size", "predicted training peak (GiB, log)")
