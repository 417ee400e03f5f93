"""RNNoise 0.2 from the `pyrnnoise` wheel: its librnnoise.so via ctypes, at 48 kHz in 480-sample frames.

Calls: `rnnoise_create(NULL)` (the built-in model) -> state; `rnnoise_get_frame_size()` -> 480;
`rnnoise_process_frame(state, out, in)` once per 10 ms frame of float samples at int16 scale
(x · 32768; returns the frame's voice probability); `rnnoise_destroy(state)`. A fresh state per
`enhance` call. Input is resampled 16 -> 48 kHz and the output 48 -> 16 kHz with soxr.

Delay: two 10 ms frames, 960 samples at 48 kHz = 320 at 16 kHz. Measured on ARCTIC a0009 + white
noise at 5 dB: the cross-correlation of the raw output with the clean speech peaks at 959 (959.3
interpolated) at 48 kHz and at 320 at 16 kHz; after removing 960 the residual is -0.24 samples at
16 kHz. Removed by feeding 960 zeros more and dropping the first 960 output samples.

Parameters: 2,888,225, counted from the weight table the library exports (`rnnoise_arrays`: name,
type, size in bytes, data), one copy per weight (the float copy where the table also keeps an int8
one; index, scale and bias-correction arrays not counted): a conv (65 x 128 x 3), a conv (128 x 384 x 3),
three 384-unit GRUs, a 1536 -> 32 band-gain layer and a 1536 -> 1 VAD layer (both on the concatenated
conv and GRU outputs). The wheel's own wrapper (it imports `audiolab`) is never imported.
"""
from __future__ import annotations

import ctypes

import numpy as np

from mbsnet.anchors.waveform import SAMPLE_RATE, at_native_rate
from mbsnet.anchors.wheels import load_library, shared_library_name, wheel_file

NAME = "rnnoise"
DISTRIBUTION = "pyrnnoise"
PIP_SPEC = "pyrnnoise==0.4.5"
IMPORT_NAME = "pyrnnoise"
LIBRARY_FILE = shared_library_name("rnnoise")  # librnnoise.so on Linux
NATIVE_RATE = 48_000
INT16_SCALE = 32768.0
DELAY_NATIVE = 960              # samples at 48 kHz, measured (= 320 at 16 kHz)


class _WeightArray(ctypes.Structure):
    # RNNoise's nnet.h: typedef struct {const char *name; int type; int size; const void *data;} WeightArray;
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("size", ctypes.c_int),
                ("data", ctypes.c_void_p)]


_BYTES_PER_WEIGHT = {0: 4, 1: 4, 2: 1, 3: 1}  # float, int, qweight, int8
_NOT_WEIGHTS = ("_idx", "_subias", "_scale")


def weight_table(lib) -> dict[str, tuple[int, int]]:
    """{array name: (type, size in bytes)} from the library's `rnnoise_arrays` (NULL-terminated)."""
    table, array = {}, ctypes.cast(ctypes.addressof(_WeightArray.in_dll(lib, "rnnoise_arrays")),
                                   ctypes.POINTER(_WeightArray))
    for i in range(10_000):
        entry = array[i]
        if entry.name is None:
            break
        table[entry.name.decode()] = (entry.type, entry.size)
    return table


def count_params(table: dict[str, tuple[int, int]]) -> int:
    """One count per weight: int8 copies skipped where a float copy exists; idx/scale/subias skipped."""
    total = 0
    for name, (kind, size) in table.items():
        if name.endswith(_NOT_WEIGHTS):
            continue
        if name.endswith("_int8") and name[:-len("_int8")] + "_float" in table:
            continue
        total += size // _BYTES_PER_WEIGHT[kind]
    return total


def check() -> None:
    """Raise AnchorUnavailable unless the wheel's files are installed (loads nothing)."""
    wheel_file(NAME, IMPORT_NAME, PIP_SPEC, LIBRARY_FILE)


def _bind(lib):
    f32p = ctypes.POINTER(ctypes.c_float)
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_destroy.restype = None
    lib.rnnoise_get_frame_size.argtypes = []
    lib.rnnoise_get_frame_size.restype = ctypes.c_int
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, f32p, f32p]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    return lib


class RNNoise:
    """RNNoise via its C API at 48 kHz; `enhance` maps (t,) at 16 kHz to (t,)."""

    name = NAME
    sample_rate_native = NATIVE_RATE
    delay = DELAY_NATIVE * SAMPLE_RATE // NATIVE_RATE   # at 16 kHz

    def __init__(self):
        library = wheel_file(NAME, IMPORT_NAME, PIP_SPEC, LIBRARY_FILE)
        self.library_file = str(library)
        self.lib = _bind(load_library(NAME, library, PIP_SPEC))
        self.frame_length = int(self.lib.rnnoise_get_frame_size())
        self.params = count_params(weight_table(self.lib))

    def enhance_native(self, x48: np.ndarray) -> np.ndarray:
        """Run RNNoise on (n,) float32 at 48 kHz in [-1, 1] -> (n + padding,), still delayed."""
        hop = self.frame_length
        n_frames = -(-(len(x48) + DELAY_NATIVE) // hop)
        padded = np.zeros(n_frames * hop, dtype=np.float32)
        padded[:len(x48)] = x48 * INT16_SCALE
        out = np.zeros_like(padded)
        f32p = ctypes.POINTER(ctypes.c_float)
        state = self.lib.rnnoise_create(None)
        try:
            for i in range(n_frames):
                frame_in = padded[i * hop:(i + 1) * hop]
                frame_out = out[i * hop:(i + 1) * hop]
                self.lib.rnnoise_process_frame(state, frame_out.ctypes.data_as(f32p),
                                               frame_in.ctypes.data_as(f32p))
        finally:
            self.lib.rnnoise_destroy(state)
        return out / INT16_SCALE

    def enhance(self, noisy) -> np.ndarray:
        """Enhance (t,) float32 at 16 kHz -> (t,) float32 at 16 kHz, delay removed."""
        return at_native_rate(noisy, self.enhance_native, NATIVE_RATE, DELAY_NATIVE)
