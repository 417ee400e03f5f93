"""MBS-Net's memory from first principles: closed-form formulas, checked against `memory.predict_peak`.

Notation: b batch, t frames, k bands, c channels, d = d_inner, n = d_state, r = dt_rank,
h = decoder_hidden, f = frequency bins, P = parameters. Every Mamba block sees the same number
of tokens, b*k*t: the temporal blocks run b*k sequences of length t, the cross-band block b*t
sequences of length k. Sizes are fp32 (4 bytes) unless said otherwise.

The formulas count what autograd *saves* for backward (read off the code and confirmed with
saved-tensor hooks, `saved_tensor_census`), plus what lives beside it at the peak. They are
cheap (microseconds), so the interactive calculator uses them instead of a tracked run.
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch
from tqdm.auto import tqdm

from mbsnet import presets
from mbsnet.config import MBSNetConfig
from mbsnet.memory.predict import cached_predict_peak
from mbsnet.memory.saved import saved_tensor_census
from mbsnet.model import MambaBlock

FP32 = 4
COMPLEX64 = 8


# ---------------------------------------------------------------------------------------------
# (a) Parameters
# ---------------------------------------------------------------------------------------------
def mamba_block_params(cfg: MBSNetConfig) -> int:
    """in_proj 2dc + conv d(k_conv+1) + x_proj_dt dr + dt_proj (r+1)d + B,C 2dn + A_log dn
    + D d + out_proj dc + LayerNorm 2c."""
    c, d, n, r, kc = cfg.channels, cfg.d_inner, cfg.d_state, cfg.dt_rank_value, cfg.d_conv
    return 2 * d * c + d * (kc + 1) + d * r + (r + 1) * d + 3 * d * n + d + d * c + 2 * c


def mixer_params(cfg: MBSNetConfig, direction: str) -> int:
    """"uni": one Mamba block. "bi": two blocks + merge Linear(2c, c) + LayerNorm(c)."""
    c = cfg.channels
    if direction == "uni":
        return mamba_block_params(cfg)
    return 2 * mamba_block_params(cfg) + 2 * c * c + c + 2 * c


def encoder_params(cfg: MBSNetConfig) -> int:
    """n_layers temporal mixers + one cross-band mixer + its LayerNorm."""
    return (cfg.n_layers * mixer_params(cfg, cfg.temporal_direction)
            + mixer_params(cfg, cfg.crossband_direction) + 2 * cfg.channels)


def model_params(cfg: MBSNetConfig) -> dict:
    """Parameter count of each part of MBS-Net, by formula: {part: count, ..., "total": P}."""
    c, h, widths = cfg.channels, cfg.decoder_hidden, cfg.band_widths
    band_split = sum(2 * 2 * w + 2 * w * c + c for w in widths)         # GroupNorm + Linear
    output_net = (c * 2 * c + 2 * c + 2 * c * c + c) if cfg.output_net == "mlp" else c * c + c
    hidden = 2 * c + c * h + h                                          # GroupNorm + Linear(c, h)
    n_hidden = 1 if cfg.decoder == "shared_hidden" else len(widths)
    decoder = n_hidden * hidden + sum(h * w + w for w in widths)
    n_encoders = 2 if cfg.encoder == "separate" else 1
    parts = {"band split": band_split, "encoders (Mamba)": n_encoders * encoder_params(cfg),
             "output nets": 2 * output_net, "decoders": 2 * decoder}
    parts["total"] = sum(parts.values())
    return parts


# ---------------------------------------------------------------------------------------------
# (b) One (b, l, d, n) tensor, and how many of them autograd keeps
# ---------------------------------------------------------------------------------------------
def tensor_bytes(*shape: int, dtype_bytes: int = FP32) -> int:
    """Bytes of a dense tensor, e.g. tensor_bytes(b, l, d, n)."""
    return math.prod(shape) * dtype_bytes


def mamba_block_census(cfg: MBSNetConfig, sequences: int, length: int) -> list[dict]:
    """Saved storages of one MambaBlock forward on (sequences, length, c) meta tensors."""

    with torch.device("meta"):
        block = MambaBlock(cfg)
        x = torch.randn(sequences, length, cfg.channels, requires_grad=True)
    return saved_tensor_census(block, x, exclude=list(block.parameters()))


# ---------------------------------------------------------------------------------------------
# (c) The whole training step
# ---------------------------------------------------------------------------------------------
def mamba_block_saved_per_token(cfg: MBSNetConfig, length: int) -> float:
    """fp32 values that autograd keeps per token for one Mamba block, sequential scan.

    (3 + 1/l) d n : exp(delta A) and delta*B (both (b, l, d, n)), plus the l + 1 hidden states
                    h_t (b, d, n) that each step's multiply and einsum save;
    (12 + 3/l) d  : xz (2d: z is a view of it), conv output (d (l+3)/l, padded), SiLU output u,
                    its contiguous copy for the projections, delta before/after softplus,
                    delta and u unsqueezed, y, y + D u, silu(z), the gated y;
    2 c           : the block input (saved by LayerNorm) and the LayerNorm output;
    2 n + r + 2   : B, C, the dt low-rank projection, LayerNorm mean and rstd.
    """
    if cfg.scan_method != "sequential":
        raise NotImplementedError(f"the closed-form formula is derived for the seed's "
                                  f"'sequential' scan, not {cfg.scan_method!r}; use "
                                  f"memory.predict_peak for it")
    c, d, n, r = cfg.channels, cfg.d_inner, cfg.d_state, cfg.dt_rank_value
    return (3 + 1 / length) * d * n + (12 + 3 / length) * d + 2 * c + 2 * n + r + 2


def mixer_saved_per_token(cfg: MBSNetConfig, direction: str, length: int) -> float:
    """A "uni" mixer is one block; "bi" adds the concat (2c), merge output (c), LN stats (2)."""
    block = mamba_block_saved_per_token(cfg, length)
    return block if direction == "uni" else 2 * block + 3 * cfg.channels + 2


def saved_activation_bytes(cfg: MBSNetConfig, batch_size: int, frames: int) -> dict:
    """Bytes autograd keeps after the forward pass, by part of the model."""
    b, t, k, c, f, h = batch_size, frames, cfg.n_bands, cfg.channels, cfg.n_bins, cfg.decoder_hidden
    tokens = b * t * k
    encoder = (cfg.n_layers * mixer_saved_per_token(cfg, cfg.temporal_direction, t)
               + mixer_saved_per_token(cfg, cfg.crossband_direction, k) + c + 2)
    n_encoders = 2 if cfg.encoder == "separate" else 1
    output_net = 4 * c if cfg.output_net == "mlp" else 2 * c
    return {"encoders (Mamba)": FP32 * tokens * n_encoders * encoder,
            "output nets": FP32 * tokens * 2 * output_net,
            "decoders": FP32 * tokens * 2 * (2 * c + h),
            # GroupNorm input + Linear input per band: 2 x 2f values per frame
            "band split": FP32 * b * t * 4 * f}


def backward_transient_bytes(cfg: MBSNetConfig, batch_size: int, frames: int) -> int:
    """Gradient buffers of the first scan's backward, on top of the saved activations.

    Backward through the sequential scan accumulates the gradients of exp(delta A) and of
    delta*B*u, (b, l, d, n) each, from one `select_backward` per step: the running sum plus
    the step's own full-size buffer, 4 (b, l, d, n) in all, plus ~6 (b, l, d) gradients.
    """
    tokens = batch_size * frames * cfg.n_bands
    return FP32 * tokens * (4 * cfg.d_inner * cfg.d_state + 6 * cfg.d_inner)


# The peak comes early in backward, in the first scan of the last encoder to run: the heads
# (output nets, decoders, loss) have been backpropagated already, so their saved tensors are
# gone and their gradients exist; the encoders' and the band split's saved tensors are all live.
LIVE_AT_PEAK = ("encoders (Mamba)", "band split")


def training_peak_formula(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0) -> dict:
    """Closed-form peak of one steady-state Adam training step (bytes), by category.

    parameters 4P, Adam state 8P, gradients 4P of the heads (output nets + decoders), inputs
    (2 complex64 STFTs), the encoders' and band split's saved activations, and the backward
    transient of one scan.
    """
    frames = cfg.frames(seconds)
    params = model_params(cfg)
    P = params["total"]
    saved = saved_activation_bytes(cfg, batch_size, frames)
    terms = {"parameters": FP32 * P,
             "gradients": FP32 * (params["output nets"] + params["decoders"]),
             "optimizer_state": 2 * FP32 * P,
             "inputs": 2 * COMPLEX64 * batch_size * cfg.n_bins * frames,
             "saved_activations": sum(saved[part] for part in LIVE_AT_PEAK),
             "temporaries": backward_transient_bytes(cfg, batch_size, frames)}
    return {"total": sum(terms.values()), "categories": terms, "saved_by_part": saved,
            "frames": frames}


def formula_config(base: MBSNetConfig, expand=None, d_state=None, direction=None) -> MBSNetConfig:
    """`base` with the calculator's knobs changed (direction sets temporal and cross-band)."""
    changes = {}
    if expand is not None:
        changes["expand"] = expand
    if d_state is not None:
        changes["d_state"] = int(d_state)
    if direction is not None:
        changes["temporal_direction"] = changes["crossband_direction"] = direction
    return replace(base, **changes) if changes else base


# ---------------------------------------------------------------------------------------------
# Checking the formula against predict_peak
# ---------------------------------------------------------------------------------------------
SWEEP = {  # knob -> values; every point changes one knob of the seed at batch 1, 2 s
    "batch": [1, 2, 3, 4],
    "seconds": [0.5, 1.0, 2.0, 3.0],
    "d_state": [4, 8, 16, 32],
    "expand": [1, 1.5, 2, 3],
    "direction": ["bi", "uni"],
}


def sweep_point(knob: str, value, base: MBSNetConfig | None = None):
    """(cfg, batch, seconds) of one sweep point: the seed at batch 1, 2 s, with `knob`=value."""

    base = base or presets.get("seed")
    batch, seconds = 1, 2.0
    if knob == "batch":
        batch = int(value)
    elif knob == "seconds":
        seconds = float(value)
    elif knob in ("d_state", "expand", "direction"):
        base = formula_config(base, **{knob: value})
    else:
        raise ValueError(f"unknown sweep knob {knob!r}; choose one of {list(SWEEP)}")
    return base, batch, seconds


def formula_sweep(sweep: dict | None = None, progress: bool = True) -> list[dict]:
    """Formula vs memory.predict_peak at every point of `sweep` (default SWEEP). Slow: one
    full tracked prediction per point (store the result; notebook 3 loads it)."""


    points = [(k, v) for k, values in (sweep or SWEEP).items() for v in values]
    rows = []
    for knob, value in tqdm(points, desc="formula sweep", disable=not progress):
        cfg, batch, seconds = sweep_point(knob, value)
        report = cached_predict_peak(cfg, batch, seconds)
        formula = training_peak_formula(cfg, batch, seconds)
        rows.append({"knob": knob, "value": value, "batch_size": batch, "seconds": seconds,
                     "predicted_bytes": report.peak_bytes, "predicted_categories": report.categories,
                     "formula_bytes": formula["total"], "formula_categories": formula["categories"],
                     "relative_error": (formula["total"] - report.peak_bytes) / report.peak_bytes,
                     "elapsed_s": round(report.elapsed_s, 1)})
    return rows
