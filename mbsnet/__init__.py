"""MBS-Net Memory Clinic: a memory-efficient pure-PyTorch Mamba speech enhancer.

    from mbsnet import presets, build_model
    model = build_model(presets.get("seed"))
    mbsnet.params.breakdown(model); mbsnet.memory.predict_peak(cfg, 2); mbsnet.ssm.selective_scan(...)
"""
from mbsnet import config, memory, params, presets, ssm
from mbsnet.config import MBSNetConfig
from mbsnet.model import build_model

__all__ = ["MBSNetConfig", "build_model", "config", "memory", "params", "presets", "ssm"]
__version__ = "0.1.0"
