"""Print a short hash of the exact bytes of some float computations, one line per kernel family.

The second nbval pass (`make test-notebooks-other-cpu`) reruns the notebooks with environment
variables that move torch, MKL, oneDNN, numpy and OpenBLAS onto other code paths, so that an
output depending on the last bits of CPU float arithmetic fails in CI rather than on a reader's
machine. This script is how to check that each variable really changes something here:

    .venv/bin/python tools/kernel_fingerprint.py                      # this machine's default paths
    env ATEN_CPU_CAPABILITY=default .venv/bin/python tools/kernel_fingerprint.py
    make kernel-fingerprint                                           # both, with OTHER_CPU_ENV

A line whose hash differs between two runs is a computation whose result depends on that variable.
It also prints which paths were in use (torch's CPU capability, BLAS libraries and their kernels).
"""

import hashlib
import os

import numpy as np
import torch


def h(x) -> str:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:12]


def torch_rows():
    # Inputs come from numpy's generator, which no CPU feature changes: torch.randn itself does
    # depend on torch's CPU capability (its own row below), and would hide what the kernels do.
    rng = np.random.default_rng(0)
    t = lambda *shape: torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    a, b, big = t(257, 129), t(129, 263), t(1_000_003)
    x, w, img, wimg, wave = t(4, 2, 16000), t(8, 2, 31), t(2, 3, 33, 35), t(5, 3, 3, 3), t(16000)
    win = torch.hann_window(512)
    torch.manual_seed(0)
    yield "torch.randn after manual_seed (ATen)", torch.randn(1000)
    yield "torch matmul f32 (BLAS sgemm)", a @ b
    yield "torch conv1d f32 (oneDNN/native)", torch.nn.functional.conv1d(x, w, padding=15)
    yield "torch conv2d f32 (oneDNN/native)", torch.nn.functional.conv2d(img, wimg, padding=1)
    yield "torch stft (FFT)", torch.view_as_real(torch.stft(wave, 512, 128, window=win, return_complex=True))
    yield "torch exp/tanh/sigmoid/silu (ATen)", torch.stack([big.exp(), big.tanh(), big.sigmoid(),
                                                         torch.nn.functional.silu(big)])
    yield "torch log/softplus (ATen)", torch.stack([big.abs().log1p(), torch.nn.functional.softplus(big)])
    yield "torch sum/mean/norm f32 (ATen)", torch.stack([big.sum(), big.mean(), big.norm()])
    yield "torch cumsum f32 (ATen)", big.cumsum(0)
    yield "torch layer_norm (ATen)", torch.nn.functional.layer_norm(a, (129,))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.SiLU(), torch.nn.LayerNorm(128),
                              torch.nn.Linear(128, 1))
    yield "torch nn.Linear init after manual_seed", torch.cat([p.detach().flatten() for p in net.parameters()])
    inp = t(512, 64)
    loss = net(inp).square().mean()
    loss.backward()
    yield "torch MLP forward+backward", torch.cat([loss.reshape(1)] + [p.grad.flatten() for p in net.parameters()])


def numpy_rows():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((257, 129))
    b = rng.standard_normal((129, 263))
    v64 = rng.standard_normal(1_000_003)
    v32 = v64.astype(np.float32)
    yield "numpy matmul f64 (OpenBLAS dgemm)", a @ b
    yield "numpy matmul f32 (OpenBLAS sgemm)", a.astype(np.float32) @ b.astype(np.float32)
    yield "numpy exp/log/sin/tanh f32 (SIMD)", np.stack([np.exp(v32), np.log(np.abs(v32) + 1),
                                                       np.sin(v32), np.tanh(v32)])
    yield "numpy exp/log/sin/tanh f64 (SIMD)", np.stack([np.exp(v64), np.log(np.abs(v64) + 1),
                                                       np.sin(v64), np.tanh(v64)])
    yield "numpy sum/dot f32", np.array([v32.sum(), v32 @ v32], dtype=np.float32)
    yield "numpy rfft f64 (pocketfft)", np.fft.rfft(v64[:16000])
    yield "numpy svd f64 (OpenBLAS LAPACK)", np.linalg.svd(a, compute_uv=False)
    import scipy.linalg
    import scipy.signal
    yield "scipy lstsq f64 (scipy's OpenBLAS)", scipy.linalg.lstsq(a, a[:, :5])[0]
    yield "scipy sosfilt f64", scipy.signal.sosfilt(scipy.signal.butter(6, 0.2, output="sos"), v64[:16000])


def paths():
    try:
        from threadpoolctl import threadpool_info
        libs = [f"{i.get('internal_api')}:{i.get('architecture', '?')}:{i.get('num_threads')}t"
                for i in threadpool_info()]
    except ImportError:
        libs = ["(threadpoolctl not installed)"]
    from numpy._core._multiarray_umath import __cpu_features__ as feats
    v3 = [k for k in ("AVX2", "FMA3", "X86_V3") if k in feats]
    return (f"torch {torch.__version__} capability={torch.backends.cpu.get_cpu_capability()} "
            f"threads={torch.get_num_threads()} | numpy {np.__version__} "
            + " ".join(f"{k}={int(feats[k])}" for k in v3) + " | " + " ".join(libs))


def main():
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("ATEN_", "MKL_", "ONEDNN_", "DNNL_", "NPY_", "OPENBLAS_", "OMP_"))}
    print("env:", " ".join(f"{k}={v}" for k, v in sorted(env.items())) or "(none of the kernel variables)")
    print("paths:", paths())
    for name, x in (*torch_rows(), *numpy_rows()):
        print(f"{h(x)}  {name}")


if __name__ == "__main__":
    main()
