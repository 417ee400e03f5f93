"""`python -m mbsnet evaluate`: the model beside the noisy input, the Wiener baseline and the pretrained anchors, on every test set."""
from __future__ import annotations

from mbsnet.cli.checks import UsageError, check_folder, check_output_file, non_negative_int, positive_int
from mbsnet.cli.output import print_json
from mbsnet.results import save_result

ANCHOR_MODES = ("stored", "live", "none")   # mbsnet.comparison.ANCHOR_MODES (it loads torch)
SETS = ("synthetic", "arctic", "real", "voicebank", "validation", "clean")   # mbsnet.comparison.TEST_SETS
DEFAULT_SETS = SETS[:4]   # the validation set and its clean signals only on request


def _sets(text: str) -> tuple[str, ...]:
    """argparse type: comma-separated test sets."""
    import argparse

    sets = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in sets if s not in SETS]
    if not sets or bad:
        raise argparse.ArgumentTypeError(f"expected test sets from {', '.join(SETS)}, got {text!r}")
    return sets


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped final model)")
    parser.add_argument("--data", default=None, help="corpus directory, v2 or v3 (default: data/synthetic): its "
                        "test and ARCTIC splits, and its training split for tuning the Wiener filter")
    parser.add_argument("--real-test", default=None, metavar="DIR",
                        help="corpus v3 whose real-speech test split to score (default: data/corpus_v3 if it has "
                             "one, else data/real_test, made from ../shared/data when that exists)")
    parser.add_argument("--no-real", action="store_true", help="skip the real-speech test set")
    parser.add_argument("--sets", type=_sets, default=DEFAULT_SETS, metavar="A,B",
                        help="only these test sets (default: all that are available: %(default)s; on request, "
                             "'validation', the second half of corpus v3's test split, for choosing checkpoints, "
                             "and 'clean', its clean signals as input, for what a system does to clean speech)")
    parser.add_argument("--voicebank", default=None, metavar="DIR",
                        help="a VoiceBank-DEMAND folder: score its test pairs too")
    parser.add_argument("--n-voicebank", type=positive_int, default=None,
                        help="use only the first N VoiceBank-DEMAND test pairs (sorted by name)")
    parser.add_argument("--anchors", choices=ANCHOR_MODES, default="stored",
                        help="the pretrained anchors: their stored scores on the same files (results/anchors_*.json), "
                             "scored live here (needs their wheels), or left out (default: %(default)s)")
    parser.add_argument("--n-test", type=positive_int, default=None,
                        help="use only the first N test utterances (synthetic and real-speech test sets)")
    parser.add_argument("--out", default="results/evaluation_comparison.json",
                        help="where to store the results JSON ('' = don't)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--n-arctic", type=positive_int, default=None,
                        help="use only the first N ARCTIC mixtures")
    parser.add_argument("--tune-n", type=positive_int, default=16,
                        help="training pairs used to tune the Wiener knobs")
    parser.add_argument("--no-rtf", action="store_true", help="skip the real-time-factor timing")
    parser.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",   # mbsnet.enhance.PRECISIONS
                        help="the model's inference precision, as `enhance --precision` (default: %(default)s)")


def _command(args) -> str:
    """The command line that reproduces this run, as stored in the provenance."""
    parts = ["python -m mbsnet evaluate"]
    for flag in ("checkpoint", "data", "real_test", "voicebank", "n_voicebank", "n_test", "n_arctic"):
        if getattr(args, flag) is not None:
            parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    parts += [] if args.tune_n == 16 else ["--tune-n", str(args.tune_n)]
    parts += [] if args.anchors == "stored" else ["--anchors", args.anchors]
    parts += [f for f, on in (("--no-real", args.no_real), ("--no-rtf", args.no_rtf)) if on]
    parts += [] if args.sets == DEFAULT_SETS else ["--sets", ",".join(args.sets)]
    parts += ["--threads", str(args.threads)] if args.threads else []
    parts += [] if args.precision == "fp32" else ["--precision", args.precision]
    return " ".join(parts + ["--out", args.out])


def run(args) -> int:
    if args.out:
        check_output_file(args.out)
    if args.data is not None:
        check_folder(args.data, "--data")
    if args.real_test is not None:
        if args.no_real:
            raise UsageError("--real-test and --no-real exclude each other")
        from mbsnet.cli.anchors import check_real_corpus

        check_real_corpus(args.real_test, "--real-test")
    for name in ("validation", "clean"):
        if name in args.sets and args.data is None:
            raise UsageError(f"--sets {name} needs --data DIR, a corpus v3 (its test split's second half)")
    if args.voicebank is not None:
        check_folder(args.voicebank, "--voicebank")
    elif args.n_voicebank is not None:
        raise UsageError("--n-voicebank needs --voicebank DIR")

    import torch

    from mbsnet.checkpoint import read_checkpoint

    if args.checkpoint is not None:
        read_checkpoint(args.checkpoint)      # a missing or corrupt checkpoint: one line, before any work

    from mbsnet.comparison import TEST_SETS, comparison_table, real_test_root, run_comparison

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.no_real:        # not even a real split that data/corpus_v3 (or --data) already holds
        real_root, line, sets = None, "real-speech test set: skipped (--no-real)", tuple(
            s for s in args.sets if s != "real")
    else:
        real_root, line = real_test_root(args.real_test, build="real" in args.sets, progress=not args.json)
        sets = args.sets
    if not args.json:
        print(line)
    result = run_comparison(args.checkpoint, anchors=args.anchors, rtf=not args.no_rtf, data_root=args.data,
                            n_test=args.n_test, tune_n=args.tune_n, progress=not args.json, n_arctic=args.n_arctic,
                            real_root=real_root, voicebank=args.voicebank, n_voicebank=args.n_voicebank,
                            sets=sets, precision=args.precision)
    if args.out:
        save_result(args.out, result, command=_command(args))
    sets = [k for k in TEST_SETS if k in result]
    if args.json:
        print_json({"checkpoint": result["checkpoint"], "checkpoint_step": result["checkpoint_step"],
                    "wiener": result["wiener"], "anchors_mode": result["anchors_mode"],
                    **{k: {"n_items": result[k]["n_items"], "items_sha": result[k]["items_sha"],
                           "summary": result[k]["summary"], "comparison": result[k]["comparison"]} for k in sets}})
    else:
        for k in sets:
            print(comparison_table(k, result[k]))
        if args.out:
            print(f"stored in {args.out}")
    return 0
