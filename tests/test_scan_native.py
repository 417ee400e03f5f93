"""The no-grad scan's C kernel (mbsnet.scan.native) against the float64 oracle and the torch path.

The kernel runs in float32 like the torch path; it sums <h, C> over n in order and rounds expf
differently (glibc's vector expf, -ffast-math), so the two agree to float rounding, not bit for bit.
"""
import warnings

import pytest
import torch

from mbsnet.scan import inference_scan, native, selective_scan
from tests.test_scan_methods import ATOL, RTOL, oracle, random_inputs

SHAPES = [(3, 37, 24, 5), (1, 1, 8, 4), (5, 9, 16, 16), (17, 31, 12, 3), (2, 50, 13, 7)]  # b, l, d, n: odd ones
pytestmark = pytest.mark.skipif(native.library() is None, reason="no C compiler: the torch path is used")


@pytest.mark.parametrize("b, l, d, n", SHAPES)
def test_native_kernel_matches_the_float64_oracle_and_the_torch_path(b, l, d, n):
    x = random_inputs(b, l, d, n, seed=b * l + n)
    got = inference_scan(**x, delta_softplus=True, kernel="native")
    torch_path = inference_scan(**x, delta_softplus=True, kernel="torch")
    assert got.dtype == torch.float32 and got.shape == (b, l, d) and got.grad_fn is None
    torch.testing.assert_close(got.double(), oracle(**x, delta_softplus=True), rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(got, torch_path, rtol=1e-5, atol=1e-5)


def test_native_kernel_without_optional_inputs_and_bfloat16_inputs():
    x = random_inputs(4, 21, 8, 4, seed=3)
    x["delta"] = torch.nn.functional.softplus(x["delta"])
    for k in ("D", "z", "delta_bias"):
        x[k] = None
    torch.testing.assert_close(inference_scan(**x, kernel="native"), inference_scan(**x, kernel="torch"),
                               rtol=1e-5, atol=1e-5)
    xb = random_inputs(3, 40, 8, 4, seed=5, dtype=torch.bfloat16)
    got = inference_scan(**xb, delta_softplus=True, kernel="native")     # computed in float32, returned in bf16
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.double(), oracle(**xb, delta_softplus=True), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_the_row_split_over_threads_does_not_change_the_result(threads):
    x = random_inputs(5, 19, 16, 4, seed=11)
    dt = torch.nn.functional.softplus(x["delta"] + x["delta_bias"])
    args = (dt, dt * x["u"], x["A"], x["B"], x["C"])
    one = native.scan_states_output(*args, threads=1)
    assert torch.equal(native.scan_states_output(*args, threads=threads), one)     # bit for bit


def test_float64_inputs_take_the_torch_path_and_native_refuses_them():
    x = {k: v.double() for k, v in random_inputs(2, 9, 8, 4, seed=2).items()}
    got = inference_scan(**x, delta_softplus=True)                       # auto: float64 -> torch path
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, oracle(**x, delta_softplus=True), rtol=1e-10, atol=1e-10)
    with pytest.raises(RuntimeError, match="does not apply"):
        inference_scan(**x, delta_softplus=True, kernel="native")
    with pytest.raises(ValueError, match="kernel must be one of"):
        inference_scan(**x, kernel="fast")


def test_no_grad_recompute_runs_the_native_kernel(monkeypatch):
    calls = []
    real = native.scan_states_output
    monkeypatch.setattr(native, "scan_states_output", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = random_inputs(2, 13, 8, 4, seed=1)
    with torch.no_grad():
        selective_scan(**x, delta_softplus=True, method="recompute")
    assert calls == [1]


def test_without_a_compiler_it_warns_once_and_uses_the_torch_path(monkeypatch, tmp_path):
    monkeypatch.setenv("MBSNET_CACHE", str(tmp_path))                   # nothing built there yet
    monkeypatch.setenv("CC", "no-such-compiler-here")
    native.library.cache_clear()
    try:
        x = random_inputs(2, 13, 8, 4, seed=1)
        with pytest.warns(RuntimeWarning, match="C scan kernel is unavailable.*no C compiler"):
            got = inference_scan(**x, delta_softplus=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")                               # once: the failure is cached
            again = inference_scan(**x, delta_softplus=True)
        want = inference_scan(**x, delta_softplus=True, kernel="torch")
        assert torch.equal(got, want) and torch.equal(again, want)
        assert not list(tmp_path.rglob("*.so"))
    finally:
        monkeypatch.undo()
        native.library.cache_clear()


def test_it_builds_into_an_empty_cache_and_the_env_switch_turns_it_off(monkeypatch, tmp_path):
    monkeypatch.setenv("MBSNET_CACHE", str(tmp_path))
    native.library.cache_clear()
    try:
        assert native.library() is not None and len(list((tmp_path / "native").glob("*.so"))) == 1
        native.library.cache_clear()
        monkeypatch.setenv("MBSNET_NATIVE_SCAN", "0")
        assert native.library() is None and not native.usable(torch.zeros(1))
    finally:
        monkeypatch.undo()
        native.library.cache_clear()


def test_native_method_trains_through_the_c_backward_and_saves_only_its_inputs(monkeypatch):
    from mbsnet.memory.saved import saved_tensor_bytes
    from tests.test_scan_methods import assert_matches_oracle

    calls = []
    real = native.scan_backward
    monkeypatch.setattr(native, "scan_backward", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = random_inputs(3, 45, 16, 8, seed=9)
    assert_matches_oracle("native", x, chunk_size=16, delta_softplus=True)
    assert calls == [1]
    leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
    saved = saved_tensor_bytes(lambda: selective_scan(**leaves, delta_softplus=True, method="native"))
    assert saved <= sum(v.numel() * v.element_size() for v in x.values())       # no state, no dt: the inputs


def test_native_method_bfloat16_inputs_and_threads():
    x = random_inputs(4, 60, 8, 4, seed=13, dtype=torch.bfloat16)
    leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
    y = selective_scan(**leaves, delta_softplus=True, method="native")
    y.float().square().sum().backward()
    assert y.dtype == torch.bfloat16 and all(v.grad.dtype == torch.bfloat16 for v in leaves.values())
    torch.testing.assert_close(y.double(), oracle(**x, delta_softplus=True), rtol=2e-2, atol=2e-2)
    f = random_inputs(5, 33, 16, 4, seed=14)
    dt = torch.nn.functional.softplus(f["delta"] + f["delta_bias"])
    dy = torch.randn(5, 33, 16, generator=torch.Generator().manual_seed(2))
    one = native.scan_backward(dt, f["u"], f["A"], f["B"], f["C"], dy, 8, threads=1)
    three = native.scan_backward(dt, f["u"], f["A"], f["B"], f["C"], dy, 8, threads=3)
    for a, b in zip(one, three):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)    # dA: a sum over row ranges, else bit for bit


def test_training_with_the_native_scan_follows_recompute():
    """The same 10 steps of a small `final` model with each scan: the losses agree to float32 rounding."""
    from dataclasses import replace

    import numpy as np

    from mbsnet import presets
    from mbsnet.assets import ARCTIC_WAVS
    from mbsnet.data.audio import load_wav
    from mbsnet.data.noise import make_noise, mix_at_snr
    from mbsnet.train import train_model

    rng = np.random.default_rng(0)
    speech = load_wav(ARCTIC_WAVS[0])[0]
    pairs = [(speech[i:i + 8000], mix_at_snr(speech[i:i + 8000], make_noise("pink", rng, 8000), 5.0))
             for i in range(0, 24_000, 8000)]
    losses = {}
    for method in ("recompute", "native"):
        cfg = replace(presets.get("final"), name="small", channels=16, n_layers=1, decoder_hidden=64,
                      scan_method=method)
        torch.manual_seed(0)
        _, history = train_model(cfg, pairs, steps=10, batch_size=2, segment_seconds=0.25, seed=0, lr=3e-3,
                                 progress=False)
        losses[method] = [h["loss"] for h in history]
    assert max(abs(a - b) for a, b in zip(losses["recompute"], losses["native"])) < 1e-4


def test_fake_and_meta_tensors_never_reach_the_kernel():
    """The memory predictor traces with tensors that have no data: the native method is recompute there."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    x = random_inputs(2, 9, 8, 4, seed=4)
    with FakeTensorMode() as mode:
        fake = {k: mode.from_tensor(v).requires_grad_(True) for k, v in x.items()}
        assert not native.usable(fake["u"])
        y = selective_scan(**fake, delta_softplus=True, method="native")
        with torch.no_grad():
            y_inf = inference_scan(**{k: v.detach() for k, v in fake.items()}, delta_softplus=True)
    assert y.shape == y_inf.shape == (2, 9, 8)
    meta = {k: v.to("meta").requires_grad_(True) for k, v in x.items()}
    assert selective_scan(**meta, delta_softplus=True, method="native").device.type == "meta"
