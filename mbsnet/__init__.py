"""MBS-Net Memory Clinic: a memory-efficient pure-PyTorch Mamba speech enhancer.

    from mbsnet import presets, build_model
    model = build_model(presets.get("seed"))
    mbsnet.params.breakdown(model); mbsnet.memory.predict_peak(cfg, 2); mbsnet.ssm.selective_scan(...)

Submodules and the two names below load on first use, so `import mbsnet` (and the command
line's `--help`) does not import torch.
"""
from __future__ import annotations

import importlib

__all__ = ["MBSNetConfig", "build_model", "config", "memory", "params", "presets", "ssm"]
__version__ = "0.1.0"

_NAMES = {"MBSNetConfig": "mbsnet.config", "build_model": "mbsnet.model"}


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    try:
        return importlib.import_module(f"mbsnet.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"mbsnet.{name}":
            raise
        raise AttributeError(f"module 'mbsnet' has no attribute {name!r}") from None


def __dir__():
    return __all__
