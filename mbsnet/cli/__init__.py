"""MBS-Net Memory Clinic command line: parameters, memory, benchmarks, training, enhancement.

One module per subcommand in this package (`mbsnet.cli.NAME`), each with
`add_arguments(parser)` and `run(args) -> int`. Building the parser imports only those modules,
which import the library (and torch) inside `run`, so `python -m mbsnet --help` stays instant.

Bad input is answered in one place, `main`: one line `error: <message>` on stderr and exit
status 2, no traceback. That covers argparse's usage errors (values checked by the `type=`
functions of mbsnet.cli.checks), UsageError (paths the subcommands check before work starts),
the library's InputError (mbsnet.errors: e.g. CheckpointError, unreadable audio, a malformed
dataset) and the OSErrors of a missing or unwritable path. Every other exception is a bug and
keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from mbsnet.cli.checks import UsageError
from mbsnet.errors import InputError

COMMANDS = {   # name -> help; the subcommand lives in mbsnet.cli.<module_name(name)>
    "params": "parameter counts per component for a preset",
    "memory": "predicted CUDA training peak; fits / max batch for a GPU",
    "bench": "benchmarks (e.g. `bench scan`): time and saved memory",
    "ladder": "measure every preset of the optimization ladder",
    "data": "generate a speech corpus: v2 synthetic, or v3 with real speech and noise (--version 3)",
    "train": "train a preset on synthetic data or VoiceBank-DEMAND",
    "enhance": "enhance a wav file: enhance IN.wav OUT.wav",
    "evaluate": "PESQ / STOI / SI-SDR of a checkpoint vs noisy and a baseline",
    "anchors": "PESQ / STOI / SI-SDR and RTF of the pretrained anchors (GTCRN, DeepFilterNet3, RNNoise)",
    "gpu-report": "on a CUDA GPU: every GPU measurement of the book in one run (results/gpu_*.json)",
}


# What main answers with one line and exit status 2 (UsageError is an InputError).
USER_ERRORS = (InputError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors reach main as UsageError (one line, exit status 2),
    instead of a usage block and SystemExit. Subparsers are of the same class."""

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def module_name(command: str) -> str:
    """The module of a subcommand: `gpu-report` lives in mbsnet.cli.gpu_report."""
    return command.replace("-", "_")


def build_parser() -> Parser:
    """The parser of every subcommand (imports no torch)."""
    parser = Parser(prog="python -m mbsnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(f"mbsnet.cli.{module_name(name)}")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def one_line(exc: BaseException) -> str:
    """The message of `exc` on one line (an OSError as 'what: path')."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args._run(args) or 0)
    except USER_ERRORS as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:      # output piped into e.g. `head`, which stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        return 141
