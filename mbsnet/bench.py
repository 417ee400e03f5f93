"""Benchmarks: `python -m mbsnet bench scan` times the scans and counts what autograd saves."""
from __future__ import annotations

import torch


def saved_tensor_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for backward while `fn()` runs.

    Counted with torch.autograd.graph.saved_tensors_hooks; a storage saved several times
    (or through several views) counts once.
    """
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(storages.values())
