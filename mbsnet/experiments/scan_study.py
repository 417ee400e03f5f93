"""Measurements behind notebook 4 (the scan): saved bytes, the clamps, errors vs float64.

All functions take a `ScanShape` and build inputs with `scan_inputs` (mbsnet.scan.shapes), so the
notebook and `python -m mbsnet bench scan` measure the same thing.
"""
from __future__ import annotations

import torch

from mbsnet.experiments.scan_bench import scan_function
from mbsnet.memory.saved import saved_tensor_bytes
from mbsnet.scan.shapes import ScanShape, scan_inputs
from mbsnet.scan import selective_scan

GRAD_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def saved_bytes_by_method(shape: ScanShape, methods, chunk_size: int = 64) -> dict:
    """{method: bytes autograd saves for backward} for one forward at `shape`."""
    x = scan_inputs(shape)
    return {m: saved_tensor_bytes(lambda m=m: scan_function(m, chunk_size)(**x)) for m in methods}


def stressed(inputs: dict, dt_shift: float = 6.0, u_scale: float = 20.0) -> dict:
    """Inputs pushed where the clamps bind: larger steps dt (shifted pre-softplus), louder u."""
    x = {k: v.detach().clone() for k, v in inputs.items()}
    x["delta"] += dt_shift
    x["u"] *= u_scale
    return {k: v.requires_grad_(True) for k, v in x.items()}


def _output_and_grads(inputs: dict, grad_out, **kw):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    y = selective_scan(**leaves, delta_softplus=True, **kw)
    y.backward(grad_out)
    return y.detach(), {k: v.grad for k, v in leaves.items()}


def clamp_effect(inputs: dict, chunk_size: int = 32) -> dict:
    """What the authors' clamps change: output error and gradients zeroed, vs the same scan without.

    Returns relative output error max|y_c - y| / max|y|, and per input the fraction of gradient
    entries that are exactly zero with the clamps but not without them, and the relative
    gradient error max|g_c - g| / max|g|.
    """
    g = torch.randn(inputs["u"].shape, generator=torch.Generator().manual_seed(1))
    y, grads = _output_and_grads(inputs, g, method="chunked", chunk_size=chunk_size)
    yc, grads_c = _output_and_grads(inputs, g, method="chunked", chunk_size=chunk_size, clamps=True)
    out = {"output_rel_error": float((yc - y).abs().max() / y.abs().max()), "zeroed": {},
           "grad_rel_error": {}}
    for k in GRAD_NAMES:
        newly_zero = (grads_c[k] == 0) & (grads[k] != 0)
        out["zeroed"][k] = float(newly_zero.float().mean())
        out["grad_rel_error"][k] = float((grads_c[k] - grads[k]).abs().max() / grads[k].abs().max())
    return out


def errors_vs_float64(method: str, shape: ScanShape, chunk_size: int = 64) -> dict:
    """Max abs error of the output and every gradient of a float32 method vs float64 sequential.

    The float64 run is the seed's plain recurrence in double precision (the unit tests use an
    independent oracle); returns {"y": err, "grad u": err, ...} and the reference magnitudes.
    """
    x = scan_inputs(shape)
    g = torch.randn(shape.b, shape.l, shape.d, generator=torch.Generator().manual_seed(1))
    y, grads = _output_and_grads(x, g, method=method, chunk_size=chunk_size)
    x64 = {k: v.detach().double() for k, v in x.items()}
    y64, grads64 = _output_and_grads(x64, g.double(), method="sequential")
    errors = {"y": float((y.double() - y64).abs().max())}
    scale = {"y": float(y64.abs().max())}
    for k in GRAD_NAMES:
        errors[f"grad {k}"] = float((grads[k].double() - grads64[k]).abs().max())
        scale[f"grad {k}"] = float(grads64[k].abs().max())
    return {"max_abs_error": errors, "max_abs_reference": scale}


@torch.no_grad()
def clamp_binding(inputs: dict) -> dict:
    """Fraction of entries where each of the authors' clamps binds, on the unclamped scan.

    dt*A < -10 and A-bar > 0.999 per (b, l, d, n); dt > 1 per (b, l, d); |h| > 100 per
    (b, l, d, n); |<h, C>| > 50 per (b, l, d). Wherever a clamp binds its gradient is zero.
    """
    x = {k: v.detach() for k, v in inputs.items()}
    dt = torch.nn.functional.softplus(x["delta"] + x["delta_bias"])            # (b, l, d)
    dt_a = dt.unsqueeze(-1) * x["A"]                                            # (b, l, d, n)
    h = torch.zeros_like(dt_a[:, 0])
    h_big = torch.zeros((), dtype=torch.float64)
    y_big = torch.zeros((), dtype=torch.float64)
    for t in range(dt.shape[1]):                                                # h_t, (b, d, n)
        h = torch.exp(dt_a[:, t]) * h + (dt[:, t] * x["u"][:, t]).unsqueeze(-1) * x["B"][:, t, None]
        h_big += (h.abs() > 100).sum()
        y_big += ((h * x["C"][:, t, None]).sum(-1).abs() > 50).sum()
    return {"dt*A < -10": float((dt_a < -10).float().mean()),
            "A_bar > 0.999": float((torch.exp(dt_a) > 0.999).float().mean()),
            "dt > 1": float((dt > 1).float().mean()),
            "|h| > 100": float(h_big / dt_a.numel()),
            "|y| > 50": float(y_big / dt.numel())}
