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


def _chunk_states(dt, u, A, B, h0, dA, H):
    """Run one chunk of the recurrence in place.

    dt, u: (T, b, d); A: (d, n); B: (T, b, n); h0: (b, d, n) state before the chunk.
    dA, H: (T, b, d, n) scratch buffers, filled with exp(dt*A) and the states h_t.
    """
    torch.mul(dt.unsqueeze(-1), A, out=dA)
    dA.exp_()
    torch.mul((dt * u).unsqueeze(-1), B.unsqueeze(2), out=H)              # dt*B*u
    H[0].addcmul_(dA[0], h0)
    for t in range(1, H.shape[0]):
        H[t].addcmul_(dA[t], H[t - 1])


class RecomputeScan(torch.autograd.Function):
    """y (b, l, d) = selective scan; saves inputs + chunk-start states, recomputes in backward."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size):
        b, l, d = u.shape
        n = A.shape[1]
        T = min(chunk_size, l)
        starts = list(range(0, l, T))
        f, dev = _compute_dtype(u), u.device
        u_tm, B_tm, C_tm, A32 = _time_major(u, f), _time_major(B, f), _time_major(C, f), A.to(f)
        dt = _raw_dt(delta, delta_bias, f)                                           # (l, b, d)
        if delta_softplus:
            dt = F.softplus(dt)
        y = torch.empty(l, b, d, dtype=f, device=dev)
        dA = torch.empty(T, b, d, n, dtype=f, device=dev)
        H = torch.empty_like(dA)
        starts_h = torch.empty(len(starts) - 1, b, d, n, dtype=f, device=dev)
        h0 = torch.zeros(b, d, n, dtype=f, device=dev)
        for k, s in enumerate(starts):
            e = min(s + T, l)
            c = e - s
            if k > 0:                                       # H is reused: keep the chunk start
                h0 = starts_h[k - 1]
                h0.copy_(H[T - 1])
            _chunk_states(dt[s:e], u_tm[s:e], A32, B_tm[s:e], h0, dA[:c], H[:c])
            torch.matmul(H[:c], C_tm[s:e].unsqueeze(-1), out=y[s:e].unsqueeze(-1))
        if D is not None:
            y.addcmul_(u_tm, D.to(f))
        if z is not None:
            y.mul_(F.silu(_time_major(z, f)))
        ctx.delta_softplus, ctx.chunk_size = delta_softplus, T
        ctx.has = (D is not None, z is not None, delta_bias is not None)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, starts_h)
        return _batch_major(y, u.dtype)

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
        dA = torch.empty(T, b, d, n, dtype=f32, device=dev)
        H, dH, X = torch.empty_like(dA), torch.empty_like(dA), torch.empty_like(dA)
        zero = torch.zeros(b, d, n, dtype=f32, device=dev)
        carry = zero                                        # a_{e} * dh_{e} from the next chunk
        starts = list(range(0, l, T))
        for k in reversed(range(len(starts))):
            s = starts[k]
            e = min(s + T, l)
            c = e - s
            h0 = starts_h[k - 1] if k > 0 else zero
            dA_c, H_c, dH_c, X_c = dA[:c], H[:c], dH[:c], X[:c]
            _chunk_states(dt[s:e], u_tm[s:e], A32, B_tm[s:e], h0, dA_c, H_c)
            if z is not None:                               # needs y + D*u of this chunk
                y_c = torch.matmul(H_c, C_tm[s:e].unsqueeze(-1)).squeeze(-1)
                if D is not None:
                    y_c.addcmul_(u_tm[s:e], D.to(f32))
                sg = sig[s:e]
                dz[s:e] = dout[s:e] * y_c * sg * (1 + z_tm[s:e] * (1 - sg))
            # reverse recurrence: dH_t = C_t dy_t + a_{t+1} dH_{t+1}
            torch.mul(dy[s:e].unsqueeze(-1), C_tm[s:e].unsqueeze(2), out=dH_c)
            dH_c[c - 1].add_(carry)
            for t in range(c - 2, -1, -1):
                dH_c[t].addcmul_(dA_c[t + 1], dH_c[t + 1])
            carry = dA_c[0] * dH_c[0]
            # X_t = a_t h_{t-1}, then P = dH * X (in place in X)
            torch.mul(dA_c[0], h0, out=X_c[0])
            if c > 1:
                torch.mul(dA_c[1:], H_c[:-1], out=X_c[1:])
            X_c.mul_(dH_c)
            dtc, uc = dt[s:e], u_tm[s:e]
            S = torch.matmul(dH_c, B_tm[s:e].unsqueeze(-1)).squeeze(-1)              # (c, b, d)
            du[s:e].addcmul_(dtc, S)
            ddt[s:e] = uc * S + torch.einsum("tbdn,dn->tbd", X_c, A32)
            dA_param += torch.einsum("kdn,kd->dn", X_c.view(c * b, d, n), dtc.reshape(c * b, d))
            torch.matmul((dtc * uc).unsqueeze(2), dH_c, out=dB[s:e].unsqueeze(2))
            torch.matmul(dy[s:e].unsqueeze(2), H_c, out=dC[s:e].unsqueeze(2))
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
    Inputs may be float32 or bfloat16; the scan accumulates in float32.
    """
    return RecomputeScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size)
