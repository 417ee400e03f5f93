"""Metrics (PESQ, STOI, SI-SDR) on edge cases, and the training losses."""
import math

import numpy as np
import pytest
import torch

from mbsnet import losses, metrics
from mbsnet.evaluate import score_systems
from mbsnet.assets import ARCTIC_WAVS
from mbsnet.data.audio import load_wav, stft


@pytest.fixture(scope="module")
def speech():
    return load_wav(ARCTIC_WAVS[0])[0][:48_000]


def test_si_sdr_is_scale_invariant_and_tracks_noise(speech):
    rng = np.random.default_rng(0)
    noisy = speech + 0.1 * np.std(speech) * rng.standard_normal(len(speech))
    assert metrics.si_sdr(speech, 3 * noisy) == pytest.approx(metrics.si_sdr(speech, noisy))
    assert metrics.si_sdr(speech, noisy) == pytest.approx(20.0, abs=0.5)
    assert math.isnan(metrics.si_sdr(np.zeros(100), np.ones(100)))


def test_pesq_orders_quality_and_never_crashes(speech):
    rng = np.random.default_rng(0)
    light = speech + 0.02 * rng.standard_normal(len(speech)).astype(np.float32)
    heavy = speech + 0.2 * rng.standard_normal(len(speech)).astype(np.float32)
    assert metrics.pesq_wb(speech, speech).score > 4.4
    assert metrics.pesq_wb(speech, light).score > metrics.pesq_wb(speech, heavy).score
    silent = metrics.pesq_wb(np.zeros(32_000), np.zeros(32_000))
    assert math.isnan(silent.score) and "silent" in silent.error
    short = metrics.pesq_wb(speech[:160], speech[:160])  # a 10 ms clip
    assert math.isnan(short.score) and "too short" in short.error
    with pytest.raises(ValueError, match="sample_rate"):
        metrics.pesq_wb(speech, speech, 8000)


def test_stoi_and_batch_summary_skip_failures(speech):
    items = [{"clean": speech, "noisy": speech}, {"clean": np.zeros(16_000), "noisy": np.zeros(16_000)}]
    rows = score_systems(items, {"as is": lambda x: x}, progress=False)
    summary = metrics.summarize(rows)
    assert summary["n"] == 2 and summary["pesq_n"] == 1 and summary["pesq_failures"] == 1
    assert summary["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert "pesq_error" in rows[1]
    with pytest.raises(ValueError, match="same length"):
        metrics.si_sdr(np.ones(10), np.ones(11))


def test_anti_wrapping_is_the_distance_to_the_nearest_multiple_of_two_pi():
    x = torch.tensor([0.0, 2 * math.pi, -2 * math.pi + 0.1, math.pi - 0.01, 4 * math.pi + 0.3])
    expected = torch.tensor([0.0, 0.0, 0.1, math.pi - 0.01, 0.3])
    assert torch.allclose(losses.anti_wrapping(x), expected, atol=1e-5)


def test_losses_vanish_for_a_perfect_estimate_and_grow_with_error():
    torch.manual_seed(0)
    ref = stft(torch.randn(2, 4000))
    noisy = stft(torch.randn(2, 4000)) * 0.3 + ref
    w = losses.LossWeights(magnitude=1, complex=1, phase=1, time=0)
    zero, terms = losses.enhancement_loss(ref, ref, w)
    assert float(zero) == pytest.approx(0.0, abs=1e-5) and set(terms) == {"magnitude", "complex", "phase"}
    bad, _ = losses.enhancement_loss(noisy, ref, w)
    assert float(bad) > 0.05
    # a phase rotation by 2 pi costs nothing
    assert float(losses.phase_loss(ref * torch.exp(torch.tensor(2j * math.pi)), ref)) < 1e-3


def test_default_weights_are_the_original_mbsnet_and_time_needs_waveforms():
    assert losses.LossWeights() == losses.LossWeights(magnitude=0.5, complex=0.5, phase=0.0, time=0.0)
    spec = stft(torch.randn(1, 2000))
    with pytest.raises(ValueError, match="time loss"):
        losses.enhancement_loss(spec, spec, losses.LossWeights(time=1.0))
    with pytest.raises(ValueError, match="LossWeights.phase"):
        losses.LossWeights(phase=-1)
    spec.requires_grad_(False)
    est = spec.clone().requires_grad_(True)
    total, _ = losses.enhancement_loss(est * 0.5, spec)
    total.backward()
    assert torch.isfinite(est.grad).all()
