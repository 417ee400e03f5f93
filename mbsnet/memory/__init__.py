"""Peak memory of a whole training step: predicted on a CPU, or measured on the current device.

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
import weakref
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from mbsnet.memory import gpus
from mbsnet.config import MBSNetConfig
from mbsnet.model import build_model
from mbsnet.results import RESULTS_DIR

MiB = 2 ** 20
GiB = 2 ** 30
CUDA_BLOCK = 512   # the CUDA caching allocator rounds every request up to a multiple of 512 B

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
}


# ---------------------------------------------------------------------------------------------
# The tracker
# ---------------------------------------------------------------------------------------------
@dataclass
class Allocation:
    """One tensor storage: its (rounded) size and when it lived, in tracker events."""
    nbytes: int
    born: int
    phase: str
    module: str
    category: str = ""          # set for parameters, inputs, gradients, optimizer state
    saved: bool = False         # saved by autograd for backward
    died: int = -1              # -1: still alive when the tracker stopped


class LiveMemoryTracker(TorchDispatchMode):
    """Follows every tensor storage created under it and the live bytes after every op.

    Works on fake, meta and real tensors: a storage is identified by its Python object (PyTorch
    keeps one object per storage for the storage's whole life), and a weakref callback marks it
    dead. Set `phase` and `module` to label what is allocated next; `track()` adds tensors made
    before the tracker started (parameters, inputs). After the run, `peak_bytes`, `peak_op`,
    `allocations` and `timeline` ([(op index, live bytes)], one point per change) describe it.
    """

    def __init__(self, round_to: int = CUDA_BLOCK, device=None):
        super().__init__()
        self.round_to = max(int(round_to), 1)
        self.device = None if device is None else torch.device(device)
        self.allocations: list[Allocation] = []
        self.live_bytes = 0
        self.peak_bytes = 0
        self.peak_op = 0            # op index of the peak (for the timeline)
        self.peak_event = 0         # event index of the peak (each alloc/free is one event)
        self.op_count = 0
        self.events = 0
        self.phase = "setup"
        self.module = ""
        self.timeline: list[tuple[int, int]] = [(0, 0)]
        self.phase_starts: dict[str, int] = {}       # phase -> op index
        self._phase_events: dict[str, int] = {}      # phase -> event index
        self._index: dict[int, int] = {}       # id(storage) -> allocation index, live ones only
        self._refs: dict[int, weakref.ref] = {}

    # Bookkeeping -------------------------------------------------------------------------------
    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.phase_starts.setdefault(phase, self.op_count)
        self._phase_events.setdefault(phase, self.events)

    def _rounded(self, nbytes: int) -> int:
        return -(-nbytes // self.round_to) * self.round_to

    def _free(self, key: int, _ref=None) -> None:
        index = self._index.pop(key, None)
        self._refs.pop(key, None)
        if index is not None:
            record = self.allocations[index]
            self.events += 1
            record.died = self.events
            self.live_bytes -= record.nbytes
            self.timeline.append((self.op_count, self.live_bytes))

    def _add(self, tensor: torch.Tensor) -> Allocation | None:
        if self.device is not None and tensor.device != self.device:
            return None         # e.g. Adam's step counters, kept on the CPU
        storage = tensor.untyped_storage()
        key = id(storage)
        index = self._index.get(key)
        if index is not None:
            return self.allocations[index]
        nbytes = self._rounded(storage.nbytes())
        self.events += 1
        record = Allocation(nbytes, self.events, self.phase, self.module)
        self._index[key] = len(self.allocations)
        self._refs[key] = weakref.ref(storage, lambda ref, key=key: self._free(key))
        self.allocations.append(record)
        self.live_bytes += nbytes
        if self.live_bytes > self.peak_bytes:
            self.peak_bytes, self.peak_op = self.live_bytes, self.op_count
            self.peak_event = self.events
        self.timeline.append((self.op_count, self.live_bytes))
        return record

    def record_of(self, tensor: torch.Tensor) -> Allocation | None:
        """The live allocation that holds `tensor`'s storage (None if not tracked)."""
        index = self._index.get(id(tensor.untyped_storage()))
        return None if index is None else self.allocations[index]

    def track(self, tensor: torch.Tensor, category: str = "", module: str = "") -> None:
        """Track a tensor that exists already (or re-label a tracked one) as `category`."""
        record = self._add(tensor)
        if category:
            record.category = category
        if module:
            record.module = module

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.op_count += 1
        if func.is_view:            # views share their input's storage: nothing new (fast path)
            return out
        if isinstance(out, torch.Tensor):
            self._add(out)
        elif isinstance(out, (tuple, list)):
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self._add(t)
        return out

    # Saved tensors ---------------------------------------------------------------------------
    def saved_tensors_hooks(self):
        """Context manager marking every tensor that autograd saves for backward."""
        def pack(t):
            record = self.record_of(t)
            if record is not None:
                record.saved = True
            return t

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)

    # Reading the result ----------------------------------------------------------------------
    def live_at(self, event: int) -> list[Allocation]:
        """Allocations alive right after event `event` (born at or before it, not yet dead)."""
        return [a for a in self.allocations if a.born <= event and (a.died < 0 or a.died > event)]

    def phase_at(self, event: int) -> str:
        """The phase that was running at event `event`."""
        current = "setup"
        for phase, start in sorted(self._phase_events.items(), key=lambda kv: kv[1]):
            if start < event:
                current = phase
        return current

    def category_of(self, a: Allocation) -> str:
        if a.category:
            return a.category
        if a.saved and a.phase in ("forward", "loss"):
            return "saved_activations"
        return "temporaries"


class _ModuleLabels:
    """Forward hooks that keep `tracker.module` = the qualified name of the running module."""

    def __init__(self, model: nn.Module, tracker: LiveMemoryTracker):
        self.stack: list[str] = []
        self.handles = []
        for name, module in model.named_modules():
            self.handles.append(module.register_forward_pre_hook(self._enter(name, tracker)))
            self.handles.append(module.register_forward_hook(self._leave(tracker)))

    def _enter(self, name, tracker):
        def hook(module, args):
            self.stack.append(name)
            tracker.module = name
        return hook

    def _leave(self, tracker):
        def hook(module, args, output):
            self.stack.pop()
            tracker.module = self.stack[-1] if self.stack else ""
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


# ---------------------------------------------------------------------------------------------
# The training step that is measured
# ---------------------------------------------------------------------------------------------
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


def _random_inputs(cfg: MBSNetConfig, batch_size: int, frames: int, device=None):
    """Noisy and clean complex STFTs (b, f, t), as the trainer keeps them on the device."""
    shape = (batch_size, cfg.n_bins, frames)
    return (torch.randn(shape, dtype=torch.complex64, device=device),
            torch.randn(shape, dtype=torch.complex64, device=device))


def _check_step_args(cfg, batch_size, seconds):
    if not isinstance(cfg, MBSNetConfig):
        raise TypeError(f"cfg must be an MBSNetConfig (e.g. presets.get('seed')), got "
                        f"{type(cfg).__name__}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not seconds > 0 or cfg.frames(seconds) < 2:
        raise ValueError(f"seconds must give at least 2 STFT frames, got {seconds!r}")


def warm_up_optimizer(model: nn.Module, optimizer) -> None:
    """Create the optimizer's state with a zero-gradient step (parameters don't move), so the
    measured step is a steady-state one: Adam's 2 states per parameter exist from step 2 on."""
    if optimizer is None:
        return
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _tracked_step(model, optimizer, noisy, clean, tracker: LiveMemoryTracker, loss_fn=None) -> None:
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
    labels = _ModuleLabels(model, tracker)
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


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass
class MemoryReport:
    """Peak memory of one training step, with where it goes.

    peak_bytes: the highest live (allocated) bytes. categories: {category: bytes live at the
    peak}. modules: {module qualified name: bytes live at the peak that it allocated or owns}.
    timeline: [(op index, live bytes)]. phase_starts: {phase: op index}.
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
             "device": self.device, "peak_bytes": self.peak_bytes,
             "peak_gib": round(self.peak_gib, 4), "peak_phase": self.peak_phase,
             "categories": self.categories, "categories_gib":
                 {k: round(v / GiB, 4) for k, v in self.categories.items()},
             "by_component": self.by_module(2), "n_ops": self.n_ops,
             "elapsed_s": round(self.elapsed_s, 2), "left_out": LEFT_OUT}
        if self.reserved_bytes is not None:
            d["reserved_bytes"] = self.reserved_bytes
        if timeline:
            d["timeline"] = self.timeline
            d["phase_starts"] = self.phase_starts
        return d


def _report(tracker: LiveMemoryTracker, cfg, batch_size, seconds, frames, optimizer, method,
            elapsed, device="cpu") -> MemoryReport:
    live = tracker.live_at(tracker.peak_event)
    categories = {c: 0 for c in CATEGORIES}
    modules: dict[str, int] = {}
    for a in live:
        categories[tracker.category_of(a)] += a.nbytes
        modules[a.module] = modules.get(a.module, 0) + a.nbytes
    assert sum(categories.values()) == tracker.peak_bytes, "tracker bookkeeping is inconsistent"
    return MemoryReport(cfg.name, batch_size, seconds, frames, str(optimizer), method,
                        tracker.peak_bytes, tracker.phase_at(tracker.peak_event),
                        categories, modules, _compress(tracker.timeline),
                        dict(tracker.phase_starts), tracker.op_count, elapsed, device)


def _compress(timeline, max_points: int = 4000):
    """Keep at most ~max_points of the timeline, keeping the local maxima of each bucket."""
    if len(timeline) <= max_points:
        return list(timeline)
    step = math.ceil(len(timeline) / max_points)
    return [max(timeline[i:i + step], key=lambda p: p[1]) for i in range(0, len(timeline), step)]


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------
def predict_peak(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0,
                 optimizer: str = "adam", round_to: int = CUDA_BLOCK, loss_fn=None) -> MemoryReport:
    """Predict the CUDA peak (max_memory_allocated) of one training step, without allocating.

    The step: model forward on a complex STFT (b, 257, cfg.frames(seconds)), `spectral_loss`
    (the original's; or `loss_fn(estimate, clean) -> scalar tensor`) against a clean STFT,
    backward, one `optimizer` step (Adam: 2 fp32 states per parameter).
    Runs on meta tensors (shapes and dtypes only: about 5x faster than FakeTensorMode here, and
    the same bytes); every allocation is rounded up to `round_to` bytes as on CUDA.
    """
    _check_step_args(cfg, batch_size, seconds)
    start = time.perf_counter()
    frames = cfg.frames(seconds)
    with torch.device("meta"):
        model = build_model(cfg)
    opt = make_optimizer(model, optimizer)
    noisy, clean = _random_inputs(cfg, batch_size, frames, device="meta")
    tracker = LiveMemoryTracker(round_to, device="meta")
    _tracked_step(model, opt, noisy, clean, tracker, loss_fn)
    return _report(tracker, cfg, batch_size, seconds, frames, optimizer, "meta-tensor prediction",
                   time.perf_counter() - start)


def measure_peak(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0,
                 optimizer: str = "adam", device=None, round_to: int = CUDA_BLOCK):
    """Measure the peak of one real training step on `device` (default: CUDA if available).

    CUDA: torch.cuda.max_memory_allocated after reset_peak_memory_stats (model and inputs
    included). CPU: the same tracker as `predict_peak`, on real tensors. Returns a MemoryReport
    (categories are only known on the CPU path; on CUDA they are left empty).
    """
    _check_step_args(cfg, batch_size, seconds)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    frames = cfg.frames(seconds)
    torch.manual_seed(0)
    start = time.perf_counter()
    if device.type == "cuda":
        return _measure_cuda(cfg, batch_size, seconds, frames, optimizer, device, start)
    model = build_model(cfg)
    opt = make_optimizer(model, optimizer)
    noisy, clean = _random_inputs(cfg, batch_size, frames)
    tracker = LiveMemoryTracker(round_to, device="cpu")
    _tracked_step(model, opt, noisy, clean, tracker)
    return _report(tracker, cfg, batch_size, seconds, frames, optimizer, "measured (cpu tracker)",
                   time.perf_counter() - start)


def _cuda_step(cfg, batch_size, frames, optimizer, device):
    model = build_model(cfg).to(device)
    opt = make_optimizer(model, optimizer)
    warm_up_optimizer(model, opt)
    noisy, clean = _random_inputs(cfg, batch_size, frames, device)
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
    _check_step_args(cfg, batch_size, seconds)
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


# ---------------------------------------------------------------------------------------------
# Budgets: fits / max batch
# ---------------------------------------------------------------------------------------------
_CACHE: dict = {}


def cached_predict_peak(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0,
                        optimizer: str = "adam") -> MemoryReport:
    """predict_peak, memoized per (cfg, batch_size, seconds, optimizer) in this process."""
    key = (cfg, batch_size, float(seconds), optimizer)
    if key not in _CACHE:
        _CACHE[key] = predict_peak(cfg, batch_size, seconds, optimizer)
    return _CACHE[key]


def fits(cfg: MBSNetConfig, batch_size: int, gpu: str = gpus.DEFAULT_GPU, seconds: float = 2.0,
         optimizer: str = "adam") -> bool:
    """Whether the predicted peak fits the GPU's usable memory (capacity - CUDA context)."""
    return cached_predict_peak(cfg, batch_size, seconds, optimizer).peak_bytes <= gpus.get(gpu).usable


def affine_in_batch(cfg: MBSNetConfig, seconds: float = 2.0, optimizer: str = "adam",
                    check_batch: int | None = 3, tolerance: float = 0.005) -> dict:
    """Fit peak(b) = intercept + slope * b from b = 1 and 2; check it at `check_batch`.

    Raises AssertionError if the check point is off by more than `tolerance` (relative).
    """
    p1 = cached_predict_peak(cfg, 1, seconds, optimizer).peak_bytes
    p2 = cached_predict_peak(cfg, 2, seconds, optimizer).peak_bytes
    fit = {"intercept": 2 * p1 - p2, "slope": p2 - p1}
    if check_batch:
        actual = cached_predict_peak(cfg, check_batch, seconds, optimizer).peak_bytes
        affine = fit["intercept"] + fit["slope"] * check_batch
        fit["check"] = {"batch_size": check_batch, "predicted": actual, "affine": affine,
                        "relative_error": abs(affine - actual) / actual}
        if fit["check"]["relative_error"] > tolerance:
            raise AssertionError(f"peak is not affine in batch size for {cfg.name}: "
                                 f"{fit['check']}")
    return fit


def max_batch(cfg: MBSNetConfig, gpu: str = gpus.DEFAULT_GPU, seconds: float = 2.0,
              optimizer: str = "adam", verify: bool = True) -> dict:
    """Largest batch whose predicted peak fits `gpu`, from the affine model in batch size.

    With `verify`, the answer m is confirmed by full predictions at m and m + 1.
    Returns {"max_batch": m (0 if even batch 1 does not fit), "gpu", "usable_bytes", "fit"}.
    """
    budget = gpus.get(gpu).usable
    fit = affine_in_batch(cfg, seconds, optimizer, check_batch=None)
    m = max(int((budget - fit["intercept"]) // fit["slope"]), 0)
    result = {"gpu": gpu, "usable_bytes": budget, "fit": fit, "max_batch": m}
    if verify:
        if m >= 1 and not fits(cfg, m, gpu, seconds, optimizer):
            raise AssertionError(f"affine model says batch {m} fits {gpu}, prediction disagrees")
        if fits(cfg, m + 1, gpu, seconds, optimizer):
            raise AssertionError(f"affine model says batch {m + 1} does not fit {gpu}, "
                                 f"prediction disagrees")
        result["verified_at"] = [b for b in (m, m + 1) if b >= 1]
    return result


# ---------------------------------------------------------------------------------------------
# Stored GPU measurements (results/gpu_memory_*.json, written by `python -m mbsnet memory
# --measure --out ...` on a machine with a GPU)
# ---------------------------------------------------------------------------------------------
def stored_gpu_results(results_dir=None) -> list[dict]:
    """GPU measurements stored under results/ (each with provenance: device, date, commit,
    command), oldest first. Empty when no GPU run has been stored yet."""
    import json
    from pathlib import Path

    root = Path(results_dir) if results_dir else RESULTS_DIR
    found = []
    for path in sorted(root.glob("gpu_memory_*.json")):
        record = json.loads(path.read_text())
        if record.get("measured", {}).get("device", "cpu") != "cpu":
            record["path"] = str(path)
            found.append(record)
    return sorted(found, key=lambda r: r.get("provenance", {}).get("date", ""))


# ---------------------------------------------------------------------------------------------
# An independent check: torch's own MemTracker on fake tensors
# ---------------------------------------------------------------------------------------------
def torch_memtracker_peak(cfg: MBSNetConfig, batch_size: int, seconds: float = 2.0,
                          optimizer: str = "adam") -> int:
    """Peak bytes of the same steady-state training step according to
    torch.distributed._tools.mem_tracker.MemTracker under FakeTensorMode (no 512 B rounding:
    fake tensors live on the CPU). Slow (~20x predict_peak): use small shapes."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    _check_step_args(cfg, batch_size, seconds)
    with FakeTensorMode():
        model = build_model(cfg)
        opt = make_optimizer(model, optimizer)
        warm_up_optimizer(model, opt)
        noisy, clean = _random_inputs(cfg, batch_size, cfg.frames(seconds))
        tracker = MemTracker()
        tracker.track_external(model, *([opt] if opt is not None else []), noisy, clean)
        with tracker:
            spectral_loss(model(noisy), clean).backward()
            if opt is not None:
                opt.step()
        snapshot = tracker.get_tracker_snapshot("peak")
    return max(dev["Total"] for dev in snapshot.values())
