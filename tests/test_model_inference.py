"""The model's no-grad fast path (inference_scan, the channels-last conv) equals its training path.

Under torch.no_grad() a MambaBlock runs its depthwise conv as a channels-last 2-d conv and the
"recompute" scan as inference_scan; with gradients it runs the conv1d and RecomputeScan. The
outputs agree to float rounding (stated tolerance: 1e-5 relative and absolute on the spectrum).
"""
from dataclasses import replace

import pytest
import torch

from mbsnet import build_model, presets
from mbsnet.model import MambaBlock

SMALL = dict(channels=16, d_state=4, decoder_hidden=32)


@pytest.mark.parametrize("preset", ["final", "seed"])
@pytest.mark.parametrize("frames", [1, 2, 37])
def test_no_grad_forward_equals_training_forward(preset, frames):
    cfg = replace(presets.get(preset), name="small", **SMALL)
    torch.manual_seed(frames)
    model = build_model(cfg).eval()
    spec = torch.randn(2, cfg.n_bins, frames, dtype=torch.complex64)
    trained = model(spec)
    assert trained.grad_fn is not None                         # the training path ran
    with torch.no_grad():
        inferred = model(spec)
    torch.testing.assert_close(inferred, trained.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("b, l", [(3, 1), (2, 5), (5, 1001), (40, 31)])
def test_inference_conv_equals_conv1d(b, l):
    cfg = replace(presets.get("final"), name="small", channels=24, expand=2)
    torch.manual_seed(l)
    block = MambaBlock(cfg)
    u = torch.randn(b, l, 2 * cfg.d_inner)[..., :cfg.d_inner]      # a strided view, as in forward
    with torch.no_grad():
        fast = block._conv_inference(u, l)
        want = block._conv(u, l)
    assert fast.is_contiguous() and fast.shape == want.shape == (b, l, cfg.d_inner)
    torch.testing.assert_close(fast, want, rtol=1e-6, atol=1e-6)
