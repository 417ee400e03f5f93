"""STFT round trip and enhancement of real recorded speech (CMU ARCTIC)."""
import numpy as np
import pytest
import torch

from mbsnet import build_model, presets
from mbsnet.assets import ARCTIC_WAVS
from mbsnet.data.audio import istft, load_wav, stft
from mbsnet.enhance import enhance_waveform


def test_stft_has_257_bins_and_251_frames_for_two_seconds():
    spec = stft(torch.randn(2, 32_000))
    assert spec.shape == (2, 257, 251) and spec.is_complex()


def test_stft_istft_round_trip_is_exact():
    wav = torch.randn(1, 16_000)
    assert torch.allclose(istft(stft(wav), 16_000), wav, atol=1e-5)


@pytest.mark.parametrize("path", ARCTIC_WAVS, ids=lambda p: p.name)
def test_real_utterance_through_untrained_model(path):
    wav, info = load_wav(path)
    assert info["original_rate"] == 16_000 and wav.ndim == 1 and len(wav) > 16_000
    torch.manual_seed(0)
    model = build_model(presets.get("seed")).eval()
    out = enhance_waveform(model, wav[:8_000])  # 0.5 s keeps the naive scan quick
    assert out.shape == (8_000,)
    assert torch.isfinite(out).all()
    assert out.abs().max() > 0


def test_enhance_pads_a_10_ms_clip():
    model = build_model(presets.get("seed")).eval()
    out = enhance_waveform(model, np.zeros(160, dtype=np.float32) + 0.01)
    assert out.shape == (160,) and torch.isfinite(out).all()
