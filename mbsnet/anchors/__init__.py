"""Pretrained speech-enhancement anchors run offline from their PyPI wheels: GTCRN, DeepFilterNet3, RNNoise.

    from mbsnet import anchors
    anchors.names()                  # ("gtcrn", "deepfilternet3", "rnnoise")
    anchors.available("rnnoise")     # is its wheel installed?
    anchor = anchors.load("gtcrn")   # .name, .params, .sample_rate_native, .delay
    enhanced = anchor.enhance(noisy) # (t,) float32 at 16 kHz -> (t,), same length, delay removed

Each anchor owns a module (gtcrn, deepfilternet, rnnoise) that uses only the files a wheel ships
(an ONNX graph, a shared library), never the wheel's Python wrapper. A missing wheel raises
AnchorUnavailable (an ImportError) with the pip command that installs it. Nothing heavy
(onnxruntime, the libraries) is loaded before `load`. Scores: mbsnet.anchors.score.
"""
from __future__ import annotations

import importlib

from ._common import AnchorUnavailable, wheel_version

# name -> (module, class)
_REGISTRY = {"gtcrn": ("gtcrn", "GTCRN"),
             "deepfilternet3": ("deepfilternet", "DeepFilterNet3"),
             "rnnoise": ("rnnoise", "RNNoise")}

__all__ = ["AnchorUnavailable", "available", "describe", "load", "names"]


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def _module(name: str):
    if name not in _REGISTRY:
        raise KeyError(f"unknown anchor {name!r}; the anchors are {', '.join(_REGISTRY)}")
    return importlib.import_module(f".{_REGISTRY[name][0]}", __name__)


def available(name: str) -> bool:
    """Whether anchor `name` can load here (its wheel, and for GTCRN onnxruntime, installed); loads nothing."""
    try:
        _module(name).check()
    except AnchorUnavailable:
        return False
    return True


def load(name: str, **options):
    """The anchor `name`, ready to `enhance`; AnchorUnavailable if its wheel is not installed."""
    module = _module(name)
    module.check()
    return getattr(module, _REGISTRY[name][1])(**options)


def describe(anchor) -> dict:
    """What to store beside an anchor's scores: wheel, version, files, params, delay. anchor: name or loaded."""
    anchor = load(anchor) if isinstance(anchor, str) else anchor
    module = _module(anchor.name)
    return {"name": anchor.name, "pip": module.PIP_SPEC, "version": wheel_version(module.DISTRIBUTION),
            "params": anchor.params, "sample_rate_native": anchor.sample_rate_native,
            "delay_samples_16k": anchor.delay, "frame_length_native": getattr(anchor, "frame_length", None),
            "files": [getattr(anchor, a) for a in ("model_file", "library_file") if hasattr(anchor, a)]}
