"""The compiled scan against the float64 oracle: forward and every gradient, odd shapes, bf16, fallback.

Every test here uses d = 5, n = 3, so the two kernels compile once (dynamic=False; b and l never
reach the kernels' shapes) and later tests reuse them. Tolerances as in test_scan_methods.
"""
import warnings

import pytest
import torch

from mbsnet.config import MBSNetConfig
from mbsnet.experiments import scan_bench as bench
from mbsnet.memory.saved import saved_tensor_bytes
from mbsnet.scan import compiled as scan_compiled, compiled_kernels as sc, selective_scan

from test_scan_methods import assert_matches_oracle, oracle, random_inputs, run_with_grads

pytestmark = pytest.mark.compiled
D_, N_ = 5, 3                                     # one kernel shape for the whole file

SHAPES = [  # b, l, chunk_size: l not a multiple of T, l < T, l = 1, exact multiple, several
    (2, 37, 16), (3, 7, 16), (2, 1, 16), (9, 48, 16),   # checkpoints per segment, b % rows != 0
    (5, 70, 32), (1, 130, 64), (2, 40, 1)]


@pytest.fixture(autouse=True)
def _compiled_for_real(monkeypatch):
    monkeypatch.delenv(sc.NO_COMPILE_ENV, raising=False)
    if not sc.compile_available():
        pytest.skip(f"compiled kernels unavailable: {sc.unavailable_reason()}")


def _fallback_warnings(caught):
    return [w for w in caught if "using the eager 'recompute'" in str(w.message)]


@pytest.mark.parametrize("b,l,chunk", SHAPES)
def test_matches_float64_oracle(b, l, chunk):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_matches_oracle("compiled", random_inputs(b, l, D_, N_, seed=l), chunk,
                              delta_softplus=True)
    assert not _fallback_warnings(caught), "the compiled kernels were not used"


@pytest.mark.parametrize("drop", [("D", "z", "delta_bias"), ("z",), ("D",), ("delta_bias",)])
def test_optional_inputs_and_no_softplus(drop):
    inputs = random_inputs(2, 37, D_, N_, seed=3)
    inputs["delta"] = inputs["delta"].abs() * 0.3
    for k in drop:
        inputs.pop(k)
    assert_matches_oracle("compiled", inputs, chunk_size=16, delta_softplus=False)


def test_first_compile_is_timed_and_kernels_are_reused():
    assert_matches_oracle("compiled", random_inputs(2, 20, D_, N_), 16, delta_softplus=True)
    seconds = sc.compile_seconds()
    assert {f"{k} d={D_} n={N_} float32 cpu" for k in ("forward", "states", "backward")} <= set(seconds)
    assert all(s > 0 for s in seconds.values())
    from torch._dynamo.utils import counters
    graphs = counters["stats"]["unique_graphs"]
    for b, l in ((7, 3), (1, 90)):                       # other b and l: no new graph
        run_with_grads(selective_scan, random_inputs(b, l, D_, N_), method="compiled",
                       delta_softplus=True)
    assert counters["stats"]["unique_graphs"] == graphs


def test_bfloat16_inputs_accumulate_in_float32():
    x = random_inputs(3, 150, D_, N_, seed=11, dtype=torch.bfloat16)
    y, grads, g = run_with_grads(selective_scan, x, method="compiled", delta_softplus=True)
    assert y.dtype == torch.bfloat16 and all(grads[k].dtype == torch.bfloat16 for k in grads)
    y64, grads64, _ = run_with_grads(oracle, {k: v.double() for k, v in x.items()}, g.double(),
                                     delta_softplus=True)
    torch.testing.assert_close(y.double(), y64, rtol=3e-2, atol=5e-2)
    for k in grads:
        assert (grads[k].double() - grads64[k]).abs().max() <= 2e-2 * grads64[k].abs().max(), k


def test_saves_only_inputs_and_checkpoint_states():
    b, l, T = 4, 200, 64
    x = {k: v.requires_grad_(True) for k, v in random_inputs(b, l, D_, N_).items()}
    saved = saved_tensor_bytes(lambda: selective_scan(**x, delta_softplus=True, method="compiled",
                                                      chunk_size=T))
    input_bytes = sum(v.numel() * v.element_size() for v in x.values())
    chunks, _, per_ckpt = scan_compiled._plan(l, T)
    assert saved == input_bytes + (chunks - 1) // per_ckpt * b * D_ * N_ * 4
    assert saved <= 1.25 * input_bytes


def test_no_grad_call_is_a_plain_forward_equal_to_the_training_path(monkeypatch):
    x = random_inputs(3, 45, D_, N_, seed=4)
    leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
    trained = selective_scan(**leaves, delta_softplus=True, method="compiled")
    monkeypatch.setattr(scan_compiled.CompiledScan, "apply", None)  # keeps checkpoints: off now
    with torch.no_grad():
        y = selective_scan(**leaves, delta_softplus=True, method="compiled")
    assert y.grad_fn is None
    torch.testing.assert_close(y, trained.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(y, selective_scan(**x, delta_softplus=True, method="recompute"),
                               rtol=1e-5, atol=1e-5)


def _fresh_state(monkeypatch):
    """Run a fallback test on its own state: the compiled kernels of the other tests survive."""
    monkeypatch.setattr(sc, "_state", {"failed": None, "warned": False})
    monkeypatch.setattr(sc, "_compiled", dict(sc._compiled))
    monkeypatch.setattr(sc, "_seen", set(sc._seen))


def _warns_once_and_is_exact():
    x = random_inputs(2, 23, D_, N_, seed=9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_matches_oracle("compiled", x, 16, delta_softplus=True)
        assert len(_fallback_warnings(caught)) == 1
        assert_matches_oracle("compiled", x, 16, delta_softplus=True)   # no second warning
    assert len(_fallback_warnings(caught)) == 1


def test_env_var_falls_back_with_one_warning(monkeypatch):
    _fresh_state(monkeypatch)
    monkeypatch.setenv(sc.NO_COMPILE_ENV, "1")
    assert not sc.compile_available()
    _warns_once_and_is_exact()


def test_compile_failure_falls_back_with_one_warning(monkeypatch):
    _fresh_state(monkeypatch)

    def broken_compile(fn, **kw):
        def run(*args):
            raise RuntimeError("no C++ compiler here")
        return run

    monkeypatch.setattr(sc, "_compiled", {})
    monkeypatch.setattr(sc, "_seen", set())
    monkeypatch.setattr(torch, "compile", broken_compile)
    _warns_once_and_is_exact()
    assert not sc.compile_available() and "no C++ compiler" in sc.unavailable_reason()


def test_backward_compile_failure_still_gives_exact_gradients(monkeypatch):
    run_with_grads(selective_scan, random_inputs(1, 5, D_, N_), method="compiled")   # compiled forward
    _fresh_state(monkeypatch)

    def broken(*args):
        raise RuntimeError("backward kernel failed")

    monkeypatch.setattr(sc, "_compiled", {"forward": sc._compiled["forward"], "backward": broken})
    monkeypatch.setattr(sc, "_seen", {k for k in sc._seen if k[0] == "forward"})
    _warns_once_and_is_exact()


def test_float64_runs_eager_recompute_without_warning():
    x = random_inputs(2, 9, 3, 2, seed=5, dtype=torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = selective_scan(**x, delta_softplus=True, method="compiled")
    assert not _fallback_warnings(caught)
    torch.testing.assert_close(y, selective_scan(**x, delta_softplus=True, method="recompute"))


def test_config_accepts_compiled():
    assert MBSNetConfig(scan_method="compiled").scan_method == "compiled"


def test_bench_reports_first_call_compile_seconds_and_error():
    case = bench.bench_shape(bench.ScanShape("tiny", 3, 21, D_, N_), ["recompute", "compiled"],
                             repeats=1, chunk_size=16, warmup=0)
    m = case["methods"]["compiled"]
    assert m["seconds"] > 0 and m["first_seconds"] > 0 and isinstance(m["compile_seconds"], dict)
    assert m["saved_bytes"] <= 1.25 * case["input_bytes"] and m["compile_available"]
    assert m["max_rel_error"] < 1e-4 and case["methods"]["recompute"]["max_rel_error"] < 1e-4
    row = bench.ratio_table({"cases": [case]})[0]
    assert "compiled first call s" in row and "compiled/recompute" in row
