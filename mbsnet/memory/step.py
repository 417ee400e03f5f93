"""The training step whose memory is predicted: mbsnet.step.train_step run under the tracker, its inputs and optimizer.

`tracked_step` runs the very `train_step` the trainer runs (looked up on mbsnet.step at call
time), with a `TrackerTrace` that labels phases, marks saved tensors and tracks gradients.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from mbsnet import step
from mbsnet.config import MBSNetConfig
from mbsnet.errors import InputError
from mbsnet.losses import spectral_loss
from mbsnet.memory.tracker import LiveMemoryTracker, ModuleLabels
from mbsnet.step import OPTIMIZERS, MicroBatch, StepSettings

__all__ = ["TrackerTrace", "check_step_args", "make_optimizer", "random_inputs", "spectral_loss",
           "step_inputs", "tracked_step", "warm_up_optimizer"]       # spectral_loss: the original's, re-exported


def make_optimizer(model: nn.Module, optimizer: str = "adam", lr: float = 1e-3):
    """The optimizer of the original's step by name ("adam", "adamw", "sgd", "none"); see
    mbsnet.step.make_optimizer for the trainer's settings."""
    if optimizer in (None, "none"):
        return None
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    return step.make_optimizer(model, StepSettings.original(optimizer, lr=lr))


def random_inputs(cfg: MBSNetConfig, batch_size: int, frames: int, device=None):
    """Noisy and clean complex STFTs (b, f, t), as the trainer keeps them on the device."""
    shape = (batch_size, cfg.n_bins, frames)
    return (torch.randn(shape, dtype=torch.complex64, device=device),
            torch.randn(shape, dtype=torch.complex64, device=device))


def step_inputs(cfg: MBSNetConfig, batch_size: int, seconds: float, settings: StepSettings, device=None):
    """(micro_batches, inputs) of one step as its kind runs it: the original's starts from complex
    STFTs (b, f, t) (random_inputs); any other step, as the trainer does, from (b, s) waveforms
    split into `settings.accumulate` micro-batches of their STFTs (mbsnet.step.split_batch).
    inputs: the tensors that hold the micro-batches' storage (what the step's peak counts as inputs)."""
    micro = settings.micro_batch(batch_size)
    if settings.name == "original":
        noisy, clean = random_inputs(cfg, batch_size, cfg.frames(seconds), device=device)
        return [MicroBatch(n, c) for n, c in zip(noisy.split(micro), clean.split(micro))], (noisy, clean)
    samples = int(round(seconds * cfg.sample_rate))
    clean_wav, noisy_wav = (torch.randn(batch_size, samples, device=device) for _ in range(2))
    batches = step.split_batch(clean_wav, noisy_wav, cfg, settings)
    return batches, (clean_wav, noisy_wav, batches[0].noisy, batches[0].clean)


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


class TrackerTrace:
    """train_step's trace hooks on a LiveMemoryTracker: phases, module labels, saved tensors, gradients."""

    def __init__(self, tracker: LiveMemoryTracker, names: dict):
        self.tracker, self.names = tracker, names

    def phase(self, name, module=None):
        self.tracker.set_phase(name)
        if module is not None:
            self.tracker.module = module

    def saving(self):
        return self.tracker.saved_tensors_hooks()

    def gradients(self, model):
        for p in model.parameters():
            if p.grad is not None:
                self.tracker.track(p.grad, "gradients", self.names[id(p)])


def tracked_step(model, optimizer, noisy, clean, tracker: LiveMemoryTracker, loss_fn=None,
                 settings: StepSettings | None = None, micro_batches=None, scaler=None,
                 inputs=()) -> None:
    """One steady-state training step under `tracker`: mbsnet.step.train_step.

    The optimizer state exists already (see `warm_up_optimizer`), as from the second step on.
    settings: default StepSettings.original() (the original's step). noisy, clean: complex STFTs
    (b, f, t) of one micro-batch, or give `micro_batches` (list of MicroBatch) and the tensors they
    come from as `inputs` (tracked as inputs). loss_fn(estimate, clean) -> scalar replaces the
    settings' loss.
    """
    settings = settings or StepSettings.original()
    warm_up_optimizer(model, optimizer)
    names = {id(p): n.rpartition(".")[0] for n, p in model.named_parameters()}
    for p in model.parameters():
        tracker.track(p, "parameters", names[id(p)])
    if optimizer is not None:
        for p, state in optimizer.state.items():
            for value in state.values():
                if isinstance(value, torch.Tensor) and value.dim() > 0:   # not step counters
                    tracker.track(value, "optimizer_state", names[id(p)])
    if micro_batches is None:
        micro_batches, inputs = [MicroBatch(noisy, clean)], (noisy, clean)
    for t in inputs:
        tracker.track(t, "inputs", "(inputs)")
    labels = ModuleLabels(model, tracker)
    try:
        with tracker:
            step.train_step(model, optimizer, micro_batches, settings, scaler=scaler,
                            trace=TrackerTrace(tracker, names), loss_fn=loss_fn)
    finally:
        labels.remove()
