"""The comparison `python -m mbsnet evaluate` prints: model, noisy input, Wiener and the anchors on each test set.

    run_comparison(checkpoint, anchors="stored", ...)   run_evaluation + the anchors + params and RTF
    real_test_root(path)                                 where the real-speech test set is (made if need be)
    stored_anchors(test_set, evaluated)                  the anchors' stored scores on the same files
    comparison_table(test_set, comparison)               one test set's table, as text

The model, the noisy input and the Wiener filter are always scored live (mbsnet.evaluate). The
anchors (GTCRN, DeepFilterNet3, RNNoise) either come from their stored results,
results/anchors_<test set>.json (`python -m mbsnet anchors --set ...`), used only when they were
scored on the same files: the same `items_sha` (ids and lengths, in order; for results stored
before it, the same ids in order) and, per file, the same noisy-input scores as the live run
(within NOISY_TOLERANCE, which allows for 16-bit storage); when the files evaluated are a part of
those stored (`--n-test`), the anchors' means over just those files, from the stored per-file rows; or
they are scored live, beside the model in the same loop (`anchors="live"`), which needs their
wheels. An anchor that cannot be shown (no stored result on these files, its wheel missing) is
reported as one line in `missing`, never as an error.

Parameters and real-time factors: every system's RTF is measured in this run, on one torch thread,
on the same 10 s clip (mbsnet.anchors.score.rtf_clip), so they share the machine's load; an anchor
whose wheel is missing here keeps the RTF of the run its stored scores come from.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from mbsnet import anchors as anchor_registry
from mbsnet.anchors.score import anchor_table, real_time_factor, rtf_clip
from mbsnet.checkpoint import SHIPPED_CHECKPOINT, load_model
from mbsnet.enhance import enhance_long, set_precision
from mbsnet.evaluate import run_evaluation
from mbsnet.metrics import summarize
from mbsnet.results import DATA_DIR, RESULTS_DIR
from mbsnet.wiener import wiener_enhance

TEST_SETS = ("synthetic", "arctic", "real", "voicebank", "validation", "clean")
LABELS = {"validation": "validation: the second half of corpus v3's test split (for choosing checkpoints)",
          "clean": "clean input: the validation set's clean signals (what a system does to speech without noise)",
          "synthetic": "the corpus' test split (voices, sentences and noise recordings held out from training)",
          "arctic": "real speech: CMU ARCTIC + generated noise",
          "real": "real speech: held-out LibriSpeech speakers + held-out noise recordings",
          "voicebank": "VoiceBank-DEMAND test pairs (real speech, real noise)"}
ANCHOR_MODES = ("stored", "live", "none")
NOISY_TOLERANCE = {"pesq": 0.02, "stoi": 0.002, "si_sdr": 0.02}
REAL_TEST_DIR = DATA_DIR / "real_test"   # corpus v3 with 1 train and 1 test item: its real split, ARCTIC


def real_test_root(path=None, build: bool = True, progress: bool = True) -> tuple[Path | None, str]:
    """(the corpus v3 folder whose real-speech split to evaluate, or None; a line saying which or why not).

    path: given (must hold a real split). Else the training corpus v3 (data/corpus_v3, or
    $MBSNET_CORPUS_V3) if it has a real split; else data/real_test, made with `build` when the
    shared recordings exist: a corpus v3 of 1 training and 1 test item, whose real split equals
    the full corpus' (each item is a function of the seed and its index), in about a minute.
    """
    from mbsnet.data import corpus_v3, real

    def has_real(root):
        manifest = corpus_v3.read_manifest(root)
        return bool(manifest and manifest.get("version") == corpus_v3.CORPUS_VERSION and manifest["splits"]["real"])

    if path is not None:
        return Path(path), f"real-speech test set: {path}"
    for root in (corpus_v3.default_dir(), REAL_TEST_DIR):
        if has_real(root):
            return root, f"real-speech test set: {root}"
    shared = real.shared_root()
    if not real.present_folders(shared) or not build:
        return None, (f"real-speech test set: skipped (no shared recordings under {shared}; set "
                      f"MBSNET_SHARED_DATA)" if build else "real-speech test set: skipped")
    print(f"real-speech test set: making it in {REAL_TEST_DIR} from {shared} (about a minute)", flush=True)
    corpus_v3.ensure_corpus(REAL_TEST_DIR, corpus_v3.CorpusV3Spec(n_train=1, n_test=1), shared, workers=1,
                            progress=progress)
    if not has_real(REAL_TEST_DIR):
        return None, f"real-speech test set: skipped ({shared} holds no LibriSpeech test speakers)"
    return REAL_TEST_DIR, f"real-speech test set: {REAL_TEST_DIR}"


class _System:
    """An object with `.enhance`, as real_time_factor times it."""

    def __init__(self, enhance):
        self.enhance = enhance


def measure_rtf(enhance, clip=None) -> dict:
    """real_time_factor of `enhance` on one torch thread (restored after) on the anchors' 10 s clip."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return real_time_factor(_System(enhance), rtf_clip() if clip is None else clip)
    finally:
        torch.set_num_threads(threads)


def stored_anchors(test_set: str, evaluated: dict, names=None, results_dir=None) -> tuple[dict, dict]:
    """The anchors' stored scores on the files `evaluated` (a run_evaluation test set) scored.

    Looks in results/anchors_<test set>.json, then results/anchors_<test set>_*.json (the same set
    of another corpus or size, e.g. anchors_synthetic_v3.json): the first file scored on exactly
    these files wins, else the first that holds them among more.
    -> ({name: {"summary", "params", "rtf", "source"}}, {name or "anchors": why not shown}).
    """
    names = tuple(anchor_registry.names() if names is None else names)
    folder = Path(results_dir or RESULTS_DIR)
    main = folder / f"anchors_{test_set}.json"
    candidates = [main] * main.exists() + sorted(folder.glob(f"anchors_{test_set}_*.json"))
    make = f"python -m mbsnet anchors --set {test_set} --out results/{main.name}"
    if not candidates:
        return {}, {"anchors": f"no stored anchor scores ({main.name}): run `{make}` or pass --anchors live"}
    usable, first_reason = [], None
    for path in candidates:
        stored = json.loads(path.read_text())
        exact, worst, reason = _same_files(stored, evaluated, path.name, make)
        if reason is None:
            usable.append((path, stored, exact, worst))
        first_reason = first_reason or reason
    if not usable:
        return {}, {"anchors": first_reason}
    path, stored, exact, worst = min(usable, key=lambda u: not u[2])      # stable: an exact match first
    return _anchor_scores(stored, evaluated, names, path.name, exact, worst, make)


def _same_files(stored: dict, evaluated: dict, name: str, make: str) -> tuple[bool, dict, str | None]:
    """(stored scored exactly these files, the noisy inputs' largest score differences, None), or
    (False, {}, why its files are not these)."""
    ids = [r["id"] for r in evaluated["rows"] if r["system"] == "noisy"]
    stored_ids = [r["id"] for r in stored["rows"] if r["system"] == "noisy"]
    exact = (stored["items_sha"] == evaluated["items_sha"] if "items_sha" in stored and "items_sha" in evaluated
             else stored_ids == ids)          # a result stored before items_sha: its ids, in order
    if not exact and not set(ids) <= set(stored_ids):
        return False, {}, (f"{name} scored other files (items_sha {stored.get('items_sha')}, {len(stored_ids)} "
                       f"items; here {evaluated.get('items_sha')}, {len(ids)}): rerun `{make}` or pass "
                       f"--anchors live")
    worst = _noisy_max_diff(stored, evaluated)
    off = [m for m in NOISY_TOLERANCE if worst[m] > NOISY_TOLERANCE[m]]
    if off:
        return False, {}, (f"{name}: same ids but other audio (noisy-input {off[0]} differs by up to "
                       f"{worst[off[0]]:.3g}): rerun `{make}` or pass --anchors live")
    return exact, worst, None


def _noisy_max_diff(stored: dict, evaluated: dict) -> dict:
    """{metric: the largest |stored - live| noisy-input score over the files both scored}."""
    live = {r["id"]: r for r in evaluated["rows"] if r["system"] == "noisy"}
    worst = {m: 0.0 for m in NOISY_TOLERANCE}
    for row in (r for r in stored["rows"] if r["system"] == "noisy" and r["id"] in live):
        for m in NOISY_TOLERANCE:
            if row.get(m) is not None and live[row["id"]].get(m) is not None:
                worst[m] = max(worst[m], abs(row[m] - live[row["id"]][m]))
    return worst


def _anchor_scores(stored: dict, evaluated: dict, names, name: str, exact: bool, worst: dict,
                   make: str) -> tuple[dict, dict]:
    live = {r["id"] for r in evaluated["rows"] if r["system"] == "noisy"}
    n_stored = sum(r["system"] == "noisy" for r in stored["rows"])
    when = stored["provenance"]["date"][:10], stored["provenance"]["git_commit"][:7]
    found, missing = {}, {}
    for anchor in names:
        if anchor not in stored.get("anchors", {}):
            missing[anchor] = f"{anchor}: not in {name} (run `{make}` with its wheel installed)"
            continue
        info = stored["anchors"][anchor]
        if exact:
            summary, source = stored["summary"][anchor], f"{name} ({when[0]}, {when[1]})"
        else:    # these files are a part of the stored ones: their means, from the stored per-file rows
            summary = summarize([r for r in stored["rows"] if r["system"] == anchor and r["id"] in live])
            source = f"{name} ({when[0]}, {when[1]}; {len(live)} of its {n_stored} files)"
        found[anchor] = {"summary": summary, "params": info["params"], "rtf": info.get("rtf"), "source": source,
                         "noisy_max_diff": worst}
    return found, missing


def load_live_anchors(names=None) -> tuple[dict, dict]:
    """({name: loaded anchor} of those whose wheels are installed, {name: the pip line} of the others)."""
    loaded, missing = {}, {}
    for name in (anchor_registry.names() if names is None else names):
        try:
            loaded[name] = anchor_registry.load(name)
        except anchor_registry.AnchorUnavailable as exc:
            missing[name] = f"{name}: not installed here, {exc}"
    return loaded, missing


def run_comparison(checkpoint=None, anchors: str = "stored", names=None, rtf: bool = True, results_dir=None,
                   **evaluation) -> dict:
    """run_evaluation (keyword arguments `evaluation`) plus, per test set, `comparison`: every system's
    means with its params and RTF, and the anchors that could not be shown (`missing`)."""
    if anchors not in ANCHOR_MODES:
        raise ValueError(f"anchors must be one of {ANCHOR_MODES}, got {anchors!r}")
    names = tuple(anchor_registry.names() if names is None else names)
    live, live_missing = load_live_anchors(names) if anchors == "live" else ({}, {})
    result = run_evaluation(checkpoint, extra_systems={n: a.enhance for n, a in live.items()}, **evaluation)
    model = set_precision(load_model(Path(checkpoint) if checkpoint is not None else SHIPPED_CHECKPOINT),
                          evaluation.get("precision", "fp32"))        # timed as it is scored
    knobs = result["wiener"]
    info = {"noisy": {"params": None, "rtf": None},
            "wiener": {"params": 0, "rtf": None}, "model": {"params": sum(p.numel() for p in model.parameters()),
                                                            "rtf": None}}
    if rtf:
        clip = rtf_clip()
        info["model"].update(measure_rtf(lambda x: enhance_long(model, x), clip))
        info["wiener"].update(measure_rtf(lambda x: wiener_enhance(x, knobs["oversubtraction"],
                                                                    knobs["floor_db"]), clip))
    live_info, timed = {}, {}
    here = tuple(live) if anchors == "live" else tuple(n for n in names if anchor_registry.available(n))
    if here and (live or rtf):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        timed = anchor_table(here, rtf=rtf)     # the anchors timed beside the model, under the same load
        torch.set_num_threads(threads)
        live_info = {n: timed[n] for n in live}
    result["systems"] = {**info, **timed}
    result["anchors_mode"] = anchors
    for test_set in (t for t in TEST_SETS if t in result):
        evaluated = result[test_set]
        systems = {s: {"summary": evaluated["summary"][s], "params": info[s]["params"], "rtf": info[s]["rtf"],
                       "source": "live"} for s in ("noisy", "wiener", "model")}
        if anchors == "stored":
            found, missing = stored_anchors(test_set, evaluated, names, results_dir)
            for n in set(found) & set(timed):
                if "rtf" in timed[n]:
                    found[n].update(rtf=timed[n]["rtf"], rtf_source="this run")
        else:
            found = {n: {"summary": evaluated["summary"][n], "params": live_info[n]["params"],
                         "rtf": live_info[n].get("rtf"), "source": "live"} for n in live}
            missing = dict(live_missing) if anchors == "live" else {}
        evaluated["comparison"] = {"systems": {**systems, **found}, "missing": missing}
    return result


def _params(n) -> str:
    if n is None:
        return "–"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else (f"{n / 1e3:.0f}K" if n >= 1e3 else str(n))


def comparison_table(test_set: str, evaluated: dict) -> str:
    """One test set's comparison as text: a line per system (means, params, RTF, where the scores come
    from), then a line per anchor that could not be shown."""
    cmp = evaluated["comparison"]
    lines = [f"{LABELS.get(test_set, test_set)}: {evaluated['n_items']} items (items_sha {evaluated['items_sha']})",
             f"  {'system':15s} {'PESQ':>6s} {'STOI':>6s} {'SI-SDR':>7s} {'params':>7s} {'RTF':>6s}  scores"]
    for name, s in cmp["systems"].items():
        m = s["summary"]
        rtf = "–" if s["rtf"] is None else f"{s['rtf']:.3f}"
        lines.append(f"  {name:15s} {m['pesq']:6.3f} {m['stoi']:6.3f} {m['si_sdr']:7.2f} {_params(s['params']):>7s} "
                     f"{rtf:>6s}  {s['source']}")
    lines += [f"  {line}" for line in cmp["missing"].values()]
    return "\n".join(lines)
