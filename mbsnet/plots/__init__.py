"""Plotting helpers shared by the notebooks (matplotlib is imported here, never by the core).

Colours are fixed per preset so that a preset looks the same in every notebook.
Submodules hold the figures of one concern each (e.g. `mbsnet.plots.memory`).
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from mbsnet import presets
from mbsnet.units import GiB, MiB  # noqa: F401  (re-exported for the plot modules)

_PALETTE = plt.get_cmap("tab20").colors


def preset_color(name: str):
    """A fixed colour for a preset name (ladder order), grey for anything else."""
    names = presets.names()
    if name == "seed":
        return "#c0392b"
    if name == "final":
        return "#1e8449"
    return _PALETTE[names.index(name) % len(_PALETTE)] if name in names else "0.5"


def style_axes(ax, xlabel=None, ylabel=None, title=None):
    """Label axes (with units, please) and add a light grid."""
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return ax
