"""The compiled exact selective scan (`method="compiled"`): recompute's scheme, compiled chunk kernels.

The inputs are copied once into a blocked time-major layout (_Layout) that the kernels of
mbsnet.scan.compiled_kernels always see in the same shapes; CompiledScan is the autograd Function
(saves the inputs and checkpoint states, walks the checkpoint segments in reverse in backward);
compiled_scan picks it, or the eager recompute scan when compilation is unavailable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mbsnet.scan.compiled_kernels import (BLOCK_ROWS, KERNEL_STEPS, CompileUnavailable,
                                          run_kernel, unavailable_reason, warn_fallback)
from mbsnet.scan.recompute import needs_grad, recompute_scan, save_for_recompute


# ---------------------------------------------------------------------------------------------
# layout: (b, l, c) <-> blocked time-major (b/R blocks, l_pad, R, c) float32

class _Layout:
    """Blocks of R rows, time-major, zero-padded: (nblk, l_pad, R, c) <-> (b, l, c)."""

    def __init__(self, b, l, l_pad, rows=None):
        rows = rows or BLOCK_ROWS
        self.b, self.l, self.l_pad, self.R = b, l, l_pad, rows
        self.nblk = -(-b // rows)
        self.full = b // rows                                 # blocks without padded rows
        self.rest = b - self.full * rows                      # rows of the last, partial block

    def empty(self, c, like):
        return like.new_empty(self.nblk, self.l_pad, self.R, c, dtype=torch.float32)

    def _views(self, xb, x):
        """Pairs (blocked view, (b, l, c) view) covering the b rows and l steps."""
        R, full, l = self.R, self.full, self.l
        out = []
        if full:
            out.append((xb[:full, :l].permute(0, 2, 1, 3), x[:full * R].unflatten(0, (full, R))))
        if self.rest:
            out.append((xb[full, :l, :self.rest].transpose(0, 1), x[full * R:]))
        return out

    def zero_pad(self, xb):
        """Zero the padded steps and rows (after writing the valid part)."""
        if self.l_pad > self.l:
            xb[:, self.l:] = 0
        if self.rest:
            xb[self.full, :self.l, self.rest:] = 0
        return xb

    def block(self, x, out=None):
        """(b, l, c) -> (nblk, l_pad, R, c) float32, padding zeroed."""
        xb = self.empty(x.shape[-1], x) if out is None else out
        for v, w in self._views(xb, x):
            v.copy_(w)
        return self.zero_pad(xb)

    def unblock(self, xb, dtype):
        """(nblk, l_pad, R, c) -> (b, l, c) in `dtype`, one copy."""
        x = xb.new_empty(self.b, self.l, xb.shape[-1], dtype=dtype)
        for v, w in self._views(xb, x):
            w.copy_(v)
        return x


def _plan(l, chunk_size):
    """(chunks, padded length, chunks per checkpoint)."""
    T = KERNEL_STEPS
    chunks = -(-l // T)
    return chunks, chunks * T, max(1, -(-chunk_size // T))


def _blocked_dt(lay, delta, delta_bias, delta_softplus):
    """softplus(delta + delta_bias) written straight into the blocked layout (3 passes)."""
    dt_b = lay.empty(delta.shape[-1], delta)
    for v, w in lay._views(dt_b, delta):
        v.copy_(w)
    if delta_bias is not None:
        dt_b.add_(delta_bias.to(torch.float32))
    if delta_softplus:
        torch._C._nn.softplus(dt_b, 1, 20, out=dt_b)
    return lay.zero_pad(dt_b)


# ---------------------------------------------------------------------------------------------
# the autograd Function

def _forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size, keep_ckpt):
    """y (b, l, d) in u's dtype, and the checkpoint states (checkpoints, b, d, n) float32 when
    keep_ckpt (else an empty tensor: the inference path keeps nothing)."""
    b, l, d = u.shape
    n = A.shape[1]
    T, R, f = KERNEL_STEPS, BLOCK_ROWS, torch.float32
    chunks, l_pad, per_ckpt = _plan(l, chunk_size)
    lay = _Layout(b, l, l_pad)
    dt_b = _blocked_dt(lay, delta, delta_bias, delta_softplus).flatten(2)          # (nblk, l_pad, R*d)
    u_b = lay.block(u).flatten(2)
    B_b, C_b = lay.block(B), lay.block(C)
    A32 = A.detach().to(f).contiguous()
    y_b = lay.empty(d, u)
    y_flat = y_b.flatten(2)
    n_ckpt = (chunks - 1) // per_ckpt if keep_ckpt else 0   # checkpoints after the first segment
    ckpt = u.new_empty(n_ckpt, b, d, n, dtype=f)
    with torch.no_grad():
        for k in range(lay.nblk):
            rows = min(R, b - k * R)
            h = dt_b.new_zeros(R * d, n)
            for c in range(chunks):
                if keep_ckpt and c and c % per_ckpt == 0:
                    ckpt[c // per_ckpt - 1, k * R:k * R + rows] = h.view(R, d, n)[:rows]
                s = slice(c * T, (c + 1) * T)
                h = run_kernel("forward", dt_b[k, s], u_b[k, s], B_b[k, s], C_b[k, s], A32, h,
                               y_flat[k, s])
        y = lay.unblock(y_b, f)
        if D is not None:
            y.addcmul_(u, D.to(f))
        if z is not None:
            y.mul_(F.silu(z.to(f)))
    return y.to(u.dtype), ckpt


class CompiledScan(torch.autograd.Function):
    """y (b, l, d) = selective scan, recompute_scan's scheme with compiled chunk kernels.

    Shapes as in mbsnet.scan: u, delta, z (b, l, d); A (d, n); B, C (b, l, n); D, delta_bias (d,).
    What is compiled: `_chunk_forward` and `_chunk_backward`, one chunk of T = KERNEL_STEPS steps
    of R = BLOCK_ROWS rows (a row is one sequence of the batch), the T steps unrolled so that
    inductor fuses them into a few loops over (row, channel) with the n states vectorised:
    exp(dt*A), dt*B*u and the states live only inside the kernel, never as (b, l, d, n) tensors.
    The kernels always see (T, R*d), (T, R, n), (R*d, n): every call, whatever b and l, reuses the
    same compiled code (dynamic=False: one compile per (d, n, dtype, device)). For that the inputs
    are copied once into a blocked time-major layout (b/R blocks, l_pad, R, channels), zero-padded
    in b to a multiple of R and in l to a multiple of T; dt = 0 makes padded steps exact no-ops.

    Memory: autograd keeps the inputs and the state at every checkpoint (every `chunk_size` steps,
    rounded up to a multiple of T): (checkpoints, b, d, n) float32. Backward walks the checkpoint
    segments in reverse; the states kernel (the forward's recurrence without y) recomputes each
    segment's chunk starts, the backward kernel recomputes the chunk's states, runs the reverse
    recurrence and all the reductions.
    The softplus, the D skip and the silu(z) gate are eager ops on (b, l, d) tensors.
    dtype: the kernels compute in float32; bfloat16/float16 inputs are upcast when blocked, the
    output and gradients cast back to the inputs' dtypes.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size):
        need_grad = any(ctx.needs_input_grad[:8])
        y, ckpt = _forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size, need_grad)
        save_for_recompute(ctx, (u, delta, A, B, C, D, z, delta_bias), delta_softplus, chunk_size, ckpt)
        return y

    @staticmethod
    def backward(ctx, dout):
        try:
            return _backward(ctx, dout)
        except CompileUnavailable as e:                  # the backward kernel failed to compile
            warn_fallback(str(e))
            return _backward_eager(ctx, dout)


def _backward_eager(ctx, dout):
    """Gradients through recompute_scan (autograd on the saved inputs)."""
    inputs = ctx.saved_tensors[:8]
    leaves = [x.detach().requires_grad_(need) if x is not None else None
              for x, need in zip(inputs, ctx.needs_input_grad[:8])]
    with torch.enable_grad():
        y = recompute_scan(*leaves, delta_softplus=ctx.delta_softplus, chunk_size=ctx.chunk_size)
    wanted = [x for x in leaves if x is not None and x.requires_grad]
    grads = iter(torch.autograd.grad(y, wanted, dout, allow_unused=True))
    return tuple(next(grads) if x is not None and x.requires_grad else None for x in leaves) + (None, None)


def _backward(ctx, dout):
    """Gradients with the compiled kernels, segment by segment in reverse: the states kernel
    recomputes the segment's chunk starts from its checkpoint, the backward kernel walks back."""
    u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
    has_D, has_z, has_bias = ctx.has
    b, l, d = u.shape
    n = A.shape[1]
    T, R, f = KERNEL_STEPS, BLOCK_ROWS, torch.float32
    chunks, l_pad, per_ckpt = _plan(l, ctx.chunk_size)
    lay = _Layout(b, l, l_pad)
    dt_b = _blocked_dt(lay, delta, delta_bias, ctx.delta_softplus)
    u_b = lay.block(u)
    dy_b = lay.empty(d, u)
    if has_z:                                              # out = (y + D u) * silu(z)
        for (v, w_out), (_, w_z) in zip(lay._views(dy_b, dout), lay._views(dy_b, z)):
            torch.mul(w_out, F.silu(w_z.to(f)), out=v)
        lay.zero_pad(dy_b)
    else:
        lay.block(dout, out=dy_b)
    B_b, C_b = lay.block(B), lay.block(C)
    A32 = A.detach().to(f).contiguous()
    y_b, ddt_b, du_b = lay.empty(d, u), lay.empty(d, u), lay.empty(d, u)
    dB_b, dC_b = lay.empty(n, u), lay.empty(n, u)
    flat = [x.flatten(2) for x in (dt_b, u_b, dy_b, y_b, ddt_b, du_b)]
    dt_f, u_f, dy_f, y_f, ddt_f, du_f = flat
    dA = A32.new_zeros(d, n)
    with torch.no_grad():
        for k in range(lay.nblk):
            rows = min(R, b - k * R)
            dh = dt_b.new_zeros(R * d, n)
            dA_rows = dt_b.new_zeros(R * d, n)
            for seg in reversed(range(0, chunks, per_ckpt)):
                h = dt_b.new_zeros(R * d, n)
                if seg:
                    h.view(R, d, n)[:rows] = ckpt[seg // per_ckpt - 1, k * R:k * R + rows]
                last = min(seg + per_ckpt, chunks)
                starts = [h]
                for c in range(seg, last - 1):                # the segment's other chunk starts
                    s = slice(c * T, (c + 1) * T)
                    starts.append(run_kernel("states", dt_f[k, s], u_f[k, s], B_b[k, s], A32, starts[-1]))
                for c in reversed(range(seg, last)):
                    s = slice(c * T, (c + 1) * T)
                    dh, dA_rows = run_kernel("backward", dt_f[k, s], u_f[k, s], B_b[k, s], C_b[k, s], A32,
                                       starts[c - seg], dy_f[k, s], dh, dA_rows, y_f[k, s],
                                       ddt_f[k, s], du_f[k, s], dB_b[k, s], dC_b[k, s])
            dA += dA_rows.view(R, d, n).sum(0)                # padded rows have dt = 0: no share
    dD = dz = None
    if has_D:
        D32 = D.to(f)
        dD = (dy_b * u_b).sum((0, 1, 2)).to(D.dtype)
        du_b.addcmul_(dy_b, D32)
    if has_z:
        if has_D:
            y_b.addcmul_(u_b, D32)
        yD = lay.unblock(y_b, f)
        dz = torch.ops.aten.silu_backward(yD.mul_(dout), z.to(f)).to(z.dtype)
    if ctx.delta_softplus:                                 # softplus'(x) = sigmoid(x) = 1 - exp(-dt)
        ddt_b.mul_(torch.expm1(dt_b.neg_()).neg_())
    ddt = lay.unblock(ddt_b, delta.dtype)
    return (lay.unblock(du_b, u.dtype), ddt, dA.to(A.dtype),
            lay.unblock(dB_b, B.dtype), lay.unblock(dC_b, C.dtype), dD, dz,
            ddt_b.sum((0, 1, 2)).to(delta_bias.dtype) if has_bias else None,
            None, None)


def _use_eager(u):
    """float64, fake/meta tensors and outer compilation go to the eager recompute scan."""
    if u.dtype == torch.float64 or u.device.type == "meta":
        return True
    try:
        from torch._subclasses.fake_tensor import is_fake
        if is_fake(u):
            return True
    except ImportError:
        pass
    return bool(getattr(torch, "compiler", None) and torch.compiler.is_compiling())


def compiled_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                  chunk_size=64):
    """Selective scan, exact, with torch.compile'd chunk kernels; saves inputs + checkpoint states.

    Shapes: u, delta, z (b, l, d); A (d, n); B, C (b, l, n); D, delta_bias (d,) -> (b, l, d).
    chunk_size: checkpoint interval (rounded up to a multiple of KERNEL_STEPS); autograd keeps
    (ceil(l / interval) - 1, b, d, n) float32 states besides the inputs.
    When no gradient is wanted (torch.no_grad(), or no input requires grad) it runs the forward
    kernels alone and keeps nothing. Falls back to recompute_scan (warning once) when compilation
    is unavailable or fails.
    """
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size)
    if _use_eager(u):
        return recompute_scan(*args)
    reason = unavailable_reason()
    if reason is None:
        try:
            if not needs_grad(*args[:8]):
                return _forward(*args, keep_ckpt=False)[0]
            return CompiledScan.apply(*args)
        except CompileUnavailable as e:
            reason = str(e)
    warn_fallback(reason)
    return recompute_scan(*args)
