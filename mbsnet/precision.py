"""Mixed precision as on CUDA: the autocast context of a step, and CUDA autocast's dtype policy on any device.

`autocast_context(device_type, precision)` is what the training step (mbsnet.step) runs its
forward pass under: `torch.autocast("cuda", bf16 | fp16)` on CUDA; on a CPU nothing (the
trainer runs fp32 there); on the *meta* device, which the memory predictor uses,
`CudaAutocastEmulation`.

Why an emulation: meta tensors have no autocast dispatch key (they bypass `torch.autocast`
altogether), a CPU build of torch refuses fake CUDA tensors, and CPU autocast's policy is not
CUDA's (under `autocast("cpu", bfloat16)` softmax and layer_norm stay bf16; CUDA runs them in
fp32). `CudaAutocastEmulation` is a `TorchFunctionMode`: it runs *above* autograd, as the
autocast dispatch key does, so the casts it inserts are recorded by autograd and the tensors
saved for backward have the dtypes CUDA gives them. It applies CUDA autocast's documented op
lists (torch.amp docs, "CUDA Ops that can autocast to float16 / float32", and the promote list
of aten/src/ATen/autocast_mode.cpp):
    LOWER     cast floating inputs to the lower precision (matmuls, linear, convolutions)
    FP32      cast them to float32 (pointwise transcendentals, norms, softmax, reductions, losses)
    PROMOTE   cast them to the widest floating input dtype (addcmul, atan2, index_put, ...)
(sum, prod, cumsum, cumprod: fp32 through their dtype= argument, no cast copy, as on CUDA.)
cat and stack are not cast: their CUDA kernels take mixed dtypes. F.multi_head_attention_forward
(WHOLE), which torch hands to a mode whole, is run with the mode on inside. Anything else runs in its inputs' dtypes (ordinary type promotion). As on CUDA: only
out-of-place calls are eligible, float64 and non-floating tensors are never cast, a call with an
explicit dtype= is left alone, and the fp32 -> lower cast of a leaf that requires grad (a
parameter) is cached until the region ends. `einsum` is in LOWER: it is composite on CUDA, and
the bmm it runs autocasts. results/autocast_policy_check.json (tools/autocast_policy_check.py)
compares, op by op, the dtypes each op runs in under the emulation with torch's own CUDA policy
(a CUDA build of torch, 2.14.1, under FakeTensorMode with fake CUDA tensors, no GPU): all rows
that could run agree except softmax / log_softmax on fp16 inputs (CUDA runs them with
half_to_float, without the emulation's fp32 copy; the model calls neither); the ops whose CUDA
autocast kernel needs a driver (linear, matmuls, conv, layer/group norm, einsum) were not run.

What it leaves out: the per-op kernel choice (cuBLAS/cuDNN workspaces), and any op whose
autocast policy is set by a Python decorator (custom_fwd) rather than the lists.
"""
from __future__ import annotations

import contextlib

import torch
from torch.overrides import TorchFunctionMode

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

LOWER = frozenset("""__matmul__ __rmatmul__ addbmm addmm addmv addr baddbmm bmm chain_matmul multi_dot
    conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d conv_tbc convolution
    _convolution GRUCell gru_cell LSTMCell lstm_cell linear matmul mm mv prelu RNNCell rnn_tanh_cell
    rnn_relu_cell einsum scaled_dot_product_attention""".split())
FP32 = frozenset("""__pow__ __rdiv__ __rpow__ __rtruediv__ acos asin binary_cross_entropy_with_logits
    cosh cosine_embedding_loss cdist cosine_similarity cross_entropy cumprod cumsum dist erfinv exp
    expm1 group_norm hinge_embedding_loss kl_div l1_loss layer_norm log log_softmax log10 log1p log2
    margin_ranking_loss mse_loss multilabel_margin_loss multi_margin_loss nll_loss norm normalize
    pdist poisson_nll_loss pow prod reciprocal rsqrt sinh smooth_l1_loss soft_margin_loss softmax
    softmin softplus sum renorm tan triplet_margin_loss""".split())
PROMOTE = frozenset("""addcdiv addcmul atan2 bilinear cross dot grid_sample index_put scatter_add
    tensordot""".split())
# Python functions torch hands to a TorchFunctionMode whole, with the mode off inside; CUDA
# autocast sees the aten ops inside them, so the emulation runs them with itself on (`_inside`).
WHOLE = frozenset({"multi_head_attention_forward"})
# In FP32 but, as on CUDA ("fp32_set_opt_dtype"), run with dtype=float32 instead of a cast copy.
SET_DTYPE = frozenset("sum prod cumsum cumprod".split())

_ACTIVE: list["CudaAutocastEmulation"] = []


def policy(name: str) -> str | None:
    """'lower', 'fp32', 'promote' or None for a torch function's __name__ (e.g. 'linear')."""
    if name in LOWER:
        return "lower"
    if name in FP32:
        return "fp32"
    if name in PROMOTE:
        return "promote"
    return None


def _eligible(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float64


def tensors_in(tree):
    """Every tensor in a nest of lists, tuples and dicts, depth first."""
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, (list, tuple)):
        for x in tree:
            yield from tensors_in(x)
    elif isinstance(tree, dict):
        for x in tree.values():
            yield from tensors_in(x)


class CudaAutocastEmulation(TorchFunctionMode):
    """CUDA autocast's dtype policy (module docstring) applied to every tensor, e.g. meta ones.

    with CudaAutocastEmulation(torch.bfloat16): y = model(x)   # y, saved tensors: CUDA's dtypes
    `log` (if a list) receives (function name, policy, output dtypes) for every call.
    """

    def __init__(self, dtype=torch.bfloat16, log: list | None = None):
        super().__init__()
        self.dtype = dtype
        self.log = log
        self._cache: dict[int, torch.Tensor] = {}

    def __enter__(self):
        _ACTIVE.append(self)
        return super().__enter__()

    def __exit__(self, *exc):
        _ACTIVE.remove(self)
        self._cache.clear()
        return super().__exit__(*exc)

    def _cast(self, tree, dtype):
        if isinstance(tree, torch.Tensor):
            if not _eligible(tree) or tree.dtype == dtype:
                return tree
            cacheable = (dtype == self.dtype and tree.dtype == torch.float32 and tree.is_leaf
                         and tree.requires_grad)
            if cacheable and id(tree) in self._cache:
                return self._cache[id(tree)]
            out = tree.to(dtype)
            if cacheable:
                self._cache[id(tree)] = out
            return out
        if isinstance(tree, (list, tuple)):
            return type(tree)(self._cast(x, dtype) for x in tree)
        return tree

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        rule = policy(name) if "dtype" not in kwargs and "out" not in kwargs else None
        if rule is None and name == "apply":     # a custom autograd.Function: its forward's ops
            with self._reentered():               # autocast on CUDA, so they must see the mode
                out = func(*args, **kwargs)
        elif rule is None and name in WHOLE:
            with self._inside():
                out = func(*args, **kwargs)
        elif rule is None:
            out = func(*args, **kwargs)
        else:
            if rule == "lower":
                dtype = self.dtype
            elif rule == "fp32":
                dtype = torch.float32
            else:
                floats = [t.dtype for t in tensors_in((args, kwargs)) if _eligible(t)]
                dtype = max(floats, key=lambda d: torch.finfo(d).bits) if floats else None
            if rule == "fp32" and name in SET_DTYPE:
                if any(_eligible(t) and t.dtype != torch.float32 for t in tensors_in(args)):
                    kwargs = {**kwargs, "dtype": torch.float32}
            elif dtype is not None:
                args = self._cast(args, dtype)
                kwargs = {k: self._cast(v, dtype) for k, v in kwargs.items()}
            out = func(*args, **kwargs)
        if self.log is not None and rule is not None:
            self.log.append((name, rule, [str(t.dtype) for t in tensors_in(out)]))
        return out

    @contextlib.contextmanager
    def _inside(self):
        """Re-enter the mode for a function of WHOLE: its own has_torch_function check (the first
        call of torch.nn.functional.has_torch_function) answers False once, so it runs its body
        instead of handing itself to the mode again; the ops in the body then see the mode."""
        import torch.nn.functional as F
        original, first = F.has_torch_function, [True]

        def once(ops):
            if first:
                first.clear()
                return False
            return original(ops)
        F.has_torch_function = once
        try:
            with self._reentered():
                yield
        finally:
            F.has_torch_function = original

    @contextlib.contextmanager
    def _reentered(self):
        torch._C._push_on_torch_function_stack(self)
        try:
            yield
        finally:
            torch._C._pop_torch_function_stack()


_EMULATED_ON = {"meta"}


@contextlib.contextmanager
def emulate_cuda_autocast_on(device_type: str):
    """Within it, `autocast_context` runs CUDA autocast's emulation on `device_type` as well ("cpu":
    a CPU stand-in for a CUDA bf16/fp16 run, with real tensors; mbsnet.experiments.bf16_proxy)."""
    added = device_type not in _EMULATED_ON
    _EMULATED_ON.add(device_type)
    try:
        yield
    finally:
        if added:
            _EMULATED_ON.discard(device_type)


def autocast_context(device_type: str, precision: str):
    """The context the forward pass runs under: CUDA autocast, its emulation (on meta, or where
    `emulate_cuda_autocast_on` says), or nothing."""
    if precision not in DTYPES:
        raise ValueError(f"precision must be one of {tuple(DTYPES)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if device_type == "cuda":
        return torch.autocast("cuda", dtype=DTYPES[precision])
    if device_type in _EMULATED_ON:
        return CudaAutocastEmulation(DTYPES[precision])
    return contextlib.nullcontext()       # CPU: the trainer runs fp32


def checkpoint_contexts():
    """`context_fn` for torch.utils.checkpoint: recompute under the emulation if the forward ran
    under it (real autocast is re-entered by checkpoint itself)."""
    if _ACTIVE:
        return contextlib.nullcontext(), CudaAutocastEmulation(_ACTIVE[-1].dtype)
    return contextlib.nullcontext(), contextlib.nullcontext()
