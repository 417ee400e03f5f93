"""Peak memory of a whole training step, predicted on a CPU: the report, `predict_peak`, and torch's MemTracker as a check.

`predict_peak(cfg, batch_size)` runs one full training step (forward on a complex STFT, the loss,
backward, an Adam step) on *meta* tensors (torch.device("meta")): every op computes shapes and
dtypes, nothing is allocated (FakeTensorMode works too, but is ~5x slower here). A light
`TorchDispatchMode`, `LiveMemoryTracker`, follows the lifetime of every tensor storage (a weakref
callback fires when autograd or Python drops the last reference) and so knows the live bytes
after each op.

What the prediction models, and what it leaves out (see `LEFT_OUT`):
    * each allocation is rounded up to 512 B, as the CUDA caching allocator does;
    * it does not see allocator fragmentation / block splitting (the *reserved* memory that
      nvidia-smi shows is typically 0-10 % above the allocated peak), cuBLAS/cuDNN workspaces
      (a few MiB to ~100 MiB), nor the CUDA context (~300-500 MiB, outside PyTorch's counters);
    * it counts what `torch.cuda.max_memory_allocated` counts.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from mbsnet.config import MBSNetConfig
from mbsnet import step as step_module
from mbsnet.memory.step import (check_step_args, make_optimizer, random_inputs, step_inputs, tracked_step,
                                warm_up_optimizer)
from mbsnet.memory.tracker import CUDA_BLOCK, LiveMemoryTracker
from mbsnet.model import build_model
from mbsnet.step import StepSettings
from mbsnet.units import GiB

CATEGORIES = ("parameters", "gradients", "optimizer_state", "inputs", "saved_activations",
              "temporaries")

LEFT_OUT = {
    "allocator_rounding": "modelled exactly: every allocation rounded up to 512 B "
                          "(large blocks are also rounded to 2 MiB *segments*, which shows up "
                          "as reserved, not allocated, memory)",
    "fragmentation": "not modelled: reserved memory (nvidia-smi) is typically 0-10 % above the "
                     "allocated peak; an OOM can happen when the allocated peak is a few % "
                     "below the card's capacity",
    "workspaces": "not modelled: cuBLAS / cuDNN workspaces, a few MiB up to ~100 MiB",
    "cuda_context": "not modelled: the CUDA context and kernels take ~300-500 MiB of the card "
                    "before PyTorch allocates anything (see gpus.CONTEXT_RESERVE)",
    "kernels": "meta tensors follow the same autograd formulas as CUDA, so the same tensors are "
               "saved; a CUDA kernel's private scratch memory inside one op is not seen",
    "autocast": "bf16 / fp16: CUDA autocast's dtype policy is emulated on meta tensors "
                "(mbsnet.precision; checked against torch's CUDA policy in "
                "results/autocast_policy_check.json); GradScaler's few scalars are not counted",
}


@dataclass
class MemoryReport:
    """Peak memory of one training step, with where it goes.

    peak_bytes: the highest live (allocated) bytes. categories: {category: bytes live at the
    peak}. modules: {module qualified name: bytes live at the peak that it allocated or owns}.
    timeline: [(op index, live bytes)]. phase_starts: {phase: op index}. The step: `step`
    ("original" | "trainer"), `optimizer`, `precision`, `checkpointing` (the config's
    activation_checkpointing), `accumulate` micro-batches of `micro_batch`.
    """
    preset: str
    batch_size: int
    seconds: float
    frames: int
    optimizer: str
    method: str
    peak_bytes: int
    peak_phase: str
    categories: dict
    modules: dict
    timeline: list = field(default_factory=list, repr=False)
    phase_starts: dict = field(default_factory=dict)
    n_ops: int = 0
    elapsed_s: float = 0.0
    device: str = "cpu"
    reserved_bytes: int | None = None     # CUDA only: max_memory_reserved (allocator segments)
    step: str = "original"
    precision: str = "fp32"
    checkpointing: str = "none"
    micro_batch: int = 0
    accumulate: int = 1
    largest: list = field(default_factory=list)        # details=True: the largest live tensors,
    live_by_kind: list = field(default_factory=list)   # and all of them grouped by what made them

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GiB

    def by_module(self, depth: int = 2) -> dict:
        """Bytes at the peak grouped by the first `depth` parts of the module name."""
        out: dict[str, int] = {}
        for name, nbytes in self.modules.items():
            key = ".".join(name.split(".")[:depth]) if name else "(model)"
            out[key] = out.get(key, 0) + nbytes
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def to_dict(self, timeline: bool = False) -> dict:
        d = {"preset": self.preset, "batch_size": self.batch_size, "seconds": self.seconds,
             "frames": self.frames, "optimizer": self.optimizer, "method": self.method,
             "device": self.device, "step": self.step, "precision": self.precision,
             "checkpointing": self.checkpointing, "micro_batch": self.micro_batch or self.batch_size,
             "accumulate": self.accumulate, "peak_bytes": self.peak_bytes,
             "peak_gib": round(self.peak_gib, 4), "peak_phase": self.peak_phase,
             "categories": self.categories, "categories_gib":
                 {k: round(v / GiB, 4) for k, v in self.categories.items()},
             "by_component": self.by_module(2), "n_ops": self.n_ops,
             "elapsed_s": round(self.elapsed_s, 2), "left_out": LEFT_OUT}
        if self.reserved_bytes is not None:
            d["reserved_bytes"] = self.reserved_bytes
        if self.largest:
            d["largest_tensors"] = self.largest
            d["live_by_kind"] = self.live_by_kind
        if timeline:
            d["timeline"] = self.timeline
            d["phase_starts"] = self.phase_starts
        return d


def report_from(tracker: LiveMemoryTracker, cfg, batch_size, seconds, frames, optimizer, method,
                elapsed, device="cpu", settings: StepSettings | None = None) -> MemoryReport:
    live = tracker.live_at(tracker.peak_event)
    categories = {c: 0 for c in CATEGORIES}
    modules: dict[str, int] = {}
    for a in live:
        categories[tracker.category_of(a)] += a.nbytes
        modules[a.module] = modules.get(a.module, 0) + a.nbytes
    assert sum(categories.values()) == tracker.peak_bytes, "tracker bookkeeping is inconsistent"
    settings = settings or StepSettings.original(optimizer)
    return MemoryReport(cfg.name, batch_size, seconds, frames, str(optimizer), method,
                        tracker.peak_bytes, tracker.phase_at(tracker.peak_event),
                        categories, modules, _compress(tracker.timeline),
                        dict(tracker.phase_starts), tracker.op_count, elapsed, device,
                        step=settings.name, precision=settings.precision_for(cfg),
                        checkpointing=cfg.activation_checkpointing,
                        micro_batch=settings.micro_batch(batch_size), accumulate=settings.accumulate,
                        **(_details(tracker, live) if tracker.details else {}))


def _details(tracker, live, top: int = 12) -> dict:
    """largest: the `top` largest live tensors at the peak (bytes, shape, dtype, the op that made
    them, category, phase, module: in backward, a checkpoint's early-stopped recomputation can
    leave the label of the last module it re-entered). live_by_kind: every live tensor grouped by
    (category, op, shape, dtype), with count and bytes, largest groups first."""
    rows = [{"bytes": a.nbytes, "shape": list(a.shape), "dtype": a.dtype.removeprefix("torch."),
             "op": a.op.removeprefix("aten.") or "-", "category": tracker.category_of(a),
             "phase": a.phase, "module": a.module or "(model)"}
            for a in sorted(live, key=lambda a: -a.nbytes)]
    groups: dict = {}
    for r in rows:
        key = (r["category"], r["op"], tuple(r["shape"]), r["dtype"])
        count, nbytes = groups.get(key, (0, 0))
        groups[key] = (count + 1, nbytes + r["bytes"])
    kinds = [{"category": k[0], "op": k[1], "shape": list(k[2]), "dtype": k[3], "count": c,
              "bytes": b} for k, (c, b) in sorted(groups.items(), key=lambda kv: -kv[1][1])]
    return {"largest": rows[:top], "live_by_kind": kinds}


def _compress(timeline, max_points: int = 4000):
    """Keep at most ~max_points of the timeline, keeping the local maxima of each bucket."""
    if len(timeline) <= max_points:
        return list(timeline)
    step = math.ceil(len(timeline) / max_points)
    return [max(timeline[i:i + step], key=lambda p: p[1]) for i in range(0, len(timeline), step)]


def predict_peak(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0,
                 optimizer: str = "adam", round_to: int = CUDA_BLOCK, loss_fn=None,
                 step: StepSettings | None = None, details: bool = False) -> MemoryReport:
    """Predict the CUDA peak (max_memory_allocated) of one training step, without allocating.

    The step is mbsnet.step.train_step with `step` (StepSettings; default the original's:
    StepSettings.original(optimizer), Adam with 2 fp32 states per parameter, `spectral_loss` or
    `loss_fn(estimate, clean) -> scalar tensor`, no clipping, the config's precision). The
    original's step starts from complex STFTs (b, 257, cfg.frames(seconds)); any other step from
    (b, s) waveforms, as the trainer does (mbsnet.step.split_batch), in `step.accumulate`
    micro-batches of batch_size / accumulate. Precision and activation checkpointing are the
    config's (StepSettings.precision overrides the precision); bf16 / fp16 follow CUDA autocast's
    dtype policy (mbsnet.precision). Runs on meta tensors (shapes and dtypes only: about 5x faster
    than FakeTensorMode here, and the same bytes); every allocation is rounded up to `round_to`
    bytes as on CUDA. LEFT_OUT lists what is not modelled (allocator fragmentation, cuBLAS /
    cuDNN workspaces, the CUDA context). details: also list the largest tensors live at the peak
    (MemoryReport.largest: shape, dtype, the op that made each).
    """
    check_step_args(cfg, batch_size, seconds)
    settings = step or StepSettings.original(optimizer)
    settings.micro_batch(batch_size)
    start = time.perf_counter()
    frames = cfg.frames(seconds)
    with torch.device("meta"):
        model = build_model(cfg)
    opt = (make_optimizer(model, optimizer) if step is None
           else step_module.make_optimizer(model, settings))
    tracker = LiveMemoryTracker(round_to, device="meta", details=details)
    scaler = step_module.make_scaler("meta", settings.precision_for(cfg))
    micro, inputs = step_inputs(cfg, batch_size, seconds, settings, device="meta")
    tracked_step(model, opt, None, None, tracker, loss_fn, settings, micro, scaler, inputs)
    return report_from(tracker, cfg, batch_size, seconds, frames, settings.optimizer,
                       "meta-tensor prediction", time.perf_counter() - start, settings=settings)


_CACHE: dict = {}


def cached_predict_peak(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0,
                        optimizer: str = "adam", step: StepSettings | None = None) -> MemoryReport:
    """predict_peak, memoized per (cfg, batch_size, seconds, optimizer, step) in this process."""
    key = (cfg, batch_size, float(seconds), optimizer, step)
    if key not in _CACHE:
        _CACHE[key] = predict_peak(cfg, batch_size, seconds, optimizer, step=step)
    return _CACHE[key]


def torch_memtracker_peak(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0,
                          optimizer: str = "adam") -> int:
    """Peak bytes of the same steady-state training step according to
    torch.distributed._tools.mem_tracker.MemTracker under FakeTensorMode (no 512 B rounding:
    fake tensors live on the CPU). The original's step, fp32, with the config's activation
    checkpointing. Slow (~20x predict_peak): use small shapes."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    from mbsnet.losses import spectral_loss

    check_step_args(cfg, batch_size, seconds)
    with FakeTensorMode():
        model = build_model(cfg)
        opt = make_optimizer(model, optimizer)
        warm_up_optimizer(model, opt)
        noisy, clean = random_inputs(cfg, batch_size, cfg.frames(seconds))
        tracker = MemTracker()
        tracker.track_external(model, *([opt] if opt is not None else []), noisy, clean)
        with tracker:
            spectral_loss(model(noisy), clean).backward()
            if opt is not None:
                opt.step()
        snapshot = tracker.get_tracker_snapshot("peak")
    return max(dev["Total"] for dev in snapshot.values())
