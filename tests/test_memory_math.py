"""Closed-form memory formulas: exact parameter counts, the saved-tensor census, the peak."""
import pytest
import torch

from mbsnet import build_model, presets
from mbsnet.memory import formula as mm
from mbsnet.memory import predict_peak
from mbsnet.params import count


@pytest.mark.parametrize("name", presets.names())
def test_parameter_formula_is_exact_for_every_preset(name):
    cfg = presets.get(name)
    with torch.device("meta"):
        assert mm.model_params(cfg)["total"] == count(build_model(cfg))


def test_one_seed_scan_tensor_is_197_MB_not_49_MB():
    assert mm.tensor_bytes(60, 200, 256, 16) == 196_608_000
    assert mm.tensor_bytes(60, 200, 256, 16, dtype_bytes=1) == 49_152_000


@pytest.mark.parametrize("length", [5, 17])
def test_sequential_scan_keeps_3_plus_1_over_l_full_tensors(length):
    cfg = presets.get("seed")
    sequences, d, n = 3, cfg.d_inner, cfg.d_state
    census = mm.mamba_block_census(cfg, sequences, length)
    full = mm.tensor_bytes(sequences, length, d, n)
    state = mm.tensor_bytes(sequences, d, n)
    big = sum(e["nbytes"] for e in census if e["nbytes"] in (full, state))
    assert big == (3 * length + 1) * state
    total = sum(e["nbytes"] for e in census)
    formula = 4 * sequences * length * mm.mamba_block_saved_per_token(cfg, length)
    a_matrix = 2 * mm.tensor_bytes(d, n)      # A = -exp(A_log), saved twice, not per token
    assert abs(formula + a_matrix - total) <= 0.002 * total


@pytest.mark.parametrize("change", [{}, {"d_state": 4}, {"expand": 1, "direction": "uni"}])
def test_peak_formula_within_5_percent_of_prediction(change):
    cfg = mm.formula_config(presets.get("seed"), **change)
    predicted = predict_peak(cfg, 2, 0.1).peak_bytes
    formula = mm.training_peak_formula(cfg, 2, 0.1)["total"]
    assert abs(formula - predicted) <= 0.05 * predicted


def test_formula_refuses_scans_it_was_not_derived_for():
    cfg = presets.get("recompute_scan")
    with pytest.raises(NotImplementedError, match="sequential"):
        mm.training_peak_formula(cfg, 1)


def test_sweep_point_rejects_unknown_knobs():
    with pytest.raises(ValueError, match="knob"):
        mm.sweep_point("layers", 3)
