"""Pretrained speech-enhancement anchors run offline from their PyPI wheels: GTCRN, DeepFilterNet3, RNNoise.

    from mbsnet import anchors
    anchors.names()                  # ("gtcrn", "deepfilternet3", "rnnoise")
    anchors.available("rnnoise")     # is its wheel installed?
    anchor = anchors.load("gtcrn")   # .name, .params, .sample_rate_native, .delay
    enhanced = anchor.enhance(noisy) # (t,) float32 at 16 kHz -> (t,), same length, delay removed

Each anchor owns a module (gtcrn, deepfilternet, rnnoise) that uses only the files a wheel ships
(an ONNX graph, a shared library), never the wheel's Python wrapper. A missing wheel raises
AnchorUnavailable (an ImportError) with the pip command that installs it. Nothing heavy
(onnxruntime, soxr, the libraries) is loaded before `load`, and nothing but the standard library by
this registry, so the command line can list the names cheaply.

    wheels         finding a wheel's files and libraries; AnchorUnavailable
    waveform       input checks, 16 <-> 48 kHz resampling, delay removal
    onnx_weights   parameter counts read from ONNX files
    score          the scores (`python -m mbsnet anchors`, results/anchors_*.json)
"""
from __future__ import annotations

import importlib

from mbsnet.anchors.wheels import AnchorUnavailable, wheel_version

# name -> (module, class)
_REGISTRY = {"gtcrn": ("gtcrn", "GTCRN"),
             "deepfilternet3": ("deepfilternet", "DeepFilterNet3"),
             "rnnoise": ("rnnoise", "RNNoise")}

__all__ = ["AnchorUnavailable", "available", "check", "describe", "load", "names"]


def names() -> tuple[str, ...]:
    """The anchors' names, in the order they are reported."""
    return tuple(_REGISTRY)


def _module(name: str):
    if name not in _REGISTRY:
        raise KeyError(f"unknown anchor {name!r}; the anchors are {', '.join(_REGISTRY)}")
    return importlib.import_module(f"mbsnet.anchors.{_REGISTRY[name][0]}")


def check(name: str) -> None:
    """Raise AnchorUnavailable (one line, with the pip command) unless anchor `name` can load here;
    KeyError for an unknown name. Loads nothing."""
    _module(name).check()


def available(name: str) -> bool:
    """Whether anchor `name` can load here (its wheel, and for GTCRN onnxruntime, installed); loads nothing."""
    try:
        check(name)
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
