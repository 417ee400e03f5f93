"""MBS-Net Memory Clinic: a memory-efficient pure-PyTorch Mamba speech enhancer."""
from . import config, presets
from .config import MBSNetConfig
from .model import build_model

__all__ = ["MBSNetConfig", "build_model", "config", "presets"]
__version__ = "0.1.0"
