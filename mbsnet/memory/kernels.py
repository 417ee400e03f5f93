"""CUDA's kernel choice where it changes memory, on the meta device: scaled_dot_product_attention.

On meta tensors `F.scaled_dot_product_attention` runs the *math* composite, which saves the
attention probabilities (b, h, l, l) for backward. On a CUDA GPU of compute capability 8.0 or
newer (Ampere on: RTX 30xx / 40xx, A100, H100) the dispatcher picks, in this order:
    flash       bf16 / fp16, no mask, head size a multiple of 8 and at most 256: saves the output
                (in the query's memory order) and a log-sum-exp (b, h, l) in fp32
    efficient   the rest of fp32 / bf16 / fp16 (masks included): saves the output, laid out
                (b, l, h, e) as the kernel writes it, and a log-sum-exp (b, h, l rounded up to 32);
                a mask is first made additive (a bool mask becomes a float one of its shape), padded
                to a multiple of 8 when its strides are not, and expanded (no copy), as
                aten/src/ATen/native/transformers/attention.cpp does
    math        float64, grouped-query attention (enable_gqa), other ranks than 4
`CudaAttention` routes calls to aten._scaled_dot_product_flash_attention /
_scaled_dot_product_efficient_attention (both have meta kernels and autograd formulas), so the
predicted saved tensors are CUDA's. Where the layout differs, what follows differs too:
nn.MultiheadAttention's `.contiguous()` after attention copies the efficient kernel's output
(one (l, b, d) tensor per layer, saved by out_proj) but not flash's. Older GPUs (sm 7.x: T4,
V100) have no flash kernel: there bf16 / fp16 take the efficient path too.
Under autocast's emulation (mbsnet.precision) the query, key, value (and a float mask) are cast
to the lower precision first, as CUDA autocast does (scaled_dot_product_attention is on its
lower-precision list). Inside a Python function that torch hands to a TorchFunctionMode whole
(F.multi_head_attention_forward) the mode is off, so while it is active the name
torch.nn.functional.scaled_dot_product_attention is also patched (restored on exit).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from mbsnet import precision

_LOW = (torch.bfloat16, torch.float16)
MASK_ALIGNMENT = 8      # attention.cpp preprocess_mask: mem_eff_alignment


def _autocast(*tensors):
    """Cast floating tensors to the emulated autocast dtype (if a region is active)."""
    if not precision._ACTIVE:
        return tensors
    dtype = precision._ACTIVE[-1].dtype
    return tuple(t.to(dtype) if isinstance(t, torch.Tensor) and precision._eligible(t)
                 and t.dtype != dtype else t for t in tensors)


def _cuda_mask(mask, query, key):
    """The additive, aligned, expanded bias CUDA's efficient kernel gets (module docstring)."""
    if mask.dtype == torch.bool:
        mask = torch.where(mask, 0.0, torch.tensor(float("-inf"), dtype=query.dtype,
                                                   device=query.device))
    if mask.dim() < 4:
        mask = mask.view((1,) * (4 - mask.dim()) + tuple(mask.shape))
    if mask.stride(-1) != 1 or any(mask.stride(i) % MASK_ALIGNMENT for i in range(mask.dim() - 1)):
        last = mask.size(-1)
        mask = F.pad(mask, (0, MASK_ALIGNMENT - last % MASK_ALIGNMENT))[..., :last]
    return mask.expand(query.size(0), query.size(1), query.size(2), key.size(2))


def _fused(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
           enable_gqa=False):
    query, key, value = _autocast(query, key, value)
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        (attn_mask,) = _autocast(attn_mask)
    if (enable_gqa or query.dim() != 4 or query.dtype == torch.float64
            or not (query.dtype == key.dtype == value.dtype)
            or (attn_mask is not None and attn_mask.dtype not in (torch.bool, query.dtype))):
        return None
    head = query.size(-1)
    if (attn_mask is None and query.dtype in _LOW and head % 8 == 0 and head <= 256
            and key.size(-1) == value.size(-1) == head):
        return torch.ops.aten._scaled_dot_product_flash_attention(
            query, key, value, dropout_p, is_causal, False, scale=scale)[0]
    grad = torch.is_grad_enabled() and (query.requires_grad or key.requires_grad or value.requires_grad)
    bias = None if attn_mask is None else _cuda_mask(attn_mask, query, key)
    return torch.ops.aten._scaled_dot_product_efficient_attention(
        query, key, value, bias, grad, dropout_p, is_causal, scale=scale)[0]


class CudaAttention(TorchFunctionMode):
    """with CudaAttention(): ...  F.scaled_dot_product_attention as CUDA's fused kernel (module docstring)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is self._saved:
            out = _fused(*args, **kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)

    def __enter__(self):
        # Python functions that torch hands to a mode whole (F.multi_head_attention_forward) call
        # F.scaled_dot_product_attention with the mode off: patch the name they look up
        self._saved = F.scaled_dot_product_attention
        fused = self._saved

        def sdpa(*args, **kwargs):
            out = _fused(*args, **kwargs)
            return fused(*args, **kwargs) if out is None else out
        F.scaled_dot_product_attention = sdpa
        return super().__enter__()

    def __exit__(self, *exc):
        F.scaled_dot_product_attention = self._saved
        return super().__exit__(*exc)
