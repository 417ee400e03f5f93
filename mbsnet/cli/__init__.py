"""MBS-Net Memory Clinic command line: parameters, memory, benchmarks, training, enhancement.

Every subcommand lives in the module that owns its concern.

Each module named in COMMANDS provides `add_arguments(parser)` and `run(args) -> int`.
Modules are imported only when their command runs, so `--help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

COMMANDS = {
    "params": ("mbsnet.cli.params", "parameter counts per component for a preset"),
    "memory": ("mbsnet.cli.memory", "predicted CUDA training peak; fits / max batch for a GPU"),
    "bench": ("mbsnet.experiments.scan_bench", "benchmarks (e.g. `bench scan`): time and saved memory"),
    "ladder": ("mbsnet.experiments.ladder", "measure every preset of the optimization ladder"),
    "data": ("mbsnet.data.datasets", "generate the offline synthetic speech corpus"),
    "train": ("mbsnet.train", "train a preset on synthetic data or VoiceBank-DEMAND"),
    "enhance": ("mbsnet.enhance", "enhance a wav file: enhance IN.wav OUT.wav"),
    "evaluate": ("mbsnet.evaluate", "PESQ / STOI / SI-SDR of a checkpoint vs noisy and a baseline"),
}


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mbsnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            p.set_defaults(_missing=True)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_missing", False):
        print(f"`{args.command}` is not available in this version", file=sys.stderr)
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except BrokenPipeError:      # output piped into e.g. `head`, which stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        return 141
