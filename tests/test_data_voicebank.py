"""VoiceBank-DEMAND loader on a miniature generated in the standard layout."""
import numpy as np
import pytest
import soundfile as sf

from mbsnet.data.datasets import VOICEBANK_FOLDERS, VoiceBankDEMAND, open_dataset


def _write(folder, name, seconds, rate=48_000, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    audio = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))
    sf.write(folder / name, audio.astype(np.float32), rate, subtype="PCM_16")


@pytest.fixture()
def mini_voicebank(tmp_path):
    for split, (clean, noisy) in VOICEBANK_FOLDERS.items():
        for i, name in enumerate(["p226_001.wav", "p226_002.wav", "p287_010.wav"]):
            _write(tmp_path / clean, name, 1.0 + 0.5 * i, seed=i)
            _write(tmp_path / noisy, name, 1.0 + 0.5 * i, seed=10 + i)
    return tmp_path


def test_pairs_by_name_and_resamples_48k_to_16k(mini_voicebank):
    ds = VoiceBankDEMAND(mini_voicebank, "test")
    assert len(ds) == 3 and ds.names[0] == "p226_001.wav"
    clean, noisy = ds[2]
    assert clean.shape == noisy.shape == (32_000,)  # 2 s at 16 kHz


def test_training_items_are_random_two_second_crops(mini_voicebank):
    ds = VoiceBankDEMAND(mini_voicebank, "train", segment_seconds=2.0)
    for i in range(len(ds)):
        clean, noisy = ds[i]
        assert clean.shape == noisy.shape == (32_000,)


def test_missing_folder_is_named(mini_voicebank):
    import shutil

    shutil.rmtree(mini_voicebank / "noisy_testset_wav")
    with pytest.raises(FileNotFoundError, match="noisy_testset_wav"):
        VoiceBankDEMAND(mini_voicebank, "test")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        VoiceBankDEMAND(mini_voicebank / "nowhere", "train")


def test_unpaired_file_is_named(mini_voicebank):
    _write(mini_voicebank / "clean_trainset_28spk_wav", "p999_123.wav", 0.5)
    with pytest.raises(ValueError, match="p999_123.wav"):
        VoiceBankDEMAND(mini_voicebank, "train")


def test_bad_split_and_data_spec():
    with pytest.raises(ValueError, match="split"):
        VoiceBankDEMAND(".", "valid")
    with pytest.raises(ValueError, match="--data"):
        open_dataset("librispeech")
    with pytest.raises(ValueError, match="needs a path"):
        open_dataset("voicebank")
