"""`python -m mbsnet gpu-report --out results/`: on one CUDA GPU, every GPU measurement the book uses, in one run of a few minutes.

Measures the seed at batch 1 and 2 (the batch-2 step also under a 12 GiB cap, where the real OOM
is caught), every ladder preset's peak at batch 2 beside its prediction, step times, and the scan
benchmark on the GPU; writes results/gpu_*.json with provenance (mbsnet.experiments.gpu_report).
On a machine without CUDA it answers with one line and exit status 2.
"""
from __future__ import annotations

import os

from mbsnet.cli.checks import (UsageError, check_output_dir, check_segment, non_negative_int, positive_float,
                               positive_int, preset_list)


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="results", help="folder for the gpu_*.json files (default results)")
    parser.add_argument("--presets", type=preset_list, default=None,
                        help="comma-separated presets for the ladder part (default: every preset)")
    parser.add_argument("--cap-gib", type=positive_float, default=12.0,
                        help="the memory cap of the OOM reproduction, in GiB (default 12)")
    parser.add_argument("--seconds", type=positive_float, default=2.0, help="segment length in s (default 2)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed steps per preset (median)")
    parser.add_argument("--budget-minutes", type=positive_float, default=7.0,
                        help="time guard: parts that would start later are skipped, with the reason")
    parser.add_argument("--workers", type=non_negative_int, default=None,
                        help="CPU processes for the predictions (default: CPUs - 2, at most 8; 0: none)")


def run(args) -> int:
    from mbsnet import presets

    check_output_dir(args.out)
    check_segment(presets.get("seed"), args.seconds, "--seconds")

    import torch

    if not torch.cuda.is_available():
        raise UsageError("gpu-report needs a CUDA GPU and this machine has none (predictions need no "
                         "GPU: python -m mbsnet memory)")
    from mbsnet.experiments.gpu_report import gpu_report
    from mbsnet.units import GiB

    names = args.presets or presets.names()
    workers = args.workers if args.workers is not None else max(1, min(8, (os.cpu_count() or 3) - 2))
    summary = gpu_report(args.out, "cuda", configs={n: presets.get(n) for n in names},
                         seconds=args.seconds, cap_bytes=int(args.cap_gib * GiB), repeats=args.repeats,
                         budget_s=60 * args.budget_minutes, workers=workers,
                         command=getattr(args, "command_line", None))
    skipped = [n for n, p in summary["parts"].items() if p["status"] != "done"]
    print(f"done in {summary['elapsed_s']:.0f} s on {summary['device']['name']}: files in {args.out}"
          + (f"; not complete: {', '.join(skipped)}" if skipped else ""))
    return 0
