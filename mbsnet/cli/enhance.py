"""`python -m mbsnet enhance IN.wav OUT.wav`: enhance a recording with a checkpoint."""
from __future__ import annotations

from mbsnet.cli.checks import (UsageError, check_input_file, check_output_file, non_negative_int,
                               positive_float)
from mbsnet.config import SCAN_METHODS


def _floor_db(text: str):
    """argparse type: a level in dB below 0, or 'none'."""
    import argparse

    if text.strip().lower() == "none":
        return "none"
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not -200 <= value < 0:
        raise argparse.ArgumentTypeError(f"expected a level in dB in [-200, 0) or 'none', got {text!r}")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("input", help="noisy wav file (any sample rate, mono or stereo)")
    parser.add_argument("output", help="enhanced wav file (written at the input's sample rate)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped final model)")
    parser.add_argument("--chunk-seconds", type=positive_float, default=None,
                        help="process long files in chunks of this length, bounded memory (default 8)")
    parser.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--scan", choices=SCAN_METHODS, default=None,
                        help="scan method for the model (all compute the same function; default: the "
                             "checkpoint's; 'compiled' compiles once, a minute, then runs faster)")
    parser.add_argument("--mask-floor-db", type=_floor_db, default=None, metavar="DB",
                        help="hold the magnitude mask at or above DB (an attenuation limit; 'none': no "
                             "limit; default: the checkpoint's)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",   # mbsnet.enhance.PRECISIONS
                        help="fp32 (default) or bf16: the matmuls in bfloat16 under autocast (about 1.5x faster on CPUs with "
                             "AVX-512 BF16 or AMX, slower on others; outputs differ by about 0.1%%)")


def run(args) -> int:
    import torch

    from mbsnet.enhance import CHUNK_SECONDS, KEEP, OVERLAP_SECONDS, enhance_file

    check_input_file(args.input, "input audio")
    check_output_file(args.output, "output")
    chunk_seconds = args.chunk_seconds or CHUNK_SECONDS
    if chunk_seconds <= OVERLAP_SECONDS:
        raise UsageError(f"--chunk-seconds must be longer than the {OVERLAP_SECONDS:g} s overlap "
                         f"between chunks, got {chunk_seconds:g}")
    if args.threads:
        torch.set_num_threads(args.threads)
    floor = {None: KEEP, "none": None}.get(args.mask_floor_db, args.mask_floor_db)   # unset: the checkpoint's
    info = enhance_file(args.input, args.output, args.checkpoint, chunk_seconds=chunk_seconds,
                        scan_method=args.scan, mask_floor_db=floor, precision=args.precision)
    print(f"wrote {args.output} ({info['samples']} samples at {info['original_rate']} Hz)")
    return 0
