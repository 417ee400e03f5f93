"""The training step whose memory is predicted: loss, optimizer, inputs and the tracked step itself."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mbsnet.config import MBSNetConfig
from mbsnet.errors import InputError
from mbsnet.memory.tracker import LiveMemoryTracker, ModuleLabels


def spectral_loss(estimate: torch.Tensor, clean: torch.Tensor, compress: float = 0.3,
                  eps: float = 1e-8) -> torch.Tensor:
    """The original's loss: 0.5 L1 on real/imag + 0.5 L1 on magnitude ** 0.3.

    The original's step, which the predictor reproduces; the trainer (`mbsnet.losses`) takes the
    real/imag term on the compressed spectrum instead, with the same predicted peak (the loss
    runs below the peak; tests/test_memory.py checks it). estimate, clean: complex STFTs (b, f, t).
    """
    complex_term = F.l1_loss(torch.view_as_real(estimate), torch.view_as_real(clean))
    magnitude_term = F.l1_loss((estimate.abs() + eps) ** compress, (clean.abs() + eps) ** compress)
    return 0.5 * complex_term + 0.5 * magnitude_term


def make_optimizer(model: nn.Module, optimizer: str = "adam", lr: float = 1e-3):
    """The trainer's optimizer. `foreach=True` is what torch picks on CUDA (it allocates
    temporaries of the size of all parameters), so a CPU run mirrors the GPU."""
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    if optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, foreach=True)
    if optimizer in (None, "none"):
        return None
    raise ValueError(f"optimizer must be 'adam', 'sgd' or 'none', got {optimizer!r}")


def random_inputs(cfg: MBSNetConfig, batch_size: int, frames: int, device=None):
    """Noisy and clean complex STFTs (b, f, t), as the trainer keeps them on the device."""
    shape = (batch_size, cfg.n_bins, frames)
    return (torch.randn(shape, dtype=torch.complex64, device=device),
            torch.randn(shape, dtype=torch.complex64, device=device))


def check_step_args(cfg, batch_size, seconds):
    if not isinstance(cfg, MBSNetConfig):
        raise TypeError(f"cfg must be an MBSNetConfig (e.g. presets.get('seed')), got "
                        f"{type(cfg).__name__}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not seconds > 0 or cfg.frames(seconds) < 2:
        raise InputError(f"seconds must give at least 2 STFT frames, got {seconds!r}")


def warm_up_optimizer(model: nn.Module, optimizer) -> None:
    """Create the optimizer's state with a zero-gradient step (parameters don't move), so the
    measured step is a steady-state one: Adam's 2 states per parameter exist from step 2 on."""
    if optimizer is None:
        return
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def tracked_step(model, optimizer, noisy, clean, tracker: LiveMemoryTracker, loss_fn=None) -> None:
    """One steady-state training step under `tracker`: forward, loss, backward, optimizer step.

    The optimizer state exists already (see `warm_up_optimizer`), as from the second step on.
    """
    warm_up_optimizer(model, optimizer)
    names = {id(p): n.rpartition(".")[0] for n, p in model.named_parameters()}
    for p in model.parameters():
        tracker.track(p, "parameters", names[id(p)])
    if optimizer is not None:
        for p, state in optimizer.state.items():
            for value in state.values():
                if isinstance(value, torch.Tensor) and value.dim() > 0:   # not step counters
                    tracker.track(value, "optimizer_state", names[id(p)])
    tracker.track(noisy, "inputs", "(inputs)")
    tracker.track(clean, "inputs", "(inputs)")
    labels = ModuleLabels(model, tracker)
    try:
        with tracker:
            tracker.set_phase("forward")
            with tracker.saved_tensors_hooks():
                estimate = model(noisy)
                tracker.set_phase("loss")
                tracker.module = "(loss)"
                loss = (loss_fn or spectral_loss)(estimate, clean)
            del estimate
            tracker.set_phase("backward")
            tracker.module = "(backward)"
            loss.backward()
            for p in model.parameters():
                if p.grad is not None:
                    tracker.track(p.grad, "gradients", names[id(p)])
            del loss
            tracker.set_phase("optimizer")
            tracker.module = "(optimizer)"
            if optimizer is not None:
                optimizer.step()
            tracker.set_phase("end")
    finally:
        labels.remove()
