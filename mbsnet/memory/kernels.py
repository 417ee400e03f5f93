"""CUDA's kernel choice where it changes memory, on the meta device: scaled_dot_product_attention.

On meta tensors `F.scaled_dot_product_attention` runs the *math* composite, which saves the
attention probabilities (b, h, l, l) for backward; on CUDA a fp32 / bf16 / fp16 call without a
mask runs a fused kernel (memory-efficient or flash attention) that saves only the output and a
log-sum-exp (b, h, l) (fp32, l rounded up to 32 for the memory-efficient kernel). `CudaAttention`
routes such calls to aten._scaled_dot_product_efficient_attention (it has a meta kernel and an
autograd formula) so the predicted saved tensors are CUDA's. Calls with a mask, grouped-query
attention, float64 or other ranks than 4 keep the math path (CUDA may still fuse some of them).
Inside a Python function that torch hands to a TorchFunctionMode whole (F.multi_head_attention_forward,
which nn.MultiheadAttention calls) the mode is off, so while it is active the name
torch.nn.functional.scaled_dot_product_attention is also patched (restored on exit).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


def _fused(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
           enable_gqa=False):
    if (attn_mask is not None or enable_gqa or query.dim() != 4 or query.dtype == torch.float64
            or not (query.dtype == key.dtype == value.dtype)):
        return None
    grad = torch.is_grad_enabled() and (query.requires_grad or key.requires_grad or value.requires_grad)
    return torch.ops.aten._scaled_dot_product_efficient_attention(
        query, key, value, None, grad, dropout_p, is_causal, scale=scale)[0]


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
