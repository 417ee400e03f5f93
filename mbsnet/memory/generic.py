"""Any PyTorch model's training-step peak, predicted on a CPU: `predict_training_peak` and its `TrainingPeakReport`.

    report = predict_training_peak(build=lambda: MyModel(),
                                   batch=lambda: (torch.randn(8, 3, 64, 64), torch.randint(0, 10, (8,))),
                                   loss=lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]))
    report.peak_bytes; report.by_category; report.by_module(depth=2); print(report)

`build` and `batch` are called under `torch.device("meta")`, so the parameters, buffers and inputs
are meta tensors (shapes and dtypes, no memory). One steady-state step then runs under the same
LiveMemoryTracker and saved-tensor hook as MBS-Net's predictor (mbsnet.memory.predict): zero the
gradients (set to None), `loss(model, batch)` (under CUDA autocast's emulation for bf16 / fp16:
mbsnet.precision; fp16 also scales the loss as a GradScaler does), backward, optimizer step (the
optimizer's state exists already, as from the second step on). Every allocation is rounded up to
512 B as on CUDA; scaled_dot_product_attention takes CUDA's fused kernel (mbsnet.memory.kernels);
repeated meta ops are answered from a cache of their outputs' metadata (mbsnet.memory.metacache).
If a model cannot run on meta tensors (`.item()`, a data-dependent shape, a
CPU-only op), the step is retried under FakeTensorMode; if that fails too, UntraceableModel names
the op. `checkpoint` names modules whose forward is wrapped in a non-reentrant
torch.utils.checkpoint during the trace (what-if: mbsnet.memory.whatif).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from mbsnet.errors import InputError
from mbsnet.memory.kernels import CudaAttention
from mbsnet.memory.metacache import CachedMeta
from mbsnet.memory.step import warm_up_optimizer
from mbsnet.memory.tracker import CUDA_BLOCK, LiveMemoryTracker, ModuleLabels
from mbsnet.precision import DTYPES, autocast_context, checkpoint_contexts, tensors_in
from mbsnet.step import MetaGradScaler
from mbsnet.units import GiB, MiB

GENERIC_CATEGORIES = ("parameters", "buffers", "gradients", "optimizer_state", "inputs",
                      "saved_activations", "temporaries")


class UntraceableModel(InputError):
    """The training step cannot run on meta tensors nor under FakeTensorMode; names the op."""


@dataclass
class TrainingPeakReport:
    """Peak of one training step of any model. peak_bytes: highest live bytes; peak_phase:
    "forward" (loss included) / "backward" / "optimizer"; categories: {category: bytes live at the
    peak}; modules: {qualified module name at allocation time: bytes live at the peak} (backward
    temporaries are "(backward)", gradients and optimizer state go to their parameter's module);
    saved_by_module: the saved activations alone; largest: the largest live tensors at the peak
    [{"bytes", "shape", "dtype", "op", "module", "category", "phase"}]; called: the modules that ran."""
    peak_bytes: int
    peak_phase: str
    categories: dict
    modules: dict
    saved_by_module: dict
    largest: list
    method: str
    precision: str
    optimizer: str
    n_ops: int
    elapsed_s: float
    cpu_s: float
    checkpointed: tuple = ()
    accumulate: int = 1
    called: list = field(default_factory=list, repr=False)
    fallback_reason: str = ""

    @property
    def by_category(self) -> dict:
        return dict(self.categories)

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GiB

    def by_module(self, depth: int = 2, saved_only: bool = False) -> dict:
        """Bytes at the peak grouped by the first `depth` parts of the module name, largest first."""
        out: dict[str, int] = {}
        for name, nbytes in (self.saved_by_module if saved_only else self.modules).items():
            key = ".".join(name.split(".")[:depth]) if name else "(model)"
            out[key] = out.get(key, 0) + nbytes
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def to_dict(self, top: int = 10) -> dict:
        return {"peak_bytes": self.peak_bytes, "peak_gib": round(self.peak_gib, 4),
                "peak_phase": self.peak_phase, "method": self.method, "precision": self.precision,
                "optimizer": self.optimizer, "checkpointed": list(self.checkpointed),
                "accumulate": self.accumulate, "categories": self.categories,
                "top_modules": dict(list(self.by_module(2).items())[:top]),
                "largest_tensors": self.largest[:top], "n_ops": self.n_ops,
                "elapsed_s": round(self.elapsed_s, 3), "cpu_s": round(self.cpu_s, 3),
                **({"fallback_reason": self.fallback_reason} if self.fallback_reason else {})}

    def __str__(self) -> str:
        lines = [f"training-step peak: {_size(self.peak_bytes)} during {self.peak_phase} "
                 f"({self.precision}, {self.optimizer}, {self.method}, {self.elapsed_s:.1f} s)"]
        lines += [f"  {name:<18}{_size(n):>12}" for name, n in self.categories.items() if n]
        lines.append("by module (depth 2):")
        lines += [f"  {name[:40]:<40}{_size(n):>12}" for name, n in list(self.by_module(2).items())[:8]]
        lines.append("largest live tensors at the peak:")
        for t in self.largest[:5]:
            shape = "x".join(map(str, t["shape"])) or "scalar"
            lines.append(f"  {_size(t['bytes']):>10}  {shape[:16]:<16} {t['dtype'][6:]:<8} "
                         f"{t['category'][:11]:<11} {t['op'].removeprefix('aten.')[:16]:<16} "
                         f"{t['module'][:14]}")
        return "\n".join(lines)


def _size(nbytes: int) -> str:
    return f"{nbytes / GiB:.2f} GiB" if nbytes >= GiB else f"{nbytes / MiB:.1f} MiB"


def default_optimizer(params):
    """AdamW with torch's defaults and foreach=True (what torch picks on CUDA)."""
    return torch.optim.AdamW(params, foreach=True)


@contextlib.contextmanager
def checkpointed(model: nn.Module, names):
    """Wrap the forward of each module named in `names` in a non-reentrant checkpoint."""
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise InputError(f"no module named {missing[0]!r} to checkpoint")
    for name in names:
        inner = modules[name].forward

        def forward(*args, _inner=inner, **kwargs):
            if not torch.is_grad_enabled():
                return _inner(*args, **kwargs)
            return _checkpoint(_inner, *args, use_reentrant=False, preserve_rng_state=False,
                               context_fn=checkpoint_contexts, **kwargs)
        modules[name].forward = forward
    try:
        yield
    finally:
        for name in names:
            del modules[name].forward


def _call_batch(batch, batch_size):
    return batch() if batch_size is None else batch(batch_size)


def _run_step(build, batch, loss, optimizer, precision, tracker, fake, checkpoint, accumulate,
              batch_size):
    """Build everything, then trace one step under `tracker`; returns the ModuleLabels."""
    with torch.device("cpu" if fake else "meta"):
        model = build()
        if not isinstance(model, nn.Module):
            raise InputError(f"build() must return a torch.nn.Module, got {type(model).__name__}")
        opt = (optimizer or default_optimizer)(model.parameters())
        micro = [_call_batch(batch, batch_size) for _ in range(accumulate)]
    with contextlib.nullcontext() if tracker.cache is None else CachedMeta(tracker.cache):
        warm_up_optimizer(model, opt)         # its ops' results cached for the step's optimizer
    names = {id(p): n.rpartition(".")[0] for n, p in model.named_parameters()}
    for p in model.parameters():
        tracker.track(p, "parameters", names[id(p)])
    for n, b in model.named_buffers():
        tracker.track(b, "buffers", n.rpartition(".")[0])
    for p, state in (opt.state.items() if opt is not None else ()):
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.dim() > 0:     # not step counters
                tracker.track(value, "optimizer_state", names.get(id(p), ""))
    for t in tensors_in(micro):
        tracker.track(t, "inputs", "(inputs)")
    labels = ModuleLabels(model, tracker)
    scaler = MetaGradScaler() if precision == "fp16" else None
    try:
        kernels = contextlib.nullcontext() if fake else CudaAttention()
        with kernels, tracker, checkpointed(model, checkpoint):
            if opt is not None:
                opt.zero_grad(set_to_none=True)
            for mb in micro:
                tracker.set_phase("forward")
                with tracker.saved_tensors_hooks(), autocast_context("meta", precision):
                    value = loss(model, mb)
                if not isinstance(value, torch.Tensor) or value.dim() != 0:
                    raise InputError("loss(model, batch) must return a scalar tensor")
                if accumulate > 1:
                    value = value / accumulate
                tracker.set_phase("backward")
                tracker.module = "(backward)"
                (scaler.scale(value) if scaler else value).backward()
                del value
                for p in model.parameters():
                    if p.grad is not None:
                        tracker.track(p.grad, "gradients", names[id(p)])
            tracker.set_phase("optimizer")
            tracker.module = "(optimizer)"
            if opt is not None:
                if scaler:
                    scaler.unscale_(opt)
                opt.step()
            tracker.set_phase("end")
    finally:
        labels.remove()
    return labels


def predict_training_peak(build, batch, loss, optimizer=None, precision: str = "fp32", *,
                          checkpoint=(), accumulate: int = 1, batch_size: int | None = None,
                          round_to: int = CUDA_BLOCK, top: int = 10,
                          method: str = "auto", meta_cache: bool = True) -> TrainingPeakReport:
    """Predict the CUDA peak (max_memory_allocated) of one training step of any model (module docstring).

    build() -> nn.Module; batch() -> the batch (tensors, or a tuple / list / dict of them), or
    batch(batch_size) when `batch_size` is given; loss(model, batch) -> scalar tensor;
    optimizer(params) -> torch.optim.Optimizer (default AdamW, foreach) or None; precision "fp32",
    "bf16" or "fp16" (CUDA autocast, emulated). checkpoint: module names to recompute in backward;
    accumulate: micro-batches per step (each a fresh batch()). method: "auto" (meta, then
    FakeTensorMode), "meta" or "fake". top: how many of the largest live tensors to keep.
    meta_cache: answer repeated meta ops from mbsnet.memory.metacache (same bytes, faster).
    """
    if precision not in DTYPES:
        raise InputError(f"precision must be one of {', '.join(DTYPES)}, got {precision!r}")
    if not isinstance(accumulate, int) or accumulate < 1:
        raise InputError(f"accumulate must be a positive integer, got {accumulate!r}")
    methods = {"auto": ("meta", "fake"), "meta": ("meta",), "fake": ("fake",)}[method]
    failures = []
    for how in methods:
        start, cpu = time.perf_counter(), time.process_time()
        tracker = LiveMemoryTracker(round_to, device=None if how == "fake" else "meta", details=True,
                                    cache=meta_cache)
        try:
            if how == "fake":
                from torch._subclasses.fake_tensor import FakeTensorMode
                with FakeTensorMode(allow_non_fake_inputs=True):
                    labels = _run_step(build, batch, loss, optimizer, precision, tracker, True,
                                       tuple(checkpoint), accumulate, batch_size)
            else:
                labels = _run_step(build, batch, loss, optimizer, precision, tracker, False,
                                   tuple(checkpoint), accumulate, batch_size)
        except InputError:
            raise
        except Exception as exc:            # noqa: BLE001 - any op failure: say which one
            failures.append(f"{'meta tensors' if how == 'meta' else 'FakeTensorMode'}: "
                            f"{_reason(exc, tracker)}")
            continue
        report = _report(tracker, labels, how, precision, optimizer, top,
                         time.perf_counter() - start, time.process_time() - cpu, checkpoint,
                         accumulate)
        report.fallback_reason = failures[0] if failures else ""
        return report
    raise UntraceableModel("cannot trace the training step; " + "; ".join(failures))


def _reason(exc: BaseException, tracker: LiveMemoryTracker) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    first = text.split(". ")[0][:200]
    if tracker.failed_op and first == str(tracker.failed_op):   # FakeTensor's errors say only the op
        first = type(exc).__name__
    op = f"op {tracker.failed_op}" if tracker.failed_op else f"{type(exc).__name__}"
    where = f" in module '{tracker.module}'" if tracker.module else ""
    return f"{op}{where} failed ({first})"


def _report(tracker, labels, how, precision, optimizer, top, elapsed, cpu, checkpoint, accumulate):
    live = tracker.live_at(tracker.peak_event)
    categories = {c: 0 for c in GENERIC_CATEGORIES}
    modules: dict[str, int] = {}
    saved: dict[str, int] = {}
    rows = []
    for a in live:
        category = tracker.category_of(a)
        categories[category] += a.nbytes
        modules[a.module] = modules.get(a.module, 0) + a.nbytes
        if category == "saved_activations":
            saved[a.module] = saved.get(a.module, 0) + a.nbytes
        rows.append(a)
    assert sum(categories.values()) == tracker.peak_bytes, "tracker bookkeeping is inconsistent"
    rows.sort(key=lambda a: -a.nbytes)
    largest = [{"bytes": a.nbytes, "shape": list(a.shape), "dtype": a.dtype,
                "op": a.op or "-", "module": a.module or "(model)",
                "category": tracker.category_of(a), "phase": a.phase} for a in rows[:top]]
    name = "default AdamW" if optimizer is None else getattr(optimizer, "__name__", "custom")
    return TrainingPeakReport(tracker.peak_bytes, tracker.phase_at(tracker.peak_event), categories,
                              dict(sorted(modules.items(), key=lambda kv: -kv[1])), saved, largest,
                              "meta tensors" if how == "meta" else "FakeTensorMode", precision,
                              name, tracker.op_count, elapsed, cpu, tuple(checkpoint), accumulate,
                              list(labels.called))
