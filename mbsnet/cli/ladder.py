"""`python -m mbsnet ladder`: measure every preset of the optimization ladder (mbsnet.experiments.ladder)."""
from __future__ import annotations

import sys
from dataclasses import replace

from mbsnet.cli.checks import (check_input_file, check_output_file, positive_float, positive_int,
                               preset_list, seed_list)
from mbsnet.cli.output import print_json


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="results/ladder.json",
                        help="where to store the result (JSON with provenance); '' to not store")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny budget (2 steps, 2 clips) and, unless --presets is given, "
                             "only slim_decoder and final: a smoke test, not a measurement")
    parser.add_argument("--presets", default=None, type=preset_list,
                        help="comma-separated subset (default: all)")
    parser.add_argument("--steps", type=positive_int, default=None, help="quality-proxy training steps")
    parser.add_argument("--segment-seconds", type=positive_float, default=None,
                        help="training segment length of the quality proxy")
    parser.add_argument("--seeds", default=None, type=seed_list, help="comma-separated seeds (default 0,1)")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="processes for the quality runs (each uses one thread)")
    parser.add_argument("--resume", action="store_true",
                        help="keep quality runs already stored in --out with the same budget")
    parser.add_argument("--merge", default=None, metavar="PATHS",
                        help="comma-separated stored results (same budget) whose quality runs to "
                             "take over, e.g. from a second process run with a --presets subset")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality proxy")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip the dedicated step timings (of presets sharing quality runs)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from mbsnet.results import REPO_ROOT

    out = REPO_ROOT / args.out if args.out else None
    if out is not None:
        check_output_file(out)
    merge = args.merge.split(",") if args.merge else ()
    for path in merge:
        check_input_file(path, "--merge")

    from mbsnet.experiments.ladder import DEFAULT_CORPUS, QUICK_BUDGET, ProxyBudget, run_ladder, table

    budget = QUICK_BUDGET if args.quick else ProxyBudget()
    if args.steps is not None:
        budget = replace(budget, steps=args.steps)
    if args.segment_seconds is not None:
        budget = replace(budget, segment_seconds=args.segment_seconds)
    if args.seeds:
        budget = replace(budget, seeds=args.seeds)
    names = args.presets or (["slim_decoder", "final"] if args.quick else None)
    result = run_ladder(names, budget, out=out,
                        corpus_root=DEFAULT_CORPUS.with_name("ladder_quick") if args.quick else None,
                        workers=args.workers, resume=args.resume, quality=not args.no_quality,
                        merge=merge, timing=not args.no_timing, progress=not args.json,
                        command="python -m mbsnet ladder " + " ".join(sys.argv[2:]))
    if args.json:
        print_json(result)
    else:
        print(table(result))
    return 0
