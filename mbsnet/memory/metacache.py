"""A cache of meta-tensor op results by input metadata: what makes a traced step on meta tensors fast.

On meta tensors an op's outputs (shapes, strides, dtypes) depend only on its inputs' metadata and
its other arguments (not on where in its storage a view starts), yet many meta kernels are Python (torch._refs / torch._prims) and cost
~100 us a call. A training step repeats the same op on the same shapes many times (a Python loop
over time steps, identical layers, their backward), so `MetaOpCache.run(func, args, kwargs)`
answers a repeated call with fresh `torch.empty_strided` outputs of the recorded metadata.

Cached: ops whose arguments are meta tensors and hashable values, and either
    functional    no argument written, no output aliasing an input (from the op's schema, and
                  checked: aten._unsafe_view's schema says functional, its output shares the
                  input's storage); the
                  outputs tensors (or tuples / lists of tensors, None, numbers), each with its own
                  storage, offset 0, of exactly the size empty_strided gives, no conj / neg bit:
                  a hit makes fresh outputs of the recorded metadata;
    in place      arguments written (add_, copy_, the optimizer's _foreach_*_), no argument's
                  metadata changed by the first call, every output one of the arguments: on meta
                  such an op does nothing, so a hit returns those arguments again.
View ops and the rest (resize_, set_, an out= that was resized) run every time. The first call
of each signature runs the op, so its errors (a shape mismatch) are raised as without the cache.
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_META = torch.device("meta")
_PLAIN = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.memory_format,
          torch.layout)
_NO = object()


_COMPLEX = frozenset({torch.complex32, torch.complex64, torch.complex128})


def _arg_key(x):
    if type(x) is torch.Tensor:
        if x.device != _META:
            raise TypeError
        dtype = x.dtype                   # not the storage offset: outputs are fresh storages
        if dtype in _COMPLEX or x.is_neg():
            return (dtype, x.shape, x.stride(), x.is_conj(), x.is_neg())
        return (dtype, x.shape, x.stride())
    if isinstance(x, (list, tuple)):
        return (type(x), *map(_arg_key, x))
    if isinstance(x, _PLAIN):
        return (type(x), x)
    raise TypeError


def _storage_nbytes(t: torch.Tensor) -> int:
    if t.numel() == 0:
        return 0
    return (1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride()))) * t.element_size()


def _out_spec(out):
    """A recipe for fresh outputs like `out`, or None if `out` is not one the cache can make."""
    if isinstance(out, torch.Tensor):
        if (type(out) is not torch.Tensor or out.device != _META or out.storage_offset() != 0
                or out.is_conj() or out.is_neg()
                or out.untyped_storage().nbytes() != _storage_nbytes(out)):
            return None
        return ("T", tuple(out.shape), out.stride(), out.dtype)
    if isinstance(out, (list, tuple)):
        specs = [_out_spec(v) for v in out]
        storages = [id(v.untyped_storage()) for v in out if isinstance(v, torch.Tensor)]
        if any(s is None for s in specs) or len(set(storages)) != len(storages):
            return None
        return (type(out), tuple(specs))
    if isinstance(out, (int, float, bool, type(None))):
        return ("V", out)
    return None


def _make(spec):
    kind = spec[0]
    if kind == "T":
        return torch.empty_strided(spec[1], spec[2], dtype=spec[3], device=_META)
    if kind == "V":
        return spec[1]
    return spec[0](_make(s) for s in spec[1])


class MetaOpCache:
    """run(func, args, kwargs): func's result, from the cache when the signature was seen (module docstring)."""

    def __init__(self):
        self._specs: dict = {}
        self._functional: dict = {}
        self.hits = self.misses = 0

    def _kind(self, func) -> str:
        """"functional", "in place" or "" (never cached), from the op's schema."""
        known = self._functional.get(func)
        if known is None:
            schema = func._schema
            args_alias = [a.alias_info for a in schema.arguments]
            if func.is_view or "resize" in schema.name or schema.name.endswith("set_"):
                known = ""
            elif not schema.is_mutable and all(r.alias_info is None for r in schema.returns) \
                    and all(a is None for a in args_alias):
                known = "functional"
            elif schema.is_mutable and all(a is None or a.is_write for a in args_alias):
                known = "in place"
            else:
                known = ""
            self._functional[func] = known
        return known

    def run(self, func, args, kwargs):
        kind = self._kind(func)
        if not kind:
            return func(*args, **kwargs)
        try:
            key = (func, _arg_key(args), _arg_key(tuple(sorted(kwargs.items()))))
            spec = self._specs.get(key, _NO)
        except TypeError:                 # a non-meta tensor or an unhashable argument
            return func(*args, **kwargs)
        if spec is not _NO and spec is not None:
            self.hits += 1
            return _make(spec) if kind == "functional" else _pick(spec, args, kwargs)
        out = func(*args, **kwargs)
        self.misses += 1
        if kind == "functional":          # _unsafe_view & co: schema-functional, yet aliases
            inputs = {id(t.untyped_storage()) for t in _tensors(args, kwargs)}
            outs = [out] if isinstance(out, torch.Tensor) else out if isinstance(out, (list, tuple)) else []
            aliased = any(isinstance(t, torch.Tensor) and id(t.untyped_storage()) in inputs for t in outs)
            self._specs[key] = None if aliased else _out_spec(out)
        else:
            same = _arg_key(args) == key[1] and _arg_key(tuple(sorted(kwargs.items()))) == key[2]
            self._specs[key] = _where(out, args, kwargs) if same else None
        return out


def _tensors(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (t for t in a if isinstance(t, torch.Tensor))


def _positions(args, kwargs):
    """{id(tensor): how to find it} for the tensors among args and kwargs (lists one deep)."""
    where = {}
    for i, a in enumerate(args):
        if isinstance(a, torch.Tensor):
            where.setdefault(id(a), ("a", i, None))
        elif isinstance(a, (list, tuple)):
            for j, t in enumerate(a):
                if isinstance(t, torch.Tensor):
                    where.setdefault(id(t), ("a", i, j))
    for k, v in kwargs.items():
        if isinstance(v, torch.Tensor):
            where.setdefault(id(v), ("k", k, None))
    return where


def _where(out, args, kwargs):
    """A recipe giving back `out` from the arguments, or None if `out` is not made of them."""
    where = _positions(args, kwargs)
    if out is None:
        return ("N",)
    if isinstance(out, torch.Tensor):
        return ("P", where[id(out)]) if id(out) in where else None
    if isinstance(out, (list, tuple)) and all(isinstance(t, torch.Tensor) and id(t) in where for t in out):
        return ("L", type(out), tuple(where[id(t)] for t in out))
    return None


def _pick(spec, args, kwargs):
    def get(pos):
        src, i, j = pos
        value = args[i] if src == "a" else kwargs[i]
        return value if j is None else value[j]
    if spec[0] == "N":
        return None
    if spec[0] == "P":
        return get(spec[1])
    return spec[1](get(p) for p in spec[2])


class CachedMeta(TorchDispatchMode):
    """with CachedMeta(cache): ... every op through `cache` (e.g. the optimizer's warm-up step, so
    that the traced step's optimizer ops are hits)."""

    def __init__(self, cache: MetaOpCache):
        super().__init__()
        self.cache = cache

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return self.cache.run(func, args, kwargs or {})
