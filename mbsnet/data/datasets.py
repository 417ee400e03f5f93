"""Datasets of (clean, noisy) pairs, and the `data` command that generates the synthetic corpus.

    SyntheticPairs(root, split)      the offline eSpeak NG corpus (mbsnet.data.corpus), generated once
    VoiceBankDEMAND(root, split)     the standard VoiceBank-DEMAND folders, 48 kHz -> 16 kHz
    SyntheticPairs(root, "arctic")   real CMU ARCTIC speech + generated noise (held-out test),
                                     stored with the corpus; ArcticMixtures(seed) makes it in memory
    CorpusV3Pairs(root, split)       corpus v3 (mbsnet.data.corpus_v3): real + eSpeak speech, real +
                                     generated noise, augmentation; split "real" = the real-speech test set

Every dataset is a sequence: `len(ds)` and `ds[i] -> (clean (s,), noisy (s,))` float32 numpy at
16 kHz. `random_crop` cuts aligned training segments (the trainer crops with its own RNG, so
training is reproducible and resumable).

CLI: python -m mbsnet data [--version 3] [--out DIR] [--n-train N] [--n-test N] [--seed S] [--force]
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mbsnet.data.audio import load_wav
from mbsnet.data import corpus_v3
from mbsnet.data.corpus import CorpusSpec, arctic_mixtures, default_dir, ensure_corpus, read_manifest
from mbsnet.data.real import shared_root
from mbsnet.errors import InputError

SAMPLE_RATE = 16_000
VOICEBANK_FOLDERS = {"train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav"),
                     "test": ("clean_testset_wav", "noisy_testset_wav")}
_VOICEBANK_NAME = re.compile(r"^p\d{3}_\d{3}\.wav$")


def random_crop(rng: np.random.Generator, clean: np.ndarray, noisy: np.ndarray, length: int):
    """Aligned random crop of `length` samples; shorter pairs are zero-padded at the end.

    clean, noisy: (s,) -> (length,), (length,).
    """
    if length < 1:
        raise ValueError(f"length must be >= 1 sample, got {length}")
    if len(clean) < length:
        pad = length - len(clean)
        return np.pad(clean, (0, pad)), np.pad(noisy, (0, pad))
    start = int(rng.integers(0, len(clean) - length + 1))
    return clean[start:start + length], noisy[start:start + length]


class _CorpusPairs:
    """(clean, noisy) float32 (s,) pairs of a corpus split listed in `self.records` under `self.root`."""

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        record = self.records[i]
        return (load_wav(self.root / record["clean"], SAMPLE_RATE)[0],
                load_wav(self.root / record["noisy"], SAMPLE_RATE)[0])


class SyntheticPairs(_CorpusPairs):
    """The synthetic corpus split `split` ("train", "test" or "arctic"), generated on first use.

    root: corpus directory (default: $MBSNET_DATA or data/synthetic); spec: sizes and seed.
    With `spec=None` an existing corpus at `root` is used as it is (or the default one generated).
    """

    def __init__(self, root=None, split: str = "train", spec: CorpusSpec | None = None,
                 progress: bool = True):
        if split not in ("train", "test", "arctic"):
            raise ValueError(f"split must be 'train', 'test' or 'arctic', got {split!r}")
        self.root = Path(root) if root is not None else default_dir()
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"corpus folder {self.root} is a file, not a folder")
        manifest = read_manifest(self.root)
        if spec is not None or manifest is None:
            ensure_corpus(self.root, spec or CorpusSpec(), progress)
            manifest = read_manifest(self.root)
        self.manifest = manifest
        self.split = split
        self.records = manifest["splits"][split]



class VoiceBankDEMAND:
    """VoiceBank-DEMAND (Valentini-Botinhao 2017) in its standard layout under `root`.

    Folders clean_trainset_28spk_wav / noisy_trainset_28spk_wav (split "train") and
    clean_testset_wav / noisy_testset_wav ("test"); files pXXX_NNN.wav paired by name; read at
    48 kHz and resampled to 16 kHz. With `segment_seconds`, items are random aligned crops of that
    length (training); without, whole utterances (evaluation).
    """

    def __init__(self, root, split: str = "train", segment_seconds: float | None = None, seed: int = 0):
        if split not in VOICEBANK_FOLDERS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"VoiceBank-DEMAND root {self.root} is not a directory")
        self.clean_dir, self.noisy_dir = (self.root / name for name in VOICEBANK_FOLDERS[split])
        for folder in (self.clean_dir, self.noisy_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"VoiceBank-DEMAND folder missing: {folder} "
                                        f"(expected {' and '.join(VOICEBANK_FOLDERS[split])} in {self.root})")
        clean = {p.name for p in self.clean_dir.glob("*.wav")}
        noisy = {p.name for p in self.noisy_dir.glob("*.wav")}
        unpaired = sorted(clean ^ noisy)
        if unpaired:
            where = self.clean_dir if unpaired[0] in clean else self.noisy_dir
            raise InputError(f"unpaired file {where / unpaired[0]} has no partner in the "
                             f"{'noisy' if where == self.clean_dir else 'clean'} folder "
                             f"({len(unpaired)} unpaired in all)")
        if not clean:
            raise FileNotFoundError(f"no .wav files in {self.clean_dir}")
        odd = [n for n in sorted(clean) if not _VOICEBANK_NAME.match(n)]
        if odd:
            raise InputError(f"unexpected file name {self.clean_dir / odd[0]}: expected pXXX_NNN.wav")
        self.names = sorted(clean)
        self.split = split
        self.segment = None if segment_seconds is None else int(round(segment_seconds * SAMPLE_RATE))
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        name = self.names[i]
        clean = load_wav(self.clean_dir / name, SAMPLE_RATE)[0]
        noisy = load_wav(self.noisy_dir / name, SAMPLE_RATE)[0]
        if len(clean) != len(noisy):
            raise InputError(f"{self.clean_dir / name}: clean has {len(clean)} samples, noisy {len(noisy)}")
        if self.segment is not None:
            return random_crop(self.rng, clean, noisy, self.segment)
        return clean, noisy


class ArcticMixtures:
    """The shipped CMU ARCTIC utterances mixed with every generated noise type (held-out test)."""

    def __init__(self, seed: int = 0):
        self.records = arctic_mixtures(seed)

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return self.records[i]["clean"], self.records[i]["noisy"]


class CorpusV3Pairs(_CorpusPairs):
    """Split `split` ("train", "test", "real" or "arctic") of corpus v3, generated on first use.

    root: corpus directory (default: $MBSNET_CORPUS_V3 or data/corpus_v3); with `spec`, the
    corpus is made to match it (reused if it does); with `spec=None` an existing corpus is used as
    it is (or the default one generated). The "real" split needs the shared recordings.
    """

    SPLITS = ("train", "test", "real", "arctic")

    def __init__(self, root=None, split: str = "train", spec: corpus_v3.CorpusV3Spec | None = None,
                 progress: bool = True):
        if split not in self.SPLITS:
            raise ValueError(f"split must be one of {self.SPLITS}, got {split!r}")
        self.root = Path(root) if root is not None else corpus_v3.default_dir()
        manifest = corpus_v3.read_manifest(self.root)
        if spec is not None or manifest is None:
            corpus_v3.ensure_corpus(self.root, spec or corpus_v3.CorpusV3Spec(), progress=progress)
            manifest = corpus_v3.read_manifest(self.root)
        if manifest.get("version") != corpus_v3.CORPUS_VERSION:
            raise InputError(f"{self.root} holds corpus version {manifest.get('version')}, not 3 "
                             f"(make one with: python -m mbsnet data --version 3 --out {self.root})")
        if split == "real" and not manifest["splits"]["real"]:
            raise FileNotFoundError(
                f"corpus v3 at {self.root} has no real-speech test split: it was built without the shared "
                f"recordings ({', '.join(manifest['shared_data']['missing'])} missing under "
                f"{manifest['shared_data']['root']}); point MBSNET_SHARED_DATA at them (default {shared_root()}) "
                f"and rebuild with python -m mbsnet data --version 3 --force")
        self.manifest = manifest
        self.split = split
        self.records = manifest["splits"][split]



def open_dataset(spec: str, split: str = "train"):
    """A dataset from a --data string -> "synthetic[:DIR]" (corpus v2), "v3[:DIR]" (corpus v3),
    "real-test[:DIR]" (corpus v3's real-speech test set; test only) or "voicebank:PATH"."""
    kind, _, path = spec.partition(":")
    if kind == "synthetic":
        return SyntheticPairs(path or None, split)
    if kind == "v3":
        return CorpusV3Pairs(path or None, split)
    if kind == "real-test":
        if split != "test":
            raise InputError("real-test is a test set (held-out speakers and noises): train with --data v3")
        return CorpusV3Pairs(path or None, "real")
    if kind == "voicebank":
        if not path:
            raise InputError("--data voicebank needs a path: voicebank:/path/to/VoiceBank-DEMAND")
        return VoiceBankDEMAND(path, split)
    raise InputError(f"--data must be 'synthetic[:DIR]', 'v3[:DIR]', 'real-test[:DIR]' or 'voicebank:PATH', "
                     f"got {spec!r}")
