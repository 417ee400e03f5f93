"""MBS-Net: band split + Mamba + explicit magnitude/phase decoding.

Shapes use b = batch, t = frames, k = bands, c = channels, f = frequency bins (257),
d = d_inner, n = d_state, l = sequence length of a Mamba block.

    complex STFT (b, f, t)
      -> BandSplit                        (b, c, t, k)
      -> Encoder (one per branch, or one shared):
           n_layers x BiMamba along time, per band      sequences (b*k, t, c)
           1 x BiMamba across bands, per frame          sequences (b*t, k, c)
      -> OutputNet (Sigmoid for magnitude, Tanh for phase)  (b, c, t, k)
      -> BandDecoder (per band MLP)       (b, f, t)
      -> |X| * mask * exp(i (angle(X) + pi * offset))
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mbsnet.config import MBSNetConfig
from mbsnet.precision import checkpoint_contexts
from mbsnet.scan import selective_scan


def run_layer(layer: nn.Module, x: torch.Tensor, recompute: bool) -> torch.Tensor:
    """layer(x), or under a non-reentrant activation checkpoint when `recompute` and autograd is
    recording: only x is kept, the layer's activations are recomputed in backward (exact: the
    same ops on the same inputs; the model has no randomness, so no RNG state is kept)."""
    if recompute and torch.is_grad_enabled() and x.requires_grad:
        return checkpoint(layer, x, use_reentrant=False, preserve_rng_state=False,
                          context_fn=checkpoint_contexts)
    return layer(x)


class BandSplit(nn.Module):
    """Per band: real/imag of its bins -> GroupNorm(1, 2w) -> Linear(2w, c).

    (b, f, t) complex -> (b, c, t, k) real.
    """

    def __init__(self, band_widths, channels):
        super().__init__()
        self.band_widths = tuple(band_widths)
        self.norms = nn.ModuleList(nn.GroupNorm(1, 2 * w) for w in self.band_widths)
        self.projections = nn.ModuleList(nn.Linear(2 * w, channels) for w in self.band_widths)

    def forward(self, spec):
        bands = torch.split(spec, self.band_widths, dim=1)                   # k x (b, w, t)
        out = []
        for band, norm, proj in zip(bands, self.norms, self.projections):
            x = torch.cat([band.real, band.imag], dim=1)                      # (b, 2w, t)
            out.append(proj(norm(x).transpose(1, 2)))                        # (b, t, c)
        return torch.stack(out, dim=-1).transpose(1, 2)                      # (b, c, t, k)


class MambaBlock(nn.Module):
    """Pre-LayerNorm Mamba (S6) mixer with a residual: (b, l, c) -> (b, l, c)."""

    def __init__(self, cfg: MBSNetConfig):
        super().__init__()
        c, d, n, r = cfg.channels, cfg.d_inner, cfg.d_state, cfg.dt_rank_value
        self.scan_method, self.chunk_size = cfg.scan_method, cfg.scan_chunk_size
        self.scan_options = {"clamps": True} if cfg.scan_clamps else {}
        self.norm = nn.LayerNorm(c)
        self.in_proj = nn.Linear(c, 2 * d, bias=False)      # x and the gate z
        self.conv1d = nn.Conv1d(d, d, cfg.d_conv, groups=d, padding=cfg.d_conv - 1)
        self.x_proj_dt = nn.Linear(d, r, bias=False)
        self.dt_proj = nn.Linear(r, d, bias=True)
        self.B_proj = nn.Linear(d, n, bias=False)
        self.C_proj = nn.Linear(d, n, bias=False)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d, 1))
        self.D = nn.Parameter(torch.ones(d))
        self.out_proj = nn.Linear(d, c, bias=False)
        self._init_dt(r)

    def _init_dt(self, dt_rank, dt_min=1e-3, dt_max=1e-1, floor=1e-4):
        """mamba-ssm's init: softplus(dt_proj.bias) ~ log-uniform in [dt_min, dt_max]."""
        nn.init.uniform_(self.dt_proj.weight, -dt_rank ** -0.5, dt_rank ** -0.5)
        dt = torch.exp(torch.rand(self.dt_proj.bias.shape) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min)).clamp(min=floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))       # inverse softplus

    def _conv(self, u, l):
        """Causal depthwise conv: (b, l, d) -> (b, l, d), a strided view of (b, d, l + d_conv - 1)."""
        return self.conv1d(u.transpose(1, 2))[..., :l].transpose(1, 2)

    def _conv_inference(self, u, l):
        """_conv without its two transposing copies: (b, l, d) read as a channels-last (b, d, 1, l)
        image, the same kernel as a 2-d depthwise conv -> contiguous (b, l, d). Equal to _conv to
        float rounding (oneDNN's channels-last kernel; tests/test_model_inference.py)."""
        w = self.conv1d.weight.unsqueeze(2)                                  # (d, 1, 1, k)
        image = u.unsqueeze(2).permute(0, 3, 2, 1).contiguous(memory_format=torch.channels_last)
        out = F.conv2d(image, w, self.conv1d.bias, padding=(0, self.conv1d.padding[0]),
                       groups=self.conv1d.groups)                           # (b, d, 1, l + k - 1)
        return out[..., :l].squeeze(2).permute(0, 2, 1).contiguous()

    def forward(self, x):
        l = x.shape[1]
        xz = self.in_proj(self.norm(x))                                      # (b, l, 2d)
        u, z = xz.chunk(2, dim=-1)                                           # (b, l, d) each
        u = F.silu(self._conv(u, l) if torch.is_grad_enabled() else self._conv_inference(u, l))
        delta = F.linear(self.x_proj_dt(u), self.dt_proj.weight)             # bias added in the scan
        y = selective_scan(u, delta, -torch.exp(self.A_log), self.B_proj(u), self.C_proj(u),
                           D=self.D, z=z, delta_bias=self.dt_proj.bias, delta_softplus=True,
                           method=self.scan_method, chunk_size=self.chunk_size, **self.scan_options)
        return x + self.out_proj(y)


class BiMamba(nn.Module):
    """Forward Mamba + Mamba on the reversed sequence -> concat -> Linear(2c, c) -> LayerNorm.

    (b, l, c) -> (b, l, c).
    """

    def __init__(self, cfg: MBSNetConfig):
        super().__init__()
        self.forward_block = MambaBlock(cfg)
        self.backward_block = MambaBlock(cfg)
        self.merge = nn.Linear(2 * cfg.channels, cfg.channels)
        self.norm = nn.LayerNorm(cfg.channels)
        self.recompute_blocks = cfg.activation_checkpointing == "blocks"

    def forward(self, x):
        fwd = run_layer(self.forward_block, x, self.recompute_blocks)
        bwd = run_layer(self.backward_block, x.flip(1), self.recompute_blocks).flip(1)
        return self.norm(self.merge(torch.cat([fwd, bwd], dim=-1)))


def sequence_mixer(cfg: MBSNetConfig, direction: str) -> nn.Module:
    """A BiMamba for direction "bi", a single causal MambaBlock for "uni"."""
    return BiMamba(cfg) if direction == "bi" else MambaBlock(cfg)


class Encoder(nn.Module):
    """n_layers mixers along time (per band), then one across bands (per frame) + residual + LN.

    (b, c, t, k) -> (b, c, t, k). cfg.activation_checkpointing "mixers" checkpoints each mixer
    (temporal layers and the cross-band one); "blocks" each MambaBlock (see run_layer).
    """

    def __init__(self, cfg: MBSNetConfig):
        super().__init__()
        self.temporal = nn.ModuleList(sequence_mixer(cfg, cfg.temporal_direction)
                                      for _ in range(cfg.n_layers))
        self.crossband = sequence_mixer(cfg, cfg.crossband_direction)
        self.crossband_norm = nn.LayerNorm(cfg.channels)
        # a unidirectional mixer is a MambaBlock itself, so "blocks" checkpoints it here
        mode = cfg.activation_checkpointing
        self.recompute_temporal, self.recompute_crossband = (
            mode == "mixers" or (mode == "blocks" and direction == "uni")
            for direction in (cfg.temporal_direction, cfg.crossband_direction))

    def forward(self, x):
        b, c, t, k = x.shape
        h = x.permute(0, 3, 2, 1).reshape(b * k, t, c)                      # sequences over time
        for layer in self.temporal:
            h = run_layer(layer, h, self.recompute_temporal)
        h = h.reshape(b, k, t, c).transpose(1, 2).reshape(b * t, k, c)      # sequences over bands
        h = self.crossband_norm(h + run_layer(self.crossband, h, self.recompute_crossband))
        return h.reshape(b, t, k, c).permute(0, 3, 1, 2)                    # (b, c, t, k)


class OutputNet(nn.Module):
    """Per-position head on the encoder features: (b, c, t, k) -> (b, c, t, k)."""

    def __init__(self, cfg: MBSNetConfig, activation: nn.Module):
        super().__init__()
        c = cfg.channels
        if cfg.output_net == "mlp":
            self.net = nn.Sequential(nn.Linear(c, 2 * c), nn.Tanh(), nn.Linear(2 * c, c), activation)
        else:
            self.net = nn.Sequential(nn.Linear(c, c), activation)

    def forward(self, x):
        return self.net(x.movedim(1, -1)).movedim(-1, 1)


class BandDecoder(nn.Module):
    """Band features back to bins: (b, c, t, k) -> (b, f, t), pre-activation.

    "per_band": for each band GroupNorm(1, c) -> Linear(c, h) -> Tanh -> Linear(h, w).
    "shared_hidden": GroupNorm and Linear(c, h) shared by all bands, Linear(h, w) per band.
    """

    def __init__(self, cfg: MBSNetConfig):
        super().__init__()
        c, h, widths = cfg.channels, cfg.decoder_hidden, cfg.band_widths
        self.shared = cfg.decoder == "shared_hidden"
        n_hidden = 1 if self.shared else len(widths)
        self.norms = nn.ModuleList(nn.GroupNorm(1, c) for _ in range(n_hidden))
        self.hidden = nn.ModuleList(nn.Linear(c, h) for _ in range(n_hidden))
        self.outputs = nn.ModuleList(nn.Linear(h, w) for w in widths)

    def forward(self, x):
        out = []
        for i, proj in enumerate(self.outputs):
            j = 0 if self.shared else i
            band = self.norms[j](x[..., i])                                   # (b, c, t)
            out.append(proj(torch.tanh(self.hidden[j](band.transpose(1, 2)))))  # (b, t, w)
        return torch.cat(out, dim=-1).transpose(1, 2)                        # (b, f, t)


class MBSNet(nn.Module):
    """Complex STFT (b, f, t) -> enhanced complex STFT (b, f, t)."""

    def __init__(self, cfg: MBSNetConfig):
        super().__init__()
        self.cfg = cfg
        self.band_split = BandSplit(cfg.band_widths, cfg.channels)
        if cfg.encoder == "separate":
            self.magnitude_encoder = Encoder(cfg)
            self.phase_encoder = Encoder(cfg)
        else:
            self.shared_encoder = Encoder(cfg)
        self.magnitude_output = OutputNet(cfg, nn.Sigmoid())
        self.phase_output = OutputNet(cfg, nn.Tanh())
        self.magnitude_decoder = BandDecoder(cfg)
        self.phase_decoder = BandDecoder(cfg)

    def _check(self, spec):
        if not torch.is_complex(spec):
            raise TypeError(f"MBSNet expects a complex STFT (b, {self.cfg.n_bins}, t); got a real "
                            f"{spec.dtype} tensor. Use mbsnet.data.audio.stft(waveform) first.")
        if spec.dim() != 3 or spec.shape[1] != self.cfg.n_bins or spec.shape[2] < 1:
            raise ValueError(f"MBSNet expects a complex STFT of shape (b, {self.cfg.n_bins}, t>=1) "
                             f"for n_fft={self.cfg.n_fft}; got {tuple(spec.shape)}")

    def forward(self, spec):
        self._check(spec)
        features = self.band_split(spec)                                     # (b, c, t, k)
        if self.cfg.encoder == "separate":
            mag_features = self.magnitude_encoder(features)
            phase_features = self.phase_encoder(features)
        else:
            mag_features = phase_features = self.shared_encoder(features)
        mask = torch.sigmoid(self.magnitude_decoder(self.magnitude_output(mag_features)))
        if self.cfg.mask_floor_db is not None:                               # an attenuation limit
            mask = mask.clamp_min(10 ** (self.cfg.mask_floor_db / 20))
        offset = math.pi * torch.tanh(self.phase_decoder(self.phase_output(phase_features)))
        magnitude = spec.abs() * mask                                        # (b, f, t)
        phase = torch.angle(spec) + offset
        return torch.polar(magnitude, phase)


def build_model(cfg: MBSNetConfig) -> MBSNet:
    """Build MBS-Net for a config (see mbsnet.presets)."""
    if not isinstance(cfg, MBSNetConfig):
        raise TypeError(f"build_model expects an MBSNetConfig, got {type(cfg).__name__}; "
                        f"try mbsnet.presets.get('seed')")
    return MBSNet(cfg)
