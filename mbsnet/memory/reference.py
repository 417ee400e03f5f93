"""An independent check of predict_training_peak: the same step of any model under torch's MemTracker.

`memtracker_training_peak(build, batch, loss, optimizer)` runs the step predict_training_peak
traces (zero the gradients, loss, backward, optimizer step, with the optimizer's state created by
a zero-gradient warm-up step) under FakeTensorMode with
torch.distributed._tools.mem_tracker.MemTracker, fp32, and returns its peak "Total" bytes (fake
tensors live on the CPU: no 512 B rounding, so compare with predict_training_peak(round_to=1)).

Two known differences. (1) Kernels: fake CPU tensors run the CPU's attention kernel (flash for
CPU without dropout, the math path with dropout), the prediction on meta CUDA's fused one
(mbsnet.memory.kernels); compare attention models with method="fake". (2) MemTracker's total
for a torch.nn.TransformerEncoder is above the bytes of the storages alive at its peak: run in
the same step as a LiveMemoryTracker (which follows each storage with a weakref), MemTracker
reported 480,008 B for one encoder layer where 414,728 B of storages were alive, and exactly
414,728 B for the same layer not wrapped in the encoder (2026-12-01, torch 2.13 CPU).
"""
from __future__ import annotations

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
