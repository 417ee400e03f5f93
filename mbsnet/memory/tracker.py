"""The storage tracker: a TorchDispatchMode that follows every tensor storage's lifetime and the live bytes."""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from mbsnet.memory.metacache import MetaOpCache
from mbsnet.memory.saved import on_saved

_NAMES: dict = {}     # op -> str(op), which is slow
CUDA_BLOCK = 512   # the CUDA caching allocator rounds every request up to a multiple of 512 B


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
    shape: tuple = ()           # with `details`: the first tensor's shape, dtype, and the op
    dtype: str = ""             # that made it ("" for tensors tracked with `track`)
    op: str = ""


class LiveMemoryTracker(TorchDispatchMode):
    """Follows every tensor storage created under it and the live bytes after every op.

    Works on fake, meta and real tensors: a storage is identified by its Python object (PyTorch
    keeps one object per storage for the storage's whole life), and a weakref callback marks it
    dead. Set `phase` and `module` to label what is allocated next; `track()` adds tensors made
    before the tracker started (parameters, inputs). After the run, `peak_bytes`, `peak_op`,
    `allocations` and `timeline` ([(op index, live bytes)], one point per change) describe it.
    With `details`, each allocation also keeps its shape, dtype and op. `failed_op` names the op
    whose call raised (e.g. aten._local_scalar_dense for `.item()` on meta), None if none did.
    On device "meta", repeated calls are answered from a MetaOpCache (`cache=False`: never).
    """

    def __init__(self, round_to: int = CUDA_BLOCK, device=None, details: bool = False,
                 cache: bool = True):
        super().__init__()
        self.round_to = max(int(round_to), 1)
        self.device = None if device is None else torch.device(device)
        self.details = details
        self.failed_op: str | None = None
        self._op = ""
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
        self.cache = MetaOpCache() if cache and self.device == torch.device("meta") else None

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
        if self.details:
            record.shape, record.dtype, record.op = tuple(tensor.shape), str(tensor.dtype), self._op
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
        self._op = ""
        record = self._add(tensor)
        if record is None:
            return
        if category:
            record.category = category
        if module:
            record.module = module

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        try:
            if self.cache is not None:
                out = self.cache.run(func, args, kwargs or {})
            else:
                out = func(*args, **(kwargs or {}))
        except Exception:
            self.failed_op = self.failed_op or str(func)     # the innermost op that raised
            raise
        self.op_count += 1
        if func.is_view:            # views share their input's storage: nothing new (fast path)
            return out
        if self.details:
            self._op = _NAMES.get(func) or _NAMES.setdefault(func, str(func))
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
        def mark(t):
            record = self.record_of(t)
            if record is not None:
                record.saved = True

        return on_saved(mark)

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


class ModuleLabels:
    """Forward hooks that keep `tracker.module` = the qualified name of the running module.

    Leaving a module restores the label that was set when it was entered (so a module re-run in
    backward by a checkpoint leaves "(backward)" behind). `called` collects the names of the
    modules that ran."""

    def __init__(self, model: nn.Module, tracker: LiveMemoryTracker):
        self.stack: list[str] = []
        self.handles = []
        self.called: dict[str, None] = {}
        for name, module in model.named_modules():
            self.handles.append(module.register_forward_pre_hook(self._enter(name, tracker)))
            self.handles.append(module.register_forward_hook(self._leave(tracker)))

    def _enter(self, name, tracker):
        def hook(module, args):
            self.stack.append(tracker.module)
            self.called[name] = None
            tracker.module = name
        return hook

    def _leave(self, tracker):
        def hook(module, args, output):
            tracker.module = self.stack.pop() if self.stack else ""
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()
