"""`python -m mbsnet train`: train a preset on corpus v2 or v3 or VoiceBank-DEMAND, with checkpoints and resume.

On several GPUs (or CPU processes) the same command runs under torchrun,
`torchrun --nproc_per_node 2 -m mbsnet train ...`: --batch is then the global batch, split
across the processes (mbsnet.distributed).
"""
from __future__ import annotations

import sys
from pathlib import Path

from mbsnet import presets
from mbsnet.cli.checks import (UsageError, check_folder, check_input_file, check_output_dir, check_segment,
                               non_negative_float, non_negative_int, positive_float, positive_int, preset_name,
                               probability, snr_range)


def add_arguments(parser) -> None:
    parser.add_argument("--preset", default="final", type=preset_name,
                        help=f"one of: {', '.join(presets.names())}")
    parser.add_argument("--data", default="synthetic",
                        help="synthetic[:DIR] (corpus v2), v3[:DIR] (corpus v3) or voicebank:PATH")
    parser.add_argument("--steps", type=positive_int, default=1000)
    parser.add_argument("--batch", type=positive_int, default=4)
    parser.add_argument("--segment-seconds", type=positive_float, default=1.0)
    parser.add_argument("--lr", type=positive_float, default=1e-3)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--out", required=True, help="output directory (checkpoint and logs)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--init", metavar="CHECKPOINT",
                        help="warm start: take the weights of CHECKPOINT (same config as --preset), "
                             "with a fresh optimizer and learning-rate schedule")
    parser.add_argument("--checkpoint-every", type=positive_int, default=100, help="steps between checkpoints")
    parser.add_argument("--checkpoint-minutes", type=positive_float, default=5.0)
    parser.add_argument("--eval-every", type=non_negative_int, default=0,
                        help="steps between evaluations (0: never)")
    parser.add_argument("--eval-n", type=positive_int, default=8, help="test utterances used for evaluation")
    parser.add_argument("--threads", type=non_negative_int, default=0,
                        help="torch CPU threads (0: torch's default)")
    parser.add_argument("--accumulate", type=positive_int, default=1,
                        help="micro-batches per step (gradient accumulation); --batch is the batch "
                             "of a step and must be a multiple (default 1)")
    parser.add_argument("--precision", default=None, choices=("fp32", "bf16", "fp16"),
                        help="autocast on CUDA, fp16 with a GradScaler (default: the preset's; "
                             "a CPU runs fp32)")
    parser.add_argument("--checkpointing", default=None, choices=("none", "mixers", "blocks"),
                        help="activation checkpointing (default: the preset's)")
    parser.add_argument("--phase-weight", type=non_negative_float, default=0.0)
    parser.add_argument("--time-weight", type=non_negative_float, default=0.0)
    parser.add_argument("--scan", default=None, choices=("recompute", "compiled", "native"),
                        help="the selective scan's method (default: the preset's); 'compiled' runs the same "
                             "function with torch.compile'd kernels, 'native' with a C kernel built on first "
                             "use (needs a C compiler); each ~1.4-2x faster a step on a CPU (notebook 4)")
    parser.add_argument("--remix-snr", type=snr_range, default=None, metavar="LO,HI",
                        help="with --remix-prob: remix a training crop at an SNR drawn from [LO, HI] dB")
    parser.add_argument("--remix-prob", type=probability, default=0.0,
                        help="share of training crops remixed at a --remix-snr SNR (default 0)")


def settings_from_args(args):
    """(cfg, TrainSettings) of the parsed arguments; `python -m mbsnet memory` maps its flags the
    same way (mbsnet.cli.memory.step_settings)."""
    from dataclasses import replace

    from mbsnet.losses import LossWeights
    from mbsnet.train import TrainSettings

    cfg = presets.get(args.preset)
    if args.checkpointing is not None:
        cfg = replace(cfg, activation_checkpointing=args.checkpointing)
    if getattr(args, "scan", None) is not None:
        cfg = replace(cfg, scan_method=args.scan)
    weights = LossWeights(phase=args.phase_weight, time=args.time_weight)
    return cfg, TrainSettings(steps=args.steps, batch_size=args.batch, segment_seconds=args.segment_seconds,
                              seed=args.seed, lr=args.lr, weights=weights, precision=args.precision,
                              accumulate=args.accumulate, remix_snr_db=getattr(args, "remix_snr", None),
                              remix_prob=getattr(args, "remix_prob", 0.0))


def run(args) -> int:
    cfg = presets.get(args.preset)
    check_segment(cfg, args.segment_seconds, "--segment-seconds")
    if args.batch % args.accumulate:
        raise UsageError(f"--batch ({args.batch}) must be a multiple of --accumulate ({args.accumulate})")
    check_output_dir(args.out)
    if args.remix_prob and args.remix_snr is None:
        raise UsageError("--remix-prob needs --remix-snr LO,HI")
    if args.resume:
        check_input_file(Path(args.out) / "checkpoint.pt", "--resume: checkpoint")
    if args.init:
        check_input_file(args.init, "--init")
    folder = args.data.partition(":")[2]        # synthetic:DIR or voicebank:PATH
    if folder:
        check_folder(folder, "--data")

    import torch

    from mbsnet import distributed
    from mbsnet.checkpoint import warm_start_model
    from mbsnet.data.datasets import open_dataset
    from mbsnet.train import TrainingDiverged, train_model

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, settings = settings_from_args(args)
    rank = distributed.init_from_env()     # under torchrun: DistributedDataParallel, rank 0 writes
    rank.check_batch(args.batch)
    if (args.batch // rank.world_size) % args.accumulate:
        raise UsageError(f"--batch ({args.batch}) over {rank.world_size} processes must give each a "
                         f"multiple of --accumulate ({args.accumulate})")
    model = None
    if args.init:                                                   # before a corpus is generated
        from mbsnet.model import build_model

        model = build_model(cfg)        # --checkpointing may differ from the checkpoint's config
        model.load_state_dict(warm_start_model(args.init, presets.get(args.preset)).state_dict())
    if not rank.is_main:
        rank.barrier()                         # rank 0 generates a missing corpus, the others then read it
    dataset = open_dataset(args.data, "train")
    eval_pairs = None
    if args.eval_every:
        test = open_dataset(args.data, "test")
        eval_pairs = [test[i] for i in range(min(args.eval_n, len(test)))]
    if rank.is_main:
        rank.barrier()
    command = getattr(args, "command_line", None)
    try:
        train_model(cfg, dataset, settings=settings, out=args.out, resume=args.resume, model=model,
                    checkpoint_every=args.checkpoint_every, checkpoint_minutes=args.checkpoint_minutes,
                    eval_pairs=eval_pairs, eval_every=args.eval_every, command=command)
    except (TrainingDiverged, torch.cuda.OutOfMemoryError) as exc:   # the run failed, not its input
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        distributed.shutdown()
    if rank.is_main:
        print(f"done: checkpoint and logs in {args.out}")
    return 0
