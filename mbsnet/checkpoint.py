"""Checkpoints: atomic writes, training state for exact resume, and loading a model for inference.

A training checkpoint is a dict saved with torch.save:
    config (cfg.to_dict()), model (state_dict), optimizer (state_dict), step, train (train settings),
    rng (torch / numpy / python states), provenance (command, date, git commit, machine)
A shipped (inference) checkpoint keeps only config, model (possibly fp16), step, train, provenance.
"""
from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from mbsnet.config import INFERENCE_FIELDS, RUNTIME_FIELDS, MBSNetConfig
from mbsnet.errors import InputError
from mbsnet.model import MBSNet, build_model
from mbsnet.results import CHECKPOINTS_DIR, provenance

SHIPPED_CHECKPOINT = CHECKPOINTS_DIR / "final" / "final_fp16.pt"


class CheckpointError(InputError):
    """A checkpoint file is missing, unreadable, not an MBS-Net checkpoint, or not the one the
    settings ask for (another configuration)."""


def atomic_save(obj, path) -> Path:
    """torch.save to a temporary file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def rng_states() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def training_state(model: MBSNet, optimizer, step: int, train: dict, command: str | None = None,
                   scaler=None) -> dict:
    """Everything an exact resume needs; "scaler": the GradScaler's state (fp16), when there is one."""
    state = {"config": model.cfg.to_dict(), "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "step": step, "train": train,
             "rng": rng_states(), "provenance": provenance(command)}
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    return state


def read_checkpoint(path) -> dict:
    """Load a checkpoint dict (on CPU); CheckpointError if it is missing, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # zip errors, pickle errors, truncated files
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt or not a torch file): "
                              f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise CheckpointError(f"{path} is not an MBS-Net checkpoint (no 'config' and 'model' entries)")
    return state


def config_from(state: dict) -> MBSNetConfig:
    return MBSNetConfig(**state["config"])


def load_model(path=None, device="cpu") -> MBSNet:
    """The model stored in checkpoint `path` (default: the shipped one), in fp32, in eval mode."""
    path = Path(path) if path is not None else SHIPPED_CHECKPOINT
    state = read_checkpoint(path)
    try:
        model = build_model(config_from(state))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state["model"].items()})
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not match MBS-Net: {exc}") from exc
    return model.to(device).eval()


def architecture_diff(a: MBSNetConfig, b: MBSNetConfig) -> dict:
    """{field: (a's value, b's value)} for every field where `a` and `b` differ, but the name, the
    RUNTIME_FIELDS (how a step runs: the same weights compute the same function) and the
    INFERENCE_FIELDS (the same weights, another output): what makes weights fit another config."""
    return {k: (getattr(a, k), getattr(b, k)) for k in a.__dataclass_fields__
            if k != "name" and k not in RUNTIME_FIELDS + INFERENCE_FIELDS and getattr(b, k) != getattr(a, k)}


def warm_start_model(path, cfg: MBSNetConfig) -> MBSNet:
    """The weights of checkpoint `path` in a trainable fp32 model of `cfg`, for a warm start
    (fresh optimizer and schedule). CheckpointError if the checkpoint holds another architecture;
    the preset name may differ (a candidate promoted to `final` keeps its weights)."""
    stored = config_from(read_checkpoint(path))
    diff = architecture_diff(stored, cfg)
    if diff:
        raise CheckpointError(f"--init: {path} holds config {stored.name!r}, which differs from "
                              f"{cfg.name!r} in {diff} (stored, wanted)")
    model = build_model(cfg)      # `cfg`, not the stored config: the run saves the name it trains under
    model.load_state_dict(load_model(path).state_dict())
    return model.train()


def export_inference(src, dst, half: bool = True, runtime: MBSNetConfig | None = None) -> Path:
    """Weights-only copy of training checkpoint `src` (fp16 if `half`) for shipping.

    runtime: a config whose RUNTIME_FIELDS replace the stored ones (e.g. the preset's scan, so a run
        trained with `--scan compiled` ships with the scan its preset names)."""
    state = read_checkpoint(src)
    weights = {k: v.half() if half and v.is_floating_point() else v for k, v in state["model"].items()}
    config = state["config"] if runtime is None else replace(
        config_from(state), **{k: getattr(runtime, k) for k in RUNTIME_FIELDS}).to_dict()
    return atomic_save({"config": config, "model": weights, "step": state.get("step"),
                        "train": state.get("train"), "provenance": state.get("provenance"),
                        "dtype": "float16" if half else "float32"}, dst)


def with_inference_settings(src, dst, note: str, **settings) -> Path:
    """A copy of weights file `src` at `dst` with INFERENCE_FIELDS (e.g. mask_floor_db) set in its
    config: the same weights, another output. `note` (how the settings were chosen) is kept in the
    file's "inference" record beside the settings and the source's config values."""
    bad = sorted(set(settings) - set(INFERENCE_FIELDS))
    if bad:
        raise ValueError(f"with_inference_settings sets only {INFERENCE_FIELDS}, not {bad}")
    state = read_checkpoint(src)
    stored = config_from(state)
    before = {k: getattr(stored, k) for k in settings}
    return atomic_save({**state, "config": replace(stored, **settings).to_dict(),
                        "inference": {"settings": settings, "before": before, "note": note,
                                      **provenance("with_inference_settings")}}, dst)


def export_run(run_dir, dest, commands: list[str], threads: int, half: bool = True,
               continues: bool = False, notes: str | None = None,
               runtime: MBSNetConfig | None = None) -> Path:
    """Ship a training run: `dest`/NAME_fp16.pt (weights only; NAME = the preset), its logs, and training.json.

    run_dir: a `train --out` folder (checkpoint.pt, train_log.csv, eval_log.jsonl).
    commands: every command that ran (the first run and each --resume), for provenance.
    continues: the run is a warm start (`train --init`) from the model already shipped in `dest`;
        its logs are appended to the shipped ones as a new phase (steps counted on from the last
        shipped step, a `run_phase` column / key added;
        the log's `phase` column is the phase loss term), and training.json lists every phase.
    notes: free text kept with this phase (e.g. where its --init checkpoint came from).
    runtime: passed to export_inference (e.g. the preset: ship with its scan, not `--scan compiled`).
    """

    run_dir, dest = Path(run_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    state = read_checkpoint(run_dir / "checkpoint.pt")
    with open(run_dir / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    evals = [json.loads(line) for line in (run_dir / "eval_log.jsonl").read_text().splitlines() if line]
    phase = {"commands": commands, "threads": threads, "steps": state["step"], "train": state["train"],
             "train_minutes": sum(float(r["step_seconds"]) for r in rows) / 60,
             "checkpoint_provenance": state["provenance"], "notes": notes}
    phases, offset, old_rows, old_evals = [], 0, [], []
    if continues:
        old = json.loads((dest / "training.json").read_text())
        if architecture_diff(config_from(old), config_from(state)):
            raise CheckpointError(f"{run_dir} trained another config than the one shipped in {dest}")
        phases = old.get("phases") or [{k: old.get(k) for k in
                                        ("commands", "threads", "train", "train_minutes",
                                         "checkpoint_provenance")} | {"steps": old["step"], "first_step": 1}]
        offset = old["step"]
        with open(dest / "train_log.csv") as f:
            old_rows = [{"run_phase": 1, **r} for r in csv.DictReader(f)]
        old_evals = [{"run_phase": 1, **json.loads(line)} for line in  # a stored phase key wins
                     (dest / "eval_log.jsonl").read_text().splitlines() if line]
    number = len(phases) + 1
    phase["first_step"] = offset + 1
    phases.append(phase)
    new_rows = [{"run_phase": number, **r, "step": int(r["step"]) + offset} for r in rows]
    new_evals = [{"run_phase": number, **e, "step": e["step"] + offset} for e in evals]

    weights = dest / (f"{state['config']['name']}_fp16.pt" if half else f"{state['config']['name']}.pt")
    export_inference(run_dir / "checkpoint.pt", weights, half, runtime)
    all_rows = old_rows + new_rows
    with open(dest / "train_log.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(all_rows[0]))
        writer.writeheader()
        writer.writerows(all_rows)
    (dest / "eval_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in old_evals + new_evals))
    info = {"commands": [c for p in phases for c in p["commands"]], "threads": threads,
            "step": offset + state["step"], "train": state["train"], "config": state["config"],
            "train_minutes": sum(p["train_minutes"] for p in phases),
            "checkpoint_provenance": state["provenance"], "phases": phases, **provenance("export_run")}
    (dest / "training.json").write_text(json.dumps(info, indent=2, default=str))
    return weights
