"""Where a measured training step runs, behind one small interface: a CUDA GPU, or the CPU with the storage tracker as its memory reader.

Both devices offer the same four things, so that everything above them (mbsnet.experiments.
gpu_report) runs, and is tested, on a CPU:

    torch_device       where tensors go
    synchronize()      wait for queued work (timings)
    peak_scope()       a context manager yielding a PeakReading; when the block ends (normally or by
                       an exception) reading.peak_bytes is the most bytes live inside it
    capped(cap_bytes)  a context manager inside which allocations above cap_bytes raise
                       torch.OutOfMemoryError

CudaDevice reads torch.cuda.max_memory_allocated after reset_peak_memory_stats and caps with
torch.cuda.set_per_process_memory_fraction (the CUDA context is outside the cap). TrackedCpuDevice
reads the live bytes of mbsnet.memory.tracker.LiveMemoryTracker on real CPU tensors (each storage
rounded to 512 B, as the predictor does) and raises torch.OutOfMemoryError itself when a cap is
crossed, at the allocation that crosses it, as the CUDA allocator would.
"""
from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass

import torch

from mbsnet.memory.tracker import CUDA_BLOCK, LiveMemoryTracker
from mbsnet.units import GiB, MiB


@dataclass
class PeakReading:
    """What a peak_scope saw: the peak (bytes above what was live when it began) and, on CUDA,
    the allocator's reserved peak."""
    peak_bytes: int = 0
    reserved_bytes: int | None = None


class CudaDevice:
    """One CUDA GPU (torch.cuda counters)."""

    kind = "cuda"

    def __init__(self, index: int = 0):
        if not torch.cuda.is_available():
            raise RuntimeError("no CUDA device")
        self.torch_device = torch.device("cuda", index)
        self.name = torch.cuda.get_device_name(self.torch_device)

    def describe(self) -> dict:
        props = torch.cuda.get_device_properties(self.torch_device)
        return {"name": self.name, "kind": self.kind, "total_gib": round(props.total_memory / GiB, 2),
                "capability": f"{props.major}.{props.minor}", "torch": torch.__version__,
                "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}

    def total_bytes(self) -> int:
        return torch.cuda.get_device_properties(self.torch_device).total_memory

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.torch_device)

    def release(self) -> None:
        gc.collect()
        torch.cuda.empty_cache()

    @contextlib.contextmanager
    def peak_scope(self):
        self.release()
        torch.cuda.reset_peak_memory_stats(self.torch_device)
        base = torch.cuda.memory_allocated(self.torch_device)
        reading = PeakReading()
        try:
            yield reading
        finally:
            with contextlib.suppress(RuntimeError):      # a failed kernel must not hide the reading
                self.synchronize()
            reading.peak_bytes = torch.cuda.max_memory_allocated(self.torch_device) - base
            reading.reserved_bytes = torch.cuda.max_memory_reserved(self.torch_device)

    @contextlib.contextmanager
    def capped(self, cap_bytes: int):
        self.release()
        fraction = min(cap_bytes / self.total_bytes(), 1.0)
        torch.cuda.set_per_process_memory_fraction(fraction, self.torch_device)
        try:
            yield
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0, self.torch_device)
            self.release()


class _CappedTracker(LiveMemoryTracker):
    """LiveMemoryTracker that raises torch.OutOfMemoryError when the live bytes pass `cap`."""

    def __init__(self, cap: int | None, round_to: int = CUDA_BLOCK):
        super().__init__(round_to, device="cpu")
        self.cap = cap

    def _add(self, tensor):
        before = self.live_bytes
        record = super()._add(tensor)
        if self.cap is not None and self.live_bytes > self.cap:
            asked = self.live_bytes - before
            raise torch.OutOfMemoryError(
                f"CPU tracker out of memory. Tried to allocate {asked / MiB:.2f} MiB; "
                f"{before / MiB:.2f} MiB live, cap {self.cap / MiB:.2f} MiB")
        return record


class TrackedCpuDevice:
    """The CPU, with LiveMemoryTracker as the memory reader and an optional simulated cap.

    Counts what a CUDA allocator would (every storage made inside the scope, 512 B rounding);
    nothing of the CPU's real memory use. `name` labels the results it produces."""

    kind = "cpu"

    def __init__(self, name: str = "cpu (LiveMemoryTracker)", total_bytes: int = 1 << 40):
        self.torch_device = torch.device("cpu")
        self.name = name
        self._total = int(total_bytes)
        self._cap: int | None = None

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "total_gib": round(self._total / GiB, 2),
                "torch": torch.__version__, "cuda": None}

    def total_bytes(self) -> int:
        return self._total

    def synchronize(self) -> None:
        pass

    def release(self) -> None:
        gc.collect()

    @contextlib.contextmanager
    def peak_scope(self):
        tracker = _CappedTracker(self._cap)
        reading = PeakReading()
        try:
            with tracker:
                yield reading
        finally:
            reading.peak_bytes = tracker.peak_bytes

    @contextlib.contextmanager
    def capped(self, cap_bytes: int):
        self._cap = int(cap_bytes)
        try:
            yield
        finally:
            self._cap = None
            self.release()


def open_device(device=None):
    """CudaDevice for "cuda" / "cuda:N" (and None when CUDA is there), TrackedCpuDevice for "cpu"."""
    if isinstance(device, (CudaDevice, TrackedCpuDevice)):
        return device
    kind = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if kind.startswith("cuda"):
        return CudaDevice(int(kind.partition(":")[2] or 0))
    if kind == "cpu":
        return TrackedCpuDevice()
    raise ValueError(f"device must be 'cuda', 'cuda:N' or 'cpu', got {device!r}")
