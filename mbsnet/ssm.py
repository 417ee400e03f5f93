"""Selective scans (Mamba S6) in pure PyTorch.

Layout (batch, length, channels), as in mamba-minimal:
    u, delta, z: (b, l, d)    A: (d, n)    B, C: (b, l, n)    D, delta_bias: (d,)

The recurrence (Gu & Dao 2023, eq. 2a-2b with ZOH for A and Euler for B, as in mamba-ssm):
    delta_t = softplus(delta_t + delta_bias)          (optional)
    h_t     = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t        h: (b, d, n)
    y_t     = <h_t, C_t> + D * u_t ;   y_t *= silu(z_t)               (optional)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import SCAN_METHODS


def _prepare_delta(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def _finish(y, u, D, z):
    """y (b, l, d) -> y + D*u, gated by silu(z)."""
    if D is not None:
        y = y + u * D
    if z is not None:
        y = y * F.silu(z)
    return y


def sequential_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The seed's scan: materialize exp(delta*A) and delta*B*u, then loop over time.

    Shapes: u, delta, z (b, l, d); A (d, n); B, C (b, l, n) -> y (b, l, d).
    Both (b, l, d, n) tensors are built up front, and autograd keeps them plus every step's
    hidden state h_t (b, d, n): this is the memory the series sets out to remove.
    """
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    deltaA = torch.exp(delta.unsqueeze(-1) * A)                              # (b, l, d, n)
    deltaB_u = delta.unsqueeze(-1) * B.unsqueeze(2) * u.unsqueeze(-1)        # (b, l, d, n)
    h = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])                      # (b, d, n)
    ys = []
    for t in range(u.shape[1]):
        h = deltaA[:, t] * h + deltaB_u[:, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, t]))
    y = torch.stack(ys, dim=1)                                               # (b, l, d)
    return _finish(y, u, D, z)


def _check_inputs(u, delta, A, B, C, D, z, delta_bias):
    if u.dim() != 3:
        raise ValueError(f"u must be (b, l, d), got shape {tuple(u.shape)}")
    b, l, d = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"delta must match u {tuple(u.shape)}, got {tuple(delta.shape)}")
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"A must be (d={d}, n), got {tuple(A.shape)}")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if tuple(t.shape) != (b, l, n):
            raise ValueError(f"{name} must be (b, l, n) = {(b, l, n)}, got {tuple(t.shape)}")
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and tuple(t.shape) != (d,):
            raise ValueError(f"{name} must be (d,) = ({d},), got {tuple(t.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"z must match u {tuple(u.shape)}, got {tuple(z.shape)}")


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   method="recompute", chunk_size=64, **method_options):
    """Run the selective scan with the named method; all methods compute the same function.

    Shapes: u, delta, z (b, l, d); A (d, n); B, C (b, l, n); D, delta_bias (d,) -> (b, l, d).
    method: one of SCAN_METHODS. chunk_size: chunk length for the chunked methods.
    """
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    if method == "sequential":
        return sequential_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if method not in SCAN_METHODS:
        raise ValueError(f"unknown scan method {method!r}; choose one of {SCAN_METHODS}")
    raise NotImplementedError(f"scan method {method!r} is not implemented yet")
