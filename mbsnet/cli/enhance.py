"""`python -m mbsnet enhance IN.wav OUT.wav`: enhance a recording with a checkpoint."""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("input", help="noisy wav file (any sample rate, mono or stereo)")
    parser.add_argument("output", help="enhanced wav file (written at the input's sample rate)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped final model)")
    parser.add_argument("--chunk-seconds", type=float, default=None,
                        help="process long files in chunks of this length, bounded memory (default 8)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")


def run(args) -> int:
    import torch

    from mbsnet.checkpoint import CheckpointError
    from mbsnet.enhance import CHUNK_SECONDS, enhance_file

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        info = enhance_file(args.input, args.output, args.checkpoint, 
                           chunk_seconds=args.chunk_seconds or CHUNK_SECONDS)
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output} ({info['samples']} samples at {info['original_rate']} Hz)")
    return 0
