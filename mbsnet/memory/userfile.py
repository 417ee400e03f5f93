"""Load a user's model for the command line: `path/to/file.py:factory` -> the arguments of predict_training_peak.

The factory takes no arguments and returns a dict (or an object with these attributes): build,
batch (a function of the batch size), loss, and optionally optimizer and precision.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from mbsnet.errors import InputError

REQUIRED = ("build", "batch", "loss")
OPTIONAL = ("optimizer", "precision")


def load_model_spec(spec: str) -> dict:
    """{"build", "batch", "loss", "optimizer"?, "precision"?} from `file.py:factory` (InputError
    for a bad path, a missing factory or missing entries)."""
    path_text, sep, factory = spec.rpartition(":")
    if not sep or not path_text or not factory:
        raise InputError(f"--model must look like path/to/file.py:factory, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise InputError(f"--model: no such file: {path}")
    module_spec = importlib.util.spec_from_file_location(f"_mbsnet_user_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise InputError(f"--model: cannot import {path} (not a Python file?)")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:        # noqa: BLE001 - the user's file: one line, not a traceback
        raise InputError(f"--model: importing {path} failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise InputError(f"--model: {path} has no function {factory!r}")
    made = fn()
    get = made.get if isinstance(made, dict) else (lambda k: getattr(made, k, None))
    out = {k: get(k) for k in REQUIRED + OPTIONAL if get(k) is not None}
    missing = [k for k in REQUIRED if k not in out]
    if missing:
        raise InputError(f"--model: {factory}() must give {', '.join(REQUIRED)}; missing "
                         f"{', '.join(missing)}")
    return out
