"""The no-grad scan's torch path (mbsnet.scan.inference) equals recompute's plain forward, and the float64 oracle.

Its C kernel (mbsnet.scan.native) is tested in tests/test_scan_native.py.

The blocks over rows and time only change which elements an op visits together, so the outputs
agree to float rounding at any block size (observed: bit for bit); stated tolerance 1e-6.
"""
import pytest
import torch

from mbsnet.scan import inference_scan, recompute_scan, selective_scan
from tests.test_scan_methods import ATOL, RTOL, oracle, random_inputs

SHAPES = [(3, 37, 24, 5), (1, 1, 8, 4), (5, 9, 16, 16), (17, 31, 12, 3)]    # b, l, d, n: odd ones


def old_forward(x, **kw):
    """recompute_scan under no_grad: its own plain forward (not routed through inference_scan)."""
    with torch.no_grad():
        return recompute_scan(**x, **kw)


@pytest.mark.parametrize("b, l, d, n", SHAPES)
@pytest.mark.parametrize("row_elements, chunk_elements", [(1, 1), (64, 200), (10_000, 10_000_000)])
def test_inference_scan_equals_recompute_forward_at_any_blocking(b, l, d, n, row_elements, chunk_elements):
    x = random_inputs(b, l, d, n, seed=b + l)
    want = old_forward(x, delta_softplus=True, chunk_size=8)
    got = inference_scan(**x, delta_softplus=True, row_elements=row_elements,
                         chunk_elements=chunk_elements, kernel="torch")
    assert got.dtype == want.dtype and got.shape == want.shape and got.grad_fn is None
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got.double(), oracle(**x, delta_softplus=True), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("drop", ["D", "z", "delta_bias", "all"])
def test_inference_scan_optional_inputs_and_no_softplus(drop):
    x = random_inputs(4, 21, 8, 4, seed=3)
    x["delta"] = torch.nn.functional.softplus(x["delta"])      # without the softplus: dt > 0 given
    for k in (("D", "z", "delta_bias") if drop == "all" else (drop,)):
        x[k] = None
    got = inference_scan(**x, delta_softplus=False, row_elements=64, chunk_elements=256, kernel="torch")
    torch.testing.assert_close(got, old_forward(x, delta_softplus=False, chunk_size=5),
                               rtol=1e-6, atol=1e-6)


def test_inference_scan_bfloat16_inputs_accumulate_in_float32():
    x = random_inputs(3, 40, 8, 4, seed=5, dtype=torch.bfloat16)
    got = inference_scan(**x, delta_softplus=True, row_elements=32, chunk_elements=96, kernel="torch")
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, old_forward(x, delta_softplus=True, chunk_size=8), rtol=0, atol=0)


def test_selective_scan_routes_no_grad_recompute_to_inference_scan(monkeypatch):
    """Under no_grad "recompute" runs inference_scan; with gradients it still runs RecomputeScan."""
    import mbsnet.scan as scan

    calls = []
    real = scan.inference_scan
    monkeypatch.setattr(scan, "inference_scan", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = random_inputs(2, 13, 8, 4, seed=1)
    with torch.no_grad():
        y = selective_scan(**x, delta_softplus=True, method="recompute")
    assert calls == [1]
    leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
    trained = selective_scan(**leaves, delta_softplus=True, method="recompute")
    assert calls == [1] and trained.grad_fn is not None
    torch.testing.assert_close(y, trained.detach(), rtol=1e-6, atol=1e-6)
