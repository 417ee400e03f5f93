"""Parameter counts read straight from ONNX files, without the `onnx` package (the protobuf wire format)."""
from __future__ import annotations

import numpy as np

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
