"""`python -m mbsnet bench scan|inference|enhance`: every scan method side by side; the no-grad scan's kernels;
enhance's real-time factor and memory."""
from __future__ import annotations

import argparse

from mbsnet.cli.checks import (UsageError, check_input_file, check_output_file, non_negative_int,
                               positive_float, positive_int)
from mbsnet.config import SCAN_METHODS
from mbsnet.cli.output import print_json
from mbsnet.results import save_result

# the names of mbsnet.experiments.scan_bench.BENCH_METHODS (that module imports torch)
BENCH_METHODS = ("sequential", "chunked", "recompute", "compiled", "native", "mambapy")


def method_list(text: str) -> tuple[str, ...]:
    """argparse type: comma-separated benchmark methods -> a tuple."""
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in BENCH_METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown method(s) {','.join(unknown) or repr(text)}; "
                                         f"choose from {','.join(BENCH_METHODS)}")
    return names


def length_list(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated audio lengths in seconds (each > 0) -> a tuple."""
    lengths = tuple(positive_float(s.strip()) for s in text.split(",") if s.strip())
    if not lengths:
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds, got {text!r}")
    return lengths


def add_arguments(parser) -> None:
    parser.add_argument("what", choices=["scan", "inference", "enhance"],
                        help="scan: every scan method, forward + backward; inference: the no-grad scan's "
                             "kernels (torch, C) at enhance's shapes; enhance: real-time factor and peak "
                             "memory of `enhance` on generated audio")
    parser.add_argument("--repeats", type=positive_int, default=None,
                        help="timed runs per method (median; default 5) or, for enhance, per length "
                             "(default 1)")
    parser.add_argument("--chunk-size", type=positive_int, default=64,
                        help="chunk length T of the chunked scans")
    parser.add_argument("--batch", type=positive_int, default=2, help="training batch of the seed shapes")
    parser.add_argument("--max-sequential-length", type=non_negative_int, default=4096,
                        help="skip the (slow) sequential scan above this length")
    parser.add_argument("--quick", action="store_true", help="smaller shapes, for a fast look")
    parser.add_argument("--methods", type=method_list, default=None,
                        help="comma-separated methods to time (default: all of "
                             f"{','.join(BENCH_METHODS)})")
    parser.add_argument("--cases", help="comma-separated parts of case names to keep, e.g. 'seed temporal'")
    parser.add_argument("--lengths", type=length_list, default=None,
                        help="enhance: seconds of audio, comma-separated (default 10,60,600)")
    parser.add_argument("--checkpoint", default=None,
                        help="enhance: checkpoint (default: the shipped final model)")
    parser.add_argument("--scan", choices=SCAN_METHODS, default=None,
                        help="enhance: run the model with this scan method (default: the checkpoint's)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                        help="enhance: this checkout's inference precision (as `enhance --precision`; the "
                             "baseline runs fp32: --baseline . compares the two)")
    parser.add_argument("--baseline", default=None,
                        help="enhance: a folder with another checkout's mbsnet/ (e.g. `git archive` of "
                             "an older commit) to run interleaved with this one; stores the speedup")
    parser.add_argument("--profile", action="store_true",
                        help="enhance: where the time goes (CPU seconds per part of the model, top aten "
                             "ops) for the first of --lengths (default 10 s), in this process")
    parser.add_argument("--threads", type=non_negative_int, default=0,
                        help="torch threads (0: leave as is; enhance: 1)")
    parser.add_argument("--out",
                        help="store the result as JSON with provenance (e.g. results/bench_scan_cpu.json)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    if args.out:
        check_output_file(args.out)
    if args.what == "enhance":
        return _run_enhance(args)
    if args.what == "inference":
        return _run_inference(args)

    import torch

    from mbsnet.experiments.scan_bench import bench_scan, format_table, ratio_table

    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else None
    result = bench_scan(args.repeats or 5, args.chunk_size, args.quick, args.batch,
                        args.max_sequential_length, methods=args.methods or BENCH_METHODS, cases=cases)
    result["table"] = ratio_table(result)
    if args.out:
        save_result(args.out, result)
    if args.json:
        print_json(result)
    else:
        print(format_table(result["table"]))
        for s in result["skipped"]:
            print(f"skipped: {s}")
    return 0


def _run_enhance(args) -> int:
    from pathlib import Path

    if args.checkpoint:
        check_input_file(args.checkpoint, "--checkpoint")
    if args.baseline and not (Path(args.baseline) / "mbsnet" / "__init__.py").is_file():
        raise UsageError(f"--baseline {args.baseline} holds no mbsnet/ package (a checkout's root)")
    if args.baseline and args.profile:
        raise UsageError("--profile measures this checkout only; leave out --baseline")
    if args.precision and args.profile:
        raise UsageError("--profile runs fp32; leave out --precision")

    if args.profile:
        from mbsnet.experiments.enhance_profile import format_profile, profile_enhance

        result = profile_enhance((args.lengths or (10.0,))[0], args.threads or 1, args.checkpoint, args.scan)
        formatted = format_profile(result)
    else:
        from mbsnet.experiments.enhance_bench import BENCH_LENGTHS, bench_enhance, format_enhance_table

        result = bench_enhance(args.lengths or BENCH_LENGTHS, args.threads or 1, args.checkpoint, args.scan,
                               repeats=args.repeats or 1, baseline=args.baseline, precision=args.precision)
        formatted = format_enhance_table(result)
    if args.out:
        save_result(args.out, result)
    if args.json:
        print_json(result)
    else:
        print(formatted)
    return 0


def _run_inference(args) -> int:
    import torch

    from mbsnet.experiments.scan_inference_bench import bench_inference, format_inference_table

    torch.set_num_threads(args.threads or 1)
    result = bench_inference(args.repeats or 5)
    if args.out:
        save_result(args.out, result)
    if args.json:
        print_json(result)
    else:
        print(format_inference_table(result))
    return 0
