"""MBS-Net Memory Clinic command line: parameters, memory, benchmarks, training, enhancement.

One module per subcommand in this package (`mbsnet.cli.NAME`), each with
`add_arguments(parser)` and `run(args) -> int`. Building the parser imports only those modules,
which import the library (and torch) inside `run`, so `python -m mbsnet --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = {   # name -> help; the subcommand lives in mbsnet.cli.<name>
    "params": "parameter counts per component for a preset",
    "memory": "predicted CUDA training peak; fits / max batch for a GPU",
    "bench": "benchmarks (e.g. `bench scan`): time and saved memory",
    "ladder": "measure every preset of the optimization ladder",
    "data": "generate a speech corpus: v2 synthetic, or v3 with real speech and noise (--version 3)",
    "train": "train a preset on synthetic data or VoiceBank-DEMAND",
    "enhance": "enhance a wav file: enhance IN.wav OUT.wav",
    "evaluate": "PESQ / STOI / SI-SDR of a checkpoint vs noisy and a baseline",
    "anchors": "PESQ / STOI / SI-SDR and RTF of the pretrained anchors (GTCRN, DeepFilterNet3, RNNoise)",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mbsnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(f"mbsnet.cli.{name}")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:      # output piped into e.g. `head`, which stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        return 141
