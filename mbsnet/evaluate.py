"""The evaluator: systems scored against the clean reference (PESQ, STOI, SI-SDR) on the same files.

    score_systems(items, {name: enhance})   one row per (item, system); the one loop every
                                            evaluation in the library runs
    evaluate_model(model, pairs)            a model beside the noisy input (training, the ladder)
    run_evaluation(checkpoint)              what `python -m mbsnet evaluate` reports

`run_evaluation` scores three systems: the noisy input, the classical Wiener baseline
(mbsnet.wiener; its two knobs tuned on training pairs, never on test) and the model, on the
synthetic corpus' test split (unseen sentences and voices, test SNRs) and the shipped CMU ARCTIC
utterances mixed with every noise type (real recorded speech); with a corpus v3 (`real_root`, or
`data_root` itself), its real-speech test set (held-out real speakers and real noise recordings,
`real_items`); with a VoiceBank-DEMAND folder, its test pairs (`voicebank_items`). On request
(`sets` naming "validation"), a corpus v3's validation set: the second half of its test split
(`validation_items`), for choosing between checkpoints without looking at the reported test sets,
which then use at most the first half (`n_test`); and ("clean") its clean signals as the input
(`clean_input_items`): what a system does to speech that needs no enhancement. Each test set's
result carries `items_sha` (mbsnet.evaluate.items_sha), which is how stored scores of other
systems (the anchors, mbsnet.comparison) are matched to the same files.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mbsnet.checkpoint import SHIPPED_CHECKPOINT, load_model, read_checkpoint
from mbsnet.data.datasets import CorpusV3Pairs, SyntheticPairs, VoiceBankDEMAND
from mbsnet.enhance import enhance_long, enhance_waveform, set_precision
from mbsnet.errors import InputError
from mbsnet.metrics import METRICS, score_pair, summarize
from mbsnet.results import RESULTS_DIR
from mbsnet.wiener import tune_wiener, wiener_enhance

SYSTEMS = ("noisy", "wiener", "model")
DEFAULT_OUT = RESULTS_DIR / "evaluation_final.json"


def items_sha(items) -> str:
    """A short fingerprint of a test set: sha256 over each item's id and length (16 hex digits).

    Two runs with the same fingerprint scored the same utterances, cut the same way, in the same
    order; that the files hold the same audio is checked apart, by the noisy input's scores.
    """
    text = "\n".join(f"{item['id']}:{len(item['noisy'])}" for item in items)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def score_systems(items, systems: dict, metrics=METRICS, desc: str = "evaluate",
                  progress: bool = True) -> list[dict]:
    """Score each system's output on each item against the item's clean reference.

    items: records with "clean" (s,) and "noisy" (s,); their other keys (e.g. id, noise,
    snr_db) label the rows. systems: {name: enhance(noisy (s,)) -> estimate (s,)}.
    -> one row per (item, system): the labels, "system" and score_pair's metrics.
    """
    rows = []
    for item in tqdm(list(items), desc=desc, disable=not progress, leave=False):
        labels = {k: v for k, v in item.items() if k not in ("clean", "noisy")}
        for name, enhance in systems.items():
            rows.append({**labels, "system": name,
                         **score_pair(item["clean"], enhance(item["noisy"]), metrics)})
    return rows


def summarize_by(rows: list[dict], key: str = "system", metrics=METRICS) -> dict:
    """{value of `key`: summarize(rows with that value)}, in order of first appearance."""
    values = list(dict.fromkeys(r[key] for r in rows))
    return {v: summarize([r for r in rows if r[key] == v], metrics) for v in values}


def evaluate_model(model, pairs, metrics=("si_sdr", "pesq"), progress: bool = False) -> dict:
    """Enhance each (clean, noisy) pair and score it against the noisy input.

    pairs: sequence of (clean (s,), noisy (s,)) at 16 kHz. Returns means over pairs of each metric
    for the enhanced output and the noisy input, and their difference ("<metric>_improvement").
    """
    was_training = model.training
    model.eval()
    items = [{"clean": clean, "noisy": noisy} for clean, noisy in pairs]
    systems = {"model": lambda x: enhance_waveform(model, x).numpy(), "noisy": lambda x: x}
    summary = summarize_by(score_systems(items, systems, metrics, progress=progress), metrics=metrics)
    model.train(was_training)
    out, base = summary["model"], summary["noisy"]
    result = {"n": out["n"]}
    for m in metrics:
        result[m], result[f"{m}_noisy"] = out[m], base[m]
        result[f"{m}_improvement"] = out[m] - base[m]
    return result


def evaluate_systems(model, items, wiener_knobs: dict, desc: str, progress: bool = True,
                     extra_systems: dict | None = None) -> dict:
    """Score noisy / wiener / model (and `extra_systems`, {name: enhance}, e.g. the anchors) on `items`
    (records with id, clean, noisy, noise, snr_db), in one loop.

    -> {"n_items", "items_sha", "summary": {system: means}, "by_noise": {noise: {system: means}}, "rows"}.
    """
    systems = {"noisy": lambda x: x,
               "wiener": lambda x: wiener_enhance(x, wiener_knobs["oversubtraction"], wiener_knobs["floor_db"]),
               "model": lambda x: enhance_long(model, x), **(extra_systems or {})}
    rows = score_systems(items, systems, desc=desc, progress=progress)
    by_noise = {n: summarize_by([r for r in rows if r["noise"] == n])
                for n in sorted({r["noise"] for r in rows})}
    return {"n_items": len(items), "items_sha": items_sha(items), "summary": summarize_by(rows),
            "by_noise": by_noise, "rows": rows}


def synthetic_items(root=None, n: int | None = None, split: str = "test", start: int = 0) -> list[dict]:
    """Records {id, clean, noisy, noise, snr_db} of a corpus split (the first `n` from item `start`);
    corpus v3's also carry speech_source (eSpeak or LibriSpeech), so scores can be split by the kind of voice."""
    ds = SyntheticPairs(root, split)
    count = len(ds) if n is None else min(start + n, len(ds))
    items = []
    for i in range(start, count):
        clean, noisy = ds[i]
        record = ds.records[i]
        items.append({"id": record["id"], "clean": clean, "noisy": noisy, "noise": record["noise"],
                      "snr_db": record["snr_db"],
                      **({"speech_source": record["speech_source"]} if "speech_source" in record else {})})
    return items


def validation_items(root=None) -> list[dict]:
    """Records as synthetic_items' of corpus v3's validation set: the second half of its test split
    (items len//2 .. len-1; held-out voices and noise recordings, disjoint files from the first half).
    InputError (one line) for a corpus that is not v3."""
    ds = SyntheticPairs(root, "test")
    if ds.manifest.get("version") != 3:
        raise InputError(f"the validation set is the second half of a corpus v3's test split; {ds.root} holds "
                         f"corpus version {ds.manifest.get('version')} (pass --data data/corpus_v3)")
    return synthetic_items(root, start=validation_start(len(ds)))


def clean_input_items(items) -> list[dict]:
    """The records `items` with their clean signal as the input (noise "none", no SNR): scores then
    measure how much a system distorts speech that needs no enhancement (the "noisy" system is the
    reference itself: PESQ's ceiling, SI-SDR limited only by its eps)."""
    return [{**it, "id": f"{it['id']}-clean", "noisy": it["clean"], "noise": "none", "snr_db": None}
            for it in items]


def validation_start(n_test_split: int) -> int:
    """Index of the first validation item in a corpus v3 test split of `n_test_split` items."""
    return n_test_split // 2


def real_items(root=None, n: int | None = None) -> list[dict]:
    """Records {id, clean, noisy, noise, snr_db, speech_source, speaker} of corpus v3's real-speech
    test set (the first `n`); FileNotFoundError (one line) when it was built without the shared data."""
    ds = CorpusV3Pairs(root, "real")
    items = []
    for i in range(len(ds) if n is None else min(n, len(ds))):
        clean, noisy = ds[i]
        r = ds.records[i]
        items.append({"id": r["id"], "clean": clean, "noisy": noisy, "noise": r["noise"], "snr_db": r["snr_db"],
                      "speech_source": r["speech_source"], "speaker": r["speaker"]})
    return items


def voicebank_items(root, n: int | None = None) -> list[dict]:
    """Records {id, clean, noisy, noise="voicebank", snr_db=None} of VoiceBank-DEMAND's test pairs
    (sorted by name, the first `n`), resampled to 16 kHz."""
    ds = VoiceBankDEMAND(root, "test")
    items = []
    for i in range(len(ds) if n is None else min(n, len(ds))):
        clean, noisy = ds[i]
        items.append({"id": Path(ds.names[i]).stem, "clean": clean, "noisy": noisy, "noise": "voicebank",
                      "snr_db": None})
    return items


def tuned_wiener_knobs(data_root=None, tune_n: int = 16) -> dict:
    """The Wiener filter's knobs tuned on `tune_n` training pairs of the corpus, drawn by a fixed
    seed (the same pairs in every evaluation of a corpus): mbsnet.wiener.tune_wiener's result."""
    train = SyntheticPairs(data_root, "train")
    tuning_rng = np.random.default_rng(1234)
    return tune_wiener([train[int(i)] for i in tuning_rng.choice(len(train), min(tune_n, len(train)),
                                                                 replace=False)])


def run_evaluation(checkpoint=None, data_root=None, n_test: int | None = None, tune_n: int = 16,
                   progress: bool = True, n_arctic: int | None = None, real_root=None,
                   voicebank=None, n_voicebank: int | None = None, extra_systems: dict | None = None,
                   sets=("synthetic", "arctic", "real", "voicebank"), precision: str = "fp32") -> dict:
    """Everything `evaluate` reports, as a dict (stored with provenance by the CLI).

    real_root: a corpus v3 whose real-speech split to score (default: `data_root` when that is a
    corpus v3 with one); voicebank: a VoiceBank-DEMAND folder whose test pairs to score (the first
    `n_voicebank`). extra_systems: {name: enhance} scored beside them on every test set. sets: the
    test sets to score (of those available; the Wiener knobs are tuned whichever are scored);
    "validation" and "clean" (never by default; the validation set, and its clean signals as input)
    need the synthetic test, if scored too, to stop at its first half. precision: the model's inference
    precision (mbsnet.enhance.set_precision).
    """
    path = Path(checkpoint) if checkpoint is not None else SHIPPED_CHECKPOINT
    if "validation" in sets or "clean" in sets:
        start = validation_start(len(SyntheticPairs(data_root, "test")))
        if "synthetic" in sets and (n_test is None or n_test > start):
            raise InputError(f"the validation set is items {start}.. of the test split: score the synthetic test "
                             f"set with --n-test {start} or less beside it, or leave it out (--sets)")
        validation = validation_items(data_root)
    state = read_checkpoint(path)
    model = set_precision(load_model(path), precision)
    t0 = time.monotonic()
    train = SyntheticPairs(data_root, "train")
    knobs = tuned_wiener_knobs(data_root, tune_n)
    extra = extra_systems or {}
    result = {}
    if "synthetic" in sets:
        result["synthetic"] = evaluate_systems(model, synthetic_items(data_root, n_test), knobs, "synthetic test",
                                               progress, extra)
    if "arctic" in sets:
        result["arctic"] = evaluate_systems(model, synthetic_items(data_root, n_arctic, "arctic"), knobs,
                                            "ARCTIC mixtures", progress, extra)
    if "validation" in sets:
        result["validation"] = evaluate_systems(model, validation, knobs, "validation", progress, extra)
    if "clean" in sets:
        result["clean"] = evaluate_systems(model, clean_input_items(validation), knobs, "clean input", progress,
                                           extra)
    if real_root is None and train.manifest.get("version") == 3 and train.manifest["splits"].get("real"):
        real_root = train.root
    if real_root is not None and "real" in sets:
        result["real"] = evaluate_systems(model, real_items(real_root, n_test), knobs, "real-speech test", progress,
                                          extra)
        result["real"]["corpus"] = {"root": str(real_root), "spec": CorpusV3Pairs(real_root, "real").manifest["spec"]}
    if voicebank is not None and "voicebank" in sets:
        result["voicebank"] = evaluate_systems(model, voicebank_items(voicebank, n_voicebank), knobs,
                                               "VoiceBank-DEMAND test", progress, extra)
        result["voicebank"]["root"] = str(voicebank)
    return {"checkpoint": str(path), "checkpoint_step": state.get("step"),
            "checkpoint_provenance": state.get("provenance"), "config": state["config"],
            "train_settings": state.get("train"),
            "corpus": {"root": str(train.root), "spec": train.manifest["spec"]},
            "wiener": {k: v for k, v in knobs.items()}, **result,
            "seconds": round(time.monotonic() - t0, 1)}


def summary_table(name: str, summary: dict) -> str:
    """A text table of one test set's means: one line per system."""
    lines = [f"{name}", f"  {'system':8s} {'PESQ':>6s} {'STOI':>6s} {'SI-SDR':>8s}"]
    for system, s in summary.items():
        lines.append(f"  {system:8s} {s['pesq']:6.3f} {s['stoi']:6.3f} {s['si_sdr']:8.2f}")
    return "\n".join(lines)
