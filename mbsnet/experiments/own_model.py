"""Your own model: predict_training_peak beside torch's MemTracker on three models no one here wrote.

    PYTHONPATH=$PWD python -m mbsnet.experiments.own_model [--out results/own_model_predictor.json] [--seed]

The models (small sizes, so MemTracker runs in seconds): torch.nn.TransformerEncoder, a small
convolutional network, and mamba.py's Mamba (PyPI `mambapy`). For each: predicted peak bytes
(predict_training_peak, unrounded, to compare with MemTracker on fake CPU tensors, and with the
512 B rounding of CUDA), MemTracker's peak, the relative difference, and the CPU seconds of each.
With --seed, also MBS-Net's seed at batch 2 (2 s segments): predict_training_peak, and MemTracker
(minutes) unless --no-seed-memtracker. With --seed-only, the stored rows of `--out` are kept and only
the seed's row is measured again (MemTracker included), one run after the other on the same load.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from mbsnet.results import RESULTS_DIR, save_result


def transformer(d_model=64, layers=2, seq=32, batch=4, dropout=0.0):
    """TransformerEncoder (b, l, d) -> mean square loss; dropout 0: with dropout a CPU (MemTracker's fake CPU tensors) runs the math attention, CUDA (and the prediction) a fused kernel."""
    def build():
        layer = nn.TransformerEncoderLayer(d_model, 4, 2 * d_model, dropout=dropout, batch_first=True)
        return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    return {"build": build, "batch": lambda b=batch: torch.randn(b, seq, d_model),
            "loss": lambda model, x: model(x).square().mean()}


def transformer_layer(d_model=64, seq=32, batch=4):
    """One TransformerEncoderLayer, dropout 0 (MemTracker counts the same tensors wrapped in an encoder
    higher than the storages alive: see the module docstring of mbsnet.memory.reference)."""
    return {"build": lambda: nn.TransformerEncoderLayer(d_model, 4, 2 * d_model, dropout=0.0, batch_first=True),
            "batch": lambda b=batch: torch.randn(b, seq, d_model),
            "loss": lambda model, x: model(x).square().mean()}


def cnn(size=32, batch=8):
    """Conv-BN-ReLU(in place)-pool x2, linear head; (b, 3, size, size) images, cross-entropy."""
    def build():
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                             nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32),
                             nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(32, 10))
    return {"build": build,
            "batch": lambda b=batch: (torch.randn(b, 3, size, size), torch.randint(0, 10, (b,))),
            "loss": lambda model, xy: F.cross_entropy(model(xy[0]), xy[1])}


def mamba(d_model=32, layers=2, seq=32, batch=2):
    """mamba.py's Mamba (pscan) on (b, l, d)."""
    from mambapy.mamba import Mamba, MambaConfig

    return {"build": lambda: Mamba(MambaConfig(d_model=d_model, n_layers=layers, d_state=8)),
            "batch": lambda b=batch: torch.randn(b, seq, d_model),
            "loss": lambda model, x: model(x).square().mean()}


def seed_model(batch=2, seconds=2.0):
    """MBS-Net's seed preset, the original's step (spectral loss), Adam (foreach)."""
    from mbsnet import presets
    from mbsnet.memory.step import random_inputs
    from mbsnet.losses import spectral_loss
    from mbsnet.model import build_model

    cfg = presets.get("seed")
    return {"build": lambda: build_model(cfg),
            "batch": lambda b=batch: random_inputs(cfg, b, cfg.frames(seconds)),
            "loss": lambda model, nc: spectral_loss(model(nc[0]), nc[1]),
            "optimizer": lambda params: torch.optim.Adam(params, foreach=True)}


MODELS = {"transformer_encoder": transformer, "transformer_layer": transformer_layer, "cnn": cnn,
          "mamba": mamba}
# sizes of the real-CPU check: large enough that malloc's own bookkeeping is < 0.2% of the peak
LARGER = {"transformer_encoder": dict(d_model=256, seq=256, batch=8),
          "transformer_layer": dict(d_model=256, seq=256, batch=8), "cnn": dict(size=64, batch=16),
          "mamba": dict(d_model=128, seq=256, batch=8)}


def _median_cpu(fn, repeats):
    runs = [fn() for _ in range(repeats)]
    return runs[0], sorted(r["cpu_s"] if isinstance(r, dict) else r.cpu_s for r in runs)[repeats // 2]


def compare(spec: dict, memtracker: bool = True, repeats: int = 3, real: bool = False) -> dict:
    """predict_training_peak (unrounded and 512 B-rounded) beside MemTracker on one model; CPU
    seconds: the median of `repeats` runs of each, interleaved. real: also the real CPU step."""
    from mbsnet.memory.generic import predict_training_peak
    from mbsnet.memory.reference import memtracker_training_peak, real_cpu_training_peak

    args = (spec["build"], spec["batch"], spec["loss"], spec.get("optimizer"))
    ours, ours_cpu, ref, ref_cpu = None, [], None, []
    for _ in range(repeats if memtracker else 1):         # interleaved: the same load on both
        r = predict_training_peak(*args, round_to=1)
        ours, ours_cpu = ours or r, ours_cpu + [r.cpu_s]
        if memtracker:
            m = memtracker_training_peak(*args)
            ref, ref_cpu = ref or m, ref_cpu + [m["cpu_s"]]
    ours_s = sorted(ours_cpu)[len(ours_cpu) // 2]
    rounded = predict_training_peak(*args)
    fake = predict_training_peak(*args, round_to=1, method="fake")   # the CPU's kernels, as MemTracker
    row = {"predicted_peak_bytes": ours.peak_bytes, "predicted_peak_bytes_512": rounded.peak_bytes,
           "predicted_cpu_s": round(ours_s, 3), "predicted_phase": ours.peak_phase,
           "method": ours.method, "categories": ours.categories,
           "predicted_fake_cpu_kernels_peak_bytes": fake.peak_bytes}
    if memtracker:
        ref_s = sorted(ref_cpu)[len(ref_cpu) // 2]
        row.update(memtracker_peak_bytes=ref["peak_bytes"], memtracker_cpu_s=round(ref_s, 3),
                   relative_difference=(ours.peak_bytes - ref["peak_bytes"]) / ref["peak_bytes"],
                   relative_difference_same_kernels=(fake.peak_bytes - ref["peak_bytes"]) / ref["peak_bytes"],
                   speedup=round(ref_s / max(ours_s, 1e-9), 1))
    if real:
        cpu = real_cpu_training_peak(*args)
        row.update(real_cpu_storage_peak_bytes=cpu["storage_peak_bytes"],
                   real_cpu_malloc_peak_bytes=cpu["malloc_peak_bytes"])
    return row


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out = argv[argv.index("--out") + 1] if "--out" in argv else str(RESULTS_DIR / "own_model_predictor.json")
    seed_only = "--seed-only" in argv
    earlier = json.loads(Path(out).read_text()) if seed_only else {"models": {}}
    rows = earlier["models"]
    compare(cnn(), memtracker=False)                # warm-up: imports and first-call costs untimed
    for name, make in ({} if seed_only else MODELS).items():
        rows[name] = {"sizes": make.__doc__.splitlines()[0], **compare(make())}
        print(name, rows[name])
        rows[name + "_larger"] = {"sizes": LARGER[name], **compare(make(**LARGER[name]), repeats=1,
                                                                   real=True)}
        print(name, "larger", rows[name + "_larger"])
    if "--seed" in argv or seed_only:
        rows["mbsnet_seed_b2"] = compare(seed_model(), memtracker="--no-seed-memtracker" not in argv,
                                         repeats=1)
        from mbsnet.memory.generic import predict_training_peak   # the predictor before MetaOpCache
        spec = seed_model()
        rows["mbsnet_seed_b2"]["predicted_cpu_s_without_meta_cache"] = round(predict_training_peak(
            spec["build"], spec["batch"], spec["loss"], spec["optimizer"], round_to=1,
            meta_cache=False).cpu_s, 3)
        print("seed", rows["mbsnet_seed_b2"])
    save_result(out, {"models": rows, "note": "bytes: fp32, the default step (AdamW foreach "
                           "unless given), steady state; cpu_s: process CPU time, the median of 3 "
                           "interleaved runs each; *_larger: the same model larger, with the real "
                           "CPU step (real_cpu_*: live storages, glibc malloc's peak) as a third "
                           "reference",
                           **({"provenance_of_the_other_rows": earlier.get("provenance_of_the_other_rows",
                                                                           earlier["provenance"])}
                              if seed_only else {})})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
