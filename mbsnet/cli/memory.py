"""`python -m mbsnet memory --preset NAME --batch N [--seconds S] [--gpu NAME] [--json]`, or `--model FILE.py:FACTORY`.

With `--model`, the model is yours (mbsnet.memory.generic.predict_training_peak; the factory is
described in mbsnet.memory.userfile): its peak, top modules, largest batch for --gpu and a 12 GiB
card, and what checkpointing / bf16 / accumulation would save.

Predicts the CUDA peak of one training step on the CPU (no GPU needed), with its breakdown by
category, whether it fits the GPU and the largest batch that does. The step is the trainer's
(`--step trainer`, the default: what `python -m mbsnet train` runs: AdamW, enhancement_loss,
clipping) or the original MBS-Net's (`--step original`: Adam, its spectral loss, as notebooks 2-3);
`--precision`, `--checkpointing` and `--accumulate` change it as the same flags of `train` do. On a machine with a GPU,
`--measure --out results/gpu_memory_NAME.json` also measures the real peak (and, with
`--oom-cap 12`, tries the step under a 12 GiB cap) and stores it with provenance.
"""
from __future__ import annotations

from mbsnet.cli.checks import (UsageError, check_output_file, check_segment, gpu_name, positive_float,
                               positive_int, preset_name)
from mbsnet.cli.output import print_json
from mbsnet.memory import gpus
from mbsnet.results import save_result
from mbsnet.units import GiB


def add_arguments(parser) -> None:
    parser.add_argument("--preset", default="seed", type=preset_name,
                        help="preset name (see mbsnet.presets.names())")
    parser.add_argument("--batch", type=positive_int, default=2, help="batch size (default 2)")
    parser.add_argument("--seconds", type=positive_float, default=2.0, help="segment length in s (default 2)")
    parser.add_argument("--gpu", default=gpus.DEFAULT_GPU, type=gpu_name,
                        help=f"GPU budget by name or label, e.g. 'RTX 3080 Ti' (one of "
                             f"{', '.join(sorted(gpus.GPUS))}; default {gpus.DEFAULT_GPU})")
    parser.add_argument("--model", default=None, metavar="FILE.py:FACTORY",
                        help="your own model: FACTORY() returns build, batch(b), loss[, optimizer] "
                             "(see mbsnet.memory.userfile); --preset and the step flags are ignored")
    parser.add_argument("--step", default="trainer", choices=("trainer", "original"),
                        help="the step predicted: the trainer's (default) or the original's")
    parser.add_argument("--optimizer", default=None, choices=("adamw", "adam", "sgd", "none"),
                        help="default: the step's (adamw for the trainer, adam for the original)")
    parser.add_argument("--precision", default=None, choices=("fp32", "bf16", "fp16"),
                        help="autocast precision on CUDA (default: the preset's)")
    parser.add_argument("--checkpointing", default=None, choices=("none", "mixers", "blocks"),
                        help="activation checkpointing (default: the preset's)")
    parser.add_argument("--accumulate", type=positive_int, default=1,
                        help="micro-batches per step; --batch must be a multiple (default 1)")
    parser.add_argument("--no-max-batch", action="store_true",
                        help="skip the max-batch search (saves one or two predictions)")
    parser.add_argument("--measure", action="store_true",
                        help="also measure the real peak on this machine's GPU")
    parser.add_argument("--oom-cap", type=positive_float, default=None, metavar="GIB",
                        help="with --measure: run the step under a GIB cap and report an OOM")
    parser.add_argument("--out", default=None, help="with --measure: store the result as JSON")
    parser.add_argument("--crosscheck", default=None, metavar="OUT.json",
                        help="compare predict_peak with torch's MemTracker (slow: use a short "
                             "--seconds) and store both in OUT.json")
    parser.add_argument("--sweep", default=None, metavar="OUT.json",
                        help="check the closed-form formula against predict_peak over "
                             "memory_math.SWEEP (minutes) and store it in OUT.json")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def step_settings(args):
    """(cfg, StepSettings) of the parsed arguments (the same mapping as `train`'s flags)."""
    from dataclasses import replace

    from mbsnet import presets
    from mbsnet.step import StepSettings

    cfg = presets.get(args.preset)
    if args.checkpointing is not None:
        cfg = replace(cfg, activation_checkpointing=args.checkpointing)
    if args.step == "original":
        step = StepSettings.original(args.optimizer or "adam", precision=args.precision,
                                     accumulate=args.accumulate)
    else:
        step = StepSettings(optimizer=args.optimizer or "adamw", precision=args.precision,
                            accumulate=args.accumulate)
    return cfg, step


def run(args) -> int:
    from dataclasses import replace

    if args.model:
        return _run_model(args)
    if args.batch % args.accumulate:
        raise UsageError(f"--batch ({args.batch}) must be a multiple of --accumulate ({args.accumulate})")
    cfg, step = step_settings(args)
    check_segment(cfg, args.seconds, "--seconds")
    if (args.out or args.oom_cap) and not args.measure:
        raise UsageError("--out and --oom-cap need --measure")
    for option in ("out", "crosscheck", "sweep"):
        if getattr(args, option):
            check_output_file(getattr(args, option), f"--{option}")

    import torch

    from mbsnet import memory

    if args.measure and not torch.cuda.is_available():
        raise UsageError("--measure needs a CUDA GPU; this machine has none (the prediction "
                         "without --measure needs no GPU)")
    if args.crosscheck:
        return _crosscheck(cfg, args)
    if args.sweep:
        from mbsnet.memory.formula import formula_sweep

        rows = formula_sweep()
        save_result(args.sweep, {"rows": rows})
        worst = max(abs(r["relative_error"]) for r in rows)
        print(f"{len(rows)} points, worst formula error {worst:.2%}; stored in {args.sweep}")
        return 0
    optimizer = step.optimizer
    report = memory.cached_predict_peak(cfg, args.batch, args.seconds, optimizer, step)
    gpu = gpus.get(args.gpu)
    result = {"predicted": report.to_dict(), "gpu": {"name": gpu.name, "label": gpu.label,
              "capacity_gib": gpu.capacity_gib, "usable_gib": gpu.usable / GiB},
              "fits": report.peak_bytes <= gpu.usable}
    if not args.no_max_batch:
        mb = memory.max_batch(cfg, args.gpu, args.seconds, optimizer, verify=False,
                              step=replace(step, accumulate=1))
        result["max_batch"] = mb["max_batch"]            # per micro-batch with --accumulate
        result["affine_fit_gib"] = {k: v / GiB for k, v in mb["fit"].items()}
    if args.measure:
        try:
            result["measured"] = memory.measure_peak(cfg, args.batch, args.seconds,
                                                     optimizer).to_dict()
        except torch.OutOfMemoryError as exc:      # e.g. the seed at batch 2 on a 12 GiB card
            result["measured"] = {"device": torch.cuda.get_device_name(), "preset": cfg.name,
                                  "batch_size": args.batch, "out_of_memory": True,
                                  "message": str(exc).splitlines()[0]}
            torch.cuda.empty_cache()
        if args.oom_cap:
            result["oom"] = memory.reproduce_oom(cfg, args.batch, args.oom_cap, args.seconds,
                                                 optimizer)
        if args.out:
            save_result(args.out, result)
    if args.json:
        print_json(result)
    else:
        _print_text(result, report, gpu)
    return 0


def _run_model(args) -> int:
    """--model FILE.py:FACTORY: predict_training_peak, the largest batch for --gpu and for a
    12 GiB card, and what each remedy would save."""
    from mbsnet.memory import generic, whatif
    from mbsnet.memory.userfile import load_model_spec

    spec = load_model_spec(args.model)
    args_ = (spec["build"], spec["batch"], spec["loss"], spec.get("optimizer"),
             args.precision or spec.get("precision", "fp32"))
    report = generic.predict_training_peak(*args_, batch_size=args.batch)
    gpu = gpus.get(args.gpu)
    result = {"model": args.model, "batch_size": args.batch, "predicted": report.to_dict(),
              "gpu": {"name": gpu.name, "label": gpu.label, "usable_gib": gpu.usable / GiB},
              "fits": report.peak_bytes <= gpu.usable}
    if not args.no_max_batch:
        for name in dict.fromkeys((gpu.name, "rtx3080ti")):
            mb = whatif.max_batch_for(*args_, gpu=name)
            result.setdefault("max_batch", {})[name] = mb["max_batch"]
        result["max_batch_12gib"] = result["max_batch"]["rtx3080ti"]
        result["affine_fit_mib"] = {"intercept": mb["fit"]["intercept"] / 2**20,
                                    "slope": mb["fit"]["slope"] / 2**20}
        result["savings_bytes"] = whatif.savings(*args_, batch_size=args.batch)
    if args.json:
        print_json(result)
        return 0
    print(f"{args.model}, batch {args.batch}")
    print(report)
    print(f"{gpu.label}: {'fits' if result['fits'] else 'does NOT fit'} "
          f"(usable {gpu.usable / GiB:.2f} GiB after the CUDA context)")
    for name, m in result.get("max_batch", {}).items():
        print(f"max batch on {gpus.get(name).label}: {m}")
    s = result.get("savings_bytes", {})
    for name, saved in s.get("checkpoint", {}).items():
        print(f"checkpointing {name}: saves {saved / 2**20:.1f} MiB")
    if "bf16" in s:
        print(f"bf16 autocast: saves {s['bf16'] / 2**20:.1f} MiB")
    if "accumulate" in s:
        a = s["accumulate"]
        print(f"{a['accumulate']} x micro-batch {a['micro_batch']}: saves {a['saving'] / 2**20:.1f} MiB")
    return 0


def _crosscheck(cfg, args) -> int:
    import time

    from mbsnet import memory

    optimizer = args.optimizer or "adam"          # the original's step (MemTracker runs that one)
    start = time.perf_counter()
    theirs = memory.torch_memtracker_peak(cfg, args.batch, args.seconds, optimizer)
    elapsed = time.perf_counter() - start
    ours = memory.predict_peak(cfg, args.batch, args.seconds, optimizer, round_to=1)
    payload = {"preset": cfg.name, "batch_size": args.batch, "seconds": args.seconds,
               "step": "original", "optimizer": optimizer,
               "checkpointing": cfg.activation_checkpointing, "memtracker_peak_bytes": theirs,
               "memtracker_elapsed_s": round(elapsed, 1),
               "predict_peak_bytes_unrounded": ours.peak_bytes,
               "predict_peak_elapsed_s": round(ours.elapsed_s, 1),
               "relative_difference": abs(ours.peak_bytes - theirs) / theirs}
    save_result(args.crosscheck, payload)
    print_json(payload) if args.json else print(payload)
    return 0


def _print_text(result, report, gpu) -> None:
    print(f"preset {report.preset}, batch {report.batch_size}, {report.seconds:g} s "
          f"({report.frames} frames)")
    print(f"step {report.step}: optimizer {report.optimizer}, precision {report.precision}, "
          f"checkpointing {report.checkpointing}, {report.accumulate} x micro-batch {report.micro_batch or report.batch_size}")
    print(f"predicted peak: {report.peak_gib:.2f} GiB (during {report.peak_phase}; "
          f"{report.elapsed_s:.1f} s to predict)")
    for name, nbytes in report.categories.items():
        print(f"  {name:<18}{nbytes / GiB:>9.3f} GiB")
    verdict = "fits" if result["fits"] else "does NOT fit"
    print(f"{gpu.label}: {verdict} (usable {gpu.usable / GiB:.2f} GiB after the CUDA context)")
    if "max_batch" in result:
        print(f"max batch on {gpu.label}: {result['max_batch']}")
    if "measured" in result:
        measured = result["measured"]
        print(f"measured on {measured['device']}: " + ("out of memory" if "peak_gib" not in measured
                                                       else f"{measured['peak_gib']:.2f} GiB"))
    if "oom" in result:
        print(f"under a {result['oom']['cap_gib']} GiB cap: {result['oom']['status']}")
