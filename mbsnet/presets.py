"""Named configurations: the seed model and the optimization ladder, in order.

Each ladder step is the previous preset with exactly one change (dataclasses.replace),
following the source analysis' phase order, plus the step it missed (the decoders).
"""
from __future__ import annotations

from dataclasses import replace

from mbsnet.config import MBSNetConfig

SEED = MBSNetConfig(name="seed")

_LADDER: dict[str, MBSNetConfig] = {"seed": SEED}
_PARENT: dict[str, str | None] = {"seed": None}


def _step(name: str, parent: str, **change) -> None:
    """Register `name` = preset `parent` with exactly one field changed."""
    if len(change) != 1:
        raise AssertionError("a ladder step changes exactly one field")
    _LADDER[name] = replace(_LADDER[parent], name=name, **change)
    _PARENT[name] = parent


def parent(name: str) -> str | None:
    """The preset that `name` was derived from (None for the seed)."""
    get(name)
    return _PARENT[name]


def changes(name: str) -> dict:
    """{field: (parent value, new value)} for the fields `name` changes from its parent."""
    base = _PARENT[name]
    if base is None:
        return {}
    a, b = get(base).to_dict(), get(name).to_dict()
    return {k: (a[k], b[k]) for k in a if k != "name" and a[k] != b[k]}


def names() -> list[str]:
    """Preset names in ladder order."""
    return list(_LADDER)


def get(name: str) -> MBSNetConfig:
    """The preset called `name` (a frozen MBSNetConfig)."""
    try:
        return _LADDER[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(_LADDER)}") from None


# Phase 1 (the source's "critical fixes").
_step("recompute_scan", "seed", scan_method="recompute")
_step("crossband_uni", "recompute_scan", crossband_direction="uni")
_step("expand1", "crossband_uni", expand=1)
# Phase 2 ("architecture optimization").
_step("shared_encoder", "expand1", encoder="shared")
_step("temporal_uni", "shared_encoder", temporal_direction="uni")
_step("linear_output", "temporal_uni", output_net="linear")
# Phase 3 ("fine-tuning").
_step("d_state8", "linear_output", d_state=8)
_step("layers3", "d_state8", n_layers=3)
# The step the source missed: the decoders hold 60% of the seed's parameters.
_step("slim_decoder", "layers3", decoder="shared_hidden")

# Variants the evidence calls for (each one change from an earlier preset). Claim 3 at equal
# budget: the Phase-1/2 route without the cross-band change, so that crossband_bi_expand1 vs
# expand1 and crossband_bi_shared_encoder vs shared_encoder differ only in cross-band direction.
# crossband_bi_slim_decoder reaches `final`'s configuration one change at a time.
_step("crossband_bi_expand1", "recompute_scan", expand=1)
_step("crossband_bi_shared_encoder", "crossband_bi_expand1", encoder="shared")
_step("crossband_bi_slim_decoder", "crossband_bi_shared_encoder", decoder="shared_hidden")
# Claim 4 at the final model's scale: the temporal direction alone.
_step("crossband_bi_temporal_uni", "crossband_bi_slim_decoder", temporal_direction="uni")

# The configuration chosen on the ladder's evidence (notebook 8): the recomputing scan, expand 1
# (saved activations scale with d_inner), one shared encoder, slim decoders, and a
# unidirectional Mamba along time, which learned faster than the bidirectional one at every budget
# the ladder tried and ended level with it after the full two-phase recipe, at a quarter less
# memory. Cross-band stays bidirectional, and the output nets, d_state and depth stay the seed's:
# slim_decoder (which changes them) matched it on the proxies but ended ~0.5 dB SI-SDR behind
# after the full recipe. It is crossband_bi_temporal_uni under the name the series uses.
_LADDER["final"] = replace(SEED, name="final", scan_method="recompute", expand=1,
                           encoder="shared", decoder="shared_hidden", temporal_direction="uni")
_PARENT["final"] = "seed"
if replace(_LADDER["final"], name="crossband_bi_temporal_uni") != _LADDER["crossband_bi_temporal_uni"]:
    raise AssertionError("final must be crossband_bi_temporal_uni under another name")
