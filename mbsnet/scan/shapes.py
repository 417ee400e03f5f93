"""Scan inputs of a given shape, as a freshly initialised Mamba block sees them; the seed's two scan shapes."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mbsnet import presets

SEED_SEGMENT_SECONDS = 2.0          # the seed trains on 2 s segments: 251 STFT frames
SWEEP_LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096)


@dataclass(frozen=True)
class ScanShape:
    """One benchmark case: b sequences of length l, d channels, n states."""

    name: str
    b: int
    l: int
    d: int
    n: int

    @property
    def state_bytes(self) -> int:
        """Bytes of one float32 (b, l, d, n) tensor."""
        return 4 * self.b * self.l * self.d * self.n


def seed_shapes(batch: int = 2) -> list[ScanShape]:
    """The seed's two scan shapes at `batch`: along time per band, and across bands per frame."""
    cfg = presets.get("seed")
    frames = int(SEED_SEGMENT_SECONDS * cfg.sample_rate) // cfg.hop_length + 1     # 251
    bands = len(cfg.band_widths)                                                  # 31
    d, n = cfg.d_inner, cfg.d_state
    return [ScanShape("seed temporal", batch * bands, frames, d, n),
            ScanShape("seed cross-band", batch * frames, bands, d, n)]


def sweep_shapes(lengths=SWEEP_LENGTHS, b: int = 2, d: int = 64, n: int = 16) -> list[ScanShape]:
    """Small b, d so that the sweep over lengths stays quick."""
    return [ScanShape(f"sweep l={l}", b, l, d, n) for l in lengths]


def scan_inputs(shape: ScanShape, seed: int = 0) -> dict:
    """Float32 leaves as a freshly initialised Mamba block sees them: A = -(1..n), D = 1,
    delta_bias = softplus^-1(dt) with dt log-uniform in [1e-3, 1e-1] (mamba-ssm's init)."""
    g = torch.Generator().manual_seed(seed)
    b, l, d, n = shape.b, shape.l, shape.d, shape.n
    r = lambda *s: torch.randn(*s, generator=g)
    dt = torch.exp(torch.rand(d, generator=g) * (math.log(1e-1) - math.log(1e-3)) + math.log(1e-3))
    x = dict(u=r(b, l, d), delta=r(b, l, d) * 0.5,
             A=-torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1),
             B=r(b, l, n), C=r(b, l, n), D=torch.ones(d), z=r(b, l, d),
             delta_bias=dt + torch.log(-torch.expm1(-dt)))
    return {k: v.requires_grad_(True) for k, v in x.items()}
