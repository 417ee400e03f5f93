"""Scores of the anchors (PESQ, STOI, SI-SDR, RTF) on the ARCTIC mixtures and the synthetic test set.

    python -m mbsnet.anchors.score --set arctic --out results/anchors_arctic.json
    python -m mbsnet.anchors.score --set synthetic --data DIR --out results/anchors_synthetic.json

Every system (the noisy input and each anchor) is scored against the clean reference with
mbsnet.metrics.score_pair, per file and in means (overall and per noise type), beside each anchor's
wheel, params, measured delay and real-time factor; stored with provenance (command, date, commit,
machine), so CI need not run the anchors to trust the numbers.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
from tqdm.auto import tqdm

from . import describe, load, names as anchor_names
from ..metrics import score_pair, summarize

RTF_SECONDS = 10.0
RTF_REPEATS = 3


def score_anchors(items, names=None, progress: bool = True, desc: str = "anchors") -> dict:
    """Score the noisy input and each anchor on `items` (records with id, clean, noisy, noise, snr_db).

    -> {"systems", "summary": {system: means}, "by_noise": {noise: {system: means}}, "rows": [...]}.
    """
    names = tuple(anchor_names() if names is None else names)
    loaded = {name: load(name) for name in names}
    systems = ("noisy",) + names
    rows = []
    for item in tqdm(items, desc=desc, disable=not progress):
        outputs = {"noisy": item["noisy"], **{n: a.enhance(item["noisy"]) for n, a in loaded.items()}}
        for system, est in outputs.items():
            rows.append({"id": item["id"], "noise": item["noise"], "snr_db": item["snr_db"],
                         "system": system, **score_pair(item["clean"], est)})
    summary = {s: summarize([r for r in rows if r["system"] == s]) for s in systems}
    by_noise = {n: {s: summarize([r for r in rows if r["system"] == s and r["noise"] == n]) for s in systems}
                for n in sorted({r["noise"] for r in rows})}
    return {"systems": list(systems), "summary": summary, "by_noise": by_noise, "rows": rows}


def rtf_clip(seconds: float = RTF_SECONDS) -> np.ndarray:
    """A `seconds`-long noisy clip (t,): the ARCTIC mixtures end to end, repeated as needed."""
    from ..corpus import arctic_mixtures

    audio = np.concatenate([r["noisy"] for r in arctic_mixtures()])
    return np.resize(audio, int(seconds * 16_000)).astype(np.float32)


def real_time_factor(anchor, clip: np.ndarray, repeats: int = RTF_REPEATS) -> dict:
    """Compute seconds per audio second of anchor.enhance(clip) (the whole call), median of `repeats`.

    The machine's load average is stored beside it: on a shared machine it says how far to trust it.
    """
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        anchor.enhance(clip)
        times.append(time.perf_counter() - t0)
    seconds = len(clip) / 16_000
    return {"rtf": statistics.median(times) / seconds, "clip_seconds": seconds,
            "runs_seconds": [round(t, 4) for t in times], "load_average_1min": load}


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


def arctic_items() -> list[dict]:
    """The ARCTIC mixtures of corpus.arctic_mixtures() (real speech, every noise type, test SNRs)."""
    from ..corpus import arctic_mixtures

    return arctic_mixtures()


def synthetic_test_items(root=None, n: int | None = None) -> list[dict]:
    """The synthetic corpus' test split as mbsnet.evaluate reads it (the first `n`)."""
    from ..evaluate import synthetic_items

    return synthetic_items(root, n)


def _table(summary: dict, systems) -> str:
    lines = [f"  {'system':15s} {'PESQ':>6s} {'STOI':>6s} {'SI-SDR':>8s}"]
    lines += [f"  {s:15s} {summary[s]['pesq']:6.3f} {summary[s]['stoi']:6.3f} {summary[s]['si_sdr']:8.2f}"
              for s in systems]
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse
    import sys

    import torch

    from ..provenance import save_result

    parser = argparse.ArgumentParser(prog="python -m mbsnet.anchors.score", description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("arctic", "synthetic"), default="arctic", help="test set")
    parser.add_argument("--data", default=None, help="synthetic corpus directory (default: data/synthetic)")
    parser.add_argument("--n-test", type=int, default=None, help="only the first N synthetic test items")
    parser.add_argument("--names", default=",".join(anchor_names()), help="comma-separated anchors")
    parser.add_argument("--out", default="", help="where to store the results JSON ('' = don't)")
    parser.add_argument("--no-rtf", action="store_true", help="skip the real-time-factor timing")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)

    torch.set_num_threads(1)  # one thread everywhere: the anchors run single-threaded too
    names = tuple(n for n in args.names.split(",") if n)
    t0 = time.monotonic()
    # The ARCTIC mixtures first: their babble is eSpeak speech, which depends on what the process
    # synthesized before; made first in a fresh process they equal the corpus' stored "arctic" split.
    if args.set == "arctic":
        items, source = arctic_items(), {"test_set": "arctic", "source": "mbsnet.corpus.arctic_mixtures()"}
    else:
        items = synthetic_test_items(args.data, args.n_test)
        from ..data import SyntheticPairs

        corpus = SyntheticPairs(args.data, "test")
        source = {"test_set": "synthetic", "source": "mbsnet.evaluate.synthetic_items (test split)",
                  "corpus": {"root": str(corpus.root), "spec": corpus.manifest["spec"]}}
    scores = score_anchors(items, names, progress=sys.stderr.isatty(), desc=args.set)
    table = anchor_table(names, rtf=not args.no_rtf)
    result = {**source, "n_items": len(items), "anchors": table, **scores,
              "seconds": round(time.monotonic() - t0, 1)}
    print(f"{args.set}: {len(items)} items")
    print(_table(scores["summary"], scores["systems"]))
    for name, info in table.items():
        print(f"  {name}: {info['params']:,} params, delay {info['delay_samples_16k']} samples at 16 kHz"
              + (f", RTF {info['rtf']:.3f}" if "rtf" in info else ""))
    if args.out:
        save_result(args.out, result, command=" ".join(["python -m mbsnet.anchors.score", *argv]))
        print(f"stored in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
