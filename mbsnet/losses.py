"""Training losses for spectral speech enhancement.

With X = |X| e^{i phi}, the compressed spectrum is X_c = |X|^p e^{i phi} (p = 0.3):

    magnitude   L1(|Y|^p, |S|^p)                                   (compressed magnitude)
    complex     L1(Re Y_c, Re S_c) + L1(Im Y_c, Im S_c)             (compressed real/imag)
    phase       MP-SENet's anti-wrapping losses on the instantaneous phase (IP), the group delay
                (GD, difference along frequency) and the instantaneous angular frequency (IAF,
                difference along time):  a(x) = |x - round(x / 2 pi) 2 pi|
    time        L1 between waveforms

Default weights are the original MBS-Net's: 0.5 complex + 0.5 magnitude, nothing else
(`LossWeights()`); MP-SENet/SEMamba-style training adds phase and time terms.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

COMPRESS = 0.3


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; the defaults are the original MBS-Net's."""

    magnitude: float = 0.5
    complex: float = 0.5
    phase: float = 0.0
    time: float = 0.0
    compress: float = COMPRESS

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not value >= 0:
                raise ValueError(f"LossWeights.{name} must be >= 0, got {value!r}")
        if self.compress == 0:
            raise ValueError("LossWeights.compress must be > 0")


def compress(spec: torch.Tensor, power: float = COMPRESS, eps: float = 1e-8) -> torch.Tensor:
    """|X|^p e^{i angle X}: complex (b, f, t) -> complex (b, f, t); safe gradient at 0."""
    magnitude = spec.abs().clamp_min(eps)
    return spec * (magnitude ** (power - 1))


def magnitude_loss(est, ref, power: float = COMPRESS):
    """L1 between compressed magnitudes; est, ref complex (b, f, t)."""
    return F.l1_loss(compress(est, power).abs(), compress(ref, power).abs())


def complex_loss(est, ref, power: float = COMPRESS):
    """L1 on the real and imaginary parts of the compressed spectra; complex (b, f, t)."""
    e, r = compress(est, power), compress(ref, power)
    return F.l1_loss(e.real, r.real) + F.l1_loss(e.imag, r.imag)


def anti_wrapping(x: torch.Tensor) -> torch.Tensor:
    """|x - round(x / 2 pi) 2 pi|: the distance of a phase difference to the nearest 2 pi multiple."""
    return torch.abs(x - torch.round(x / (2 * math.pi)) * 2 * math.pi)


def phase_loss(est, ref):
    """MP-SENet's IP + GD + IAF anti-wrapping losses; complex (b, f, t) spectra."""
    phi_e, phi_r = torch.angle(est), torch.angle(ref)
    ip = anti_wrapping(phi_e - phi_r).mean()
    gd = anti_wrapping(torch.diff(phi_e, dim=1) - torch.diff(phi_r, dim=1)).mean()
    iaf = anti_wrapping(torch.diff(phi_e, dim=2) - torch.diff(phi_r, dim=2)).mean()
    return ip + gd + iaf


def time_loss(est_wav, ref_wav):
    """L1 between waveforms (b, s)."""
    return F.l1_loss(est_wav, ref_wav)


def spectral_loss(estimate: torch.Tensor, clean: torch.Tensor, compress: float = COMPRESS,
                  eps: float = 1e-8) -> torch.Tensor:
    """The original MBS-Net's loss: 0.5 L1 on real/imag + 0.5 L1 on magnitude ** 0.3.

    Unlike `enhancement_loss`, the real/imag term is on the raw (uncompressed) spectrum; the
    original's step (`mbsnet.step.StepSettings.original()`) uses it. estimate, clean: complex (b, f, t).
    """
    complex_term = F.l1_loss(torch.view_as_real(estimate), torch.view_as_real(clean))
    magnitude_term = F.l1_loss((estimate.abs() + eps) ** compress, (clean.abs() + eps) ** compress)
    return 0.5 * complex_term + 0.5 * magnitude_term


def enhancement_loss(est_spec, ref_spec, weights: LossWeights = LossWeights(), est_wav=None,
                     ref_wav=None) -> tuple[torch.Tensor, dict]:
    """Weighted sum of the terms with non-zero weight -> (total, {term: float}).

    est_spec, ref_spec: complex (b, f, t). est_wav, ref_wav: (b, s), needed only if weights.time > 0.
    """
    total, terms = enhancement_loss_terms(est_spec, ref_spec, weights, est_wav, ref_wav)
    return total, {name: float(value.detach()) for name, value in terms.items()}


def enhancement_loss_terms(est_spec, ref_spec, weights: LossWeights = LossWeights(), est_wav=None,
                           ref_wav=None) -> tuple[torch.Tensor, dict]:
    """As `enhancement_loss`, with the terms as 0-d tensors (-> (total, {term: tensor})): no value
    is read, so it also runs on meta tensors."""
    terms = {}
    if weights.magnitude:
        terms["magnitude"] = magnitude_loss(est_spec, ref_spec, weights.compress)
    if weights.complex:
        terms["complex"] = complex_loss(est_spec, ref_spec, weights.compress)
    if weights.phase:
        terms["phase"] = phase_loss(est_spec, ref_spec)
    if weights.time:
        if est_wav is None or ref_wav is None:
            raise ValueError("the time loss needs est_wav and ref_wav")
        terms["time"] = time_loss(est_wav, ref_wav)
    if not terms:
        raise ValueError("all loss weights are zero")
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    return total, terms
