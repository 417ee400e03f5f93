"""Scores of the anchors (PESQ, STOI, SI-SDR, RTF) on each test set: ARCTIC, synthetic, real speech, VoiceBank.

    python -m mbsnet anchors --set arctic --out results/anchors_arctic.json
    python -m mbsnet anchors --set synthetic --data DIR --out results/anchors_synthetic.json
    python -m mbsnet anchors --set real --data CORPUS_V3 --out results/anchors_real.json
    python -m mbsnet anchors --set voicebank --data VOICEBANK_DEMAND --out results/anchors_voicebank.json

Every system (the noisy input and each anchor) is scored against the clean reference by
mbsnet.evaluate.score_systems (the library's one evaluation loop), per file and in means (overall
and per noise type), beside each anchor's wheel, params, measured delay and real-time factor;
stored with provenance (command, date, commit, machine) by the CLI, so CI need not run the anchors
to trust the numbers. Each result carries the test set's `items_sha` (mbsnet.evaluate.items_sha):
`python -m mbsnet evaluate` uses stored scores only for the same files (mbsnet.comparison).
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np

from mbsnet.anchors import describe, load, names as anchor_names
from mbsnet.anchors.waveform import SAMPLE_RATE
from mbsnet.data.corpus import arctic_mixtures
from mbsnet.data.datasets import CorpusV3Pairs, SyntheticPairs
from mbsnet.evaluate import items_sha, real_items, score_systems, summarize_by, synthetic_items, voicebank_items
from mbsnet.metrics import summarize

RTF_SECONDS = 10.0
RTF_REPEATS = 3
TEST_SETS = ("arctic", "synthetic", "real", "voicebank")


def score_anchors(items, names=None, progress: bool = True, desc: str = "anchors") -> dict:
    """Score the noisy input and each anchor on `items` (records with id, clean, noisy, noise, snr_db).

    -> {"systems", "summary": {system: means}, "by_noise": {noise: {system: means}}, "rows": [...]}.
    """
    names = tuple(anchor_names() if names is None else names)
    loaded = {name: load(name) for name in names}
    systems = {"noisy": lambda x: x, **{name: anchor.enhance for name, anchor in loaded.items()}}
    rows = score_systems(items, systems, desc=desc, progress=progress)

    def means(subset):
        found = summarize_by(subset)
        return {s: found[s] if s in found else summarize([]) for s in systems}

    by_noise = {n: means([r for r in rows if r["noise"] == n]) for n in sorted({r["noise"] for r in rows})}
    return {"systems": list(systems), "summary": means(rows), "by_noise": by_noise, "rows": rows}


def rtf_clip(seconds: float = RTF_SECONDS) -> np.ndarray:
    """A `seconds`-long noisy clip (t,): the ARCTIC mixtures end to end, repeated as needed."""
    audio = np.concatenate([r["noisy"] for r in arctic_mixtures()])
    return np.resize(audio, int(seconds * SAMPLE_RATE)).astype(np.float32)


def real_time_factor(anchor, clip: np.ndarray, repeats: int = RTF_REPEATS) -> dict:
    """Compute seconds per audio second of anchor.enhance(clip) (the whole call), median of `repeats`.

    The machine's load average is stored beside it: on a shared machine it says how far to trust it.
    """
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        anchor.enhance(clip)
        times.append(time.perf_counter() - t0)
    seconds = len(clip) / SAMPLE_RATE
    return {"rtf": statistics.median(times) / seconds, "clip_seconds": seconds,
            "runs_seconds": [round(t, 4) for t in times], "load_average_1min": load_average}


def anchor_table(names=None, rtf: bool = True) -> dict:
    """{name: describe(anchor) + real-time factor on a 10 s clip}."""
    names = tuple(anchor_names() if names is None else names)
    clip = rtf_clip() if rtf else None
    table = {}
    for name in names:
        anchor = load(name)
        table[name] = describe(anchor)
        if rtf:
            table[name].update(real_time_factor(anchor, clip))
    return table


def items_for(test_set: str, data_root=None, n: int | None = None) -> tuple[list[dict], dict]:
    """(items, where they come from) of "arctic" (the ARCTIC mixtures: real speech, every noise type,
    test SNRs), "synthetic" (the corpus' test split as mbsnet.evaluate reads it), "real" (corpus v3's
    real-speech test set at `data_root`) or "voicebank" (VoiceBank-DEMAND's test pairs at `data_root`);
    the first `n`."""
    if test_set == "arctic":
        items = arctic_mixtures()
        return items[:n] if n is not None else items, {"test_set": "arctic",
                                                       "source": "mbsnet.data.corpus.arctic_mixtures()"}
    if test_set == "synthetic":
        corpus = SyntheticPairs(data_root, "test")
        return synthetic_items(data_root, n), {"test_set": "synthetic",
                                               "source": "mbsnet.evaluate.synthetic_items (test split)",
                                               "corpus": {"root": str(corpus.root), "spec": corpus.manifest["spec"]}}
    if test_set == "real":
        corpus = CorpusV3Pairs(data_root, "real")
        return real_items(data_root, n), {"test_set": "real", "source": "mbsnet.evaluate.real_items",
                                          "corpus": {"root": str(corpus.root), "spec": corpus.manifest["spec"]}}
    if test_set == "voicebank":
        return voicebank_items(data_root, n), {"test_set": "voicebank", "source": "mbsnet.evaluate.voicebank_items",
                                               "root": str(data_root)}
    raise ValueError(f"test set must be one of {', '.join(TEST_SETS)}, got {test_set!r}")


def run_anchors(test_set: str = "arctic", data_root=None, n: int | None = None, names=None,
                rtf: bool = True, progress: bool = True) -> dict:
    """Everything `python -m mbsnet anchors` reports, as a dict (stored with provenance by the CLI)."""
    names = tuple(anchor_names() if names is None else names)
    t0 = time.monotonic()
    # The ARCTIC mixtures first: their babble is eSpeak speech, which depends on what the process
    # synthesized before; made first in a fresh process they equal the corpus' stored "arctic" split.
    items, source = items_for(test_set, data_root, n)
    scores = score_anchors(items, names, progress=progress, desc=test_set)
    table = anchor_table(names, rtf=rtf)
    return {**source, "n_items": len(items), "items_sha": items_sha(items), "anchors": table, **scores,
            "seconds": round(time.monotonic() - t0, 1)}


def report(result: dict) -> str:
    """The text summary of a run_anchors result: one line per system, then one per anchor."""
    summary = result["summary"]
    lines = [f"{result['test_set']}: {result['n_items']} items",
             f"  {'system':15s} {'PESQ':>6s} {'STOI':>6s} {'SI-SDR':>8s}"]
    lines += [f"  {s:15s} {summary[s]['pesq']:6.3f} {summary[s]['stoi']:6.3f} {summary[s]['si_sdr']:8.2f}"
              for s in result["systems"]]
    for name, info in result["anchors"].items():
        lines.append(f"  {name}: {info['params']:,} params, delay {info['delay_samples_16k']} samples at 16 kHz"
                     + (f", RTF {info['rtf']:.3f}" if "rtf" in info else ""))
    return "\n".join(lines)
