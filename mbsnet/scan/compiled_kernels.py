"""The compiled scan's chunk kernels (forward, states, backward) and their compilation:
torch.compile, one-time fallback, timing.

The kernels are plain eager PyTorch over one chunk of T = KERNEL_STEPS steps of R = BLOCK_ROWS rows
(mbsnet.scan.compiled lays the inputs out for them); `run_kernel` compiles each on first use
(dynamic=False, fullgraph=True), times that first call per (d, n, dtype, device) and turns any
compile failure into CompileUnavailable, after which `compile_available()` is False for the process.
"""
from __future__ import annotations

import os
import time
import warnings

import torch

KERNEL_STEPS = 8         # T: time steps unrolled in one compiled chunk
BLOCK_ROWS = 16          # R: batch rows per kernel call
NO_COMPILE_ENV = "MBSNET_NO_COMPILE"

_compiled = {}           # kind -> torch.compile'd function (dynamo keeps one graph per shape/dtype)
_seen = set()            # (kind, d, n, dtype, device type, chunk shape) compiled in this process
_compile_seconds = {}    # "kind d=.. n=.. dtype device" -> seconds of the first call
_state = {"failed": None, "warned": False}


# ---------------------------------------------------------------------------------------------
# the per-chunk functions (eager PyTorch; torch.compile turns each into a few fused loops)
#
# Rows and channels are flattened, (R, d) -> R*d, so that every node of the graph iterates over the
# same (R*d, n) space: inductor then fuses the unrolled steps instead of splitting them into loops
# over differently merged dimensions (measured: ~1.3x faster backward than (R, d, n) tensors).

def _rows(x, R, d):
    """(R, n) per-row values -> (R*d, n), each row's values repeated for its d channels."""
    return x[:, None, :].expand(R, d, x.shape[-1]).reshape(R * d, x.shape[-1])


def _chunk_forward(dt, u, B, C, A, h, y_out):
    """One chunk forward. dt, u (T, R*d); B, C (T, R, n); A (d, n); h (R*d, n) the state before
    the chunk. Writes y_t = <h_t, C_t> into y_out (T, R*d); returns the state after the chunk."""
    T, R, n = B.shape
    d = A.shape[0]
    Ax = A[None].expand(R, d, n).reshape(R * d, n)
    ys = []
    for t in range(T):
        h = torch.exp(dt[t][:, None] * Ax) * h + (dt[t] * u[t])[:, None] * _rows(B[t], R, d)
        ys.append((h * _rows(C[t], R, d)).sum(-1))
    y_out.copy_(torch.stack(ys))
    return h


def _chunk_states(dt, u, B, A, h):
    """The state after one chunk, as _chunk_forward's but without y (backward's chunk starts)."""
    T, R, n = B.shape
    d = A.shape[0]
    Ax = A[None].expand(R, d, n).reshape(R * d, n)
    for t in range(T):
        h = torch.exp(dt[t][:, None] * Ax) * h + (dt[t] * u[t])[:, None] * _rows(B[t], R, d)
    return h


def _chunk_backward(dt, u, B, C, A, h0, dy, dh, dA, y_out, ddt_out, du_out, dB_out, dC_out):
    """One chunk backward (mamba-ssm's selective_scan_bwd formulas, see mbsnet.scan.recompute).

    dt, u, dy (T, R*d); B, C (T, R, n); A (d, n); h0 (R*d, n) the state before the chunk; dh
    (R*d, n) the gradient reaching h_{T-1} from later chunks; dA (R*d, n) the running sum of dA's
    terms. Writes the recomputed y = <h, C> and d dt (before the softplus), the scan's part of du
    (T, R*d), dB and dC (T, R, n) into the *_out buffers; returns (dh before the chunk, dA + this
    chunk's terms), both (R*d, n).
    """
    T, R, n = B.shape
    d = A.shape[0]
    Ax = A[None].expand(R, d, n).reshape(R * d, n)
    Bx = [_rows(B[t], R, d) for t in range(T)]
    Cx = [_rows(C[t], R, d) for t in range(T)]
    a = [torch.exp(dt[t][:, None] * Ax) for t in range(T)]
    dtu = [dt[t] * u[t] for t in range(T)]
    hs = []
    h = h0
    for t in range(T):
        h = a[t] * h + dtu[t][:, None] * Bx[t]
        hs.append(h)
    ys, ddt, du, dB, dC = [None] * T, [None] * T, [None] * T, [None] * T, [None] * T
    for t in range(T - 1, -1, -1):
        dh = dh + dy[t][:, None] * Cx[t]                                           # dL/dh_t
        S = (dh * Bx[t]).sum(-1)
        X = dh * a[t] * (hs[t - 1] if t > 0 else h0)                                # dh * a_t h_{t-1}
        ddt[t] = u[t] * S + (X * Ax).sum(-1)
        du[t] = dt[t] * S
        dA = dA + X * dt[t][:, None]
        ys[t] = (hs[t] * Cx[t]).sum(-1)
        dB[t] = (dh * dtu[t][:, None]).view(R, d, n).sum(1)
        dC[t] = (hs[t] * dy[t][:, None]).view(R, d, n).sum(1)
        dh = dh * a[t]
    y_out.copy_(torch.stack(ys))
    ddt_out.copy_(torch.stack(ddt))
    du_out.copy_(torch.stack(du))
    dB_out.copy_(torch.stack(dB))
    dC_out.copy_(torch.stack(dC))
    return dh, dA


_KERNELS = {"forward": _chunk_forward, "states": _chunk_states, "backward": _chunk_backward}


# ---------------------------------------------------------------------------------------------
# compilation, fallback and timing

class CompileUnavailable(RuntimeError):
    """torch.compile cannot be used here (disabled, missing or failed)."""


def compile_seconds() -> dict:
    """Seconds each first compile took in this process: {"forward d=256 n=16 float32 cpu": 14.2, ...}."""
    return dict(_compile_seconds)


def reset() -> None:
    """Forget compiled kernels, timings and the fallback state (the one-time warning warns again)."""
    _compiled.clear()
    _seen.clear()
    _compile_seconds.clear()
    _state.update(failed=None, warned=False)
    if hasattr(torch, "_dynamo"):
        torch._dynamo.reset()


def compile_available() -> bool:
    """Whether the compiled kernels will be used (False after a failure or with MBSNET_NO_COMPILE=1)."""
    return unavailable_reason() is None


def unavailable_reason():
    if os.environ.get(NO_COMPILE_ENV, "") not in ("", "0"):
        return f"{NO_COMPILE_ENV} is set"
    if _state["failed"] is not None:
        return _state["failed"]
    if not hasattr(torch, "compile"):
        return "this torch has no torch.compile"
    try:
        from torch._dynamo.eval_frame import is_dynamo_supported
        if not is_dynamo_supported():
            return "torch.compile does not support this Python"
    except ImportError:
        return "torch._dynamo cannot be imported"
    return None


def warn_fallback(reason) -> None:
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(f"selective_scan(method='compiled'): {reason}; using the eager 'recompute' "
                      "scan instead (same results, slower)", RuntimeWarning, stacklevel=4)


def run_kernel(kind, *args):
    """Call the compiled `kind` kernel; time (and guard) the first call per shape and dtype."""
    fn = _compiled.get(kind)
    if fn is None:
        fn = _compiled[kind] = torch.compile(_KERNELS[kind], dynamic=False, fullgraph=True)
    A = args[3] if kind == "states" else args[4]
    key = (kind, A.shape[0], A.shape[1], A.dtype, A.device.type, args[0].shape)
    if key in _seen:
        return fn(*args)
    reason = unavailable_reason()
    if reason is not None:
        raise CompileUnavailable(reason)
    t0 = time.perf_counter()
    try:
        out = fn(*args)
    except Exception as e:                      # a compile failure: no compiler, unsupported op ...
        root = e
        while root.__cause__ is not None:
            root = root.__cause__
        lines = [x for x in str(root).splitlines() if x.strip()] or [""]
        _state["failed"] = f"torch.compile failed ({type(root).__name__}: {lines[0][:200]})"
        raise CompileUnavailable(_state["failed"]) from e
    _seen.add(key)
    _compile_seconds[f"{kind} d={key[1]} n={key[2]} {str(key[3]).replace('torch.', '')} {key[4]}"] = \
        time.perf_counter() - t0
    return out
