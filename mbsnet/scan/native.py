"""The no-grad scan's C kernel (native_scan.c): built on first use by the system's C compiler, loaded with ctypes.

Why C: without autograd the scan is one recurrence over (l, d, n) state elements, and eager PyTorch pays a memory
pass per op (exp, two products, the update, <h, C>). The C loop keeps a row's (n, d) state in L1 cache and does all
of it in one pass, vectorised over d, with glibc's vector expf. It computes inference_scan's function in float32,
its rounding differing by reassociation and expf's last bits (tests: against the float64 oracle and the torch path).

The shared library is cached under $MBSNET_CACHE (default ~/.cache/mbsnet)/native, named by a hash of the source,
the compiler's version, the flags and the CPU's flags (-march=native code runs only where it was built). Without a
C compiler, or where the build fails, `library()` warns once and returns None: callers then use the torch path.
MBSNET_NATIVE_SCAN=0 turns the kernel off.

Shapes: dt, dtu (b, l, d) float32; A (d, n); B, C (b, l, n) -> y (b, l, d) = <h_t, C_t> (no D skip, no gate).

The kernel's backward (mbsnet_scan_backward_f32) makes `native_scan` a training scan too (`method="native"`):
it saves the inputs only, recomputes the states chunk by chunk in backward, and returns every gradient.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sysconfig
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch._subclasses.fake_tensor import FakeTensor

SOURCE = Path(__file__).with_name("native_scan.c")
FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp-simd", "-fPIC", "-shared")
SYMBOL = "mbsnet_scan_forward_f32"
BACKWARD = "mbsnet_scan_backward_f32"


def enabled_by_env() -> bool:
    return os.environ.get("MBSNET_NATIVE_SCAN", "1") != "0"


def cache_dir() -> Path:
    return Path(os.environ.get("MBSNET_CACHE", Path.home() / ".cache" / "mbsnet")) / "native"


def compiler() -> str | None:
    """$CC if set (None if it is not on PATH), else the compiler Python was built with, else `cc`."""
    if "CC" in os.environ:
        return shutil.which(os.environ["CC"])
    configured = (sysconfig.get_config_var("CC") or "").split()
    for name in (configured[0] if configured else None, "cc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _library_path(cc: str) -> Path:
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = "\n".join([SOURCE.read_text(), version, " ".join(FLAGS), platform.machine(), _cpu_flags()])
    return cache_dir() / f"native_scan_{hashlib.sha256(key.encode()).hexdigest()[:16]}.so"


def _build(cc: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:      # build, then rename: no half-written .so
        out = Path(tmp) / target.name
        done = subprocess.run([cc, *FLAGS, str(SOURCE), "-o", str(out), "-lm"], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "compiler failed")
        os.replace(out, target)


@functools.lru_cache(maxsize=None)
def library() -> ctypes.CDLL | None:
    """The loaded kernel, building it if needed; None (with one warning) where it cannot be had."""
    if not enabled_by_env():
        return None
    try:
        cc = compiler()
        if cc is None:
            raise RuntimeError("no C compiler on PATH (set CC)")
        path = _library_path(cc)
        if not path.exists():
            _build(cc, path)
        lib = ctypes.CDLL(str(path))
        fn = getattr(lib, SYMBOL)
        fn.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_long] * 4
        fn.restype = ctypes.c_int
        bwd = getattr(lib, BACKWARD)
        bwd.argtypes = [ctypes.c_void_p] * 11 + [ctypes.c_long] * 5
        bwd.restype = ctypes.c_int
        return lib
    except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as e:
        warnings.warn(f"mbsnet: the C scan kernel is unavailable ({e}); the no-grad scan uses the torch path",
                      RuntimeWarning, stacklevel=2)
        return None


def _real_cpu(t) -> bool:
    """A CPU tensor with storage: not meta, not a FakeTensor (the memory predictor's tensors have no data)."""
    return t.device.type == "cpu" and not isinstance(t, FakeTensor)


def usable(*tensors) -> bool:
    """The kernel applies: it is built, and every tensor is a float32 CPU tensor with storage."""
    return all(_real_cpu(t) and t.dtype == torch.float32 for t in tensors) and library() is not None


def _row_bounds(b: int, threads: int | None) -> list[int]:
    threads = max(1, min(b, threads or torch.get_num_threads()))
    return [b * i // threads for i in range(threads + 1)]


def _run_rows(run, bounds) -> None:
    """run(i, r0, r1) -> status for each row range i = [bounds[i], bounds[i+1]), in threads when more than one
    (ctypes releases the GIL)."""
    ranges = [(i, r0, r1) for i, (r0, r1) in enumerate(zip(bounds, bounds[1:])) if r1 > r0]
    if len(ranges) == 1:
        codes = [run(*ranges[0])]
    else:
        with ThreadPoolExecutor(len(ranges)) as pool:
            codes = list(pool.map(lambda r: run(*r), ranges))
    if any(codes):
        raise MemoryError("the C scan kernel could not allocate its buffers")


def scan_states_output(dt, dtu, A, B, C, threads: int | None = None):
    """y = <h_t, C_t> (b, l, d) float32 from dt, dtu (b, l, d), A (d, n), B, C (b, l, n), all float32 CPU.

    Rows are split over `threads` (default torch.get_num_threads()) ctypes calls, which release the GIL; the
    split does not change any row's arithmetic, so the result is the same for any thread count."""
    fn = getattr(library(), SYMBOL)
    b, l, d = dt.shape
    n = A.shape[1]
    dt, dtu, B, C = (x.contiguous() for x in (dt, dtu, B, C))
    At = A.t().contiguous()
    y = torch.empty(b, l, d, dtype=torch.float32)
    ld, ln = 4 * l * d, 4 * l * n                                        # bytes per row

    def run(_, r0, r1):
        return fn(dt.data_ptr() + r0 * ld, dtu.data_ptr() + r0 * ld, At.data_ptr(), B.data_ptr() + r0 * ln,
                  C.data_ptr() + r0 * ln, y.data_ptr() + r0 * ld, r1 - r0, l, d, n)

    _run_rows(run, _row_bounds(b, threads))
    return y


def scan_backward(dt, u, A, B, C, dy, chunk: int = 64, threads: int | None = None):
    """The gradients of y = <h, C> -> (ddt, du (b, l, d), dA (d, n), dB, dC (b, l, n)), all float32 CPU.

    dt, u, dy (b, l, d); A (d, n); B, C (b, l, n). The states are recomputed in chunks of `chunk` steps.
    Rows are split over threads as in scan_states_output; each range sums its own dA, then they are added
    (so dA, a sum over rows, may differ in the last bits between thread counts; the rest does not)."""
    fn = getattr(library(), BACKWARD)
    b, l, d = dt.shape
    n = A.shape[1]
    dt, u, B, C, dy = (x.contiguous() for x in (dt, u, B, C, dy))
    At = A.t().contiguous()
    ddt, du = torch.empty(b, l, d), torch.empty(b, l, d)
    dB, dC = torch.empty(b, l, n), torch.empty(b, l, n)
    bounds = _row_bounds(b, threads)
    dAt = torch.zeros(len(bounds) - 1, n, d)
    ld, ln = 4 * l * d, 4 * l * n

    def run(i, r0, r1):
        return fn(dt.data_ptr() + r0 * ld, u.data_ptr() + r0 * ld, At.data_ptr(), B.data_ptr() + r0 * ln,
                  C.data_ptr() + r0 * ln, dy.data_ptr() + r0 * ld, ddt.data_ptr() + r0 * ld,
                  du.data_ptr() + r0 * ld, dB.data_ptr() + r0 * ln, dC.data_ptr() + r0 * ln, dAt[i].data_ptr(),
                  r1 - r0, l, d, n, max(1, min(chunk, l)))

    _run_rows(run, bounds)
    return ddt, du, dAt.sum(0).t(), dB, dC


def _dt(delta, delta_bias, softplus):
    """(b, l, d) dt = softplus(delta + delta_bias) (each part optional) and the pre-softplus value."""
    raw = delta + delta_bias if delta_bias is not None else delta
    return (torch.nn.functional.softplus(raw) if softplus else raw), raw


class _NativeScan(torch.autograd.Function):
    """y = (<h, C> + D u) * silu(z), dt = softplus(delta + delta_bias), from float32 CPU tensors.

    Saves the inputs only. Backward recomputes dt and <h, C> (one forward kernel call), takes the gate's,
    the skip's and the softplus' gradients with torch ops, and the scan's from the C backward kernel."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus, chunk):
        ctx.softplus, ctx.chunk = softplus, chunk
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias)
        dt, _ = _dt(delta, delta_bias, softplus)
        y = scan_states_output(dt, dt * u, A, B, C)
        if D is not None:
            y.addcmul_(u, D)
        if z is not None:
            y.mul_(torch.nn.functional.silu(z))
        return y

    @staticmethod
    def backward(ctx, dy):
        u, delta, A, B, C, D, z, delta_bias = ctx.saved_tensors
        dt, raw = _dt(delta, delta_bias, ctx.softplus)
        dy = dy.contiguous()
        dz = dD = None
        if z is not None:
            y0 = scan_states_output(dt, dt * u, A, B, C)                 # the output before the gate
            if D is not None:
                y0.addcmul_(u, D)
            sig = torch.sigmoid(z)
            dz = dy * y0 * sig * (1 + z * (1 - sig))                    # d silu(z) / dz = sig (1 + z (1 - sig))
            dy = dy * (z * sig)
        ddt, du, dA, dB, dC = scan_backward(dt, u, A, B, C, dy, ctx.chunk)
        if D is not None:
            du.addcmul_(dy, D)
            dD = (dy * u).sum((0, 1))
        ddelta = ddt * torch.sigmoid(raw) if ctx.softplus else ddt
        d_bias = ddelta.sum((0, 1)) if delta_bias is not None else None
        return du, ddelta, dA, dB, dC, dD, dz, d_bias, None, None


def native_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, chunk_size=64):
    """The selective scan with the C kernel's forward and backward (`method="native"`), in float32.

    Shapes as selective_scan: u, delta, z (b, l, d); A (d, n); B, C (b, l, n); D, delta_bias (d,) -> y (b, l, d)
    in u's dtype. Saves its inputs only (in float32): no (b, l, d, n) tensor, no chunk-start states; the
    backward recomputes the states chunk by chunk of `chunk_size` steps. Where the kernel does not apply (no
    compiler, CUDA or meta tensors, float64) it is recompute_scan, the same function.
    """
    from mbsnet.scan.inference import inference_scan
    from mbsnet.scan.recompute import needs_grad, recompute_scan

    tensors = [t for t in (u, delta, A, B, C, D, z, delta_bias) if t is not None]
    if any(not _real_cpu(t) or t.dtype == torch.float64 for t in tensors) or library() is None:
        return recompute_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size=chunk_size)
    if not needs_grad(*tensors):
        return inference_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, kernel="native")
    f32 = [None if t is None else t.to(torch.float32) for t in (u, delta, A, B, C, D, z, delta_bias)]
    return _NativeScan.apply(*f32, delta_softplus, chunk_size).to(u.dtype)
