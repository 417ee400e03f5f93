"""predict_training_peak for any model: exact against torch's MemTracker, the explanation, the what-ifs, the failures."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from mbsnet.experiments.own_model import cnn, mamba, transformer, transformer_layer
from mbsnet.memory import UntraceableModel, memtracker_training_peak, predict_training_peak
from mbsnet.memory.generic import GENERIC_CATEGORIES
from mbsnet.memory.whatif import max_batch_for, peak_vs_batch, savings
from mbsnet.errors import InputError


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(name):
    """An examples/NAME.py model file, imported as the CLI's --model does."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(spec):
    return spec["build"], spec["batch"], spec["loss"], spec.get("optimizer")


def _close_to_memtracker(spec, method="auto"):
    ours = predict_training_peak(*_args(spec), round_to=1, method=method)
    theirs = memtracker_training_peak(*_args(spec))["peak_bytes"]
    assert abs(ours.peak_bytes - theirs) <= 0.01 * theirs, (ours.peak_bytes, theirs)
    return ours


@pytest.mark.parametrize("make", [cnn, mamba], ids=["cnn", "mamba"])
def test_meta_prediction_is_within_1_percent_of_memtracker(make):
    assert _close_to_memtracker(make()).method == "meta tensors"


def test_transformer_layer_is_within_1_percent_of_memtracker_on_the_same_kernels():
    # FakeTensorMode: the CPU's attention kernel, as MemTracker's fake CPU tensors run it
    _close_to_memtracker(transformer_layer(), method="fake")


def test_meta_attention_takes_cudas_fused_kernel_not_the_math_one():
    spec = transformer(seq=64, batch=4)       # 4 heads: the math path would save (4, 4, 64, 64)
    r = predict_training_peak(*_args(spec), top=10_000)
    shapes = {tuple(t["shape"]) for t in r.largest if t["category"] == "saved_activations"}
    assert (4, 4, 64, 64) not in shapes
    assert (4, 4, 64) in shapes                # the fused kernel's log-sum-exp


def _attention_saved(spec, precision="fp32"):
    r = predict_training_peak(*_args(spec), precision=precision, top=100_000)
    saved = [t for t in r.largest if t["category"] == "saved_activations"]
    return r, {t["op"] for t in r.largest}, saved


def _padded_encoder(b=4, seq=64, d=64):
    spec = transformer(seq=seq, batch=b, d_model=d)

    def batch(n=b):
        pad = torch.zeros(n, seq, dtype=torch.bool)
        pad[:, seq - 8:] = True
        return torch.randn(n, seq, d), pad
    return {**spec, "batch": batch,
            "loss": lambda m, xp: m(xp[0], src_key_padding_mask=xp[1]).square().mean()}


def test_masked_attention_takes_the_efficient_kernel_and_saves_no_probabilities():
    # CUDA runs a masked sdpa in the memory-efficient kernel (the mask as a bias), not the math path
    r, ops, saved = _attention_saved(_padded_encoder())
    assert "aten._scaled_dot_product_efficient_attention.default" in ops
    assert not any(t["op"].endswith("softmax.default") for t in r.largest)
    assert (4, 4, 64, 64) not in {tuple(t["shape"]) for t in saved}
    plain = predict_training_peak(*_args(transformer(seq=64, batch=4)))
    assert abs(r.peak_bytes - plain.peak_bytes) < 0.01 * plain.peak_bytes   # the mask costs ~nothing


def test_bf16_attention_runs_in_bf16_inside_multihead_attention_with_flash():
    # F.multi_head_attention_forward is handed to torch-function modes whole: the autocast
    # emulation must still cast its in-projection, attention and out-projection
    r, ops, saved = _attention_saved(transformer(seq=64, batch=4), "bf16")
    assert "aten._scaled_dot_product_flash_attention.default" in ops
    attn = [t for t in saved if t["module"].endswith("self_attn") and t["dtype"] != "torch.uint64"]
    assert attn and all(t["dtype"] == "torch.bfloat16" or t["shape"] == [4, 4, 64] for t in attn)
    _, ops_masked, _ = _attention_saved(_padded_encoder(), "bf16")      # flash takes no mask
    assert "aten._scaled_dot_product_efficient_attention.default" in ops_masked


def test_fp32_transformer_on_the_cpus_kernels_matches_a_real_cpu_step():
    # the third reference: the real step with real tensors on this CPU, every storage followed
    from mbsnet.memory.reference import real_cpu_training_peak
    spec = transformer(seq=32, batch=4)
    real = real_cpu_training_peak(*_args(spec))
    fake = predict_training_peak(*_args(spec), round_to=1, method="fake")
    assert fake.peak_bytes == real["storage_peak_bytes"]


def test_report_explains_the_peak():
    r = predict_training_peak(*_args(cnn()))
    assert set(r.by_category) == set(GENERIC_CATEGORIES)
    assert sum(r.by_category.values()) == r.peak_bytes
    assert sum(r.by_module(depth=2).values()) == r.peak_bytes
    assert r.by_category["buffers"] > 0 and r.by_category["saved_activations"] > 0
    assert r.peak_phase in ("forward", "backward", "optimizer")
    big = r.largest[0]
    assert big["bytes"] == max(t["bytes"] for t in r.largest) and big["shape"] and big["dtype"]
    assert any(t["op"].startswith("aten.") for t in r.largest)
    assert "0" in r.by_module(1) and "1" in r.by_module(1)       # conv and batch norm
    text = str(r)
    assert "MiB" in text and r.peak_phase in text


class Doubler(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


class Odd(nn.Module):
    """Python control flow, an in-place op, a custom Function, a buffer, the project's scan."""

    def __init__(self, d=16):
        super().__init__()
        self.lin = nn.Linear(d, d)
        self.register_buffer("scale", torch.ones(d))
        self.A = nn.Parameter(-torch.ones(d, 4))

    def forward(self, x):
        from mbsnet.scan import selective_scan
        h = self.lin(x)
        for _ in range(2):
            h = Doubler.apply(h).relu_() * self.scale
        b = x[..., :4].contiguous()
        return selective_scan(h, torch.ones_like(h), self.A, b, b, method="recompute", chunk_size=4)


def test_odd_model_on_meta_matches_memtracker():
    spec = {"build": Odd, "batch": lambda: torch.randn(2, 8, 16),
            "loss": lambda m, x: m(x).square().mean()}
    assert _close_to_memtracker(spec).method == "meta tensors"


def test_checkpointing_a_module_saves_what_it_saved():
    spec = transformer(seq=64, layers=2)
    base = predict_training_peak(*_args(spec))
    ck = predict_training_peak(*_args(spec), checkpoint=("layers.0",))
    assert ck.peak_bytes < base.peak_bytes
    assert ck.by_category["saved_activations"] < base.by_category["saved_activations"]
    with pytest.raises(InputError, match="no module named 'nope'"):
        predict_training_peak(*_args(spec), checkpoint=("nope",))


def test_torch_checkpoint_inside_the_model_is_seen():
    class Ck(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(32, 256), nn.Linear(256, 32)

        def forward(self, x):
            from torch.utils.checkpoint import checkpoint
            return checkpoint(lambda y: self.b(self.a(y).tanh()), x, use_reentrant=False)
    spec = {"build": Ck, "batch": lambda: torch.randn(64, 32), "loss": lambda m, x: m(x).sum()}
    _close_to_memtracker(spec)


def test_bf16_and_accumulation_save_memory():
    spec = transformer(seq=64)
    s = savings(*_args(spec), batch_size=8, top=2)
    assert s["bf16"] > 0 and s["accumulate"]["saving"] > 0
    assert len(s["checkpoint"]) == 2
    assert s["checkpoint"]["layers.0"] > 0     # the last layer is recomputed at once: no saving


def test_peak_is_affine_in_batch_and_the_max_batch_fits():
    spec = cnn()
    fit = peak_vs_batch(*_args(spec), sizes=(1, 2), check_batch=5)
    assert fit["check"]["relative_error"] < 0.01
    mb = max_batch_for(*_args(spec), gpu="RTX 3080 Ti")
    m = mb["max_batch"]
    assert predict_training_peak(*_args(spec), batch_size=m).peak_bytes <= mb["usable_bytes"]
    assert predict_training_peak(*_args(spec), batch_size=m + 1).peak_bytes > mb["usable_bytes"]


def test_item_on_meta_names_the_op():
    spec = _example("reads_a_value").build()
    with pytest.raises(UntraceableModel, match="_local_scalar_dense") as info:
        predict_training_peak(spec["build"], lambda: spec["batch"](2), spec["loss"])
    assert isinstance(info.value, InputError) and "FakeTensorMode" in str(info.value)


def test_cli_untraceable_model_one_line_exit_2(capsys):
    from mbsnet.cli import main

    assert main(["memory", "--model", f"{EXAMPLES / 'reads_a_value.py'}:build", "--batch", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "_local_scalar_dense" in err and "Traceback" not in err


def test_an_explicit_cpu_tensor_falls_back_to_fake_tensors():
    class Cpu(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(x) + torch.ones(4, device="cpu")
    spec = {"build": Cpu, "batch": lambda: torch.randn(2, 4), "loss": lambda m, x: m(x).sum()}
    r = predict_training_peak(*_args(spec))
    assert r.method == "FakeTensorMode" and "meta" in r.fallback_reason and r.peak_bytes > 0


def test_mbsnet_preset_agrees_with_predict_peak():
    from dataclasses import replace

    from mbsnet import presets
    from mbsnet.losses import spectral_loss
    from mbsnet.memory import predict_peak
    from mbsnet.memory.step import random_inputs
    from mbsnet.model import build_model

    cfg = replace(presets.get("seed"), name="tiny", n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9),
                  channels=16, decoder_hidden=32, n_layers=1)
    frames = cfg.frames(0.02)
    generic = predict_training_peak(lambda: build_model(cfg), lambda: random_inputs(cfg, 2, frames),
                                    lambda m, nc: spectral_loss(m(nc[0]), nc[1]),
                                    lambda params: torch.optim.Adam(params, foreach=True))
    assert generic.peak_bytes == predict_peak(cfg, 2, 0.02, "adam").peak_bytes


def test_cli_model_json_gives_peak_top_modules_and_max_batch_for_12_gib(capsys):
    import json

    from mbsnet.cli import main

    example = EXAMPLES / "my_model.py"
    assert main(["memory", "--model", f"{example}:build", "--batch", "8", "--gpu", "RTX 3080 Ti",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predicted"]["peak_bytes"] > 0 and out["predicted"]["top_modules"]
    assert out["max_batch_12gib"] == out["max_batch"]["rtx3080ti"] > 8
    assert out["gpu"]["name"] == "rtx3080ti" and "bf16" in out["savings_bytes"]
