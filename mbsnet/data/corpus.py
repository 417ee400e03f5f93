"""The offline synthetic speech corpus: eSpeak NG speech + generated noise at VoiceBank-DEMAND SNRs.

Layout of a corpus directory (default `data/synthetic/` in the repository root, overridable with
the environment variable MBSNET_DATA or an argument):

    manifest.json                 settings, voices per split, one record per utterance
    train/clean/00000.wav         16 kHz, 16-bit mono
    train/noisy/00000.wav
    test/clean/..., test/noisy/...

Splits share no sentences and no voices: the sentence list and the eSpeak voice variants are
each partitioned once (from the seed) between train and test. Train mixes at 0/5/10/15 dB, test
at 2.5/7.5/12.5/17.5 dB (VoiceBank-DEMAND's conditions). Everything is deterministic from the
seed; `ensure_corpus` generates the corpus once and reuses it while the manifest matches.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mbsnet.data import espeak
from mbsnet.data.audio import load_wav, save_wav
from mbsnet.assets import ASSETS, ARCTIC_WAVS
from mbsnet.data.noise import NOISE_TYPES, make_noise, mix_at_snr
from mbsnet.errors import InputError
from mbsnet.results import DATA_DIR, provenance

SAMPLE_RATE = 16_000
TRAIN_SNRS_DB = (0.0, 5.0, 10.0, 15.0)
TEST_SNRS_DB = (2.5, 7.5, 12.5, 17.5)
ENGLISH_ACCENTS = ("en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc",
                   "en-gb-x-gbclan", "en-gb-x-gbcwmd")
# Variants that are not speech-like (robots, whispers, croaks) are left out of the corpus.
_UNNATURAL_VARIANTS = {"Demonic", "UniRobot", "anikaRobot", "croak", "whisper", "whisperf",
                       "Tweaky", "fast", "Mr serious"} | {f"robosoft{i}" for i in ("", *range(2, 9))}
CORPUS_VERSION = 2
SENTENCES_FILE = ASSETS / "text" / "sentences.txt"


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate: sizes, seed and the fraction of sentences/voices held out for test."""

    n_train: int = 1000
    n_test: int = 100
    seed: int = 0
    test_fraction: float = 0.2

    def __post_init__(self):
        for name in ("n_train", "n_test"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.test_fraction < 1:
            raise InputError(f"test_fraction must be in (0, 1), got {self.test_fraction}")


def default_dir() -> Path:
    """$MBSNET_DATA if set, else `data/synthetic` in the repository root."""
    return Path(os.environ.get("MBSNET_DATA", DATA_DIR / "synthetic"))


def sentences() -> list[tuple[str, str]]:
    """(language, sentence) pairs from the shipped sentence list."""
    pairs = []
    for line in SENTENCES_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lang, text = line.split("\t", 1)
            pairs.append((lang, text.strip()))
    return pairs


def speech_variants() -> list[str]:
    """The speech-like eSpeak voice variants (e.g. "m3", "f2", "klatt")."""
    return [v for v in espeak.variants() if v not in _UNNATURAL_VARIANTS]


def split_plan(spec: CorpusSpec) -> dict:
    """Partition sentences and voice variants between train and test (disjoint), from the seed."""
    rng = np.random.default_rng([spec.seed, 1])
    pairs = sentences()
    order = rng.permutation(len(pairs))
    n_test = max(1, int(round(spec.test_fraction * len(pairs))))
    variants = speech_variants()
    vorder = rng.permutation(len(variants))
    n_vtest = max(1, int(round(spec.test_fraction * len(variants))))
    return {"test": {"sentences": [pairs[i] for i in sorted(order[:n_test])],
                     "variants": sorted(variants[i] for i in vorder[:n_vtest])},
            "train": {"sentences": [pairs[i] for i in sorted(order[n_test:])],
                      "variants": sorted(variants[i] for i in vorder[n_vtest:])}}


def _voice(rng, lang: str, variants: list[str]) -> str:
    """An eSpeak voice name: an English accent for English text, else the text's language."""
    base = ENGLISH_ACCENTS[int(rng.integers(len(ENGLISH_ACCENTS)))] if lang == "en" else lang
    return f"{base}+{variants[int(rng.integers(len(variants)))]}"


def _speak(rng, lang, text, variants):
    """Synthesize one sentence with a random voice, rate and pitch; returns (audio, settings)."""
    settings = {"voice": _voice(rng, lang, variants), "rate_wpm": int(rng.integers(130, 221)),
                "pitch": int(rng.integers(20, 81)), "pitch_range": int(rng.integers(30, 91)),
                "seed": int(rng.integers(2**31))}
    return espeak.synthesize(text, sample_rate=SAMPLE_RATE, **settings), settings


def babble_pool(rng, split_sentences, variants, n_talkers=16) -> list[np.ndarray]:
    """Waveforms of `n_talkers` random utterances, the talkers of babble/cafe noise."""
    picks = rng.integers(len(split_sentences), size=n_talkers)
    return [_speak(rng, *split_sentences[i], variants)[0] for i in picks]


def make_pair(rng, clean: np.ndarray, kind: str, snr_db: float, talkers) -> tuple[np.ndarray, np.ndarray]:
    """Mix `clean` (s,) with noise `kind` at `snr_db`; a random level, peak <= 0.95 -> (clean, noisy)."""
    noisy = mix_at_snr(clean, make_noise(kind, rng, len(clean), SAMPLE_RATE, talkers), snr_db)
    gain = 10 ** (rng.uniform(-32, -18) / 20) / max(float(np.sqrt(np.mean(noisy ** 2))), 1e-9)
    gain = min(gain, 0.95 / max(float(np.abs(noisy).max()), float(np.abs(clean).max()), 1e-9))
    return (clean * gain).astype(np.float32), (noisy * gain).astype(np.float32)


def utterance(rng, split_sentences, variants):
    """One or two sentences of one talker with 0.1-0.4 s of silence around them."""
    lang, text = split_sentences[int(rng.integers(len(split_sentences)))]
    audio, settings = _speak(rng, lang, text, variants)
    texts = [text]
    if rng.random() < 0.3:  # a second sentence of the same language, same voice
        same = [s for s in split_sentences if s[0] == lang and s[1] != text]
        if same:
            text2 = same[int(rng.integers(len(same)))][1]
            audio = np.concatenate([audio, np.zeros(int(0.2 * SAMPLE_RATE), np.float32),
                                    espeak.synthesize(text2, sample_rate=SAMPLE_RATE, **settings)])
            texts.append(text2)
    pad = [np.zeros(int(rng.uniform(0.1, 0.4) * SAMPLE_RATE), np.float32) for _ in range(2)]
    return np.concatenate([pad[0], audio, pad[1]]), {"lang": lang, "text": " ".join(texts), **settings}


def _generate_split(out: Path, split: str, n: int, plan: dict, seed: int, progress: bool) -> list[dict]:
    """Make split "train" or "test" (n utterances) or "arctic"; returns its manifest records."""

    if split == "arctic":
        return write_arctic(out, seed)

    rng = np.random.default_rng([seed, 2, 0 if split == "train" else 1])
    split_sentences, variants = plan[split]["sentences"], plan[split]["variants"]
    snrs = TRAIN_SNRS_DB if split == "train" else TEST_SNRS_DB
    talkers = babble_pool(rng, split_sentences, variants)
    (out / split / "clean").mkdir(parents=True, exist_ok=True)
    (out / split / "noisy").mkdir(parents=True, exist_ok=True)
    records = []
    for i in tqdm(range(n), desc=f"corpus {split}", unit="utt", disable=not progress):
        clean, meta = utterance(rng, split_sentences, variants)
        kind = NOISE_TYPES[i % len(NOISE_TYPES)]  # balanced noise types
        snr = float(snrs[int(rng.integers(len(snrs)))])
        clean, noisy = make_pair(rng, clean, kind, snr, talkers)
        name = f"{i:05d}.wav"
        save_wav(out / split / "clean" / name, clean, SAMPLE_RATE)
        save_wav(out / split / "noisy" / name, noisy, SAMPLE_RATE)
        records.append({"id": f"{split}_{i:05d}", "clean": f"{split}/clean/{name}",
                        "noisy": f"{split}/noisy/{name}", "noise": kind, "snr_db": snr,
                        "seconds": round(len(clean) / SAMPLE_RATE, 3), **meta})
    return records


def read_manifest(root) -> dict | None:
    path = Path(root) / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _matches(manifest: dict | None, spec: CorpusSpec, root: Path) -> bool:
    if not manifest or manifest.get("version") != CORPUS_VERSION or manifest.get("spec") != asdict(spec):
        return False
    last = [manifest["splits"][s][-1] for s in ("train", "test", "arctic")]
    return all((root / r[k]).exists() for r in last for k in ("clean", "noisy"))


def generate_corpus(root=None, spec: CorpusSpec = CorpusSpec(), progress: bool = True) -> Path:
    """Generate the corpus into `root` (replacing what is there) and write its manifest.

    Each split is made in its own fresh process (two at a time): eSpeak NG keeps state between
    utterances, so only a fresh library makes the audio a function of the seed alone, bit for bit.
    The first k test utterances are therefore the same for any n_train and any n_test >= k.
    """


    root = Path(root) if root is not None else default_dir()
    (root / "manifest.json").unlink(missing_ok=True)
    for split in ("train", "test", "arctic"):
        shutil.rmtree(root / split, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    plan = split_plan(spec)
    jobs = {"train": spec.n_train, "test": spec.n_test, "arctic": 0}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {split: pool.submit(_generate_split, root, split, n, plan, spec.seed, progress)
                   for split, n in jobs.items()}
        splits = {split: future.result() for split, future in futures.items()}
    manifest = {"version": CORPUS_VERSION, "spec": asdict(spec), "sample_rate": SAMPLE_RATE,
                "snrs_db": {"train": TRAIN_SNRS_DB, "test": TEST_SNRS_DB},
                "noise_types": NOISE_TYPES,
                "voices": {s: plan[s]["variants"] for s in plan},
                "sentences": {s: len(plan[s]["sentences"]) for s in plan},
                "splits": splits, "provenance": provenance()}
    tmp = root / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    tmp.replace(root / "manifest.json")  # written last: a half-made corpus has no manifest
    return root


def ensure_corpus(root=None, spec: CorpusSpec = CorpusSpec(), progress: bool = True) -> Path:
    """The corpus at `root` for `spec`: reused if its manifest matches, generated otherwise."""
    root = Path(root) if root is not None else default_dir()
    if not _matches(read_manifest(root), spec, root):
        generate_corpus(root, spec, progress)
    return root


def write_arctic(root: Path, seed: int) -> list[dict]:
    """Store the ARCTIC mixtures as the corpus' "arctic" split (arctic/clean, arctic/noisy)."""

    records = []
    for folder in ("clean", "noisy"):
        (root / "arctic" / folder).mkdir(parents=True, exist_ok=True)
    for r in arctic_mixtures(seed):
        name = f"{r['id']}.wav"
        save_wav(root / "arctic" / "clean" / name, r["clean"], SAMPLE_RATE)
        save_wav(root / "arctic" / "noisy" / name, r["noisy"], SAMPLE_RATE)
        records.append({"id": r["id"], "clean": f"arctic/clean/{name}", "noisy": f"arctic/noisy/{name}",
                        "noise": r["noise"], "snr_db": r["snr_db"],
                        "seconds": round(len(r["clean"]) / SAMPLE_RATE, 3), "source": "CMU ARCTIC"})
    return records


def arctic_mixtures(seed: int = 0, snrs_db=TEST_SNRS_DB) -> list[dict]:
    """Real recorded speech (CMU ARCTIC, shipped) mixed with every noise type, in memory.

    Returns records {"id", "clean" (s,), "noisy" (s,), "noise", "snr_db"}; babble talkers use the
    test voices. The corpus stores them as its "arctic" split (use SyntheticPairs(split="arctic")
    for the bit-exact stored copy: eSpeak's babble depends on the process' synthesis history).
    """

    plan = split_plan(CorpusSpec(seed=seed))
    rng = np.random.default_rng([seed, 3])
    talkers = babble_pool(rng, plan["test"]["sentences"], plan["test"]["variants"], n_talkers=8)
    records = []
    for path in ARCTIC_WAVS:
        speech, _ = load_wav(path, SAMPLE_RATE)
        for j, kind in enumerate(NOISE_TYPES):
            snr = float(snrs_db[j % len(snrs_db)])
            clean, noisy = make_pair(rng, speech, kind, snr, talkers)
            records.append({"id": f"{path.stem}_{kind}", "clean": clean, "noisy": noisy,
                            "noise": kind, "snr_db": snr})
    return records
