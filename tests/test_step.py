"""The one training step: checkpointing is exact, accumulation is exact, CUDA autocast's policy on meta,
the predictor traces the step the trainer runs."""
import argparse
import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from mbsnet import presets, step, train
from mbsnet.config import MBSNetConfig
from mbsnet.memory import predict as memory_predict
from mbsnet.memory import predict_peak
from mbsnet.model import build_model
from mbsnet.precision import CudaAutocastEmulation
from mbsnet.step import MicroBatch, StepSettings, split_batch, train_step

# 4 bands of a 64-point STFT, 16 channels: fast.
TINY = replace(presets.get("seed"), name="tiny", n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9),
               channels=16, decoder_hidden=32, n_layers=1)
SECONDS = 0.02


def _grads(cfg, state=None, seed=0):
    torch.manual_seed(seed)
    model = build_model(cfg).double()
    if state is not None:
        model.load_state_dict(state)
    x = torch.randn(2, cfg.n_bins, 12, dtype=torch.complex128)
    y = torch.randn(2, cfg.n_bins, 12, dtype=torch.complex128)
    step.spectral_loss(model(x), y).backward()
    return model, {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("mode", ["mixers", "blocks"])
@pytest.mark.parametrize("direction", ["bi", "uni"])
@pytest.mark.parametrize("chunk", [64, 3])
def test_activation_checkpointing_gives_the_plain_models_gradients(mode, direction, chunk):
    """Chunk 3 (final_lean's small chunks): 12 frames and 4 bands are 4 and 2 scan chunks, so the
    recomputed scans carry state across chunks."""
    plain_cfg = replace(TINY, temporal_direction=direction, scan_method="recompute",
                        scan_chunk_size=chunk)
    plain, expected = _grads(plain_cfg)
    _, got = _grads(replace(plain_cfg, activation_checkpointing=mode), plain.state_dict())
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-9, atol=1e-12, msg=name)


def test_checkpointing_saves_predicted_memory():
    plain = predict_peak(TINY, 2, SECONDS)
    mixers = predict_peak(replace(TINY, activation_checkpointing="mixers"), 2, SECONDS)
    assert mixers.categories["saved_activations"] < 0.5 * plain.categories["saved_activations"]
    assert mixers.checkpointing == "mixers" and plain.checkpointing == "none"


def test_accumulated_micro_batches_give_the_full_batchs_gradients():
    cfg = replace(TINY, scan_method="recompute")
    torch.manual_seed(0)
    wav = torch.randn(2, 4, 800)
    grads = []
    for accumulate in (1, 2, 4):
        torch.manual_seed(1)
        model = build_model(cfg)
        s = StepSettings(optimizer="none", grad_clip=None, accumulate=accumulate)
        row = train_step(model, None, split_batch(wav[0], wav[1], cfg, s), s)
        grads.append(([p.grad.clone() for p in model.parameters()], row["loss"]))
    for g, loss in grads[1:]:
        assert loss == pytest.approx(grads[0][1], rel=1e-5)
        for a, b in zip(g, grads[0][0]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_emulation_applies_cudas_autocast_lists_on_meta():
    x = torch.randn(8, 4, device="meta")
    w = torch.nn.Parameter(torch.randn(4, 4, device="meta"))
    half = x.to(torch.bfloat16)
    with CudaAutocastEmulation(torch.bfloat16) as mode:
        assert F.linear(x, w).dtype == torch.bfloat16                # lower-precision list
        assert (x @ w).dtype == torch.bfloat16
        assert F.layer_norm(half, (4,)).dtype == torch.float32        # fp32 list (bf16 on CPU autocast)
        assert torch.softmax(half, -1).dtype == torch.float32
        assert half.sum().dtype == torch.float32
        assert torch.exp(half).dtype == torch.float32
        assert torch.addcmul(x, half, half).dtype == torch.float32    # promote list
        assert torch.cat([half, x]).dtype == torch.float32            # ordinary promotion
        assert torch.sigmoid(half).dtype == torch.bfloat16            # not in a list
        assert torch.exp(x.double()).dtype == torch.float64           # float64 is never cast
        F.linear(x, w)
        assert len(mode._cache) == 1                                  # the parameter's cast is cached
    assert F.linear(x, w).dtype == torch.float32                      # off outside the region
    with torch.autocast("cpu", dtype=torch.bfloat16):                 # why the emulation exists
        assert F.layer_norm(torch.randn(2, 4).bfloat16(), (4,)).dtype == torch.bfloat16


def test_bf16_trainer_step_is_predicted_with_bf16_saved_tensors():
    cfg = replace(TINY, scan_method="recompute")
    fp32 = predict_peak(cfg, 2, SECONDS, step=StepSettings())
    bf16 = predict_peak(cfg, 2, SECONDS, step=StepSettings(precision="bf16"))
    assert bf16.precision == "bf16" and fp32.precision == "fp32"
    assert bf16.categories["saved_activations"] < fp32.categories["saved_activations"]
    lean = predict_peak(replace(cfg, activation_checkpointing="mixers", precision="fp16"), 2, SECONDS,
                        step=StepSettings())
    assert lean.precision == "fp16" and lean.checkpointing == "mixers"


def test_the_default_prediction_is_the_originals_step():
    default = predict_peak(TINY, 2, SECONDS)
    original = predict_peak(TINY, 2, SECONDS, step=StepSettings.original())
    assert default.peak_bytes == original.peak_bytes
    d = default.to_dict()
    assert (d["step"], d["optimizer"], d["precision"], d["checkpointing"], d["micro_batch"],
            d["accumulate"]) == ("original", "adam", "fp32", "none", 2, 1)
    trainer = predict_peak(TINY, 4, SECONDS, step=StepSettings(accumulate=2)).to_dict()
    assert (trainer["step"], trainer["optimizer"], trainer["micro_batch"], trainer["accumulate"]) == \
        ("trainer", "adamw", 2, 2)


def test_new_config_fields_keep_old_dicts_and_checkpoints_readable():
    seed = presets.get("seed")
    assert "precision" not in seed.to_dict() and "activation_checkpointing" not in seed.to_dict()
    assert presets.get("final_lean").to_dict()["precision"] == "bf16"
    assert MBSNetConfig(**presets.get("final_lean").to_dict()) == presets.get("final_lean")
    old = {**train.TrainSettings().to_dict(), "amp": True}
    assert train.TrainSettings.from_dict(old) == train.TrainSettings()
    with pytest.raises(ValueError, match="precision"):
        replace(seed, precision="fp8")


def test_remedy_presets_are_one_change_from_their_parents_and_not_rungs():
    for name in presets.remedy_names():
        assert name not in presets.names()
        if name != "authors_attempt":       # a historical configuration: four changes at once
            assert len(presets.changes(name)) == 1, name
    assert presets.changes("final_checkpointed_bf16") == {"precision": ("fp32", "bf16")}
    assert presets.parent("final_checkpointed_bf16") == "final_checkpointed"
    assert presets.changes("final_scan_chunk4") == {"scan_chunk_size": (64, 4)}
    assert presets.changes("final_lean") == {"activation_checkpointing": ("mixers", "blocks")}
    lean = presets.get("final_lean")
    assert (lean.precision, lean.activation_checkpointing, lean.scan_chunk_size) == ("bf16", "blocks", 4)


def test_memory_predicts_the_step_that_train_runs(monkeypatch, capsys):
    """`memory --preset final --batch 6` and `train --preset final --batch 6` (at one segment
    length: train's default is 1 s, memory's 2 s; 0.1 s here, to be fast): the trainer calls
    mbsnet.step.train_step with the same settings and micro-batch shapes as the predictor traces
    through that function, and the CLI's peak is the prediction of that step."""
    from mbsnet.cli import main
    from mbsnet.cli import train as train_cli

    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    cfg, settings = train_cli.settings_from_args(parser.parse_args(
        ["--preset", "final", "--batch", "6", "--segment-seconds", "0.1", "--out", "unused"]))

    class Seen(Exception):
        pass

    def capture(model, optimizer, micro_batches, step_settings, **kwargs):
        raise Seen(model.cfg, step_settings, [tuple(m.noisy.shape) for m in micro_batches],
                   type(optimizer).__name__, kwargs.get("scaler"))

    monkeypatch.setattr(train, "train_step", capture)
    wav = torch.randn(16_000).numpy()
    with pytest.raises(Seen) as seen:
        train.train_model(cfg, [(wav, wav)], settings=settings, progress=False)
    trained_cfg, trained_step, trained_shapes, trained_optimizer, scaler = seen.value.args
    monkeypatch.undo()

    traced = []
    real_step = step.train_step

    def record(model, optimizer, micro_batches, settings, **kwargs):
        traced.append((model.cfg, settings, [tuple(m.noisy.shape) for m in micro_batches],
                       type(optimizer).__name__))
        return real_step(model, optimizer, micro_batches, settings, **kwargs)

    monkeypatch.setattr(step, "train_step", record)
    monkeypatch.setattr(memory_predict, "_CACHE", {})
    assert main(["memory", "--preset", "final", "--batch", "6", "--seconds", "0.1", "--json",
                 "--no-max-batch"]) == 0
    out = json.loads(capsys.readouterr().out)["predicted"]
    assert traced == [(trained_cfg, trained_step, trained_shapes, trained_optimizer)]
    assert trained_optimizer == "AdamW" and scaler is None
    assert (out["step"], out["optimizer"], out["precision"], out["checkpointing"]) == \
        ("trainer", "adamw", "fp32", "none")
    assert out["peak_bytes"] == predict_peak(trained_cfg, 6, 0.1, step=trained_step).peak_bytes


def test_a_step_on_meta_reads_no_values():
    with torch.device("meta"):
        model = build_model(TINY)
    x = torch.randn(2, TINY.n_bins, 5, dtype=torch.complex64, device="meta")
    assert train_step(model, step.make_optimizer(model, StepSettings()), [MicroBatch(x, x)],
                      StepSettings()) == {}


def test_details_name_every_tensor_live_at_the_peak():
    """predict_peak(details=True): the live tensors grouped by kind add up to the peak and to each
    category; the same peak as without details."""
    cfg = replace(TINY, scan_method="recompute", scan_chunk_size=3, activation_checkpointing="blocks")
    r = predict_peak(cfg, 2, SECONDS, step=StepSettings(), details=True)
    assert sum(k["bytes"] for k in r.live_by_kind) == r.peak_bytes
    for category, nbytes in r.categories.items():
        assert sum(k["bytes"] for k in r.live_by_kind if k["category"] == category) == nbytes
    sizes = [t["bytes"] for t in r.largest]
    assert sizes == sorted(sizes, reverse=True) and all(t["op"] and t["shape"] for t in r.largest[:3])
    plain = predict_peak(cfg, 2, SECONDS, step=StepSettings())
    assert plain.peak_bytes == r.peak_bytes and plain.largest == [] and "largest_tensors" not in plain.to_dict()
