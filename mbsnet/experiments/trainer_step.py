"""The original's step beside the trainer's: the seed's predicted peak at batch 1 and 2, fp32 and bf16 (notebooks 2 and 3).

    PYTHONPATH=$PWD python -m mbsnet.experiments.trainer_step results/trainer_step_seed.json

The original MBS-Net's step (StepSettings.original(): Adam, spectral_loss, no clipping, from
complex STFTs) and the step `python -m mbsnet train` runs (TrainSettings().step_settings(): AdamW,
enhancement_loss, gradient clipping at 5, from waveforms), each in fp32 and under (emulated) CUDA
bf16 autocast, for the seed at batch 1 and 2 on 2 s segments. A few minutes on a laptop CPU: the
seed's batch-2 predictions take longer than a notebook cell should, so the notebooks read this
file and re-predict one row live to check it still holds.
"""
from __future__ import annotations

import sys

from mbsnet import presets
from mbsnet.memory.predict import predict_peak
from mbsnet.results import save_result
from mbsnet.step import StepSettings
from mbsnet.units import GiB

SECONDS = 2.0
BATCHES = (1, 2)
PRECISIONS = ("fp32", "bf16")


def steps() -> dict:
    """{"original": StepSettings, "trainer": StepSettings}: the two steps compared."""
    from mbsnet.train import TrainSettings

    return {"original": StepSettings.original(), "trainer": TrainSettings().step_settings()}


def settings_for(kind: str, precision: str) -> StepSettings:
    """The `kind` step ("original" or "trainer") with its precision set to `precision`."""
    from dataclasses import replace

    return replace(steps()[kind], precision=precision)


def row(name: str, kind: str, precision: str, batch: int, seconds: float = SECONDS) -> dict:
    """One prediction: peak, phase, categories (bytes), the step's settings and the time it took."""
    r = predict_peak(presets.get(name), batch, seconds, step=settings_for(kind, precision))
    return {"preset": name, "step": kind, "precision": precision, "batch_size": batch,
            "optimizer": r.optimizer, "peak_bytes": r.peak_bytes, "peak_gib": round(r.peak_gib, 4),
            "peak_phase": r.peak_phase, "categories": r.categories,
            "predict_seconds": round(r.elapsed_s, 1)}


def compare(name: str = "seed", log=print, out_path=None) -> dict:
    """Every (step, precision, batch) row for preset `name`; saved after each row if out_path."""
    result = {"preset": name, "seconds": SECONDS,
              "steps": {k: s.to_dict() for k, s in steps().items()}, "rows": []}
    for batch in BATCHES:
        for kind in ("original", "trainer"):
            for precision in PRECISIONS:
                result["rows"].append(row(name, kind, precision, batch))
                r = result["rows"][-1]
                log(f"{name} b{batch} {kind} {precision}: {r['peak_bytes'] / GiB:.3f} GiB "
                    f"({r['predict_seconds']:.0f} s)")
                if out_path:
                    save_result(out_path, result)
    return result


if __name__ == "__main__":
    compare(out_path=sys.argv[1], log=lambda msg: print(msg, flush=True))
