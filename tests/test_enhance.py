"""`enhance` on awkward input: sample rates, stereo, a 10 ms clip, silence, long files, corrupt files."""
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

from mbsnet import build_model, presets
from mbsnet.cli import main
from mbsnet.enhance import enhance_long, enhance_waveform
from mbsnet.assets import ARCTIC_WAVS
from mbsnet.checkpoint import SHIPPED_CHECKPOINT, CheckpointError, atomic_save, load_model

TINY = replace(presets.get("final"), name="tiny", channels=16, n_layers=1, d_state=4, expand=1,
               decoder_hidden=32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(TINY)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    atomic_save({"config": TINY.to_dict(), "model": model.state_dict()}, path)
    return path


def run_cli(*argv):
    """`python -m mbsnet enhance ARGV...`, in process: the exit status."""
    return main(["enhance", *(str(a) for a in argv)])


def write(path, audio, rate):
    sf.write(path, np.asarray(audio, dtype=np.float32), rate, subtype="PCM_16")
    return path


def speech(seconds=1.0, rate=16_000):
    audio, _ = sf.read(ARCTIC_WAVS[1], dtype="float32")
    from mbsnet.data.audio import resample
    return resample(audio[: int(seconds * 16_000)], 16_000, rate)


def test_other_sample_rate_is_resampled_and_written_back(tmp_path, checkpoint, capsys):
    src = write(tmp_path / "in.wav", speech(1.0, 44_100), 44_100)
    assert run_cli(src, tmp_path / "out.wav", "--checkpoint", checkpoint) == 0
    out, rate = sf.read(tmp_path / "out.wav")
    assert rate == 44_100 and len(out) == len(sf.read(src)[0])
    assert "resampled 44100 Hz" in capsys.readouterr().err


def test_stereo_is_mixed_down_and_says_so(tmp_path, checkpoint, capsys):
    mono = speech(0.5)
    src = write(tmp_path / "stereo.wav", np.stack([mono, 0.5 * mono], axis=1), 16_000)
    assert run_cli(src, tmp_path / "out.wav", "--checkpoint", checkpoint) == 0
    out, _ = sf.read(tmp_path / "out.wav")
    assert out.ndim == 1 and len(out) == len(mono)
    assert "mixed 2 channels down to mono" in capsys.readouterr().err


def test_a_10_ms_clip_keeps_its_length(tmp_path, checkpoint):
    src = write(tmp_path / "tiny.wav", speech(0.01), 16_000)
    assert run_cli(src, tmp_path / "out.wav", "--checkpoint", checkpoint) == 0
    assert len(sf.read(tmp_path / "out.wav")[0]) == 160


def test_silence_stays_silent(tmp_path, checkpoint, capsys):
    src = write(tmp_path / "silence.wav", np.zeros(16_000), 16_000)
    assert run_cli(src, tmp_path / "out.wav", "--checkpoint", checkpoint) == 0
    out, _ = sf.read(tmp_path / "out.wav")
    assert np.abs(out).max() < 1e-3
    assert "silent" in capsys.readouterr().err


def test_corrupt_wav_gives_a_clear_error(tmp_path, checkpoint, capsys):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 3)
    assert run_cli(bad, tmp_path / "out.wav", "--checkpoint", checkpoint) == 2
    assert "cannot read audio file" in capsys.readouterr().err
    assert run_cli(tmp_path / "missing.wav", tmp_path / "out.wav", "--checkpoint", checkpoint) == 2


def test_corrupt_or_foreign_checkpoint_gives_a_clear_error(tmp_path, capsys):
    src = write(tmp_path / "in.wav", speech(0.2), 16_000)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x80\x02not a checkpoint at all")
    assert run_cli(src, tmp_path / "out.wav", "--checkpoint", garbage) == 2
    assert "corrupt" in capsys.readouterr().err
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an MBS-Net checkpoint"):
        load_model(foreign)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nowhere.pt")


def test_truncated_checkpoint_is_reported(tmp_path, checkpoint):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(truncated)


def test_long_input_is_processed_in_cross_faded_chunks(checkpoint):
    model = load_model(checkpoint)
    wav = speech(2.0)
    whole = enhance_long(model, wav, chunk_seconds=10.0)
    chunked = enhance_long(model, wav, chunk_seconds=0.6, overlap_seconds=0.2)
    assert chunked.shape == whole.shape == wav.shape and np.isfinite(chunked).all()
    # away from the chunk edges the two agree closely (the model's context is local)
    assert np.corrcoef(whole, chunked)[0, 1] > 0.9
    with pytest.raises(ValueError, match="overlap"):
        enhance_long(model, wav, chunk_seconds=0.5, overlap_seconds=0.5)


def test_progress_bar_for_long_inputs_only(checkpoint, capsys):
    model = load_model(checkpoint)
    wav = speech(1.0)
    enhance_long(model, wav, chunk_seconds=0.6, overlap_seconds=0.2)         # 1 s: no bar by default
    assert "enhance" not in capsys.readouterr().err
    enhance_long(model, wav, chunk_seconds=0.6, overlap_seconds=0.2, progress=True)
    assert "chunk" in capsys.readouterr().err


def test_threads_and_scan_method_are_respected(tmp_path, checkpoint):
    src = write(tmp_path / "in.wav", speech(0.5), 16_000)
    before = torch.get_num_threads()
    try:
        assert run_cli(src, tmp_path / "a.wav", "--checkpoint", checkpoint, "--threads", "1") == 0
        assert torch.get_num_threads() == 1
        assert run_cli(src, tmp_path / "b.wav", "--checkpoint", checkpoint, "--threads", "1",
                       "--scan", "sequential") == 0
    finally:
        torch.set_num_threads(before)
    a, b = sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0]
    assert np.abs(a - b).max() <= 2 / 2**15                  # the same function, 16-bit output


def test_mask_floor_flag_sets_and_clears_the_floor(tmp_path, checkpoint):
    src = write(tmp_path / "in.wav", speech(0.5) + 0.05 * np.random.default_rng(1).standard_normal(8000), 16_000)
    outs = {}
    for name, flag in (("keep", []), ("floor", ["--mask-floor-db", "-6"]), ("none", ["--mask-floor-db", "none"])):
        assert run_cli(src, tmp_path / f"{name}.wav", "--checkpoint", checkpoint, *flag) == 0
        outs[name] = sf.read(tmp_path / f"{name}.wav")[0]
    assert np.array_equal(outs["keep"], outs["none"])                 # this checkpoint has no floor
    assert np.abs(outs["floor"] - outs["keep"]).max() > 1e-3


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.exists(), reason="no shipped checkpoint in this checkout")
def test_block_processing_matches_whole_file_processing():
    """A file no longer than one block is processed whole (identical); a longer one in blocks
    agrees with whole-file processing to >= 20 dB SNR of the difference (measured 25.7 dB here
    with 2 s blocks). Not exactly: the band split's and decoders' GroupNorm(1, .) normalise
    over time too, so each block sees its own statistics."""
    from mbsnet.experiments.enhance_bench import noisy_speech

    model = load_model()
    wav = noisy_speech(6.0)
    whole = enhance_waveform(model, wav).numpy()
    assert np.array_equal(enhance_long(model, wav, chunk_seconds=6.0), whole)
    blocks = enhance_long(model, wav, chunk_seconds=2.0, overlap_seconds=0.5)
    assert blocks.shape == whole.shape == wav.shape
    snr = 10 * np.log10(np.sum(whole ** 2) / np.sum((blocks - whole) ** 2))
    assert snr >= 20.0, snr


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.exists(), reason="no shipped checkpoint in this checkout")
def test_shipped_checkpoint_enhances_real_speech(tmp_path):
    model = load_model()
    assert model.cfg.name == "final"
    out = enhance_long(model, speech(0.5))
    assert out.shape == (8000,) and np.isfinite(out).all()


def test_wiener_tuning_grows_the_grid_until_the_best_is_inside():
    from mbsnet.data.audio import load_wav
    from mbsnet.wiener import tune_wiener

    clean = load_wav(ARCTIC_WAVS[0])[0][:16_000]
    noise = np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32)
    noisy = clean + noise * np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2))       # 0 dB white noise
    result = tune_wiener([(clean, noisy)], oversubtractions=(1.0,), floors_db=(-20.0,), metric="si_sdr",
                         max_extensions=10)
    overs = sorted({g["oversubtraction"] for g in result["grid"]})
    floors = sorted({g["floor_db"] for g in result["grid"]})
    assert not result["at_edge"] and len(overs) > 2 and len(floors) > 2
    assert overs[0] < result["oversubtraction"] < overs[-1] and floors[0] < result["floor_db"] < floors[-1]
    assert result["score"] == max(g["score"] for g in result["grid"])


def test_bench_enhance_measures_a_child_process(checkpoint):
    from mbsnet.experiments.enhance_bench import bench_enhance, format_enhance_table

    result = bench_enhance((1.5, 0.5), threads=1, checkpoint=checkpoint, progress=False)
    assert [r["audio_seconds"] for r in result["runs"]] == [0.5, 1.5]
    for r in result["runs"]:
        assert r["threads"] == 1 and r["samples"] == int(r["audio_seconds"] * 16_000)
        assert r["rtf"] == r["seconds"] / r["audio_seconds"] > 0 and r["rtf_cpu"] > 0
        assert r["peak_rss_bytes"] >= r["rss_before_bytes"] > 50 * 2**20      # torch is loaded
    assert result["scan_method"] == TINY.scan_method
    assert "RTF" in format_enhance_table(result)


def test_bench_enhance_baseline_child_imports_the_baseline(checkpoint, tmp_path):
    """--baseline: the child runs the other checkout's mbsnet (python -c would put the working
    directory first on sys.path), and both variants are reported."""
    import shutil
    from pathlib import Path

    import mbsnet
    from mbsnet.experiments.enhance_bench import bench_enhance

    shutil.copytree(Path(mbsnet.__path__[0]), tmp_path / "mbsnet")
    result = bench_enhance((0.5,), threads=1, checkpoint=checkpoint, progress=False, baseline=tmp_path)
    assert Path(result["baseline"]["runs"][0]["mbsnet"]).parent == tmp_path
    assert Path(result["runs"][0]["mbsnet"]).parent == Path(mbsnet.__path__[0]).parent
    assert result["speedup"][0]["cpu_speedup"] > 0


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.exists(), reason="no shipped checkpoint in this checkout")
def test_bf16_precision_stays_close_to_fp32_and_is_an_inference_setting(tmp_path):
    """bf16 autocast rounds the matmuls' inputs to 8 bits of mantissa: the output moves by ~0.1% of
    its peak on real speech (measured 0.09% here), far below the model's own error."""
    from mbsnet.enhance import set_precision

    model = load_model()
    wav = speech(1.0) + 0.02 * np.random.default_rng(3).standard_normal(16_000).astype(np.float32)
    fp32 = enhance_waveform(model, wav).numpy()
    bf16 = enhance_waveform(set_precision(model, "bf16"), wav)
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape
    rel = np.abs(bf16.numpy() - fp32).max() / np.abs(fp32).max()
    assert 0 < rel < 1e-2, rel
    assert np.array_equal(enhance_waveform(set_precision(model, "fp32"), wav).numpy(), fp32)
    with pytest.raises(ValueError, match="unknown precision"):
        set_precision(model, "fp8")
    src = write(tmp_path / "in.wav", wav, 16_000)
    assert run_cli(src, tmp_path / "out.wav", "--precision", "bf16") == 0
    assert sf.read(tmp_path / "out.wav")[0].shape == (16_000,)
