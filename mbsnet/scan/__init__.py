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

from mbsnet.config import SCAN_METHODS
from mbsnet.scan.compiled import compiled_scan
from mbsnet.scan.inference import inference_scan  # noqa: F401  (public: the no-grad scan)
from mbsnet.scan.native import native_scan
from mbsnet.scan.recompute import needs_grad, recompute_scan


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


# The authors' clamps in chunked_scan, in order: name -> (low, high); None: no bound on that side.
CLAMP_RANGES = {"dt_B": (0.0, 1.0), "dt_A": (-10.0, 0.0), "A_bar": (None, 0.999),
                "h": (-100.0, 100.0), "y": (-50.0, 50.0)}


@torch.no_grad()
def count_clamps(counter: dict | None, name: str, x: torch.Tensor) -> None:
    """Add to counter[name] = [outside, total] x's elements outside CLAMP_RANGES[name] (a NaN
    counts as outside: a clamp would not leave it in range either); nothing if counter is None."""
    if counter is None:
        return
    low, high = CLAMP_RANGES[name]
    inside = torch.ones_like(x, dtype=torch.bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    entry = counter.setdefault(name, [0, 0])
    entry[0] += x.numel() - int(inside.sum())
    entry[1] += x.numel()


def clamp_fractions(counter: dict) -> dict:
    """{name: fraction of elements outside the clamp's range} for the clamps counted in `counter`."""
    return {name: out / total if total else 0.0 for name, (out, total) in counter.items()}


def chunked_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                 chunk_size=64, clamps=False, counter=None):
    """The source's "optimized" scan: loop over chunks, materializing exp(dt*A), dt*B*u per chunk.

    Shapes: u, delta, z (b, l, d); A (d, n); B, C (b, l, n) -> y (b, l, d).
    Without recomputation autograd still keeps every chunk's (b, T, d, n) tensors and every h_t,
    so the training peak barely moves. clamps=True reproduces the authors' clamps (DESIGN.md):
    dt*A to [-10, 0], dt to [0, 1] in B-bar, A-bar to <= 0.999, h to +-100 and the scan output
    <h, C> to +-50 (before the D skip and the gate). They change the function and zero the
    gradient wherever they bind. counter: None (the default), or a dict that count_clamps fills
    with how many elements lay outside each clamp's range before it (CLAMP_RANGES; counted with
    or without clamps=True, and without changing the output); clamp_fractions(counter) -> fractions.
    """
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    b, l, d = u.shape
    h = u.new_zeros(b, d, A.shape[1])                                        # (b, d, n)
    ys = []
    for s in range(0, l, chunk_size):
        dt, u_c, B_c, C_c = (x[:, s:s + chunk_size] for x in (delta, u, B, C))
        dt_A = dt.unsqueeze(-1) * A                                          # (b, T, d, n)
        count_clamps(counter, "dt_B", dt)
        count_clamps(counter, "dt_A", dt_A)
        dt_B = dt.clamp(0.0, 1.0) if clamps else dt
        if clamps:
            dt_A = dt_A.clamp(-10.0, 0.0)
        A_bar = torch.exp(dt_A)
        count_clamps(counter, "A_bar", A_bar)
        if clamps:
            A_bar = A_bar.clamp(max=0.999)
        Bu_bar = dt_B.unsqueeze(-1) * B_c.unsqueeze(2) * u_c.unsqueeze(-1)   # (b, T, d, n)
        for t in range(dt.shape[1]):
            h = A_bar[:, t] * h + Bu_bar[:, t]
            count_clamps(counter, "h", h)
            if clamps:
                h = h.clamp(-100.0, 100.0)
            ys.append(torch.einsum("bdn,bn->bd", h, C_c[:, t]))
    y = torch.stack(ys, dim=1)                                               # (b, l, d)
    count_clamps(counter, "y", y)
    if clamps:
        y = y.clamp(-50.0, 50.0)
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
    method: one of SCAN_METHODS ("recompute" is exact and keeps O(b*l*d + b*(l/T)*d*n) bytes for
    backward; "compiled" is the same scheme with torch.compile'd chunk kernels; "native" runs a C
    kernel's forward and backward (mbsnet.scan.native; saves its inputs only); "sequential" and
    "chunked" keep (b, l, d, n) tensors). chunk_size: chunk length T for "chunked" and "recompute",
    checkpoint interval for "compiled". method_options, for "chunked" only: `clamps=True` (the
    authors' clamps, see chunked_scan) and `counter=` (where they bind). Under torch.no_grad() (or
    when no input requires grad)
    "recompute" and "compiled" run a plain forward that keeps nothing for backward: "recompute"
    then runs inference_scan (its forward blocked over rows to stay in cache: the same values),
    "compiled" its compiled forward kernels.
    """
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    if method not in SCAN_METHODS:
        raise ValueError(f"unknown scan method {method!r}; choose one of {SCAN_METHODS}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    allowed = {"chunked": {"clamps", "counter"}}.get(method, set())
    unknown = set(method_options) - allowed
    if unknown:
        raise ValueError(f"method {method!r} takes no option(s) {sorted(unknown)}")
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if method == "sequential":
        return sequential_scan(*args)
    if method == "chunked":
        return chunked_scan(*args, chunk_size=chunk_size, **method_options)
    if method == "compiled":
        return compiled_scan(*args, chunk_size=chunk_size)
    if method == "native":
        return native_scan(*args, chunk_size=chunk_size)
    if not needs_grad(u, delta, A, B, C, D, z, delta_bias):
        return inference_scan(*args)
    return recompute_scan(*args, chunk_size=chunk_size)
