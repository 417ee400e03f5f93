"""Peak memory of a training step: predicted on a CPU without allocating, measured on a GPU, explained.

    tracker   the TorchDispatchMode that follows every storage's lifetime (LiveMemoryTracker)
    saved     what autograd saves for backward (one hook; the census)
    step      the training step that is traced (loss, optimizer, inputs)
    predict   predict_peak and its MemoryReport; torch's MemTracker as an independent check
    measure   measure_peak / reproduce_oom on a real device
    devices   where a measured step runs: CudaDevice, or TrackedCpuDevice (the tracker as memory reader)
    gpus      GPU budgets by name (no torch needed)
    budget    fits / affine_in_batch / max_batch (a named GPU) / max_batch_for_bytes (any capacity)
    formula   the closed-form memory math of MBS-Net
    generic   predict_training_peak: any model's training step (MBS-Net's predictor's machinery)
    whatif    peak vs batch, max batch for a GPU, savings of checkpointing / bf16 / accumulation
    reference the same generic step under torch's MemTracker (the independent check)
    userfile  load `path/to/file.py:factory` for the command line

Names are loaded lazily (`mbsnet.memory.predict_peak` imports torch only when first used), so the
command line can read the GPU table without importing torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "predict": ("CATEGORIES", "LEFT_OUT", "MemoryReport", "cached_predict_peak", "predict_peak",
                "torch_memtracker_peak"),
    "measure": ("measure_peak", "reproduce_oom"),
    "budget": ("affine_in_batch", "fits", "fits_bytes", "max_batch", "max_batch_for_bytes"),
    "step": ("make_optimizer", "spectral_loss", "warm_up_optimizer"),
    "tracker": ("CUDA_BLOCK", "LiveMemoryTracker"),
    "saved": ("saved_tensor_bytes", "saved_tensor_census"),
    "generic": ("TrainingPeakReport", "UntraceableModel", "predict_training_peak"),
    "whatif": ("max_batch_for", "peak_vs_batch", "savings"),
    "reference": ("memtracker_training_peak", "real_cpu_training_peak"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
_ELSEWHERE = {"GiB": "mbsnet.units", "MiB": "mbsnet.units", "stored_gpu_results": "mbsnet.results"}

__all__ = sorted(_WHERE) + sorted(_ELSEWHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"mbsnet.memory.{_WHERE[name]}"), name)
    if name in _ELSEWHERE:
        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'mbsnet.memory' has no attribute {name!r}")


def __dir__():
    return __all__
