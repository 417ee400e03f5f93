"""Plotting helpers shared by the notebooks (matplotlib is imported here, never by the core).

Colours are fixed per preset so that a preset looks the same in every notebook.
Submodules hold the figures of one concern each (e.g. `mbsnet.plots.memory`).
"""
from __future__ import annotations

from mbsnet.units import GiB, MiB  # noqa: F401  (re-exported for the plot modules)

# One colour per preset, by family: phase 1 in oranges and browns, phase 2 in blues, phase 3 in
# purples, the variants that keep the bidirectional cross-band pass in greys. Red is the seed's
# and green the final model's alone. `crossband_bi_temporal_uni` is `final` under its ladder
# name (the same function, the same runs), so it shares final's colour.
PRESET_COLORS = {
    "seed": "#c0392b",
    "recompute_scan": "#e67e22", "crossband_uni": "#f4d03f", "expand1": "#a04000",
    "shared_encoder": "#85c1e9", "temporal_uni": "#2e86c1", "linear_output": "#1b4f72",
    "d_state8": "#d2b4de", "layers3": "#a569bd", "slim_decoder": "#6c3483",
    "crossband_bi_expand1": "#b3b6b7", "crossband_bi_shared_encoder": "#797d7f",
    "crossband_bi_slim_decoder": "#17202a", "crossband_bi_temporal_uni": "#1e8449",
    "final": "#1e8449",
    # The remedies (presets.remedy_names()): the seed's in reds, final's in greens, each its own.
    "seed_checkpointed": "#f1948a", "chunked_scan": "#641e16", "authors_attempt": "#e91e63",
    "final_checkpointed": "#82e0aa", "final_bf16": "#0e6655", "final_lean": "#48c9b0",
    "final_checkpointed_bf16": "#a3e4d7", "final_scan_chunk4": "#117a65",
}
# A marker per family, so that presets stay apart where colours are close or points overlap.
PRESET_MARKERS = {"seed": "o", "recompute_scan": "o", "crossband_uni": "o", "expand1": "o",
                  "shared_encoder": "s", "temporal_uni": "s", "linear_output": "s",
                  "d_state8": "D", "layers3": "D", "slim_decoder": "D",
                  "crossband_bi_expand1": "^", "crossband_bi_shared_encoder": "^",
                  "crossband_bi_slim_decoder": "^", "crossband_bi_temporal_uni": "*", "final": "*",
                  # a marker per remedy: checkpointing, chunked scan, bf16, both, the authors', chunks of 4
                  "seed_checkpointed": "P", "final_checkpointed": "P", "chunked_scan": "v",
                  "final_bf16": "X", "final_lean": "h", "authors_attempt": "d",
                  "final_checkpointed_bf16": "X", "final_scan_chunk4": "<"}
# The reference systems that every quality figure shows beside the models.
BASELINE_STYLES = {"noisy input": dict(color="0.45", ls="--", lw=1.0),
                   "Wiener filter": dict(color="#e67e22", ls=":", lw=1.4)}


def preset_color(name: str):
    """The fixed colour of a preset (see PRESET_COLORS), grey for anything else."""
    return PRESET_COLORS.get(name, "0.5")


def preset_marker(name: str) -> str:
    """The fixed marker of a preset's family (see PRESET_MARKERS), a dot for anything else."""
    return PRESET_MARKERS.get(name, ".")


def marker_size(marker: str, size: float = 8) -> float:
    """A marker size that makes `marker` look as big as a circle of `size` (stars are thin)."""
    return size * 1.6 if marker == "*" else size


def baseline_lines(ax, values: dict, label_suffix: str = ""):
    """Horizontal lines for the reference systems: {"noisy input": y, "Wiener filter": y}."""
    for name, y in values.items():
        ax.axhline(y, label=name + label_suffix, zorder=1, **BASELINE_STYLES.get(name, {}))
    return ax


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
