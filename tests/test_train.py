"""Trainer: learning, exact resume (in process and after a real kill), NaN and OOM handling."""
import os
import signal
import subprocess
import sys
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mbsnet import presets, train
from mbsnet.assets import ARCTIC_WAVS
from mbsnet.data.audio import istft, load_wav, stft
from mbsnet.checkpoint import read_checkpoint
from mbsnet.evaluate import evaluate_model
from mbsnet.memory import gpus
from mbsnet.memory.budget import max_batch_for_bytes
from mbsnet.memory.predict import predict_peak
from mbsnet.metrics import score_pair
from mbsnet.units import GiB

TINY = replace(presets.get("final"), name="tiny", channels=16, n_layers=1, d_state=4, expand=1,
               decoder_hidden=32)
KW = dict(batch_size=2, segment_seconds=0.25, seed=0, lr=3e-3, progress=False)
# Smaller still (a 64-point STFT in 4 bands): fast to predict memory for.
OOM_TINY = replace(presets.get("seed"), name="oom_tiny", n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9),
                   channels=16, decoder_hidden=32, n_layers=1)


def pairs(n=4, seconds=1.0):
    """Real speech (CMU ARCTIC) + white noise at 5 dB: a small in-memory dataset."""
    speech = load_wav(ARCTIC_WAVS[0])[0]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        clean = speech[i * 4000:i * 4000 + int(seconds * 16_000)]
        noise = rng.standard_normal(len(clean)).astype(np.float32)
        noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** 0.5)
        out.append((clean, clean + noise))
    return out


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_loss_falls_on_a_small_set():
    model, history = train.train_model(TINY, pairs(), steps=40, **KW)
    losses = [h["loss"] for h in history]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])


def test_learning_rate_warms_up_then_decays():
    s = train.TrainSettings(steps=200, lr=1e-3)
    lrs = [train.learning_rate(i, s) for i in range(200)]
    assert lrs[0] < lrs[s.warmup - 1] == pytest.approx(1e-3)
    assert lrs[-1] < 0.1 * 1e-3 and all(a >= b for a, b in zip(lrs[s.warmup:], lrs[s.warmup + 1:]))


def test_checkpoint_holds_config_optimizer_rng_and_provenance(tmp_path):
    train.train_model(TINY, pairs(), steps=2, out=tmp_path, **KW)
    state = read_checkpoint(tmp_path / "checkpoint.pt")
    assert state["config"] == TINY.to_dict() and state["step"] == 2
    assert {"optimizer", "rng", "train", "provenance"} <= set(state)
    assert state["provenance"]["git_commit"] and state["provenance"]["command"]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # atomic: no leftovers
    assert (tmp_path / "train_log.csv").read_text().count("\n") == 3  # header + 2 steps


def test_resume_in_process_gives_identical_weights(tmp_path):
    straight, _ = train.train_model(TINY, pairs(), steps=6, out=tmp_path / "a", **KW)
    train.train_model(TINY, pairs(), steps=6, out=tmp_path / "b", stop_after=3, checkpoint_every=3, **KW)
    resumed, history = train.train_model(TINY, pairs(), steps=6, out=tmp_path / "b", resume=True, **KW)
    assert [h["step"] for h in history] == [4, 5, 6]
    assert same_weights(straight, resumed)
    log = (tmp_path / "b" / "train_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["1", "2", "3", "4", "5", "6"]


_CHILD = """
import sys, time
import torch
from tests.test_train import TINY, KW, pairs
from mbsnet import train
torch.set_num_threads(int(sys.argv[2]))  # the parent's: float sums depend on the thread count
train.train_model(TINY, pairs(), steps=8, out=sys.argv[1], checkpoint_every=1, **KW)
"""


def test_the_gradscalers_state_is_saved_and_restored_on_resume(tmp_path, monkeypatch):
    """fp16's GradScaler (a real torch.amp.GradScaler, enabled on the CPU, its scale doubling
    every step): 4 steps straight and 2 + resume + 2 end at the same scale, which a fresh scaler
    after the resume would not (it would restart at the initial scale)."""
    made = []

    def scaler(device_type, precision):
        made.append(torch.amp.GradScaler("cpu", init_scale=2.0 ** 4, growth_interval=1))
        return made[-1]

    monkeypatch.setattr(train, "make_scaler", scaler)
    train.train_model(TINY, pairs(), steps=4, out=tmp_path / "a", **KW)
    train.train_model(TINY, pairs(), steps=4, out=tmp_path / "b", stop_after=2, checkpoint_every=2, **KW)
    assert read_checkpoint(tmp_path / "b" / "checkpoint.pt")["scaler"]["scale"] == 2.0 ** 6
    train.train_model(TINY, pairs(), steps=4, out=tmp_path / "b", resume=True, **KW)
    straight, resumed = (read_checkpoint(tmp_path / d / "checkpoint.pt")["scaler"] for d in "ab")
    assert straight == resumed and straight["scale"] == 2.0 ** 8 and len(made) == 3
    model = train.build_model(TINY)                 # fp32 / bf16: no scaler, no entry
    assert "scaler" not in train.training_state(model, torch.optim.SGD(model.parameters(), lr=0.1), 0, {})


def test_killed_run_resumes_exactly(tmp_path):
    """SIGKILL a training process mid-run; resuming loses only the steps since its checkpoint."""
    out = tmp_path / "killed"
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), str(torch.get_num_threads())], cwd=repo, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if (out / "checkpoint.pt").exists() and read_checkpoint(out / "checkpoint.pt")["step"] >= 3:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_at = read_checkpoint(out / "checkpoint.pt")["step"]
    assert 1 <= killed_at <= 8
    resumed, _ = train.train_model(TINY, pairs(), steps=8, out=out, resume=True, **KW)
    straight, _ = train.train_model(TINY, pairs(), steps=8, **KW)
    assert same_weights(straight, resumed)


class _PoisonAfter:
    """A dataset whose items turn NaN after `n` reads."""

    def __init__(self, data, n):
        self.data, self.n, self.reads = data, n, 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        self.reads += 1
        clean, noisy = self.data[i]
        return (clean, noisy * np.nan) if self.reads > self.n else (clean, noisy)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    data = _PoisonAfter(pairs(), n=2 * KW["batch_size"])   # steps 1-2 fine, step 3 NaN
    with pytest.raises(train.TrainingDiverged, match=r"step 2: loss is nan.*last good checkpoint"):
        train.train_model(TINY, data, steps=5, out=tmp_path, checkpoint_every=2, **KW)
    assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2


def test_cuda_oom_is_answered_with_the_predicted_max_batch(monkeypatch):
    """The real predictor answers: the batch quoted is the largest whose predicted peak fits the
    device's memory less the CUDA context (checked here with full predictions at m and m + 1)."""
    total, seconds = 2 * GiB, 0.02
    cfg = OOM_TINY

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train, "train_step", oom)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: types.SimpleNamespace(total_memory=total))
    usable = total - int(gpus.CONTEXT_RESERVE)
    step = train.TrainSettings(steps=2, batch_size=2, segment_seconds=seconds, lr=KW["lr"]).step_settings()
    expected = max_batch_for_bytes(cfg, usable, seconds, step=step)["max_batch"]   # the trainer's step
    assert expected > 2
    assert predict_peak(cfg, expected, seconds, step=step).peak_bytes <= usable   # checked with full predictions
    assert predict_peak(cfg, expected + 1, seconds, step=step).peak_bytes > usable
    with pytest.raises(torch.cuda.OutOfMemoryError) as raised:
        train.train_model(cfg, pairs(), steps=2, **{**KW, "segment_seconds": seconds})
    advice = str(raised.value)
    assert advice.startswith("CUDA out of memory at batch 2, 0.02 s segments.")
    assert f"predicts at most batch {expected} fits this GPU (2.0 GiB, 1.5 GiB usable" in advice
    assert f"--batch {expected} or less" in advice


def test_evaluate_model_scores_the_models_output_against_the_noisy_input():
    """evaluate_model's numbers are the metrics of the model's own output (STFT -> model -> iSTFT,
    computed here) and of the noisy input, each scored with mbsnet.metrics on the same pairs."""
    model, _ = train.train_model(TINY, pairs(), steps=2, **KW)
    test_pairs = pairs(2)
    model.train()
    result = evaluate_model(model, test_pairs)
    assert model.training                                        # the mode is given back
    assert result["n"] == 2
    model.eval()
    enhanced, noisy = [], []
    with torch.no_grad():
        for clean, mixture in test_pairs:
            x = torch.as_tensor(mixture).unsqueeze(0)
            estimate = istft(model(stft(x, TINY)), x.shape[-1], TINY)[0].numpy()
            enhanced.append(score_pair(clean, estimate, ("si_sdr", "pesq")))
            noisy.append(score_pair(clean, mixture, ("si_sdr", "pesq")))
    for m in ("si_sdr", "pesq"):
        ours, base = np.mean([s[m] for s in enhanced]), np.mean([s[m] for s in noisy])
        assert result[m] == pytest.approx(ours, abs=1e-4)
        assert result[f"{m}_noisy"] == pytest.approx(base, abs=1e-9)
        assert result[f"{m}_improvement"] == pytest.approx(ours - base, abs=1e-4)
    assert result["si_sdr"] != pytest.approx(result["si_sdr_noisy"], abs=1e-3)   # the model changed the audio


def test_resume_refuses_a_different_config(tmp_path):
    train.train_model(TINY, pairs(), steps=1, out=tmp_path, **KW)
    with pytest.raises(ValueError, match="different config"):
        train.train_model(replace(TINY, channels=8), pairs(), steps=2, out=tmp_path, resume=True, **KW)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.train_model(TINY, pairs(), steps=2, out=tmp_path / "empty", resume=True, **KW)


def test_warm_start_takes_the_weights_and_refuses_another_config(tmp_path):
    from mbsnet.checkpoint import CheckpointError, export_inference, warm_start_model

    model, _ = train.train_model(TINY, pairs(), steps=2, out=tmp_path / "a", **KW)
    shipped = export_inference(tmp_path / "a" / "checkpoint.pt", tmp_path / "w.pt", half=False)
    warm = warm_start_model(shipped, TINY)
    assert warm.training and same_weights(warm, model)
    renamed = warm_start_model(shipped, replace(TINY, name="promoted"))   # same architecture, new name
    assert renamed.cfg.name == "promoted" and same_weights(renamed, model)
    with pytest.raises(ValueError, match="promoted"):
        train.train_model(TINY, pairs(), steps=1, model=renamed, **KW)
    with pytest.raises(CheckpointError, match="d_state"):
        warm_start_model(shipped, replace(TINY, d_state=8))


def test_resume_warm_start_and_export_accept_another_scan_method(tmp_path):
    """The scan method (like checkpointing and precision) changes how a step runs, not the weights;
    a mask floor changes the output: a warm start may set one, a resume may not."""
    from mbsnet.checkpoint import export_inference, load_model, read_checkpoint, warm_start_model

    other = replace(TINY, scan_method="sequential")
    assert TINY.scan_method != other.scan_method
    model, _ = train.train_model(other, pairs(), steps=1, out=tmp_path, **KW)
    train.train_model(TINY, pairs(), steps=2, out=tmp_path, resume=True, **KW)
    assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2
    assert same_weights(warm_start_model(tmp_path / "checkpoint.pt", other), load_model(tmp_path / "checkpoint.pt"))
    with pytest.raises(ValueError, match="different config"):          # a floor changes what it trains
        train.train_model(replace(TINY, mask_floor_db=-20.0), pairs(), steps=3, out=tmp_path, resume=True, **KW)
    assert same_weights(warm_start_model(tmp_path / "checkpoint.pt", replace(TINY, mask_floor_db=-20.0)),
                        load_model(tmp_path / "checkpoint.pt"))
    shipped = export_inference(tmp_path / "checkpoint.pt", tmp_path / "w.pt", half=False, runtime=other)
    assert load_model(shipped).cfg == other                       # ships with the scan asked for
    assert read_checkpoint(export_inference(tmp_path / "checkpoint.pt", tmp_path / "v.pt",
                                            half=False))["config"]["scan_method"] == TINY.scan_method
    from mbsnet.checkpoint import with_inference_settings

    floored = with_inference_settings(shipped, tmp_path / "f.pt", "chosen on a validation set", mask_floor_db=-20.0)
    assert load_model(floored).cfg == replace(other, mask_floor_db=-20.0)
    assert same_weights(load_model(floored), load_model(shipped))
    assert read_checkpoint(floored)["inference"]["before"] == {"mask_floor_db": None}
    with pytest.raises(ValueError, match="not \\['d_state'\\]"):
        with_inference_settings(shipped, tmp_path / "g.pt", "", d_state=8)


def test_export_of_a_warm_started_run_appends_a_phase(tmp_path):
    import csv
    import json

    from mbsnet.checkpoint import export_run, load_model, warm_start_model

    train.train_model(TINY, pairs(), steps=3, out=tmp_path / "one", eval_pairs=pairs(1), eval_every=3, **KW)
    ship = tmp_path / "ship"
    weights = export_run(tmp_path / "one", ship, ["first"], threads=1, half=False)
    model, _ = train.train_model(TINY, pairs(), steps=2, out=tmp_path / "two", eval_pairs=pairs(1),
                                 eval_every=2, model=warm_start_model(weights, TINY), **KW)
    export_run(tmp_path / "two", ship, ["second"], threads=1, half=False, continues=True, notes="warm")
    info = json.loads((ship / "training.json").read_text())
    assert info["step"] == 5 and info["commands"] == ["first", "second"]
    assert [(p["first_step"], p["steps"]) for p in info["phases"]] == [(1, 3), (4, 2)]
    assert info["phases"][1]["notes"] == "warm"
    with open(ship / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["run_phase"]), int(r["step"])) for r in rows] == [(1, 1), (1, 2), (1, 3), (2, 4), (2, 5)]
    evals = [json.loads(line) for line in (ship / "eval_log.jsonl").read_text().splitlines()]
    assert [(e["run_phase"], e["step"]) for e in evals] == [(1, 3), (2, 5)]
    assert same_weights(load_model(weights), model)


def test_remixing_sets_the_drawn_snr_and_leaves_items_and_crops_as_without_it():
    from mbsnet.data.augment import remix_at_snr
    from mbsnet.train import TrainSettings, make_batch

    rng = np.random.default_rng(3)
    pairs = []
    for _ in range(6):
        clean = rng.standard_normal(16_000).astype(np.float32) * 0.1
        pairs.append((clean, clean + rng.standard_normal(16_000).astype(np.float32) * 0.1))   # 0 dB
    plain = TrainSettings(steps=10, batch_size=4, segment_seconds=0.5)
    remixed = TrainSettings(steps=10, batch_size=4, segment_seconds=0.5, remix_snr_db=(15.0, 30.0), remix_prob=1.0)
    clean_a, noisy_a = make_batch(pairs, 7, plain)
    clean_b, noisy_b = make_batch(pairs, 7, remixed)
    assert torch.allclose(clean_a / clean_a.std(1, keepdim=True), clean_b / clean_b.std(1, keepdim=True), atol=1e-5)
    snr = lambda c, n: 10 * torch.log10((c ** 2).sum(1) / ((n - c) ** 2).sum(1))
    assert torch.all(snr(clean_a, noisy_a).abs() < 1.0)                       # the stored pairs, ~0 dB
    assert torch.all((snr(clean_b, noisy_b) > 15 - 1e-3) & (snr(clean_b, noisy_b) < 30 + 1e-3))
    half = TrainSettings(steps=10, batch_size=4, segment_seconds=0.5, remix_snr_db=(20.0, 20.0), remix_prob=0.5)
    assert torch.equal(make_batch(pairs, 7, half)[0], make_batch(pairs, 7, half)[0])     # deterministic
    silent = np.zeros(800, np.float32)
    assert np.array_equal(remix_at_snr(silent, silent + 0.1, 20.0), silent + 0.1)        # no SNR to set
    assert TrainSettings.from_dict(remixed.to_dict()) == remixed
    with pytest.raises(ValueError, match="remix_prob"):
        TrainSettings(remix_prob=0.5)


def test_train_flags_for_the_scan_and_remixing_reach_the_config_and_settings():
    import argparse

    from mbsnet.cli import train as train_cli

    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(["--out", "x", "--scan", "compiled", "--remix-snr", "15,30", "--remix-prob", "0.3"])
    cfg, settings = train_cli.settings_from_args(args)
    assert cfg.scan_method == "compiled" and presets.get("final").scan_method == "recompute"
    assert settings.remix_snr_db == (15.0, 30.0) and settings.remix_prob == 0.3
    cfg, settings = train_cli.settings_from_args(parser.parse_args(["--out", "x"]))
    assert cfg == presets.get("final") and settings.remix_prob == 0.0 and settings.remix_snr_db is None
