"""GPU memory budgets by name.

`capacity` is the card's memory as sold (GiB, 2^30 bytes). PyTorch can allocate less than that:
the CUDA context and kernel images take ~300-500 MiB before the first tensor, so `usable` keeps
CONTEXT_RESERVE back. "Fits" in this library means predicted peak <= usable.
"""
from __future__ import annotations

from dataclasses import dataclass

from mbsnet.units import GiB

CONTEXT_RESERVE = 0.5 * GiB   # upper end of the CUDA context's ~300-500 MiB


def usable_bytes(capacity_bytes: int) -> int:
    """Bytes left for PyTorch's tensors on a card of `capacity_bytes` (e.g. a device's total_memory)."""
    return int(capacity_bytes) - int(CONTEXT_RESERVE)


@dataclass(frozen=True)
class GPU:
    name: str
    label: str
    capacity_gib: float

    @property
    def capacity(self) -> int:
        return int(self.capacity_gib * GiB)

    @property
    def usable(self) -> int:
        """Bytes left for PyTorch's tensors after the CUDA context."""
        return usable_bytes(self.capacity)


GPUS = {g.name: g for g in (
    GPU("rtx3080ti", "RTX 3080 Ti 12 GiB", 12),
    GPU("t4", "T4 16 GiB", 16),
    GPU("rtx4090", "RTX 4090 24 GiB", 24),
    GPU("a100-40", "A100 40 GiB", 40),
    GPU("a100-80", "A100 80 GiB", 80),
    GPU("h100-80", "H100 80 GiB", 80),
)}
DEFAULT_GPU = "rtx3080ti"


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def get(name: str) -> GPU:
    """The GPU budget called `name` (see GPUS), or by its label without spaces and case
    ("RTX 3080 Ti" is rtx3080ti)."""
    if name in GPUS:
        return GPUS[name]
    for gpu in GPUS.values():
        if _key(name) in (_key(gpu.name), _key(gpu.label), _key(gpu.label.rsplit(" ", 2)[0])):
            return gpu
    raise ValueError(f"unknown gpu {name!r}; choose one of {', '.join(GPUS)}")

