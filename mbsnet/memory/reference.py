"""Independent checks of predict_training_peak: the same step under torch's MemTracker, and really run on the CPU.

`memtracker_training_peak(build, batch, loss, optimizer)` runs the step predict_training_peak
traces (zero the gradients, loss, backward, optimizer step, with the optimizer's state created by
a zero-gradient warm-up step) under FakeTensorMode with
torch.distributed._tools.mem_tracker.MemTracker, fp32, and returns its peak "Total" bytes (fake
tensors live on the CPU: no 512 B rounding, so compare with predict_training_peak(round_to=1)).

`real_cpu_training_peak(...)` runs the step for real, with real tensors on this CPU (so the CPU's
kernels): the peak of the live storages (LiveMemoryTracker, unrounded) and, where glibc is the C
library, the peak of the bytes malloc has handed out (mallinfo2, sampled after every op, less the
bytes in use before the step, plus the storages that existed before it) - the allocator's own
count, which knows nothing of storages, weakrefs or modules. It exceeds the storage count by
malloc's bookkeeping, the autograd graph's nodes and the storage tracker's own records, which
run in the same step (0.1-3% at tens of MB; 0.1% for a step run with no tracker at all).

Two known differences. (1) Kernels: fake CPU tensors run the CPU's attention kernel (flash for
CPU without dropout, the math path with dropout), the prediction on meta CUDA's fused one
(mbsnet.memory.kernels); compare attention models with method="fake". (2) MemTracker's total
for a torch.nn.TransformerEncoder is above what is alive: for 2 layers (d 256, l 256, b 8) it
reported 70,715,496 B where the real CPU step peaked at 67,307,528 B of storages and 67,379,136 B
from malloc (+5.0%), and the fake-tensor prediction gave 67,307,528 B; the same layer alone, or in
an nn.Sequential, it counts exactly (39,945,272 B vs 39,945,224 B of storages, 39,977,120 B from
malloc) (results/own_model_predictor.json; 2026-12-01, torch 2.13 CPU).
"""
from __future__ import annotations

import ctypes
import gc
import time

from mbsnet.memory.generic import _call_batch, default_optimizer
from mbsnet.precision import tensors_in
from mbsnet.memory.step import warm_up_optimizer


def memtracker_training_peak(build, batch, loss, optimizer=None, batch_size: int | None = None) -> dict:
    """{"peak_bytes", "elapsed_s", "cpu_s"} of one fp32 training step according to MemTracker."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    start, cpu = time.perf_counter(), time.process_time()
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = build()
        opt = (optimizer or default_optimizer)(model.parameters())
        warm_up_optimizer(model, opt)
        data = _call_batch(batch, batch_size)
        tracker = MemTracker()
        tracker.track_external(model, *([opt] if opt is not None else []), *tensors_in(data))
        with tracker:
            if opt is not None:
                opt.zero_grad(set_to_none=True)
            loss(model, data).backward()
            if opt is not None:
                opt.step()
        snapshot = tracker.get_tracker_snapshot("peak")
    peak = max(dev["Total"] for dev in snapshot.values())
    return {"peak_bytes": int(peak), "elapsed_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu}


class _MallinfoPeak:
    """glibc's bytes in use (mallinfo2: uordblks + hblkhd), highest after any op; None elsewhere."""

    def __init__(self):
        try:
            libc = ctypes.CDLL("libc.so.6")
            fields = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"

            class Info(ctypes.Structure):
                _fields_ = [(n, ctypes.c_size_t) for n in fields.split()]
            libc.mallinfo2.restype = Info
            self._info = libc.mallinfo2
        except (OSError, AttributeError):
            self._info = None

    def used(self) -> int:
        info = self._info()
        return info.uordblks + info.hblkhd


def real_cpu_training_peak(build, batch, loss, optimizer=None, batch_size: int | None = None) -> dict:
    """{"storage_peak_bytes", "malloc_peak_bytes" (None without glibc)} of the step run for real
    on the CPU (module docstring)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from mbsnet.memory.tracker import LiveMemoryTracker

    torch.manual_seed(0)
    model = build()
    opt = (optimizer or default_optimizer)(model.parameters())
    warm_up_optimizer(model, opt)
    data = _call_batch(batch, batch_size)
    before = list(model.parameters()) + list(model.buffers()) + list(tensors_in(data))
    before += [v for state in (opt.state.values() if opt is not None else ())
               for v in state.values() if isinstance(v, torch.Tensor) and v.dim() > 0]
    tracker = LiveMemoryTracker(round_to=1, device="cpu")
    for t in before:
        tracker.track(t)
    malloc = _MallinfoPeak()

    class Sample(TorchDispatchMode):
        peak = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if malloc._info is not None:
                self.peak = max(self.peak, malloc.used())
            return out
    sample = Sample()
    gc.collect()
    gc.disable()
    try:
        base = malloc.used() if malloc._info is not None else 0
        sample.peak = base
        with tracker, sample:
            if opt is not None:
                opt.zero_grad(set_to_none=True)
            loss(model, data).backward()
            if opt is not None:
                opt.step()
    finally:
        gc.enable()
    existing = sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in before}.values())
    return {"storage_peak_bytes": tracker.peak_bytes,
            "malloc_peak_bytes": existing + sample.peak - base if malloc._info is not None else None}
