"""`python -m mbsnet anchors`: PESQ / STOI / SI-SDR and real-time factor of the pretrained anchors (GTCRN, DeepFilterNet3, RNNoise)."""
from __future__ import annotations

import sys
from pathlib import Path

from mbsnet.anchors import AnchorUnavailable, check, names as anchor_names
from mbsnet.cli.checks import UsageError, check_folder, check_output_file, positive_int
from mbsnet.cli.output import print_json

TEST_SETS = ("arctic", "synthetic", "real", "voicebank")   # mbsnet.anchors.score.TEST_SETS (it loads torch)


def add_arguments(parser) -> None:
    parser.add_argument("--set", choices=TEST_SETS, default="arctic",
                        help="test set: the ARCTIC mixtures (real speech), the synthetic corpus' test split, "
                             "corpus v3's real-speech test set or VoiceBank-DEMAND's test pairs")
    parser.add_argument("--data", default=None,
                        help="synthetic: corpus directory (default: $MBSNET_DATA or data/synthetic); real: "
                             "corpus v3 directory (default: $MBSNET_CORPUS_V3 or data/corpus_v3); voicebank: "
                             "the VoiceBank-DEMAND folder (required); the folder must exist")
    parser.add_argument("--n-test", type=positive_int, default=None, help="only the first N items of the test set")
    parser.add_argument("--names", default=",".join(anchor_names()),
                        help="comma-separated anchors (default: %(default)s)")
    parser.add_argument("--out", default="", help="where to store the results JSON ('' = don't)")
    parser.add_argument("--no-rtf", action="store_true", help="skip the real-time-factor timing")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def check_real_corpus(path, flag: str) -> Path:
    """The corpus v3 folder `path` (default: $MBSNET_CORPUS_V3 or data/corpus_v3) if it holds a
    real-speech test split; UsageError (one line, with the command that makes one) if not."""
    from mbsnet.data.corpus_v3 import default_dir, read_manifest

    root = Path(path) if path else default_dir()
    manifest = read_manifest(root)
    make = f"python -m mbsnet data --version 3 --n-train 1 --n-test 1 --out {root}"
    if manifest is None or manifest.get("version") != 3:
        raise UsageError(f"{flag}: no corpus v3 at {root} (no readable version-3 manifest.json); make its "
                         f"test sets with: {make}")
    if not manifest["splits"].get("real"):
        raise UsageError(f"{flag}: the corpus v3 at {root} has no real-speech test split (built without "
                         f"the shared recordings under {manifest['shared_data']['root']})")
    return root


def _names(text: str) -> tuple[str, ...]:
    """The anchors named in `text` (comma-separated); UsageError (one line) for none or an unknown one."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise UsageError(f"--names lists no anchor; the anchors are {', '.join(anchor_names())}")
    for name in names:
        if name not in anchor_names():
            raise UsageError(f"unknown anchor {name!r}; the anchors are {', '.join(anchor_names())}")
    return names


def _command(args, names: tuple[str, ...]) -> str:
    """The command line that reproduces this run, as stored in the provenance."""
    parts = ["python -m mbsnet anchors", "--set", args.set]
    parts += ["--data", args.data] if args.data else []
    parts += ["--n-test", str(args.n_test)] if args.n_test is not None else []
    parts += ["--names", ",".join(names)] if names != anchor_names() else []
    parts += ["--out", args.out] + (["--no-rtf"] if args.no_rtf else [])
    return " ".join(parts)


def run(args) -> int:
    names = _names(args.names)
    if args.set == "synthetic":
        from mbsnet.data.corpus import default_dir, read_manifest

        root = Path(args.data) if args.data else default_dir()
        if read_manifest(root) is None:
            raise UsageError(f"no synthetic corpus at {root} (no readable manifest.json); "
                             f"make one: python -m mbsnet data --out {root}")
    elif args.set == "real":
        check_real_corpus(args.data, "--data")
    elif args.set == "voicebank":
        if not args.data:
            raise UsageError("--set voicebank needs --data /path/to/VoiceBank-DEMAND")
        check_folder(args.data, "--data")
    if args.out:
        check_output_file(args.out)
    for name in names:
        try:
            check(name)
        except AnchorUnavailable as exc:      # one line with the pip command
            raise UsageError(str(exc)) from None

    import torch

    from mbsnet.anchors.score import report, run_anchors
    from mbsnet.results import save_result

    torch.set_num_threads(1)  # one thread everywhere: the anchors run single-threaded too
    result = run_anchors(args.set, args.data, args.n_test, names, rtf=not args.no_rtf,
                         progress=not args.json and sys.stderr.isatty())
    if args.out:
        save_result(args.out, result, command=_command(args, names))
    if args.json:
        print_json({k: result[k] for k in ("test_set", "n_items", "systems", "summary", "anchors")})
    else:
        print(report(result))
        if args.out:
            print(f"stored in {args.out}")
    return 0
