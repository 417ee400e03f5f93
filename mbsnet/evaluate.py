"""Evaluate a checkpoint: PESQ, STOI and SI-SDR on the synthetic test set and on real speech.

    python -m mbsnet evaluate [--checkpoint PATH] [--json] [--out results/evaluation_final.json]

Three systems are scored against the clean reference: the noisy input, the classical Wiener
baseline (mbsnet.baseline; its two knobs tuned on training pairs, never on test) and the model.
Two test sets: the synthetic corpus' test split (unseen sentences and voices, test SNRs) and the
shipped CMU ARCTIC utterances mixed with every noise type (real recorded speech).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mbsnet.wiener import tune_wiener, wiener_enhance
from mbsnet.checkpoint import CheckpointError, load_model, read_checkpoint
from mbsnet.results import REPO_ROOT
from mbsnet.metrics import METRICS, score_pair, summarize

SYSTEMS = ("noisy", "wiener", "model")
DEFAULT_OUT = REPO_ROOT / "results" / "evaluation_final.json"


def evaluate_systems(model, items, wiener_knobs: dict, desc: str, progress: bool = True) -> dict:
    """Score noisy / wiener / model on `items` (records with id, clean, noisy, noise, snr_db).

    -> {"summary": {system: means}, "by_noise": {noise: {system: means}}, "rows": [...]}.
    """
    from mbsnet.enhance import enhance_long

    rows = []
    for item in tqdm(items, desc=desc, disable=not progress):
        clean, noisy = item["clean"], item["noisy"]
        outputs = {"noisy": noisy,
                   "wiener": wiener_enhance(noisy, wiener_knobs["oversubtraction"], wiener_knobs["floor_db"]),
                   "model": enhance_long(model, noisy)}
        for system, est in outputs.items():
            rows.append({"id": item["id"], "noise": item["noise"], "snr_db": item["snr_db"],
                         "system": system, **score_pair(clean, est)})
    summary = {s: summarize([r for r in rows if r["system"] == s]) for s in SYSTEMS}
    noises = sorted({r["noise"] for r in rows})
    by_noise = {n: {s: summarize([r for r in rows if r["system"] == s and r["noise"] == n])
                    for s in SYSTEMS} for n in noises}
    return {"summary": summary, "by_noise": by_noise, "rows": rows}


def synthetic_items(root=None, n: int | None = None, split: str = "test") -> list[dict]:
    """Records {id, clean, noisy, noise, snr_db} of a corpus split (the first `n`)."""
    from mbsnet.data.datasets import SyntheticPairs

    ds = SyntheticPairs(root, split)
    count = len(ds) if n is None else min(n, len(ds))
    items = []
    for i in range(count):
        clean, noisy = ds[i]
        record = ds.records[i]
        items.append({"id": record["id"], "clean": clean, "noisy": noisy, "noise": record["noise"],
                      "snr_db": record["snr_db"]})
    return items


def run_evaluation(checkpoint=None, data_root=None, n_test: int | None = None, tune_n: int = 16,
                   progress: bool = True, n_arctic: int | None = None) -> dict:
    """Everything `evaluate` reports, as a dict (stored with provenance by the CLI)."""
    from mbsnet.data.datasets import SyntheticPairs
    from mbsnet.checkpoint import SHIPPED_CHECKPOINT

    path = Path(checkpoint) if checkpoint is not None else SHIPPED_CHECKPOINT
    state = read_checkpoint(path)
    model = load_model(path)
    t0 = time.monotonic()
    train = SyntheticPairs(data_root, "train")
    tuning_rng = np.random.default_rng(1234)
    tune_pairs = [train[int(i)] for i in tuning_rng.choice(len(train), min(tune_n, len(train)), replace=False)]
    knobs = tune_wiener(tune_pairs)
    synthetic = evaluate_systems(model, synthetic_items(data_root, n_test), knobs, "synthetic test", progress)
    arctic = evaluate_systems(model, synthetic_items(data_root, n_arctic, "arctic"), knobs, "ARCTIC mixtures",
                              progress)
    return {"checkpoint": str(path), "checkpoint_step": state.get("step"),
            "checkpoint_provenance": state.get("provenance"), "config": state["config"],
            "train_settings": state.get("train"),
            "corpus": {"root": str(train.root), "spec": train.manifest["spec"]},
            "wiener": {k: v for k, v in knobs.items()}, "synthetic": synthetic, "arctic": arctic,
            "seconds": round(time.monotonic() - t0, 1)}


def _table(name: str, summary: dict) -> str:
    lines = [f"{name}", f"  {'system':8s} {'PESQ':>6s} {'STOI':>6s} {'SI-SDR':>8s}"]
    for system in SYSTEMS:
        s = summary[system]
        lines.append(f"  {system:8s} {s['pesq']:6.3f} {s['stoi']:6.3f} {s['si_sdr']:8.2f}")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped final model)")
    parser.add_argument("--data", default=None, help="synthetic corpus directory (default: data/synthetic)")
    parser.add_argument("--n-test", type=int, default=None, help="use only the first N test utterances")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where to store the results JSON ('' = don't)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--n-arctic", type=int, default=None, help="use only the first N ARCTIC mixtures")
    parser.add_argument("--tune-n", type=int, default=16, help="training pairs used to tune the Wiener knobs")
    parser.add_argument("--threads", type=int, default=0)


def run(args) -> int:
    import torch

    from mbsnet.cli import print_json
    from mbsnet.results import save_result

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = run_evaluation(args.checkpoint, args.data, args.n_test, args.tune_n, progress=not args.json,
                                n_arctic=args.n_arctic)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        save_result(args.out, result)
    if args.json:
        print_json({k: {"summary": result[k]["summary"]} if k in ("synthetic", "arctic") else result[k]
                    for k in ("checkpoint", "checkpoint_step", "wiener", "synthetic", "arctic")})
    else:
        print(_table("synthetic test set", result["synthetic"]["summary"]))
        print(_table("real speech (CMU ARCTIC + noise)", result["arctic"]["summary"]))
        if args.out:
            print(f"stored in {args.out}")
    return 0
