"""One training step, the one the trainer runs and the memory predictor traces: `StepSettings` and `train_step`.

    settings = StepSettings()                     # the trainer's: AdamW, enhancement_loss, clip 5
    settings = StepSettings.original()            # the original MBS-Net's: Adam, spectral_loss, no clip
    optimizer = make_optimizer(model, settings)
    micro = split_batch(clean, noisy, cfg, settings)        # (b, s) waveforms -> micro-batches
    row = train_step(model, optimizer, micro, settings, lr=1e-3, scaler=make_scaler("cuda", "fp16"))

The step: zero the gradients (set to None), then for each of `settings.accumulate` micro-batches
forward (under autocast for bf16 / fp16: mbsnet.precision), loss (outside autocast, fp32; divided
by the number of micro-batches when there are several), backward (scaled by a GradScaler for
fp16); then clip the gradient norm, one optimizer step. Precision and activation checkpointing
are the config's (MBSNetConfig.precision / .activation_checkpointing); `settings.precision`
overrides the config's precision when set. On a CPU the trainer runs fp32 whatever the precision
(autocast is applied on CUDA, and emulated on the meta device for the predictor).

`trace` (mbsnet.memory.step.TrackerTrace) labels the phases, marks saved tensors and tracks the
gradients; values are not read on meta tensors (the row is then {}).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import torch
import torch.nn as nn

from mbsnet.errors import InputError
from mbsnet.losses import LossWeights, enhancement_loss_terms, spectral_loss
from mbsnet.precision import DTYPES, autocast_context

OPTIMIZERS = ("adamw", "adam", "sgd", "none")
LOSSES = ("enhancement", "spectral")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or inf."""


@dataclass(frozen=True)
class StepSettings:
    """What one optimisation step does (see the module docstring); the defaults are the trainer's.

    optimizer: "adamw" (with `betas`, `weight_decay`), "adam" (the original's: torch defaults),
    "sgd" or "none". loss: "enhancement" (losses.enhancement_loss with `weights`) or "spectral"
    (losses.spectral_loss, the original's). grad_clip: max gradient norm (None: no clipping).
    precision: None (the config's), "fp32", "bf16" or "fp16". accumulate: micro-batches per step.
    """

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-2
    betas: tuple = (0.8, 0.99)          # MP-SENet / SEMamba
    loss: str = "enhancement"
    weights: LossWeights = LossWeights()
    grad_clip: float | None = 5.0
    precision: str | None = None
    accumulate: int = 1

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(self.betas))
        for name, allowed in (("optimizer", OPTIMIZERS), ("loss", LOSSES),
                              ("precision", (None, *DTYPES))):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(map(str, allowed))}; "
                                 f"got {getattr(self, name)!r}")
        if not isinstance(self.accumulate, int) or self.accumulate < 1:
            raise InputError(f"accumulate must be a positive integer, got {self.accumulate!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InputError(f"grad_clip must be > 0 or None, got {self.grad_clip!r}")

    @classmethod
    def original(cls, optimizer: str = "adam", **changes) -> "StepSettings":
        """The original MBS-Net's step, which notebooks 2-3 reproduce: Adam, spectral_loss, no
        clipping, the config's precision (fp32 for every ladder preset)."""
        return cls(optimizer=optimizer, weight_decay=0.0, betas=(0.9, 0.999), loss="spectral",
                   grad_clip=None, **changes)

    @property
    def name(self) -> str:
        """'original' for StepSettings.original()'s settings (any optimizer), else 'trainer'."""
        return "original" if self.loss == "spectral" and self.grad_clip is None else "trainer"

    def precision_for(self, cfg) -> str:
        return self.precision or cfg.precision

    def micro_batch(self, batch_size: int) -> int:
        if batch_size % self.accumulate:
            raise InputError(f"the batch ({batch_size}) must be a multiple of accumulate "
                             f"({self.accumulate})")
        return batch_size // self.accumulate

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StepSettings":
        d = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        if isinstance(d.get("weights"), dict):
            d["weights"] = LossWeights(**d["weights"])
        return cls(**d)


def make_optimizer(model: nn.Module, settings: StepSettings):
    """The step's optimizer (None for "none"). `foreach=True` is what torch picks on CUDA (it
    allocates temporaries of the size of all parameters), so CPU and meta runs mirror the GPU."""
    params, s = model.parameters(), settings
    if s.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=s.lr, betas=s.betas, weight_decay=s.weight_decay, foreach=True)
    if s.optimizer == "adam":
        return torch.optim.Adam(params, lr=s.lr, betas=s.betas, weight_decay=s.weight_decay, foreach=True)
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.lr, weight_decay=s.weight_decay, foreach=True)
    return None


class MicroBatch(NamedTuple):
    """noisy, clean: complex STFTs (b, f, t); clean_wav: (b, s) or None (only the time loss needs it)."""
    noisy: torch.Tensor
    clean: torch.Tensor
    clean_wav: torch.Tensor | None = None


def split_batch(clean: torch.Tensor, noisy: torch.Tensor, cfg, settings: StepSettings) -> list[MicroBatch]:
    """(b, s) waveforms -> `settings.accumulate` micro-batches of their STFTs (views of one STFT)."""
    from mbsnet.data.audio import stft

    micro = settings.micro_batch(clean.shape[0])
    clean_spec, noisy_spec = stft(clean, cfg), stft(noisy, cfg)
    return [MicroBatch(n, c, w) for n, c, w in zip(noisy_spec.split(micro), clean_spec.split(micro),
                                                     clean.split(micro))]


class MetaGradScaler:
    """GradScaler's memory on the meta device: a scaled loss, in-place unscaling of the gradients."""

    scale_factor = 2.0 ** 16

    def scale(self, loss):
        return loss * self.scale_factor

    def unscale_(self, optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        torch._foreach_mul_(grads, 1.0 / self.scale_factor)

    def step(self, optimizer):
        optimizer.step()

    def update(self):
        pass


def make_scaler(device_type: str, precision: str):
    """A GradScaler for fp16 on CUDA (its emulation on meta); None otherwise."""
    if precision != "fp16":
        return None
    if device_type == "cuda":
        return torch.amp.GradScaler("cuda")
    return MetaGradScaler() if device_type == "meta" else None


class _NoTrace:
    def phase(self, name, module=None):
        pass

    def saving(self):
        import contextlib
        return contextlib.nullcontext()

    def gradients(self, model):
        pass


def step_loss(model, estimate, mb: MicroBatch, settings: StepSettings, loss_fn=None):
    """The loss train_step minimises for one micro-batch -> (loss, its terms)."""
    if loss_fn is not None:
        return loss_fn(estimate, mb.clean), {}
    if settings.loss == "spectral":
        return spectral_loss(estimate, mb.clean), {}
    est_wav = None
    if settings.weights.time:
        from mbsnet.data.audio import istft
        est_wav = istft(estimate, mb.clean_wav.shape[-1], model.cfg)
    return enhancement_loss_terms(estimate, mb.clean, settings.weights, est_wav,
                                  mb.clean_wav if settings.weights.time else None)


def train_step(model, optimizer, micro_batches, settings: StepSettings, *, lr: float | None = None,
               scaler=None, trace=None, loss_fn=None) -> dict:
    """One optimisation step over `micro_batches` (list of MicroBatch) -> {loss, terms..., grad_norm}
    (means over the micro-batches; {} on meta tensors). Raises TrainingDiverged on a NaN/inf loss,
    or a NaN/inf gradient norm without a GradScaler (with one, that step is skipped).
    loss_fn(estimate, clean) -> scalar, if given, replaces the settings' loss."""
    trace = trace or _NoTrace()
    if optimizer is not None:
        if lr is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
    n = len(micro_batches)
    device_type = micro_batches[0].noisy.device.type
    real = device_type != "meta"
    precision = settings.precision_for(model.cfg)
    sums: dict[str, float] = {}
    for mb in micro_batches:
        trace.phase("forward")
        with trace.saving():
            with autocast_context(device_type, precision):
                estimate = model(mb.noisy)
            trace.phase("loss", "(loss)")
            loss, terms = step_loss(model, estimate, mb, settings, loss_fn)
            if n > 1:
                loss = loss / n
        del estimate
        if real:
            value = float(loss.detach()) * n
            if not math.isfinite(value):
                raise TrainingDiverged(f"loss is {value}")
            for name, t in {"loss": value, **{k: float(v.detach()) for k, v in terms.items()}}.items():
                sums[name] = sums.get(name, 0.0) + t / n
        del terms
        trace.phase("backward", "(backward)")
        (scaler.scale(loss) if scaler is not None else loss).backward()
        trace.gradients(model)
        del loss
    trace.phase("optimizer", "(optimizer)")
    if settings.grad_clip is not None:
        if scaler is not None and optimizer is not None:
            scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        if real:
            sums["grad_norm"] = float(norm)
            if scaler is None and not math.isfinite(sums["grad_norm"]):
                raise TrainingDiverged(f"gradient norm is {sums['grad_norm']}")
        del norm
    if optimizer is not None:
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
    trace.phase("end")
    return sums
