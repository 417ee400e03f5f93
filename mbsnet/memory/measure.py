"""Peak memory measured on a real device: one training step on CUDA (or the tracker on real CPU tensors), the OOM under a cap."""
from __future__ import annotations

import time

import torch

from mbsnet.config import MBSNetConfig
from mbsnet.memory.predict import MemoryReport, report_from
from mbsnet.memory.step import (check_step_args, make_optimizer, random_inputs, spectral_loss, tracked_step,
                                warm_up_optimizer)
from mbsnet.memory.tracker import CUDA_BLOCK, LiveMemoryTracker
from mbsnet.model import build_model
from mbsnet.units import GiB


def measure_peak(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0,
                 optimizer: str = "adam", device=None, round_to: int = CUDA_BLOCK):
    """Measure the peak of one real training step on `device` (default: CUDA if available).

    CUDA: torch.cuda.max_memory_allocated after reset_peak_memory_stats (model and inputs
    included). CPU: the same tracker as `predict_peak`, on real tensors. Returns a MemoryReport
    (categories are only known on the CPU path; on CUDA they are left empty).
    """
    check_step_args(cfg, batch_size, seconds)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    frames = cfg.frames(seconds)
    torch.manual_seed(0)
    start = time.perf_counter()
    if device.type == "cuda":
        return _measure_cuda(cfg, batch_size, seconds, frames, optimizer, device, start)
    model = build_model(cfg)
    opt = make_optimizer(model, optimizer)
    noisy, clean = random_inputs(cfg, batch_size, frames)
    tracker = LiveMemoryTracker(round_to, device="cpu")
    tracked_step(model, opt, noisy, clean, tracker)
    return report_from(tracker, cfg, batch_size, seconds, frames, optimizer, "measured (cpu tracker)",
                   time.perf_counter() - start)


def _cuda_step(cfg, batch_size, frames, optimizer, device):
    model = build_model(cfg).to(device)
    opt = make_optimizer(model, optimizer)
    warm_up_optimizer(model, opt)
    noisy, clean = random_inputs(cfg, batch_size, frames, device)
    loss = spectral_loss(model(noisy), clean)
    loss.backward()
    if opt is not None:
        opt.step()
    torch.cuda.synchronize(device)


def _measure_cuda(cfg, batch_size, seconds, frames, optimizer, device, start):
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    _cuda_step(cfg, batch_size, frames, optimizer, device)
    peak = torch.cuda.max_memory_allocated(device) - base
    reserved = torch.cuda.max_memory_reserved(device)
    report = MemoryReport(cfg.name, batch_size, seconds, frames, str(optimizer),
                          "measured (torch.cuda.max_memory_allocated)", peak, "", {}, {},
                          elapsed_s=time.perf_counter() - start,
                          device=torch.cuda.get_device_name(device))
    report.reserved_bytes = reserved
    return report


def reproduce_oom(cfg: MBSNetConfig, batch_size: int, cap_gib: float = 12.0,
                  seconds: float = 2.0, optimizer: str = "adam") -> dict:
    """Run a real training step on a GPU capped at `cap_gib` and report whether it OOMs.

    The cap uses torch.cuda.set_per_process_memory_fraction, so a bigger card behaves like a
    `cap_gib` one (the CUDA context is outside the cap, unlike on a real 12 GiB card).
    Returns {"status": "oom" | "fits" | "skipped", "message": ..., ...}; "skipped" on a CPU.
    """
    check_step_args(cfg, batch_size, seconds)
    if not torch.cuda.is_available():
        return {"status": "skipped", "message": "no CUDA device here: the real OOM can only be "
                "reproduced on a GPU; see predict_peak for the prediction."}
    device = torch.device("cuda")
    total = torch.cuda.get_device_properties(device).total_memory
    fraction = min(cap_gib * GiB / total, 1.0)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    torch.cuda.set_per_process_memory_fraction(fraction, device)
    result = {"cap_gib": cap_gib, "device": torch.cuda.get_device_name(device),
              "batch_size": batch_size, "preset": cfg.name}
    try:
        _cuda_step(cfg, batch_size, cfg.frames(seconds), optimizer, device)
        result.update(status="fits", message="the step ran within the cap")
    except torch.OutOfMemoryError as exc:
        result.update(status="oom", message=str(exc).splitlines()[0])
    finally:
        result["max_memory_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GiB
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        torch.cuda.empty_cache()
    return result
