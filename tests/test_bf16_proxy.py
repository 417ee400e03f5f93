"""The bf16 proxy experiment on a tiny config: both precisions from the same start, bf16 really runs bf16 matmuls on the CPU."""
from dataclasses import replace

import torch

from mbsnet import presets
from mbsnet.experiments.bf16_proxy import run
from mbsnet.precision import autocast_context, emulate_cuda_autocast_on

TINY = dict(n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9), channels=16, decoder_hidden=32,
            n_layers=1)


def test_the_emulation_reaches_cpu_tensors_only_inside_the_switch():
    lin = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast_context("cpu", "bf16"):
        assert lin(x).dtype == torch.float32              # the trainer's CPU default: fp32
    with emulate_cuda_autocast_on("cpu"):
        with autocast_context("cpu", "bf16"):
            y = lin(x)
            assert y.dtype == torch.bfloat16               # linear: CUDA's lower-precision list
            assert torch.softmax(y, -1).dtype == torch.float32   # softmax: CUDA's fp32 list
    with autocast_context("cpu", "bf16"):
        assert lin(x).dtype == torch.float32               # the switch is undone on exit


def test_the_experiment_trains_both_precisions_from_the_same_start(tmp_path):
    cfg = replace(presets.get("final"), **TINY)
    out = tmp_path / "bf16_proxy.json"
    r = run(steps=2, seconds=0.1, seeds=(0, 1), eval_every=1, cfg=cfg, out_path=out, log=None)
    assert out.exists() and set(r["runs"]) == {"fp32_seed0", "bf16_seed0", "fp32_seed1", "bf16_seed1"}
    for seed in (0, 1):
        e32, e16 = r["runs"][f"fp32_seed{seed}"]["evals"], r["runs"][f"bf16_seed{seed}"]["evals"]
        assert [e["step"] for e in e32] == [0, 1, 2]
        assert e32[0] == e16[0]                            # same initial parameters, fp32 scoring
        assert e32[-1] != e16[-1]                          # bf16 training changed the weights differently
    assert r["runs"]["fp32_seed0"]["evals"][0] != r["runs"]["fp32_seed1"]["evals"][0]
    assert [e["step"] for e in r["summary"]["evals"]] == [1, 2] and r["summary"]["last"]["step"] == 2
    assert set(r["summary"]) >= {"train_loss_last_quarter", "cpu_ratio_bf16_to_fp32"}
