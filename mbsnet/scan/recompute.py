"""Selective scan with a hand-written backward that recomputes each chunk (mamba-ssm's strategy).

Forward: the sequence is cut into chunks of T steps. Per chunk, exp(dt*A) and dt*B*u are built as
(T, b, d, n) scratch buffers, the recurrence runs in place (one fused op per step) and
y = <h, C> is one batched matmul. Autograd keeps only the inputs and the hidden state at each chunk
start: O(b*l*d + b*(l/T)*d*n) bytes, never a (b, l, d, n) tensor.

Backward walks the chunks in reverse: recompute the chunk's states from its saved start state,
run the reverse recurrence dh_t = C_t*dy_t + a_{t+1}*dh_{t+1}, then get every gradient with a few
vectorised ops per chunk (formulas of mamba-ssm's selective_scan_bwd_kernel):
    du = D*dy + dt*sum_n dh*B          d dt = u*sum_n dh*B + sum_n dh*A*(a_t h_{t-1})
    dA = sum_{b,t} dh*dt*(a_t h_{t-1})  dB = sum_d dh*dt*u     dC = sum_d dy*h    dD = sum dy*u
then the softplus backward (times sigmoid(delta + delta_bias)) and d delta_bias = sum d delta.

Inside, everything is time-major (l, b, ...) so that one step's slice is contiguous, and float32.
No data-dependent Python control flow: it runs under FakeTensorMode / meta tensors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _compute_dtype(x):
    """float32 for float32/bfloat16/float16 inputs, float64 for float64 ones (gradcheck)."""
    return torch.promote_types(x.dtype, torch.float32)


def _time_major(x, dtype):
    """(b, l, ...) -> contiguous (l, b, ...) in `dtype`."""
    return x.transpose(0, 1).to(dtype).contiguous()


def _batch_major(x, dtype):
    """(l, b, ...) -> contiguous (b, l, ...) in `dtype`."""
    return x.transpose(0, 1).to(dtype).contiguous()


def _raw_dt(delta, delta_bias, dtype):
    """delta (b, l, d) [+ delta_bias] -> time-major (l, b, d) before the softplus."""
    delta_tm = _time_major(delta, dtype)
    return delta_tm + delta_bias.to(dtype) if delta_bias is not None else delta_tm


def _chunk_states(dt, dtu, A, B, h0, dA, H):
    """Run one chunk of the recurrence in place.

    dt, dtu = dt*u: (T, b, d); A: (d, n); B: (T, b, n); h0: (b, d, n) state before the chunk.
    dA, H: (T, b, d, n) scratch buffers, filled with exp(dt*A) and the states h_t.
    """
    torch.mul(dt.unsqueeze(-1), A, out=dA)
    dA.exp_()
    torch.mul(dtu.unsqueeze(-1), B.unsqueeze(2), out=H)                   # dt*B*u
    H[0].addcmul_(dA[0], h0)
    for t in range(1, H.shape[0]):
        H[t].addcmul_(dA[t], H[t - 1])


def _forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, T, keep_starts):
    """The forward pass in chunks of T steps -> y (b, l, d) in u's dtype, and the chunk-start
    states (chunks - 1, b, d, n) when keep_starts (else an empty tensor: nothing kept)."""
    b, l, d = u.shape
    n = A.shape[1]
    starts = list(range(0, l, T))
    f, dev = _compute_dtype(u), u.device
    u_tm, B_tm, C_tm, A32 = _time_major(u, f), _time_major(B, f), _time_major(C, f), A.to(f)
    dt = _raw_dt(delta, delta_bias, f)                                               # (l, b, d)
    if delta_softplus:
        dt = F.softplus(dt)
    dtu = dt * u_tm
    y = torch.empty(l, b, d, dtype=f, device=dev)
    dA = torch.empty(T, b, d, n, dtype=f, device=dev)
    H = torch.empty_like(dA)
    starts_h = torch.empty(len(starts) - 1 if keep_starts else 0, b, d, n, dtype=f, device=dev)
    h0 = torch.zeros(b, d, n, dtype=f, device=dev)
    for k, s in enumerate(starts):
        e = min(s + T, l)
        c = e - s
        if k > 0:                                           # H is reused: keep the chunk start
            if keep_starts:
                h0 = starts_h[k - 1]
            h0.copy_(H[T - 1])
        _chunk_states(dt[s:e], dtu[s:e], A32, B_tm[s:e], h0, dA[:c], H[:c])
        torch.sum(torch.mul(H[:c], C_tm[s:e].unsqueeze(2), out=dA[:c]), -1, out=y[s:e])
    if D is not None:
        y.addcmul_(u_tm, D.to(f))
    if z is not None:
        y.mul_(F.silu(_time_major(z, f)))
    return _batch_major(y, u.dtype), starts_h


def needs_grad(*tensors) -> bool:
    """Whether autograd will want gradients of any of `tensors` (grad mode on, one requires grad)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def save_for_recompute(ctx, inputs, delta_softplus: bool, chunk_size: int, starts) -> None:
    """What a recomputing scan keeps for backward: its inputs (u, delta, A, B, C, D, z, delta_bias;
    optional ones may be None), which optional ones were given, and the chunk-start states."""
    _, _, _, _, _, D, z, delta_bias = inputs
    ctx.delta_softplus, ctx.chunk_size = delta_softplus, chunk_size
    ctx.has = (D is not None, z is not None, delta_bias is not None)
    ctx.save_for_backward(*inputs, starts)


class RecomputeScan(torch.autograd.Function):
    """y (b, l, d) = selective scan; saves inputs + chunk-start states, recomputes in backward."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size):
        T = min(chunk_size, u.shape[1])
        y, starts_h = _forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, T, True)
        save_for_recompute(ctx, (u, delta, A, B, C, D, z, delta_bias), delta_softplus, T, starts_h)
        return y

    @staticmethod
    def backward(ctx, dout):
        u, delta, A, B, C, D, z, delta_bias, starts_h = ctx.saved_tensors
        T = ctx.chunk_size
        b, l, d = u.shape
        n = A.shape[1]
        f32, dev = _compute_dtype(u), u.device  # f32: compute dtype
        u_tm, B_tm, C_tm, A32 = _time_major(u, f32), _time_major(B, f32), _time_major(C, f32), A.to(f32)
        delta_tm = _raw_dt(delta, delta_bias, f32)
        dt = F.softplus(delta_tm) if ctx.delta_softplus else delta_tm
        dout = _time_major(dout, f32)
        if z is not None:                                   # out = (y + D*u) * silu(z)
            z_tm = _time_major(z, f32)
            sig = torch.sigmoid(z_tm)
            dy = dout * (z_tm * sig)
        else:
            dy = dout
        du = dy * D.to(f32) if D is not None else torch.zeros_like(u_tm)
        dz = torch.empty_like(dout) if z is not None else None
        ddt = torch.empty_like(dt)
        dB = torch.empty_like(B_tm)
        dC = torch.empty_like(C_tm)
        dA_param = torch.zeros(d, n, dtype=f32, device=dev)
        dtu = dt * u_tm
        # (T, b, d, n) scratch, allocated once: fresh big tensors per op cost page faults
        dA, H, dH, W = (torch.empty(T, b, d, n, dtype=f32, device=dev) for _ in range(4))
        zero = torch.zeros(b, d, n, dtype=f32, device=dev)
        carry = zero                                        # a_{e} * dh_{e} from the next chunk
        starts = list(range(0, l, T))
        for k in reversed(range(len(starts))):
            s = starts[k]
            e = min(s + T, l)
            c = e - s
            h0 = starts_h[k - 1] if k > 0 else zero
            dA_c, H_c, dH_c, W_c = dA[:c], H[:c], dH[:c], W[:c]
            dtc, dtuc, dyc = dt[s:e], dtu[s:e], dy[s:e]
            Bc, Cc = B_tm[s:e].unsqueeze(2), C_tm[s:e].unsqueeze(2)                  # (c, b, 1, n)
            _chunk_states(dtc, dtuc, A32, B_tm[s:e], h0, dA_c, H_c)
            if z is not None:                               # needs y + D*u of this chunk
                y_c = torch.mul(H_c, Cc, out=W_c).sum(-1)
                if D is not None:
                    y_c.addcmul_(u_tm[s:e], D.to(f32))
                sg = sig[s:e]
                dz[s:e] = dout[s:e] * y_c * sg * (1 + z_tm[s:e] * (1 - sg))
            torch.sum(torch.mul(H_c, dyc.unsqueeze(-1), out=W_c), 2, out=dC[s:e])   # dC = <dy, h>_d
            # reverse recurrence: dH_t = C_t dy_t + a_{t+1} dH_{t+1}
            torch.mul(dyc.unsqueeze(-1), Cc, out=dH_c)
            dH_c[c - 1].add_(carry)
            for t in range(c - 2, -1, -1):
                dH_c[t].addcmul_(dA_c[t + 1], dH_c[t + 1])
            carry = dA_c[0] * dH_c[0]
            torch.sum(torch.mul(dH_c, dtuc.unsqueeze(-1), out=W_c), 2, out=dB[s:e])  # dB = <dH, dt u>_d
            S = torch.mul(dH_c, Bc, out=W_c).sum(-1)                                # (c, b, d)
            du[s:e].addcmul_(dtc, S)
            ddt[s:e] = u_tm[s:e] * S
            # P = dH_t * a_t * h_{t-1}: the gradient reaching dt*A; H is free to be scratch now
            torch.mul(dA_c[0], h0, out=W_c[0])
            torch.mul(dA_c[1:], H_c[:-1], out=W_c[1:])
            W_c.mul_(dH_c)
            ddt[s:e] += torch.mul(W_c, A32, out=H_c).sum(-1)
            dA_param += torch.mul(W_c, dtc.unsqueeze(-1), out=H_c).sum((0, 1))
        if ctx.delta_softplus:
            ddt.mul_(torch.sigmoid(delta_tm))
        has_D, has_z, has_bias = ctx.has
        grads = (
            _batch_major(du, u.dtype), _batch_major(ddt, delta.dtype), dA_param.to(A.dtype),
            _batch_major(dB, B.dtype), _batch_major(dC, C.dtype),
            (dy * u_tm).sum((0, 1)).to(D.dtype) if has_D else None,
            _batch_major(dz, z.dtype) if has_z else None,
            ddt.sum((0, 1)).to(delta_bias.dtype) if has_bias else None,
            None, None)
        return grads


def recompute_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   chunk_size=64):
    """Selective scan, exact, saving only inputs + chunk-start states (b, l/T, d, n).

    Shapes: u, delta, z (b, l, d); A (d, n); B, C (b, l, n); D, delta_bias (d,) -> (b, l, d).
    Inputs may be float32 or bfloat16; the scan accumulates in float32. When no gradient is
    wanted (torch.no_grad(), or no input requires grad) it is a plain forward that keeps nothing.
    """
    if not needs_grad(u, delta, A, B, C, D, z, delta_bias):
        return _forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                        min(chunk_size, u.shape[1]), False)[0]
    return RecomputeScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size)
