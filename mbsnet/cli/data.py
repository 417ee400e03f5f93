"""`python -m mbsnet data`: generate the offline synthetic speech corpus (eSpeak NG speech + generated noise)."""
from __future__ import annotations

from mbsnet.cli.checks import check_output_dir, non_negative_int, positive_int


def add_arguments(parser) -> None:
    parser.add_argument("--out", default=None,
                        help="corpus directory (default: $MBSNET_DATA or data/synthetic)")
    parser.add_argument("--n-train", type=positive_int, default=None,
                        help="training utterances (default: CorpusSpec's)")
    parser.add_argument("--n-test", type=positive_int, default=None,
                        help="test utterances (default: CorpusSpec's)")
    parser.add_argument("--seed", type=non_negative_int, default=None,
                        help="corpus seed (default: CorpusSpec's)")
    parser.add_argument("--force", action="store_true", help="regenerate even if a matching corpus exists")


def run(args) -> int:
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
