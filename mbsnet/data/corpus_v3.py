"""Corpus v3: real speech (LibriSpeech, Picovoice) and eSpeak speech, real and generated noise, recording-condition augmentation, and a real-speech test split.

Layout of a corpus directory (default `data/corpus_v3/`, or $MBSNET_CORPUS_V3):

    manifest.json                  settings, sources and licenses, split plans, counts, one record per item
    train/clean/00000.wav, train/noisy/00000.wav      16 kHz, 16-bit mono
    test/...   held-out counterpart of train (same mix of kinds and augmentation, test SNRs)
    real/...   real held-out speech + held-out real noise recordings / real babble, no simulated
               room or EQ (the recordings have their own), test SNRs: the real-speech test set
    arctic/... the CMU ARCTIC mixtures (as in corpus v2)

Speakers, sentences, voices and noise recordings are disjoint between train and test/real (see
mbsnet.data.real for the plans, mbsnet.data.corpus for eSpeak's sentence/voice split, and
mbsnet.data.augment for the target choice). Train mixes at 0/5/10/15 dB, test and real at
2.5/7.5/12.5/17.5 dB. Each split is made in a fresh process (eSpeak keeps state), item i from
a Generator seeded by (seed, split, i): the same seed gives the same bytes. Without the shared
recordings the corpus is eSpeak + generated noise, no real split, and one line says what is missing.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mbsnet.data import real
from mbsnet.data.audio import save_wav
from mbsnet.data.augment import EQ_RANGES, NO_AUGMENT, RIR_MODEL, AugmentSpec, render
from mbsnet.data.corpus import (TEST_SNRS_DB, TRAIN_SNRS_DB, CorpusSpec, write_arctic, babble_pool,
                                split_plan, utterance)
from mbsnet.data.noise import NOISE_TYPES, babble, make_noise
from mbsnet.results import DATA_DIR, provenance

CORPUS_VERSION = 3
SAMPLE_RATE = 16_000
SPLITS = ("train", "test", "real", "arctic")
SPEECH_WEIGHTS = {"train": {"espeak": 0.25, real.LIBRI_TRAIN: 0.35, real.PICO_INTENT: 0.25, real.PICO_WAKE: 0.15},
                  "test": {"espeak": 0.5, "librispeech": 0.5}, "real": {"librispeech": 1.0}}
NOISE_WEIGHTS = {"train": {"generated": 0.4, "recording": 0.45, "real_babble": 0.15},
                 "test": {"generated": 0.4, "recording": 0.45, "real_babble": 0.15},
                 "real": {"recording": 0.8, "real_babble": 0.2}}
TARGET = ("reverberant: input = speech*RIR + noise, target = speech*RIR (the model removes noise and keeps "
          "the room and the microphone colouring; EQ and level apply to both, clipping to the input only)")


@dataclass(frozen=True)
class CorpusV3Spec:
    """Sizes, seed, crop length, the filters on real clips, and the augmentation of train/test."""

    n_train: int = 6000
    n_test: int = 300
    n_real: int = 150
    seed: int = 0
    test_fraction: float = 0.2        # of eSpeak sentences/voices and of LibriSpeech train speakers
    max_seconds: float = 6.0          # items are crops of 2/3-1 x this (real split: up to this)
    min_snr_db: float = 20.0          # real clips with a lower manifest est_snr_db are not targets
    max_clip_frac: float = 1e-3
    arctic: bool = True
    augment: AugmentSpec = field(default_factory=AugmentSpec)

    def __post_init__(self):
        for name in ("n_train", "n_test", "n_real"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.test_fraction < 1 or self.max_seconds < 1:
            raise ValueError("test_fraction must be in (0, 1) and max_seconds >= 1")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))   # tuples as lists, as the manifest stores them


def default_dir() -> Path:
    """$MBSNET_CORPUS_V3 if set, else `data/corpus_v3` in the repository root."""
    return Path(os.environ.get("MBSNET_CORPUS_V3", DATA_DIR / "corpus_v3"))


def plan_corpus(spec: CorpusV3Spec, shared) -> dict:
    """Everything the split workers need: eSpeak's sentence/voice split, real speech and noise plans."""
    shared = Path(shared)
    present = real.present_folders(shared)
    speech = real.speech_plan(shared, spec.seed, spec.test_fraction, spec.min_snr_db, spec.max_clip_frac)
    return {"shared": str(shared), "present": present,
            "missing": [f for f in real.FOLDERS if f not in present],
            "espeak": split_plan(CorpusSpec(seed=spec.seed, test_fraction=spec.test_fraction)),
            "speech": speech, "noise": real.noise_plan(shared)}


def _pools(plan: dict, split: str) -> dict:
    """{speech source: utterances} of a split (eSpeak: a marker), only the non-empty ones."""
    utts = plan["speech"]["train" if split == "train" else "test"]
    if split == "train":
        pools = {name: [u for u in utts if u["source"] == name]
                 for name in (real.LIBRI_TRAIN, real.PICO_INTENT, real.PICO_WAKE)}
    else:
        pools = {"librispeech": list(utts)}
    if split != "real":
        pools["espeak"] = ["espeak"]
    return {k: v for k, v in pools.items() if v}


def _choose(rng, weights: dict, available) -> str:
    names = [k for k in weights if k in available]
    p = np.array([weights[k] for k in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


class _Split:
    """One split's sources, loaded in its worker process."""

    def __init__(self, plan: dict, split: str, spec: CorpusV3Spec):
        self.split, self.spec, self.shared = split, spec, Path(plan["shared"])
        self.pools = _pools(plan, split)
        self.noises = plan["noise"]["train" if split == "train" else "test"]
        side = "train" if split == "train" else "test"
        self.sentences = plan["espeak"][side]["sentences"]
        self.variants = plan["espeak"][side]["variants"]
        rng = np.random.default_rng([spec.seed, 32, SPLITS.index(split)])
        self.espeak_talkers = ([] if split == "real" else
                               babble_pool(rng, self.sentences, self.variants))
        libri = [u for name, us in self.pools.items() if name != "espeak" for u in us if u["speaker"]]
        by_speaker = {}
        for i in rng.permutation(len(libri)):
            by_speaker.setdefault(libri[i]["speaker"], libri[i])
        self.talkers = [(spk, real.load_recording(self.shared, u["path"]))
                        for spk, u in list(by_speaker.items())[:24]]
        self.noise_kinds = {"generated": True, "recording": bool(self.noises),
                            "real_babble": len(self.talkers) >= 2}
        self.real_order = None
        if split == "real":
            utts = self.pools["librispeech"]
            self.real_order = [utts[i] for i in np.random.default_rng([spec.seed, 31]).permutation(len(utts))]

    def speech(self, rng, i: int):
        """A whole utterance (s,) and what it is."""
        if self.real_order is not None:
            u = self.real_order[i % len(self.real_order)]
            return real.load_recording(self.shared, u["path"]), {
                "speech_source": u["source"], "speaker": u["speaker"], "speech_file": u["path"]}
        source = _choose(rng, SPEECH_WEIGHTS[self.split], self.pools)
        if source == "espeak":
            audio, meta = utterance(rng, self.sentences, self.variants)
            return audio, {"speech_source": "espeak", "speaker": "espeak+" + meta["voice"].split("+")[1], **meta}
        pool = self.pools[source]
        u = pool[int(rng.integers(len(pool)))]
        if source != real.PICO_WAKE:
            return real.load_recording(self.shared, u["path"]), {
                "speech_source": u["source"], "speaker": u["speaker"], "speech_file": u["path"]}
        clips, paths = [real.load_recording(self.shared, u["path"])], [u["path"]]
        while sum(map(len, clips)) < 2.5 * SAMPLE_RATE and len(paths) < 3:   # join short wake words
            u = pool[int(rng.integers(len(pool)))]
            clips += [np.zeros(int(rng.uniform(0.2, 0.5) * SAMPLE_RATE), np.float32),
                      real.load_recording(self.shared, u["path"])]
            paths.append(u["path"])
        return np.concatenate(clips), {"speech_source": source, "speaker": None, "speech_file": paths}

    def crop(self, rng, audio) -> tuple[int, int]:
        """(start, length): 2/3-1 x max_seconds (real split: max_seconds), preferring active parts."""
        longest = int(self.spec.max_seconds * SAMPLE_RATE)
        length = longest if self.split == "real" else int(rng.uniform(2 / 3, 1) * longest)
        if len(audio) <= length:
            return 0, len(audio)
        whole = float(np.mean(np.square(audio, dtype=np.float64)))
        best = (-1.0, 0)
        for _ in range(4):
            start = int(rng.integers(0, len(audio) - length + 1))
            power = float(np.mean(np.square(audio[start:start + length], dtype=np.float64)))
            best = max(best, (power, start))
            if power >= 0.1 * whole:
                break
        return best[1], length

    def noise(self, rng, speaker):
        """(noise_fn(n) -> unit-RMS noise, what it is)."""
        group = _choose(rng, NOISE_WEIGHTS[self.split], [k for k, ok in self.noise_kinds.items() if ok])
        if group == "generated":
            kind = NOISE_TYPES[int(rng.integers(len(NOISE_TYPES)))]
            return (lambda n: make_noise(kind, rng, n, SAMPLE_RATE, self.espeak_talkers)), {"noise": kind}
        if group == "real_babble":
            talkers = [a for spk, a in self.talkers if spk != speaker]
            return (lambda n: babble(rng, n, SAMPLE_RATE, talkers)), {"noise": "real_babble"}
        rec = self.noises[int(rng.integers(len(self.noises)))]
        audio = real.load_recording(self.shared, rec["path"])
        meta = {"noise": "rec:" + Path(rec["path"]).stem, "noise_file": rec["path"]}

        def cut(n):   # a random stretch; looped only when the recording is shorter than n
            offset = int(rng.integers(max(1, len(audio) - n + 1)))
            meta["noise_offset_s"] = round(offset / SAMPLE_RATE, 3)
            x = np.take(audio, np.arange(offset, offset + n), mode="wrap").astype(np.float64)
            return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)
        return cut, meta


def _generate_split(root: Path, split: str, n: int, plan: dict, spec: CorpusV3Spec, progress: bool):
    """Make one split's files; returns its manifest records."""
    if split == "arctic":
        return write_arctic(root, spec.seed)
    ctx = _Split(plan, split, spec)
    snrs = TRAIN_SNRS_DB if split == "train" else TEST_SNRS_DB
    aug = NO_AUGMENT if split == "real" else spec.augment
    for folder in ("clean", "noisy"):
        (root / split / folder).mkdir(parents=True, exist_ok=True)
    records = []
    for i in tqdm(range(n), desc=f"corpus v3 {split}", unit="item", disable=not progress):
        rng = np.random.default_rng([spec.seed, 30, SPLITS.index(split), i])
        audio, meta = ctx.speech(rng, i)
        start, length = ctx.crop(rng, audio)
        noise_fn, noise_meta = ctx.noise(rng, meta["speaker"])
        snr = float(snrs[int(rng.integers(len(snrs)))])
        out = render(rng, audio, (start, length), noise_fn, snr, aug, SAMPLE_RATE)
        name = f"{i:05d}.wav"
        save_wav(root / split / "clean" / name, out["clean"], SAMPLE_RATE)
        save_wav(root / split / "noisy" / name, out["noisy"], SAMPLE_RATE)
        records.append({"id": f"{split}_{i:05d}", "clean": f"{split}/clean/{name}",
                        "noisy": f"{split}/noisy/{name}", **noise_meta, "snr_db": snr, "seconds": round(length / SAMPLE_RATE, 3),
                        "crop_start_s": round(start / SAMPLE_RATE, 3), **meta, "augment": out["info"]})
    return records


def read_manifest(root) -> dict | None:
    path = Path(root) / "manifest.json"
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except json.JSONDecodeError:
        return None


def _matches(manifest, spec: CorpusV3Spec, shared, root: Path) -> bool:
    if not manifest or manifest.get("version") != CORPUS_VERSION or manifest.get("spec") != spec.to_dict():
        return False
    if manifest["shared_data"]["fingerprint"] != real.fingerprint(shared):
        return False
    return all((root / r[k]).exists() for s in manifest["splits"].values() if s for r in s[-1:]
               for k in ("clean", "noisy"))


def summarize(splits: dict) -> dict:
    """Counts per split: items, minutes, speech source, noise, augmentation."""
    def group(r):
        return "recording" if r["noise"].startswith("rec:") else (
            "real_babble" if r["noise"] == "real_babble" else "generated")
    return {s: {"items": len(rs), "minutes": round(sum(r["seconds"] for r in rs) / 60, 2),
                "speech_source": dict(Counter(r.get("speech_source", "CMU ARCTIC") for r in rs)),
                "noise_group": dict(Counter(group(r) for r in rs)),
                "noise": dict(sorted(Counter(r["noise"] for r in rs).items())),
                "augment": {k: sum(bool(r.get("augment", {}).get(k)) for r in rs) for k in ("rir", "eq", "clip")}}
            for s, rs in splits.items()}


def generate_corpus(root=None, spec: CorpusV3Spec = CorpusV3Spec(), shared=None, workers: int = 2,
                    progress: bool = True) -> Path:
    """Generate corpus v3 into `root` (replacing what is there) and write its manifest."""
    root = Path(root) if root is not None else default_dir()
    shared = Path(shared) if shared is not None else real.shared_root()
    plan = plan_corpus(spec, shared)
    if plan["missing"]:
        print(real.missing_line(shared, plan["missing"]), flush=True)
    (root / "manifest.json").unlink(missing_ok=True)
    for split in SPLITS:
        shutil.rmtree(root / split, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    jobs = {"train": spec.n_train, "test": spec.n_test}
    if plan["speech"]["test"]:
        jobs["real"] = spec.n_real
    if spec.arctic:
        jobs["arctic"] = 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, workers), mp_context=context, max_tasks_per_child=1) as pool:
        futures = {s: pool.submit(_generate_split, root, s, n, plan, spec, progress) for s, n in jobs.items()}
        splits = {s: futures[s].result() if s in futures else [] for s in SPLITS}
    manifest = {"version": CORPUS_VERSION, "spec": spec.to_dict(), "sample_rate": SAMPLE_RATE,
                "snrs_db": {"train": TRAIN_SNRS_DB, "test": TEST_SNRS_DB, "real": TEST_SNRS_DB},
                "target": TARGET, "weights": {"speech": SPEECH_WEIGHTS, "noise": NOISE_WEIGHTS},
                "shared_data": {"root": str(shared), "present": plan["present"], "missing": plan["missing"],
                                "fingerprint": real.fingerprint(shared),
                                "sources": real.source_table(shared, plan["speech"], plan["noise"])},
                "decisions": {
                    "picovoice": "train only: Picovoice publishes no speaker ids, so no split of it could be "
                                 "speaker-disjoint; test and real use LibriSpeech speakers only",
                    "noise_holdout": f"whole recordings {list(real.HELD_OUT_NOISES)} for test/real "
                                     "(no time-region split: the 11 others give 610 s of train noise)",
                    "filters": f"real clips with est_snr_db < {spec.min_snr_db} or clip_frac > {spec.max_clip_frac} "
                               "dropped; digital-silence runs cut to 0.05 s at the ends, 0.25 s inside",
                    "real_split": "held-out real speech + held-out noise recordings or babble of other held-out "
                                  "speakers; no simulated room/EQ/clipping; the test split shares its speakers",
                    "items": "crops of 2/3-1 x max_seconds of an utterance (real split: max_seconds), preferring "
                             "crops with >= 10 % of its mean power; wake words joined (up to 3) to >= 2.5 s"},
                "augmentation": {"train_and_test": spec.to_dict()["augment"], "real": "level only",
                                 "eq_ranges": EQ_RANGES, "rir": RIR_MODEL},
                "plan": {"espeak_voices": {s: plan["espeak"][s]["variants"] for s in ("train", "test")},
                         "espeak_sentences": {s: len(plan["espeak"][s]["sentences"]) for s in ("train", "test")},
                         "speech_files": {s: [u["path"] for u in plan["speech"][s]] for s in ("train", "test")},
                         "held_out_speakers": plan["speech"]["held_out_speakers"],
                         "noise_files": {s: [r["path"] for r in plan["noise"][s]] for s in ("train", "test")}},
                "counts": summarize(splits), "splits": splits, "provenance": provenance()}
    tmp = root / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    tmp.replace(root / "manifest.json")   # written last: a half-made corpus has no manifest
    return root


def describe(root) -> dict:
    """The manifest without its per-item records, plus the size on disk per split (bytes)."""
    root = Path(root)
    manifest = read_manifest(root)
    if manifest is None:
        raise FileNotFoundError(f"no corpus v3 manifest in {root}")
    sizes = {s: sum(p.stat().st_size for p in (root / s).rglob("*.wav")) for s in SPLITS if (root / s).is_dir()}
    plan = {**manifest["plan"], "speech_files": {s: len(v) for s, v in manifest["plan"]["speech_files"].items()}}
    return {"root": str(root), **{k: v for k, v in manifest.items() if k not in ("splits", "provenance", "plan")},
            "plan": plan, "bytes": sizes, "build_provenance": manifest["provenance"]}


def ensure_corpus(root=None, spec: CorpusV3Spec = CorpusV3Spec(), shared=None, workers: int = 2,
                  progress: bool = True) -> Path:
    """The corpus at `root` for `spec` and the shared data: reused if its manifest matches, else generated."""
    root = Path(root) if root is not None else default_dir()
    shared = Path(shared) if shared is not None else real.shared_root()
    if not _matches(read_manifest(root), spec, shared, root):
        generate_corpus(root, spec, shared, workers, progress)
    return root
