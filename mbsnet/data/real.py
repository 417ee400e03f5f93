"""The shared real recordings (../shared/data): where they are, their manifests and licenses, filtering, train/test plans, loading.

The recordings are read in place from $MBSNET_SHARED_DATA, by default `REPO_ROOT.parent / "shared" /
"data"` (see its SOURCES.md); nothing is copied into the repository. Every folder is optional: a
folder counts as present when its manifest.csv exists, and `missing_line` says in one line what is
not there. Paths in plans and manifests are relative to that root ("speech/<source>/<file>").

Splits (`speech_plan`, `noise_plan`):
  LibriSpeech train-clean-100   one utterance per speaker; `test_fraction` of the speakers of each
                                sex held out for test (from the seed), the rest train
  LibriSpeech test-other        all 10 speakers test
  Picovoice (both)              train only: no speaker ids are published, so no split of them
                                could be speaker-disjoint
  noise recordings              whole recordings held out for test: HELD_OUT_NOISES (four kinds)
Clips too noisy to be clean targets (manifest est_snr_db < min_snr_db) or clipped
(clip_frac > max_clip_frac) are dropped; long runs of digital silence are shortened on loading.
"""
from __future__ import annotations

import csv
import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from mbsnet.data.audio import load_wav
from mbsnet.results import REPO_ROOT

SAMPLE_RATE = 16_000
LIBRI_TRAIN, LIBRI_TEST = "librispeech_train-clean-100", "librispeech_test-other"
PICO_INTENT, PICO_WAKE = "picovoice_speech-to-intent", "picovoice_wake-word"
_LIBRI_LICENSE = "CC BY 4.0 (LibriSpeech (c) 2014 by Vassil Panayotov; LICENSE.TXT)"
_PICO_LICENSE = "Apache-2.0 (LICENSE_Apache-2.0.txt)"
SPEECH_SOURCES = {   # name -> folder under the shared root, license (SOURCES.md), split policy
    LIBRI_TRAIN: {"folder": f"speech/{LIBRI_TRAIN}", "license": _LIBRI_LICENSE,
                  "split": "by speaker id (file SPK-CHAPTER-UTT): test_fraction of each sex held out for test"},
    LIBRI_TEST: {"folder": f"speech/{LIBRI_TEST}", "license": _LIBRI_LICENSE,
                 "split": "test only (its 10 speakers are LibriSpeech test speakers)"},
    PICO_INTENT: {"folder": f"speech/{PICO_INTENT}", "license": _PICO_LICENSE,
                  "split": "train only: no speaker ids, so no speaker-disjoint split is possible"},
    PICO_WAKE: {"folder": f"speech/{PICO_WAKE}", "license": _PICO_LICENSE,
                "split": "train only: no speaker ids, so no speaker-disjoint split is possible"},
}
NOISE_FOLDERS = ("noise/blanket", "noise/speech_commands_bg")
_CC_BY_SC = "CC BY 4.0 (Speech Commands, P. Warden 2018; LICENSE.md)"
NOISE_LICENSES = {   # file -> license (noise/blanket/LICENSE.md, noise/speech_commands_bg/LICENSE.md)
    "noise/blanket/birds.flac": "CC0 1.0 (kvgarlic, freesound 156826)",
    "noise/blanket/boat.flac": "CC0 1.0 (Falcet, freesound 439365)",
    "noise/blanket/city.flac": "CC BY (gezortenplotz, freesound 44796)",
    "noise/blanket/coffee-shop.flac": "Public Domain (stephan, soundbible 1664)",
    "noise/blanket/fireplace.flac": "Public Domain (ezwa, soundbible 1543)",
    "noise/blanket/rain.flac": "CC BY (alex36917, freesound 524605)",
    "noise/blanket/storm.flac": "CC BY (Digifish music, freesound 41739)",
    "noise/blanket/summer-night.flac": "Public Domain (Lisa Redfern, soundbible 2083)",
    "noise/blanket/train.flac": "CC BY 3.0 (SDLx, freesound 259988)",
    "noise/blanket/waves.flac": "CC BY (Luftrum, freesound 48412)",
    "noise/blanket/wind.flac": "CC0 1.0 (felix.blume, freesound 217506)",
    **{f"noise/speech_commands_bg/{n}.flac": _CC_BY_SC
       for n in ("doing_the_dishes", "dude_miaowing", "exercise_bike", "running_tap")},
}
# Held out for test, whole recordings of four different kinds: cafe babble + clatter, broadband
# rain, tonal insects at night, household running water. The other 11 (610 s) are train noise.
HELD_OUT_NOISES = ("noise/blanket/coffee-shop.flac", "noise/blanket/rain.flac",
                   "noise/blanket/summer-night.flac", "noise/speech_commands_bg/running_tap.flac")
FOLDERS = tuple(s["folder"] for s in SPEECH_SOURCES.values()) + NOISE_FOLDERS
_DIGITAL_ZERO = 1.5 / 32768   # |x| at or below one 16-bit step counts as digital silence


def shared_root() -> Path:
    """$MBSNET_SHARED_DATA if set, else ../shared/data beside the repository."""
    return Path(os.environ.get("MBSNET_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def present_folders(root) -> list[str]:
    """The folders of FOLDERS that have a manifest.csv under `root`."""
    return [f for f in FOLDERS if (Path(root) / f / "manifest.csv").is_file()]


def missing_line(root, missing) -> str:
    """The one line said when shared recordings are missing."""
    if not missing:
        return ""
    what = ("all of them" if len(missing) == len(FOLDERS) else ", ".join(missing))
    instead = [s for s, kind in (("eSpeak speech", "speech/"), ("generated noise", "noise/"))
               if any(f.startswith(kind) for f in missing)]
    no_real = not any(f.startswith("speech/libri") for f in present_folders(root))
    return (f"corpus v3: shared recordings missing under {root} ({what}; set MBSNET_SHARED_DATA): "
            f"{' and '.join(instead)} in their place" + (", and no real-speech test split" if no_real else ""))


def fingerprint(root) -> dict:
    """{folder: sha256 prefix of its manifest.csv} of the present folders (what a cache must match)."""
    root = Path(root)
    return {f: hashlib.sha256((root / f / "manifest.csv").read_bytes()).hexdigest()[:16]
            for f in present_folders(root)}


def read_rows(root, folder: str) -> list[dict]:
    """The folder's manifest.csv as dicts; `path` is the file relative to the shared root."""
    with open(Path(root) / folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["path"] = f"{folder}/{r['file']}"
        for key in ("seconds", "rms_dbfs", "est_snr_db", "orig_peak", "clip_frac"):
            r[key] = float(r[key])
    return rows


def speaker_sex(root) -> dict:
    """LibriSpeech reader id -> 'M'/'F' from SPEAKERS.TXT (empty when absent)."""
    path = Path(root) / SPEECH_SOURCES[LIBRI_TRAIN]["folder"] / "SPEAKERS.TXT"
    if not path.is_file():
        return {}
    sexes = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = [p.strip() for p in line.split("|")]
        if not line.startswith(";") and len(parts) >= 2:
            sexes[parts[0]] = parts[1]
    return sexes


def speech_plan(root, seed: int, test_fraction: float = 0.2, min_snr_db: float = 20.0,
                max_clip_frac: float = 1e-3) -> dict:
    """Utterances per split from the present speech folders, disjoint in speakers and files.

    -> {"train": [utt], "test": [utt], "dropped": {source: {"noisy": n, "clipped": n}},
        "held_out_speakers": [...]}; utt = {"source", "path", "speaker" (None for Picovoice),
        "seconds"}.
    """
    root = Path(root)
    present = set(present_folders(root))
    plan = {"train": [], "test": [], "dropped": {}, "held_out_speakers": []}
    kept = {}
    for name, source in SPEECH_SOURCES.items():
        if source["folder"] not in present:
            continue
        rows = read_rows(root, source["folder"])
        noisy = [r for r in rows if r["est_snr_db"] < min_snr_db]
        clipped = [r for r in rows if r["est_snr_db"] >= min_snr_db and r["clip_frac"] > max_clip_frac]
        plan["dropped"][name] = {"noisy": len(noisy), "clipped": len(clipped), "of": len(rows)}
        libri = name.startswith("librispeech")
        kept[name] = [{"source": name, "path": r["path"], "seconds": r["seconds"],
                       "speaker": Path(r["file"]).name.split("-")[0] if libri else None}
                      for r in rows if r["est_snr_db"] >= min_snr_db and r["clip_frac"] <= max_clip_frac]
    held = set()
    if LIBRI_TRAIN in kept:
        sexes = speaker_sex(root)
        rng = np.random.default_rng([seed, 11])
        speakers = sorted({u["speaker"] for u in kept[LIBRI_TRAIN]}, key=int)
        for sex in sorted({sexes.get(s, "?") for s in speakers}):
            group = [s for s in speakers if sexes.get(s, "?") == sex]
            order = rng.permutation(len(group))
            held |= {group[i] for i in order[:int(round(test_fraction * len(group)))]}
        for u in kept[LIBRI_TRAIN]:
            plan["test" if u["speaker"] in held else "train"].append(u)
    plan["test"] += kept.get(LIBRI_TEST, [])
    plan["train"] += kept.get(PICO_INTENT, []) + kept.get(PICO_WAKE, [])
    plan["held_out_speakers"] = sorted(held | {u["speaker"] for u in kept.get(LIBRI_TEST, [])}, key=int)
    return plan


def noise_plan(root) -> dict:
    """Noise recordings per split: HELD_OUT_NOISES test, the rest train (present folders only).

    -> {"train": [rec], "test": [rec]}; rec = {"path", "seconds", "license"}.
    """
    plan = {"train": [], "test": []}
    for folder in NOISE_FOLDERS:
        if folder not in present_folders(root):
            continue
        for r in read_rows(root, folder):
            split = "test" if r["path"] in HELD_OUT_NOISES else "train"
            plan[split].append({"path": r["path"], "seconds": r["seconds"],
                                "license": NOISE_LICENSES.get(r["path"], "see the folder's LICENSE.md")})
    return plan


def trim_digital_silence(x: np.ndarray, max_gap_s: float = 0.25, edge_s: float = 0.05,
                         sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Shorten runs of digital silence (|x| <= one 16-bit step): to `edge_s` at the ends and
    to `max_gap_s` inside. -> float32 (s',)."""
    quiet = np.abs(x) <= _DIGITAL_ZERO
    if not quiet.any():
        return np.asarray(x, np.float32)
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = np.ones(len(x), bool)
    for s, e in zip(starts, ends):
        limit = int((edge_s if s == 0 or e == len(x) else max_gap_s) * sample_rate)
        if e - s <= limit:
            continue
        if s == 0:
            keep[:e - limit] = False        # keep the `limit` samples just before the sound
        else:
            keep[s + limit:e] = False       # keep the `limit` samples just after it
    return np.asarray(x[keep], np.float32)


@lru_cache(maxsize=64)
def load_recording(root, rel: str, trim: bool = True) -> np.ndarray:
    """A shared recording at 16 kHz, digital silence trimmed (read-only float32; cached)."""
    audio = load_wav(Path(root) / rel, SAMPLE_RATE)[0]
    if trim:
        audio = trim_digital_silence(audio)
    audio.setflags(write=False)
    return audio


def source_table(root, speech: dict, noises: dict) -> dict:
    """What the manifest says about every source: folder, license, policy, files kept per split."""
    table = {}
    for name, source in SPEECH_SOURCES.items():
        if name in speech["dropped"]:
            per = {s: sum(u["source"] == name for u in speech[s]) for s in ("train", "test")}
            table[name] = {**source, "files": speech["dropped"][name]["of"],
                           "dropped": {k: v for k, v in speech["dropped"][name].items() if k != "of"},
                           "files_per_split": per}
    for folder in NOISE_FOLDERS:
        if folder in present_folders(root):
            table[folder.split("/")[1]] = {
                "folder": folder, "license": {r["path"].split("/")[-1]: r["license"] for s in ("train", "test")
                                              for r in noises[s] if r["path"].startswith(folder)},
                "split": "whole recordings: " + ", ".join(p for p in HELD_OUT_NOISES if p.startswith(folder))
                         + " held out for test, the others train",
                "files_per_split": {s: sum(r["path"].startswith(folder) for r in noises[s])
                                    for s in ("train", "test")}}
    return table
