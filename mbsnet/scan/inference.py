"""The no-grad selective scan: recompute's forward, blocked over rows so that its scratch stays in cache.

When no gradient is wanted there is nothing to save, so the (rows, chunk) blocks can be chosen for
speed alone. recompute's forward sweeps every row of the batch through one chunk at a time: at
the inference shapes of the `final` model (8 s of audio: 31 bands x 1001 frames, or 1001 frames x
31 bands, d = 128, n = 16) its two (T, b, d, n) scratch buffers are 16 MiB and 250 MiB, far beyond
the CPU's caches, and every one of its ~6 passes per chunk goes to memory. Here the batch is cut
into blocks of ROW_ELEMENTS // (d*n) rows, each block runs its whole sequence in chunks of
CHUNK_ELEMENTS // (rows*d*n) steps, and the scratch is ~1 MiB per buffer.

The per-element arithmetic is recompute's, op for op (mbsnet.scan.recompute._chunk_states, then
<h, C> as a product and a sum over n, the D skip and the silu(z) gate), and the blocks only change
which elements an op visits together, so the output equals recompute's forward; tests check it
against recompute and the float64 oracle.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mbsnet.scan import native
from mbsnet.scan.recompute import _chunk_states, _compute_dtype

ROW_ELEMENTS = 32_768        # rows per block: this many (d, n) state elements (16 rows at d*n = 2048)
CHUNK_ELEMENTS = 262_144     # steps per chunk: this many state elements per scratch buffer (1 MiB)


KERNELS = ("auto", "native", "torch")


def inference_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   row_elements: int = ROW_ELEMENTS, chunk_elements: int = CHUNK_ELEMENTS, kernel: str = "auto"):
    """Selective scan without autograd bookkeeping, blocked over rows and time.

    Shapes: u, delta, z (b, l, d); A (d, n); B, C (b, l, n); D, delta_bias (d,) -> y (b, l, d) in
    u's dtype, computed in float32 (float64 for float64 inputs). Scratch: three buffers of about
    `chunk_elements` elements plus the (b, l, d) dt, dt*u and y; never a (b, l, d, n) tensor.
    For no-grad use: the result carries no graph.
    kernel: "torch" (the blocked torch ops above), "native" (the C kernel of mbsnet.scan.native: the
    states in one pass; float32 CPU only) or "auto" (native where it applies, else torch).
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    f = _compute_dtype(u)
    with torch.no_grad():
        u32, B32, C32, A32 = u.to(f), B.to(f), C.to(f), A.to(f)
        dt = delta.to(f) + delta_bias.to(f) if delta_bias is not None else delta.to(f)
        if delta_softplus:
            dt = F.softplus(dt)
        dtu = dt * u32                                                    # (b, l, d)
        native_ok = kernel != "torch" and native.usable(dt, dtu, A32, B32, C32)
        if kernel == "native" and not native_ok:
            raise RuntimeError("the C scan kernel does not apply here (float32 CPU tensors and a C compiler needed)")
        y = native.scan_states_output(dt, dtu, A32, B32, C32) if native_ok else _blocked_states(
            dt, dtu, A32, B32, C32, row_elements, chunk_elements)
        if D is not None:
            y.addcmul_(u32, D.to(f))
        if z is not None:
            y.mul_(F.silu(z.to(f)))
    return y.to(u.dtype)


def _blocked_states(dt, dtu, A32, B32, C32, row_elements, chunk_elements):
    """y = <h_t, C_t> (b, l, d) by recompute's chunk recurrence, blocked over rows and time (module docstring)."""
    b, l, d = dt.shape
    n = A32.shape[1]
    f, dev = dt.dtype, dt.device
    y = torch.empty(b, l, d, dtype=f, device=dev)
    R = max(1, min(b, row_elements // (d * n)))
    T = max(1, min(l, chunk_elements // (R * d * n)))
    dA, H = (torch.empty(T, R, d, n, dtype=f, device=dev) for _ in range(2))
    y_c = torch.empty(T, R, d, dtype=f, device=dev)
    h0 = torch.empty(R, d, n, dtype=f, device=dev)
    for r0 in range(0, b, R):
        r1 = min(b, r0 + R)
        rows = r1 - r0
        h0.zero_()
        for s in range(0, l, T):
            e = min(l, s + T)
            c = e - s
            a, H_c, y_b = dA[:c, :rows], H[:c, :rows], y_c[:c, :rows]
            if s:
                h0[:rows].copy_(H[T - 1, :rows])          # the state before this chunk
            _chunk_states(dt[r0:r1, s:e].transpose(0, 1), dtu[r0:r1, s:e].transpose(0, 1), A32,
                          B32[r0:r1, s:e].transpose(0, 1), h0[:rows], a, H_c)
            torch.sum(torch.mul(H_c, C32[r0:r1, s:e].transpose(0, 1).unsqueeze(2), out=a), -1,
                      out=y_b)                             # y_t = <h_t, C_t>
            y[r0:r1, s:e] = y_b.transpose(0, 1)
    return y
