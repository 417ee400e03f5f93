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

SOURCE = Path(__file__).with_name("native_scan.c")
FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp-simd", "-fPIC", "-shared")
SYMBOL = "mbsnet_scan_forward_f32"


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
        return lib
    except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as e:
        warnings.warn(f"mbsnet: the C scan kernel is unavailable ({e}); the no-grad scan uses the torch path",
                      RuntimeWarning, stacklevel=2)
        return None


def usable(*tensors) -> bool:
    """The kernel applies: it is built, and every tensor is a float32 CPU tensor."""
    return (all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
            and library() is not None)


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
    threads = max(1, min(b, threads or torch.get_num_threads()))
    bounds = [b * i // threads for i in range(threads + 1)]
    f4 = 4                                                                  # bytes per float32

    def run(i):
        r0, r1 = bounds[i], bounds[i + 1]
        if r1 == r0:
            return 0
        return fn(dt.data_ptr() + r0 * l * d * f4, dtu.data_ptr() + r0 * l * d * f4, At.data_ptr(),
                  B.data_ptr() + r0 * l * n * f4, C.data_ptr() + r0 * l * n * f4, y.data_ptr() + r0 * l * d * f4,
                  r1 - r0, l, d, n)

    if threads == 1:
        codes = [run(0)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            codes = list(pool.map(run, range(threads)))
    if any(codes):
        raise MemoryError("the C scan kernel could not allocate its (n, d) state")
    return y
