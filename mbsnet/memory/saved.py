"""What autograd saves for backward: one hook that sees every saved tensor, and the census built on it."""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def on_saved(callback):
    """Call `callback(tensor)` for every tensor autograd saves for backward inside the block."""
    def pack(t):
        callback(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield


def saved_tensor_census(fn, *inputs, exclude=()) -> list[dict]:
    """Every distinct storage that autograd saves while running `fn(*inputs)`.

    A storage saved several times (or through several views) is counted once; tensors in
    `exclude` (e.g. parameters) are skipped. Works on real, fake and meta tensors.
    Returns [{"shape": first shape seen, "nbytes": storage bytes}] in the order saved.
    """
    skip = {id(t.untyped_storage()) for t in exclude}
    seen: dict[int, dict] = {}
    keep = []                                     # hold storages so their ids stay unique

    def record(t):
        storage = t.untyped_storage()
        key = id(storage)
        if key not in skip and key not in seen:
            seen[key] = {"shape": tuple(t.shape), "nbytes": storage.nbytes()}
            keep.append(storage)

    with on_saved(record):
        out = fn(*inputs)
    del out
    return list(seen.values())


def saved_tensor_bytes(fn, *inputs, exclude=()) -> int:
    """Bytes of the distinct storages autograd saves for backward while `fn(*inputs)` runs."""
    return sum(r["nbytes"] for r in saved_tensor_census(fn, *inputs, exclude=exclude))
