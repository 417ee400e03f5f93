"""Every scan method against a float64 oracle written independently here: forward and all gradients.

Tolerances are mamba-ssm's (tests/ops/test_selective_scan.py): fp32 rtol 6e-4, atol 2e-3.
"""
from dataclasses import replace

import pytest
import torch

from mbsnet import presets
from mbsnet.memory.saved import saved_tensor_bytes
from mbsnet.model import MambaBlock
from mbsnet.scan import selective_scan

METHODS = ("sequential", "chunked", "recompute", "native")
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
RTOL, ATOL = 6e-4, 2e-3


def oracle(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Float64 recurrence, one time step at a time, nothing shared with mbsnet."""
    u, delta, A, B, C = (t.double() for t in (u, delta, A, B, C))
    dt = delta + delta_bias.double() if delta_bias is not None else delta
    dt = torch.log1p(torch.exp(dt)) if delta_softplus else dt
    b, l, d = u.shape
    h = torch.zeros(b, d, A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(l):
        a_bar = torch.exp(dt[:, t, :, None] * A[None])                       # (b, d, n)
        h = a_bar * h + dt[:, t, :, None] * B[:, t, None, :] * u[:, t, :, None]
        y = (h * C[:, t, None, :]).sum(-1)
        if D is not None:
            y = y + D.double() * u[:, t]
        if z is not None:
            y = y * z[:, t].double() / (1 + torch.exp(-z[:, t].double()))
        ys.append(y)
    return torch.stack(ys, 1)


def random_inputs(b, l, d, n, seed=0, dtype=torch.float32):
    """Mamba-like inputs: A = -(1..n) (S4D-real), softplus(delta + bias) around 0.02..0.7."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)
    x = dict(u=r(b, l, d), delta=r(b, l, d) * 0.5 - 1.0,
             A=-torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1) * (0.5 + torch.rand(d, 1, generator=g)),
             B=r(b, l, n), C=r(b, l, n), D=r(d), z=r(b, l, d), delta_bias=r(d) * 0.3)
    return {k: v.to(dtype) for k, v in x.items()}


def run_with_grads(fn, inputs, grad_out=None, **kw):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items() if v is not None}
    y = fn(**leaves, **kw)
    if grad_out is None:
        grad_out = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    y.backward(grad_out.to(y.dtype))
    return y, {k: v.grad for k, v in leaves.items()}, grad_out


def assert_matches_oracle(method, inputs, chunk_size=64, rtol=RTOL, atol=ATOL, **kw):
    y, grads, g = run_with_grads(selective_scan, inputs, method=method, chunk_size=chunk_size, **kw)
    y64, grads64, _ = run_with_grads(oracle, {k: v.double() for k, v in inputs.items()}, g.double(), **kw)
    torch.testing.assert_close(y.double(), y64, rtol=rtol, atol=atol)
    assert set(grads) == set(grads64)
    for k in grads:
        torch.testing.assert_close(grads[k].double(), grads64[k], rtol=rtol, atol=atol,
                                   msg=lambda m, k=k: f"{method}: grad of {k}: {m}")


SHAPES = [  # b, l, d, n, chunk: l=1; l < chunk; l not a multiple; d=1; n=1; batch 1; exact multiple
    (1, 1, 1, 1, 64), (2, 13, 5, 3, 4), (3, 40, 8, 16, 64), (2, 70, 4, 2, 16),
    (1, 130, 1, 16, 32), (2, 100, 6, 1, 64), (1, 96, 3, 4, 32), (2, 5, 3, 2, 1)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("b,l,d,n,chunk", SHAPES)
def test_method_matches_float64_oracle(method, b, l, d, n, chunk):
    assert_matches_oracle(method, random_inputs(b, l, d, n, seed=l), chunk, delta_softplus=True)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("drop", [("D", "z", "delta_bias"), ("z",), ("D",), ("delta_bias",)])
def test_optional_inputs_and_no_softplus(method, drop):
    inputs = random_inputs(2, 37, 4, 3, seed=3)
    inputs["delta"] = inputs["delta"].abs() * 0.3                        # a valid step without softplus
    for k in drop:
        inputs.pop(k)
    assert_matches_oracle(method, inputs, chunk_size=8, delta_softplus=False)


@pytest.mark.parametrize("method", ["chunked", "recompute"])
def test_long_sequence_does_not_drift(method):
    assert_matches_oracle(method, random_inputs(1, 2048, 4, 4, seed=7), 64, delta_softplus=True)


def test_recompute_passes_gradcheck_in_float64():
    x = random_inputs(2, 7, 3, 2, seed=5, dtype=torch.float64)
    leaves = tuple(x[k].clone().requires_grad_(True) for k in NAMES)

    def fn(*args):
        return selective_scan(*args, delta_softplus=True, method="recompute", chunk_size=3)

    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_recompute_bfloat16_inputs_accumulate_in_float32():
    x = random_inputs(2, 150, 8, 16, seed=11, dtype=torch.bfloat16)
    y, grads, g = run_with_grads(selective_scan, x, method="recompute", delta_softplus=True)
    assert y.dtype == torch.bfloat16 and all(grads[k].dtype == torch.bfloat16 for k in grads)
    y64, grads64, _ = run_with_grads(oracle, {k: v.double() for k, v in x.items()}, g.double(),
                                     delta_softplus=True)
    torch.testing.assert_close(y.double(), y64, rtol=3e-2, atol=5e-2)        # mamba-ssm's bf16 tolerance
    for k in grads:
        scale = grads64[k].abs().max()
        assert (grads[k].double() - grads64[k]).abs().max() <= 2e-2 * scale, k


def test_recompute_saves_only_inputs_and_chunk_starts():
    b, l, d, n, T = 4, 200, 32, 16, 64
    x = {k: v.requires_grad_(True) for k, v in random_inputs(b, l, d, n).items()}
    saved = saved_tensor_bytes(lambda: selective_scan(**x, delta_softplus=True, method="recompute",
                                                      chunk_size=T))
    input_bytes = sum(v.numel() * v.element_size() for v in x.values())
    chunk_starts = (-(-l // T) - 1) * b * d * n * 4
    assert saved == input_bytes + chunk_starts
    assert saved <= 1.25 * input_bytes
    naive = saved_tensor_bytes(lambda: selective_scan(**x, delta_softplus=True, method="sequential"))
    assert naive >= 2 * b * l * d * n * 4          # the (b, l, d, n) tensors the recompute avoids


def test_clamps_are_inactive_on_mild_inputs_and_bind_on_stressed_ones():
    x = random_inputs(2, 40, 4, 3)
    x["delta"] = x["delta"] - 1.0                                          # dt in 0.03..0.6
    mild = selective_scan(**x, delta_softplus=True, method="chunked", clamps=True)
    torch.testing.assert_close(mild, selective_scan(**x, delta_softplus=True, method="chunked"))
    x["delta"] = x["delta"] + 4.0                                          # dt ~ 5: dt*A < -10
    x["u"] = x["u"] * 30
    leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
    clamped = selective_scan(**leaves, delta_softplus=True, method="chunked", clamps=True)
    assert (clamped - selective_scan(**x, delta_softplus=True, method="chunked")).abs().max() > 1
    clamped.sum().backward()
    assert (leaves["delta"].grad == 0).any()


def test_bad_options_are_named():
    x = random_inputs(1, 4, 3, 2)
    with pytest.raises(ValueError, match="clamps"):
        selective_scan(**x, method="recompute", clamps=True)
    with pytest.raises(ValueError, match="chunk_size"):
        selective_scan(**x, method="recompute", chunk_size=0)
    with pytest.raises(ValueError, match="method"):
        selective_scan(**x, method="parallel")


def _block(method):
    torch.manual_seed(0)
    cfg = replace(presets.get("seed"), scan_method=method)
    return MambaBlock(cfg)


def test_model_block_recompute_equals_sequential():
    seq, rec = _block("sequential"), _block("recompute")
    rec.load_state_dict(seq.state_dict())
    x = torch.randn(3, 45, seq.norm.normalized_shape[0], generator=torch.Generator().manual_seed(2))
    outs = []
    for block in (seq, rec):
        xi = x.clone().requires_grad_(True)
        y = block(xi)
        y.pow(2).mean().backward()
        outs.append((y, xi.grad, {k: p.grad for k, p in block.named_parameters()}))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(outs[1][1], outs[0][1], rtol=RTOL, atol=ATOL)
    for k, g in outs[0][2].items():
        torch.testing.assert_close(outs[1][2][k], g, rtol=RTOL, atol=ATOL, msg=lambda m, k=k: f"{k}: {m}")


def test_recompute_block_runs_under_fake_tensors():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        block = _block("recompute")
        x = torch.randn(2, 70, block.norm.normalized_shape[0], requires_grad=True)
        y = block(x)
        y.sum().backward()
        assert x.grad.shape == x.shape and block.A_log.grad.shape == block.A_log.shape


@pytest.mark.parametrize("field", ["B", "D", "delta"])
def test_bad_shapes_are_named(field):
    x = random_inputs(1, 4, 3, 2)
    x[field] = x[field][..., :1]
    with pytest.raises(ValueError, match=f"{field} must"):
        selective_scan(**x, method="recompute")


@pytest.mark.parametrize("method", METHODS)
def test_inference_path_matches_training_path(method, monkeypatch):
    """Under torch.no_grad() (or with no input requiring grad) the scan is a plain forward that
    keeps nothing for backward (recompute never enters its autograd Function, which would keep the
    chunk-start states); its values equal the training path's within float tolerance."""
    from mbsnet.scan.recompute import RecomputeScan

    x = random_inputs(3, 45, 6, 4, seed=4)
    leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
    trained = selective_scan(**leaves, delta_softplus=True, method=method, chunk_size=16)
    assert trained.grad_fn is not None
    monkeypatch.setattr(RecomputeScan, "apply", None)          # the training path is off now
    with torch.no_grad():
        inferred = selective_scan(**leaves, delta_softplus=True, method=method, chunk_size=16)
    plain = selective_scan(**x, delta_softplus=True, method=method, chunk_size=16)
    for y in (inferred, plain):
        assert y.grad_fn is None
        torch.testing.assert_close(y, trained.detach(), rtol=1e-6, atol=1e-6)


def test_ci_runs_the_compiled_tests():
    """The compiled scan's tests carry a registered marker, and `make test-unit` (CI) deselects nothing."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    assert '"compiled:' in (root / "pyproject.toml").read_text()
    recipe = (root / "Makefile").read_text().split("\ntest-unit:")[1].split("\n\n")[0]
    args = recipe.split("-m pytest", 1)[1]
    assert " -m " not in args and "compiled" not in args and args.rstrip().endswith("tests")
    assert "pytest.mark.compiled" in (root / "tests" / "test_scan_compiled.py").read_text()
