"""`python -m mbsnet ladder`: measure every preset of the optimization ladder (mbsnet.experiments.ladder)."""
from __future__ import annotations

import sys
from dataclasses import replace

from mbsnet.cli.output import print_json


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="results/ladder.json",
                        help="where to store the result (JSON with provenance); '' to not store")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny budget (2 steps, 2 clips) and, unless --presets is given, "
                             "only slim_decoder and final: a smoke test, not a measurement")
    parser.add_argument("--presets", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--steps", type=int, default=None, help="quality-proxy training steps")
    parser.add_argument("--segment-seconds", type=float, default=None,
                        help="training segment length of the quality proxy")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1)")
    parser.add_argument("--workers", type=int, default=1,
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
    from mbsnet.experiments.ladder import DEFAULT_CORPUS, QUICK_BUDGET, ProxyBudget, run_ladder, table
    from mbsnet.results import REPO_ROOT

    budget = QUICK_BUDGET if args.quick else ProxyBudget()
    if args.steps is not None:
        budget = replace(budget, steps=args.steps)
    if args.segment_seconds is not None:
        budget = replace(budget, segment_seconds=args.segment_seconds)
    if args.seeds:
        budget = replace(budget, seeds=tuple(int(s) for s in args.seeds.split(",")))
    names = args.presets.split(",") if args.presets else (
        ["slim_decoder", "final"] if args.quick else None)
    try:
        result = run_ladder(names, budget, out=REPO_ROOT / args.out if args.out else None,
                            corpus_root=DEFAULT_CORPUS.with_name("ladder_quick") if args.quick else None,
                            workers=args.workers, resume=args.resume, quality=not args.no_quality,
                            merge=args.merge.split(",") if args.merge else (),
                            timing=not args.no_timing,
                            progress=not args.json,
                            command="python -m mbsnet ladder " + " ".join(sys.argv[2:]))
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    if args.json:
        print_json(result)
    else:
        print(table(result))
    return 0
