"""`python -m mbsnet data`: generate a speech corpus, v2 (eSpeak + generated noise) or v3 (+ real recordings, augmentation)."""
from __future__ import annotations

from mbsnet.cli.checks import check_output_dir, check_output_file, non_negative_int, positive_float, positive_int


def add_arguments(parser) -> None:
    parser.add_argument("--version", type=int, choices=(2, 3), default=2,
                        help="2: eSpeak + generated noise (data/synthetic); 3: + real speech and noise "
                             "recordings, rooms/EQ/level augmentation, a real-speech test split (data/corpus_v3)")
    parser.add_argument("--out", default=None,
                        help="corpus directory (default: $MBSNET_DATA or data/synthetic; "
                             "v3: $MBSNET_CORPUS_V3 or data/corpus_v3)")
    parser.add_argument("--n-train", type=positive_int, default=None, help="training items (default: the spec's)")
    parser.add_argument("--n-test", type=positive_int, default=None, help="test items (default: the spec's)")
    parser.add_argument("--seed", type=non_negative_int, default=None, help="corpus seed (default: the spec's)")
    parser.add_argument("--n-real", type=positive_int, default=None, help="v3: real-speech test mixtures (default 150)")
    parser.add_argument("--max-seconds", type=positive_float, default=None, help="v3: longest item in seconds (default 6)")
    parser.add_argument("--shared-data", default=None, metavar="DIR",
                        help="v3: the real recordings (default: $MBSNET_SHARED_DATA or ../shared/data); "
                             "without them v3 uses eSpeak + generated noise and has no real split")
    parser.add_argument("--workers", type=positive_int, default=2, help="v3: processes, one split each (default 2)")
    parser.add_argument("--force", action="store_true", help="regenerate even if a matching corpus exists")
    parser.add_argument("--describe", default=None, metavar="JSON",
                        help="v3: store the corpus description (counts, sources, licenses, sizes, build time) "
                             "and the noisy input's PESQ/STOI/SI-SDR on the real-speech test split there")


def run(args) -> int:
    if args.version == 3:
        return _run_v3(args)
    from mbsnet.data.corpus import CorpusSpec, default_dir, ensure_corpus, generate_corpus, read_manifest

    check_output_dir(args.out or default_dir())
    given = {"n_train": args.n_train, "n_test": args.n_test, "seed": args.seed}
    spec = CorpusSpec(**{k: v for k, v in given.items() if v is not None})
    root = generate_corpus(args.out, spec) if args.force else ensure_corpus(args.out, spec)
    manifest = read_manifest(root)
    seconds = {s: sum(r["seconds"] for r in manifest["splits"][s]) for s in ("train", "test")}
    print(f"corpus at {root}: {len(manifest['splits']['train'])} train ({seconds['train'] / 60:.1f} min), "
          f"{len(manifest['splits']['test'])} test ({seconds['test'] / 60:.1f} min) utterances; "
          f"voices train/test {len(manifest['voices']['train'])}/{len(manifest['voices']['test'])}")
    return 0


def _run_v3(args) -> int:
    import time

    from mbsnet.data.corpus_v3 import CorpusV3Spec, default_dir, ensure_corpus, generate_corpus, read_manifest

    check_output_dir(args.out or default_dir())
    if args.describe:
        check_output_file(args.describe, "--describe")
    given = {"n_train": args.n_train, "n_test": args.n_test, "seed": args.seed, "n_real": args.n_real,
             "max_seconds": args.max_seconds}
    spec = CorpusV3Spec(**{k: v for k, v in given.items() if v is not None})
    t0, wall = time.monotonic(), time.time()
    make = generate_corpus if args.force else ensure_corpus
    root = make(args.out, spec, args.shared_data, workers=args.workers)
    seconds = time.monotonic() - t0
    built = (root / "manifest.json").stat().st_mtime >= wall
    counts = read_manifest(root)["counts"]
    print(f"corpus v3 at {root} ({seconds:.0f} s):")
    for split, c in counts.items():
        if c["items"]:
            sources = ", ".join(f"{k} {v}" for k, v in c["speech_source"].items())
            print(f"  {split:6s} {c['items']:5d} items, {c['minutes']:7.1f} min; speech: {sources}; "
                  f"noise: {', '.join(f'{k} {v}' for k, v in c['noise_group'].items())}")
    if args.describe:
        _describe(root, args, seconds if built else None)
    return 0


def _describe(root, args, build_seconds: float | None) -> None:
    """Store the corpus description with the noisy input's scores on the real split (if any)."""
    import time

    from mbsnet.data.corpus_v3 import describe
    from mbsnet.evaluate import real_items, score_systems, summarize_by
    from mbsnet.results import save_result

    corpus = describe(root)
    payload = {"corpus": corpus, "build": {"seconds": None if build_seconds is None else round(build_seconds, 1),
                                           "reused_existing": build_seconds is None, "workers": args.workers}}
    if corpus["counts"]["real"]["items"]:
        t0 = time.monotonic()
        rows = score_systems(real_items(root), {"noisy": lambda x: x}, desc="noisy input, real split")
        payload["noisy_input_real_split"] = {"summary": summarize_by(rows)["noisy"],
                                             "by_noise": summarize_by(rows, "noise"),
                                             "by_snr_db": summarize_by(rows, "snr_db"),
                                             "seconds": round(time.monotonic() - t0, 1)}
    path = save_result(args.describe, payload)
    print(f"corpus description stored in {path}")
