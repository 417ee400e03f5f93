"""Training MBS-Net: AdamW, warmup + cosine learning rate, gradient clipping, AMP on CUDA,
gradient accumulation, periodic evaluation, atomic checkpoints with exact resume.

Each step is `mbsnet.step.train_step` (the step `python -m mbsnet memory` predicts) with
`TrainSettings.step_settings()`: the batch of `batch_size` is split into `accumulate`
micro-batches; precision (bf16 / fp16 autocast, fp16 with a GradScaler) and activation
checkpointing are the config's, and `precision` here overrides the config's; both act on CUDA
only (on a CPU the step runs fp32).

Programmatic API (no files needed; deterministic from the seed):

    from mbsnet import presets
    from mbsnet.data.datasets import SyntheticPairs
    from mbsnet.evaluate import evaluate_model
    from mbsnet.train import train_model

    model, history = train_model(presets.get("final"), SyntheticPairs(split="train"),
                                 steps=200, batch_size=4, segment_seconds=1.0, seed=0, lr=1e-3)
    metrics = evaluate_model(model, pairs)   # pairs: sequence of (clean (s,), noisy (s,))
    # -> {"si_sdr", "si_sdr_noisy", "si_sdr_improvement", "pesq", "pesq_noisy",
    #     "pesq_improvement", "n"}

`dataset` is any sequence of (clean, noisy) float32 numpy pairs at 16 kHz (a list works).
`history` is a list of per-step dicts {step, loss, <loss terms>, lr, grad_norm, seconds}, plus
{"step", "eval": {...}} entries when `eval_pairs` and `eval_every` are given.

With `out=DIR`, training writes DIR/checkpoint.pt (atomically, every `checkpoint_every` steps
and at least every `checkpoint_minutes`), DIR/train_log.csv, DIR/eval_log.jsonl and
DIR/summary.json. `resume=True` continues from DIR/checkpoint.pt exactly: each step's batch is
drawn from an RNG seeded by (seed, step), and the optimizer, RNG and (fp16) GradScaler states are
restored, so N steps straight and N/2 + kill + resume give the same weights on CPU.

A NaN or inf loss stops training (TrainingDiverged) and leaves the last good checkpoint in place.
A CUDA out-of-memory error is answered with the largest batch mbsnet.memory predicts to fit.

CLI: python -m mbsnet train (mbsnet.cli.train).
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mbsnet import distributed
from mbsnet.checkpoint import (CheckpointError, architecture_diff, atomic_save, config_from, read_checkpoint,
                               set_rng_states, training_state)
from mbsnet.config import MBSNetConfig
from mbsnet.data.augment import remix_at_snr
from mbsnet.data.datasets import random_crop
from mbsnet.evaluate import evaluate_model
from mbsnet.errors import InputError
from mbsnet.losses import LossWeights
from mbsnet.memory.budget import max_batch_for_bytes
from mbsnet.memory.gpus import usable_bytes
from mbsnet.model import build_model
from mbsnet.results import save_result
from mbsnet.step import StepSettings, TrainingDiverged, make_optimizer, make_scaler, split_batch, train_step
from mbsnet.units import GiB

__all__ = ["TrainSettings", "TrainingDiverged", "learning_rate", "make_batch", "train_model", "train_step"]

LOG_COLUMNS = ("step", "loss", "magnitude", "complex", "phase", "time", "lr", "grad_norm",
               "step_seconds", "elapsed_seconds")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings; stored in every checkpoint."""

    steps: int = 1000
    batch_size: int = 4
    segment_seconds: float = 1.0
    seed: int = 0
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = -1          # -1: 5% of the steps, at most 100
    weight_decay: float = 1e-2
    betas: tuple = (0.8, 0.99)      # MP-SENet / SEMamba
    grad_clip: float = 5.0
    weights: LossWeights = field(default_factory=LossWeights)
    precision: str | None = None    # None: the config's; bf16 / fp16 autocast on CUDA only
    accumulate: int = 1             # micro-batches per step (batch_size must be a multiple)
    remix_snr_db: tuple | None = None   # (lo, hi): with remix_prob, a pair is remixed at an SNR ~ U(lo, hi)
    remix_prob: float = 0.0

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.segment_seconds > 0:
            raise InputError(f"segment_seconds must be > 0, got {self.segment_seconds}")
        if not self.lr > 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        self.step_settings().micro_batch(self.batch_size)       # checks precision, accumulate
        if not 0 <= self.remix_prob <= 1:
            raise InputError(f"remix_prob must be in [0, 1], got {self.remix_prob}")
        if self.remix_prob and (self.remix_snr_db is None or len(self.remix_snr_db) != 2
                                or not self.remix_snr_db[0] <= self.remix_snr_db[1]):
            raise InputError(f"remix_prob > 0 needs remix_snr_db = (lo, hi) with lo <= hi, got {self.remix_snr_db}")

    def step_settings(self) -> StepSettings:
        """The StepSettings of each step (mbsnet.step.train_step)."""
        return StepSettings(optimizer="adamw", lr=self.lr, weight_decay=self.weight_decay,
                            betas=self.betas, loss="enhancement", weights=self.weights,
                            grad_clip=self.grad_clip, precision=self.precision,
                            accumulate=self.accumulate)

    @property
    def warmup(self) -> int:
        return min(100, max(1, self.steps // 20)) if self.warmup_steps < 0 else self.warmup_steps

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSettings":
        """From to_dict(); older checkpoints' keys that are gone (amp: bf16 autocast on CUDA,
        now `precision`) are dropped."""
        d = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        d["weights"] = LossWeights(**d["weights"])
        d["betas"] = tuple(d["betas"])
        if d.get("remix_snr_db") is not None:
            d["remix_snr_db"] = tuple(d["remix_snr_db"])
        return cls(**d)


def learning_rate(step: int, s: TrainSettings) -> float:
    """Linear warmup to s.lr, then cosine decay to s.lr * s.min_lr_ratio at s.steps."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = min(1.0, (step - s.warmup) / max(1, s.steps - s.warmup))
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_batch(dataset, step: int, s: TrainSettings, sample_rate: int = 16_000):
    """The batch of `step`: random items and crops from an RNG seeded by (seed, step).

    With s.remix_prob > 0, each crop is, with that probability, remixed at an SNR drawn uniformly
    from s.remix_snr_db (mbsnet.data.augment.remix_at_snr), e.g. to show the model the cleaner
    inputs a test set has beyond the corpus' training SNRs; the draws come after all the crops', so
    the items and crops are those of the same step without remixing.
    -> clean, noisy (b, segment) float32 tensors, each pair scaled by 1 / RMS(noisy).
    """
    rng = np.random.default_rng([s.seed, step])
    length = int(round(s.segment_seconds * sample_rate))
    pairs = [random_crop(rng, *dataset[int(i)], length) for i in rng.integers(len(dataset), size=s.batch_size)]
    if s.remix_prob:
        remix = rng.random(len(pairs)) < s.remix_prob
        snrs = rng.uniform(*s.remix_snr_db, size=len(pairs))
        pairs = [(c, remix_at_snr(c, n, snr) if r else n) for (c, n), r, snr in zip(pairs, remix, snrs)]
    cleans, noisys = [], []
    for clean, noisy in pairs:
        scale = 1.0 / max(float(np.sqrt(np.mean(noisy ** 2))), 1e-4)
        cleans.append(clean * scale)
        noisys.append(noisy * scale)
    return (torch.as_tensor(np.stack(cleans), dtype=torch.float32),
            torch.as_tensor(np.stack(noisys), dtype=torch.float32))


def _oom_advice(cfg: MBSNetConfig, s: TrainSettings, device: torch.device) -> str:
    """What to do after a CUDA OOM: the largest batch mbsnet.memory predicts for this GPU.

    The prediction (mbsnet.memory.budget.max_batch_for_bytes, verified by full predictions; on
    the meta device, so it needs no GPU memory; about four predictions, a minute for the final
    preset on a CPU) is of this trainer's step (s.step_settings()) at this segment length,
    against the device's total memory less the CUDA context (gpus.usable_bytes). With
    accumulation the batch quoted is the micro-batch.
    """
    total = torch.cuda.get_device_properties(device).total_memory
    usable = usable_bytes(total)
    step = replace(s.step_settings(), accumulate=1)
    best = max_batch_for_bytes(cfg, usable, s.segment_seconds, step=step)["max_batch"]
    where = f"this GPU ({total / GiB:.1f} GiB, {usable / GiB:.1f} GiB usable after the CUDA context)"
    base = f"CUDA out of memory at batch {s.batch_size}, {s.segment_seconds} s segments."
    if best < 1:
        return (f"{base} mbsnet.memory predicts that not even batch 1 fits {where}: lower "
                f"--segment-seconds or train a smaller preset.")
    return f"{base} mbsnet.memory predicts at most batch {best} fits {where}: use --batch {best} or less."


class _Logs:
    """train_log.csv (one row per step) and eval_log.jsonl in `out`; truncated to `step` on resume."""

    def __init__(self, out: Path | None, start_step: int):
        self.out = out
        if out is None:
            return
        self.csv_path, self.eval_path = out / "train_log.csv", out / "eval_log.jsonl"
        rows = []
        if start_step > 0 and self.csv_path.exists():
            with open(self.csv_path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        with open(self.csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        evals = []
        if start_step > 0 and self.eval_path.exists():
            evals = [line for line in self.eval_path.read_text().splitlines()
                     if line and json.loads(line)["step"] <= start_step]
        self.eval_path.write_text("".join(e + "\n" for e in evals))

    def step(self, row: dict):
        if self.out is not None:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, LOG_COLUMNS, extrasaction="ignore").writerow(row)

    def evaluation(self, row: dict):
        if self.out is not None:
            with open(self.eval_path, "a") as f:
                f.write(json.dumps(row) + "\n")


def train_model(cfg: MBSNetConfig, dataset, steps: int = 1000, batch_size: int = 4,
                segment_seconds: float = 1.0, seed: int = 0, lr: float = 1e-3, *,
                weights: LossWeights = LossWeights(), settings: TrainSettings | None = None,
                out=None, resume: bool = False, checkpoint_every: int = 100,
                checkpoint_minutes: float = 5.0, eval_pairs=None, eval_every: int = 0,
                device=None, progress: bool = True, command: str | None = None, model=None,
                stop_after: int | None = None):
    """Train `cfg` on `dataset` -> (model, history). See the module docstring.

    stop_after: leave the loop after this many steps (the schedule still spans `steps`), as if
    the run were killed there; a later `resume=True` call continues it.
    """
    s = settings or TrainSettings(steps=steps, batch_size=batch_size, segment_seconds=segment_seconds,
                                  seed=seed, lr=lr, weights=weights)
    if len(dataset) == 0:
        raise InputError("dataset is empty")
    rank = distributed.current()            # under torchrun: one of N processes (mbsnet.distributed)
    device = rank.device(device)
    out = Path(out) if out is not None else None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(s.seed)
    if model is not None and model.cfg != cfg:
        raise ValueError(f"train_model: the model given is {model.cfg.name!r}, not {cfg.name!r}")
    model = (model or build_model(cfg)).to(device).train()
    optimizer = make_optimizer(model, s.step_settings())
    start = 0
    if resume:
        if ckpt_path is None or not ckpt_path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        state = read_checkpoint(ckpt_path)
        stored = config_from(state)
        if architecture_diff(stored, cfg) or stored.name != cfg.name or stored.mask_floor_db != cfg.mask_floor_db:
            raise CheckpointError(f"--resume: {ckpt_path} was trained with a different config "
                             f"({state['config']['name']!r}, not {cfg.name!r})")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        set_rng_states(state["rng"])
        start = int(state["step"])
        s = TrainSettings.from_dict({**state["train"], "steps": s.steps})

    rank.check_batch(s.batch_size)
    net = rank.wrap(model)                  # DistributedDataParallel under torchrun, else the model
    step_settings = s.step_settings()
    scaler = make_scaler(device.type, step_settings.precision_for(cfg))
    if resume and scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])     # fp16: the loss scale and its growth tracker
    logs = _Logs(out if rank.is_main else None, start)
    history: list[dict] = []
    last_save = time.monotonic()
    t0 = time.monotonic()

    def save(step):
        nonlocal last_save
        if ckpt_path is not None and rank.is_main:
            atomic_save(training_state(model, optimizer, step, s.to_dict(), command, scaler), ckpt_path)
            last_save = time.monotonic()

    bar = tqdm(range(start, s.steps), desc=f"train {cfg.name}", initial=start, total=s.steps,
               disable=not progress or not rank.is_main, dynamic_ncols=True)
    for step in bar:
        t_step = time.monotonic()
        clean, noisy = rank.shard(*(x.to(device) for x in make_batch(dataset, step, s, cfg.sample_rate)))
        lr_now = learning_rate(step, s)
        try:
            row = rank.mean(train_step(net, optimizer, split_batch(clean, noisy, cfg, step_settings),
                                       step_settings, lr=lr_now, scaler=scaler))
        except TrainingDiverged as exc:
            where = (f"the last good checkpoint {ckpt_path} is kept" if ckpt_path and ckpt_path.exists()
                     else "no checkpoint was written")
            raise TrainingDiverged(f"training stopped at step {step}: {exc}; {where}. Try a lower --lr "
                                   f"or check the data.") from None
        except torch.cuda.OutOfMemoryError:
            raise torch.cuda.OutOfMemoryError(_oom_advice(cfg, s, device)) from None
        row = {"step": step + 1, **row, "lr": lr_now, "step_seconds": time.monotonic() - t_step,
               "elapsed_seconds": time.monotonic() - t0}
        history.append(row)
        logs.step(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{lr_now:.2e}")
        done = step + 1
        if rank.is_main and eval_pairs is not None and eval_every and (done % eval_every == 0 or done == s.steps):
            result = {"step": done, "eval": evaluate_model(model, eval_pairs)}
            history.append(result)
            logs.evaluation(result)
            bar.write(f"step {done}: " + ", ".join(f"{k} {v:.3f}" for k, v in result["eval"].items()
                                                    if k != "n"))
        if done % checkpoint_every == 0 or time.monotonic() - last_save > 60 * checkpoint_minutes \
                or done == s.steps:
            save(done)
        if stop_after is not None and done >= stop_after:
            break
    bar.close()
    if out is not None and rank.is_main:
        steps_rows = [h for h in history if "loss" in h]
        save_result(out / "summary.json", {"config": cfg.to_dict(), "train": s.to_dict(),
                                           "steps_run": len(steps_rows), "final_step": s.steps,
                                           "final_loss": steps_rows[-1]["loss"] if steps_rows else None,
                                           "evals": [h for h in history if "eval" in h]}, command)
    model.eval()
    return model, history
