"""What the subcommands check before they start work: argument types for argparse, and paths.

Values are checked by argparse `type=` functions (positive_int, positive_float, preset_name, ...):
argparse turns their ArgumentTypeError into a usage error, which `mbsnet.cli.main` prints as one
`error: ...` line with exit status 2. Paths are checked at the start of `run` (check_output_file,
check_output_dir, check_input_file, check_folder), before any long work, and raise UsageError,
which main answers the same way. Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from mbsnet import presets
from mbsnet.errors import InputError


class UsageError(InputError):
    """A command-line argument that cannot work (a value out of range, a path that cannot be used)."""


def _number(text: str, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _number(text, float)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def snr_range(text: str) -> tuple[float, float]:
    """argparse type: 'LO,HI' in dB with LO <= HI."""
    parts = text.split(",")
    try:
        lo, hi = (float(x) for x in parts)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI in dB (e.g. 15,30), got {text!r}") from None
    if lo > hi:
        raise argparse.ArgumentTypeError(f"LO must be <= HI, got {text!r}")
    return lo, hi


def preset_name(text: str) -> str:
    """argparse type: the name of a preset (mbsnet.presets.names())."""
    try:
        presets.get(text)
    except KeyError as exc:
        raise argparse.ArgumentTypeError(exc.args[0]) from None
    return text


def preset_list(text: str) -> list[str]:
    """argparse type: comma-separated preset names -> a list."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated preset names, got {text!r}")
    return [preset_name(n) for n in names]


def seed_list(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated seeds (integers >= 0) -> a tuple."""
    seeds = tuple(non_negative_int(s.strip()) for s in text.split(",") if s.strip())
    if not seeds:
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds, got {text!r}")
    return seeds


def check_segment(cfg, seconds: float, option: str) -> None:
    """UsageError unless a segment of `seconds` gives the model at least 2 STFT frames."""
    if cfg.frames(seconds) < 2:
        shortest = cfg.hop_length / cfg.sample_rate
        raise UsageError(f"{option} {seconds:g} is too short: {cfg.name} needs at least "
                         f"{shortest:g} s (2 STFT frames)")


def _check_can_create_in(folder: Path, what: str) -> None:
    """UsageError unless a file can be created in `folder` or, if it does not exist yet, in its
    nearest existing ancestor (whose missing sub-folders the command would make)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"cannot write {what}: {existing} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".mbsnet-write-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write {what}: cannot create files in {existing} "
                         f"({exc.strerror or exc})") from None


def check_output_file(path, option: str = "--out") -> None:
    """UsageError unless the command will be able to write the file `path` (folders made as needed)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    _check_can_create_in(path.parent, f"{option} {path}")


def check_output_dir(path, option: str = "--out") -> None:
    """UsageError unless the command will be able to write into the folder `path` (made if missing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder")
    _check_can_create_in(path, f"{option} {path}")


def check_input_file(path, what: str) -> None:
    """UsageError unless `path` is an existing file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} {path} {'is a folder, not a file' if path.is_dir() else 'not found'}")


def check_folder(path, option: str) -> None:
    """UsageError if `path` exists but is not a folder (a folder that does not exist yet is fine)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder")


def gpu_name(text: str) -> str:
    """argparse type: a GPU of mbsnet.memory.gpus.GPUS by name or label ("RTX 3080 Ti") -> its name."""
    from mbsnet.memory import gpus

    try:
        return gpus.get(text).name
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from "
                                         f"{', '.join(sorted(gpus.GPUS))})") from None
