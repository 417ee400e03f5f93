"""Memory prediction: the tracker, predict vs measure, the affine batch model, budgets, CLI."""
import json
from dataclasses import replace

import pytest
import torch

from mbsnet.memory import gpus
from mbsnet import memory, presets
from mbsnet.memory import GiB, MiB, measure_peak, predict_peak
from mbsnet.memory import predict as memory_predict

# A small MBS-Net: 4 bands of a 64-point STFT, 16 channels, one temporal layer; 21 frames.
TINY = replace(presets.get("seed"), name="tiny", n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9),
               channels=16, decoder_hidden=32, n_layers=1)
TINY_SECONDS = 0.02


@pytest.fixture(scope="module")
def tiny_prediction():
    return predict_peak(TINY, 2, TINY_SECONDS)


def test_prediction_on_meta_equals_measurement_on_cpu_within_2_percent(tiny_prediction):
    torch.manual_seed(0)
    measured = measure_peak(TINY, 2, TINY_SECONDS, device="cpu")
    assert abs(tiny_prediction.peak_bytes - measured.peak_bytes) <= 0.02 * measured.peak_bytes
    for category, nbytes in measured.categories.items():
        assert abs(tiny_prediction.categories[category] - nbytes) <= 0.02 * measured.peak_bytes


def test_categories_add_up_to_the_peak(tiny_prediction):
    r = tiny_prediction
    assert sum(r.categories.values()) == r.peak_bytes
    assert sum(r.modules.values()) == r.peak_bytes
    assert r.peak_phase == "backward"
    # parameters: every parameter tensor rounded up to 512 B; Adam keeps two of each
    sizes = [-(-4 * p.numel() // 512) * 512 for p in _meta_model(TINY).parameters()]
    assert r.categories["parameters"] == sum(sizes)
    assert r.categories["optimizer_state"] == 2 * sum(sizes)
    assert r.categories["saved_activations"] > 0 and r.categories["temporaries"] > 0


def _meta_model(cfg):
    from mbsnet import build_model
    with torch.device("meta"):
        return build_model(cfg)


def test_allocations_are_rounded_to_512_bytes():
    rounded = predict_peak(TINY, 1, TINY_SECONDS)
    exact = predict_peak(TINY, 1, TINY_SECONDS, round_to=1)
    assert rounded.peak_bytes % 512 == 0
    assert exact.peak_bytes < rounded.peak_bytes


def test_peak_is_affine_in_batch_size():
    peaks = [predict_peak(TINY, b, TINY_SECONDS, round_to=1).peak_bytes for b in (1, 2, 3, 5)]
    slope = peaks[1] - peaks[0]
    for b, peak in zip((3, 5), peaks[2:]):
        assert abs(peaks[0] + slope * (b - 1) - peak) <= 1e-3 * peak


def test_tracker_sees_frees():
    """A temporary that dies is no longer live: the peak of a*b then (a*b).sum() is 3 tensors."""
    a, b = torch.ones(256, 256), torch.ones(256, 256)
    tracker = memory.LiveMemoryTracker(round_to=1)
    with tracker:
        (a * b).sum()
        (a + b).sum()
    assert tracker.peak_bytes == 256 * 256 * 4 + 4
    assert tracker.live_bytes == 0


def test_formula_sees_the_seed_oom_at_batch_2_but_not_batch_1():
    """Cheap stand-in for the full prediction (tests/test_memory_slow.py runs the real one)."""
    from mbsnet.memory.formula import training_peak_formula

    seed = presets.get("seed")
    assert training_peak_formula(seed, 2)["total"] > 12 * GiB
    assert training_peak_formula(seed, 1)["total"] < gpus.get("rtx3080ti").usable


def test_max_batch_is_verified_by_full_predictions():
    memory_predict._CACHE.clear()
    result = memory.max_batch(TINY, "rtx3080ti", TINY_SECONDS)
    m = result["max_batch"]
    assert m > 1000                                   # a tiny model: thousands of sequences
    assert memory.fits(TINY, m, "rtx3080ti", TINY_SECONDS)
    assert not memory.fits(TINY, m + 1, "rtx3080ti", TINY_SECONDS)


def test_affine_check_reports_its_error():
    fit = memory.affine_in_batch(TINY, TINY_SECONDS, check_batch=4)
    assert fit["check"]["relative_error"] < 0.005 and fit["slope"] > 0


def test_every_gpu_keeps_back_exactly_the_context_reserve():
    assert gpus.get("rtx3080ti").capacity == 12 * GiB
    assert 300 * MiB <= gpus.CONTEXT_RESERVE <= 512 * MiB       # the CUDA context's ~300-500 MiB
    for gpu in gpus.GPUS.values():
        assert gpu.capacity == gpu.capacity_gib * GiB
        assert 0 < gpu.usable < gpu.capacity
        assert gpu.capacity - gpu.usable == int(gpus.CONTEXT_RESERVE), gpu.name


def test_fits_flips_exactly_at_the_usable_byte_boundary(monkeypatch, tiny_prediction):
    """A card whose usable memory is exactly the predicted peak fits; one byte less does not."""
    peak, reserve = tiny_prediction.peak_bytes, int(gpus.CONTEXT_RESERVE)
    monkeypatch.setitem(gpus.GPUS, "exact", gpus.GPU("exact", "exactly the peak", (peak + reserve) / GiB))
    monkeypatch.setitem(gpus.GPUS, "short", gpus.GPU("short", "a byte short", (peak + reserve - 1) / GiB))
    assert gpus.get("exact").usable == peak and gpus.get("short").usable == peak - 1
    assert memory.fits(TINY, 2, "exact", TINY_SECONDS)
    assert not memory.fits(TINY, 2, "short", TINY_SECONDS)
    assert memory.fits_bytes(TINY, 2, peak, TINY_SECONDS)
    assert not memory.fits_bytes(TINY, 2, peak - 1, TINY_SECONDS)


def test_max_batch_for_bytes_is_exact_at_a_predicted_peak():
    """With exactly the predicted peak of batch 5 to spend, the largest batch is 5; a byte less, 4."""
    peak5 = predict_peak(TINY, 5, TINY_SECONDS).peak_bytes
    assert memory.max_batch_for_bytes(TINY, peak5, TINY_SECONDS)["max_batch"] == 5
    assert memory.max_batch_for_bytes(TINY, peak5 - 1, TINY_SECONDS)["max_batch"] == 4
    below_one = predict_peak(TINY, 1, TINY_SECONDS).peak_bytes - 1
    assert memory.max_batch_for_bytes(TINY, below_one, TINY_SECONDS)["max_batch"] == 0


def test_an_unknown_gpu_is_a_clear_error_listing_the_choices():
    with pytest.raises(ValueError, match="unknown gpu 'gtx480'") as raised:
        gpus.get("gtx480")
    assert all(name in str(raised.value) for name in gpus.GPUS)


@pytest.mark.parametrize("batch,seconds", [(0, 2.0), (1.5, 2.0), (1, 0.0), (1, 0.0001)])
def test_bad_arguments_give_clear_errors(batch, seconds):
    with pytest.raises(ValueError, match="batch_size|seconds"):
        predict_peak(TINY, batch, seconds)


def test_optimizer_name_is_checked():
    with pytest.raises(ValueError, match="optimizer"):
        predict_peak(TINY, 1, TINY_SECONDS, optimizer="lion")


def test_sgd_and_no_optimizer_keep_less_state():
    adam = predict_peak(TINY, 1, TINY_SECONDS)
    none = predict_peak(TINY, 1, TINY_SECONDS, optimizer="none")
    assert none.categories["optimizer_state"] == 0
    assert adam.peak_bytes - none.peak_bytes == adam.categories["optimizer_state"]


def test_reproduce_oom_is_skipped_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = memory.reproduce_oom(TINY, 1, cap_gib=12)
    assert result["status"] == "skipped" and "GPU" in result["message"]


def test_stored_gpu_results_loader(tmp_path):
    from mbsnet.results import save_result

    assert memory.stored_gpu_results(tmp_path) == []
    save_result(tmp_path / "gpu_memory_x.json", {"measured": {"device": "NVIDIA Test", "peak_bytes": 1}})
    save_result(tmp_path / "gpu_memory_cpu.json", {"measured": {"device": "cpu", "peak_bytes": 1}})
    found = memory.stored_gpu_results(tmp_path)
    assert [r["measured"]["device"] for r in found] == ["NVIDIA Test"]
    assert "date" in found[0]["provenance"] and "command" in found[0]["provenance"]


def test_recompute_scan_is_predicted_lower_than_sequential():
    recompute = predict_peak(replace(TINY, scan_method="recompute"), 2, TINY_SECONDS)
    sequential = predict_peak(TINY, 2, TINY_SECONDS)
    assert TINY.scan_method == "sequential"
    assert recompute.categories["saved_activations"] < sequential.categories["saved_activations"]


def test_cli_json(capsys):
    from mbsnet.cli import main

    assert main(["memory", "--preset", "seed", "--batch", "1", "--seconds", "0.05", "--json",
                 "--no-max-batch"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predicted"]["batch_size"] == 1 and out["fits"] is True
    assert set(out["predicted"]["categories"]) == set(memory.CATEGORIES)
    assert out["gpu"]["name"] == "rtx3080ti"


def test_cli_measure_needs_a_gpu(capsys):
    from mbsnet.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["memory", "--preset", "seed", "--batch", "1", "--measure"]) == 2
    assert "CUDA" in capsys.readouterr().err


def test_the_trainers_loss_has_the_same_predicted_peak_as_the_originals():
    """The memory predictor models the original's loss (real/imag L1 on the raw spectrum); the trainer
    takes that term on the compressed spectrum. The loss runs after the forward pass, when the peak
    is not reached, so the two predicted peaks are equal for the shipped configuration."""
    from mbsnet.losses import complex_loss, magnitude_loss

    def trainers_loss(estimate, clean):      # LossWeights() defaults, as a tensor (no float() on meta)
        return 0.5 * magnitude_loss(estimate, clean) + 0.5 * complex_loss(estimate, clean)

    cfg = presets.get("final")
    original = predict_peak(cfg, 2, seconds=1.0)
    trainer = predict_peak(cfg, 2, seconds=1.0, loss_fn=trainers_loss)
    assert trainer.peak_bytes == original.peak_bytes
    assert trainer.n_ops > original.n_ops and trainer.peak_phase == original.peak_phase != "loss"


def test_cli_output_piped_into_a_reader_that_stops_is_not_an_error():
    import subprocess
    import sys

    cmd = f"{sys.executable} -m mbsnet memory --preset final --batch 1 --seconds 0.5 --json | head -c 20"
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], capture_output=True, text=True, timeout=300)
    assert done.stdout.startswith("{") and "Traceback" not in done.stderr and "Broken pipe" not in done.stderr
