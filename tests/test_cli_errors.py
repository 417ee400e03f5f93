"""Every subcommand answers bad input with one line `error: ...` on stderr and exit status 2, before work."""
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mbsnet import build_model, presets
from mbsnet.checkpoint import atomic_save
from mbsnet.cli import main

REPO = Path(__file__).resolve().parent.parent
TINY = replace(presets.get("final"), name="tiny", channels=16, n_layers=1, d_state=4, expand=1,
               decoder_hidden=32)
UNWRITABLE = "/proc/mbsnet-test"          # no file can be created in /proc, not even by root

# (argv, a substring of the error line). {tmp} is a fresh folder, {file} a plain file in it;
# {wav} / {bad_wav} a valid / corrupt wav, {ckpt} / {bad_ckpt} a tiny / corrupt checkpoint,
# {unpaired} a VoiceBank-DEMAND folder whose clean file has no noisy partner.
CASES = {
    "top level": [
        ("nope", "invalid choice: 'nope'"),
    ],
    "params": [
        ("params --preset nope", "unknown preset 'nope'"),
    ],
    "memory": [
        ("memory --preset nope", "unknown preset 'nope'"),
        ("memory --batch 0", "--batch: must be a positive integer"),
        ("memory --batch -3", "--batch: must be a positive integer"),
        ("memory --batch two", "--batch: expected an integer"),
        ("memory --seconds 0", "--seconds: must be a number > 0"),
        ("memory --seconds nan", "--seconds: expected a finite number"),
        ("memory --seconds 0.001", "too short"),
        ("memory --gpu gtx480", "--gpu: invalid choice: 'gtx480'"),
        ("memory --optimizer lion", "--optimizer: invalid choice"),
        ("memory --precision fp8", "--precision: invalid choice: 'fp8'"),
        ("memory --checkpointing all", "--checkpointing: invalid choice: 'all'"),
        ("memory --step new", "--step: invalid choice: 'new'"),
        ("memory --accumulate 0", "--accumulate: must be a positive integer"),
        ("memory --batch 3 --accumulate 2", "--batch (3) must be a multiple of --accumulate (2)"),
        ("memory --oom-cap 0 --measure", "--oom-cap: must be a number > 0"),
        ("memory --out {tmp}/m.json", "--out and --oom-cap need --measure"),
        ("memory --measure --out " + UNWRITABLE + "/m.json", "cannot write --out"),
        ("memory --crosscheck {file}/c.json", "is a file, not a folder"),
        ("memory --sweep {tmp}", "is a folder; give a file name"),
        ("memory --model {tmp}/none.py:build", "--model: no such file"),
        ("memory --model {item_model}", "--model must look like path/to/file.py:factory"),
        ("memory --model {item_model}:nope", "has no function 'nope'"),
        ("memory --model {item_model}:incomplete", "missing loss"),
        ("memory --model {item_model}:build", "op aten._local_scalar_dense.default"),
        ("memory --model {broken_model}:build", "importing"),
    ],
    "bench": [
        ("bench nope", "invalid choice: 'nope'"),
        ("bench scan --batch 0", "--batch: must be a positive integer"),
        ("bench scan --repeats 0", "--repeats: must be a positive integer"),
        ("bench scan --chunk-size -1", "--chunk-size: must be a positive integer"),
        ("bench scan --threads -1", "--threads: must be an integer >= 0"),
        ("bench scan --methods fast,recompute", "--methods: unknown method(s) fast"),
        ("bench scan --methods ,", "--methods: unknown method(s)"),
        ("bench enhance --lengths 0", "--lengths: must be a number > 0"),
        ("bench enhance --lengths ten", "--lengths: expected a number"),
        ("bench enhance --precision fp8", "--precision: invalid choice: 'fp8'"),
        ("bench enhance --profile --precision bf16", "--profile runs fp32"),
        ("bench enhance --lengths ,", "--lengths: expected comma-separated seconds"),
        ("bench enhance --scan fast", "--scan: invalid choice: 'fast'"),
        ("bench enhance --checkpoint {tmp}/missing.pt", "--checkpoint {tmp}/missing.pt not found"),
        ("bench enhance --baseline {tmp}", "holds no mbsnet/ package"),
        ("bench enhance --baseline . --profile", "--profile measures this checkout only"),
        ("bench enhance --repeats 0", "--repeats: must be a positive integer"),
        ("bench scan --out " + UNWRITABLE + "/b.json", "cannot create files in /proc"),
        ("bench scan --out {file}/b.json", "is a file, not a folder"),
    ],
    "ladder": [
        ("ladder --presets seed,nope", "unknown preset 'nope'"),
        ("ladder --steps -1", "--steps: must be a positive integer"),
        ("ladder --segment-seconds 0", "--segment-seconds: must be a number > 0"),
        ("ladder --workers 0", "--workers: must be a positive integer"),
        ("ladder --seeds 0,x", "--seeds: expected an integer"),
        ("ladder --seeds -1", "--seeds: must be an integer >= 0"),
        ("ladder --out " + UNWRITABLE + "/ladder.json", "cannot write --out"),
        ("ladder --out {file}/ladder.json", "is a file, not a folder"),
        ("ladder --out {tmp}/l.json --merge {tmp}/missing.json", "--merge {tmp}/missing.json not found"),
    ],
    "data": [
        ("data --out " + UNWRITABLE + "/corpus", "cannot write --out"),
        ("data --out {file}", "is a file, not a folder"),
        ("data --out {tmp}/c --n-train 0", "--n-train: must be a positive integer"),
        ("data --out {tmp}/c --n-test -1", "--n-test: must be a positive integer"),
        ("data --out {tmp}/c --seed -1", "--seed: must be an integer >= 0"),
    ],
    "train": [
        ("train --preset nope --out {tmp}/run", "unknown preset 'nope'"),
        ("train", "required: --out"),
        ("train --batch 0 --out {tmp}/run", "--batch: must be a positive integer"),
        ("train --steps -5 --out {tmp}/run", "--steps: must be a positive integer"),
        ("train --lr 0 --out {tmp}/run", "--lr: must be a number > 0"),
        ("train --lr=-1e-3 --out {tmp}/run", "--lr: must be a number > 0"),
        ("train --segment-seconds 0 --out {tmp}/run", "--segment-seconds: must be a number > 0"),
        ("train --segment-seconds 0.001 --out {tmp}/run", "too short"),
        ("train --threads -1 --out {tmp}/run", "--threads: must be an integer >= 0"),
        ("train --accumulate 0 --out {tmp}/run", "--accumulate: must be a positive integer"),
        ("train --batch 6 --accumulate 4 --out {tmp}/run", "--batch (6) must be a multiple of --accumulate (4)"),
        ("train --precision fp8 --out {tmp}/run", "--precision: invalid choice: 'fp8'"),
        ("train --remix-prob 0.3 --out {tmp}/run", "--remix-prob needs --remix-snr LO,HI"),
        ("train --remix-prob 1.5 --remix-snr 15,30 --out {tmp}/run", "--remix-prob: must be a number in [0, 1]"),
        ("train --remix-snr 30,15 --remix-prob 0.3 --out {tmp}/run", "--remix-snr: LO must be <= HI"),
        ("train --remix-snr 15 --remix-prob 0.3 --out {tmp}/run", "--remix-snr: expected LO,HI in dB"),
        ("train --scan fast --out {tmp}/run", "--scan: invalid choice: 'fast'"),
        ("train --checkpointing yes --out {tmp}/run", "--checkpointing: invalid choice: 'yes'"),
        ("train --checkpoint-every 0 --out {tmp}/run", "--checkpoint-every: must be a positive integer"),
        ("train --eval-n 0 --out {tmp}/run", "--eval-n: must be a positive integer"),
        ("train --time-weight -1 --out {tmp}/run", "--time-weight: must be a number >= 0"),
        ("train --out {file}", "is a file, not a folder"),
        ("train --out " + UNWRITABLE + "/run", "cannot write --out"),
        ("train --resume --out {tmp}/run", "checkpoint.pt not found"),
        ("train --init {tmp}/missing.pt --out {tmp}/run", "--init {tmp}/missing.pt not found"),
        ("train --init {bad_ckpt} --out {tmp}/run", "corrupt"),
        ("train --data voicebank:/nonexistent --out {tmp}/run", "/nonexistent is not a directory"),
        ("train --data voicebank:{file} --out {tmp}/run", "is a file, not a folder"),
        ("train --data synthetic:{file} --out {tmp}/run", "is a file, not a folder"),
        ("train --data voicebank:{unpaired} --out {tmp}/run", "unpaired file"),
        ("train --data voicebank --out {tmp}/run", "needs a path"),
        ("train --data imagenet --out {tmp}/run", "--data must be"),
    ],
    "enhance": [
        ("enhance {tmp}/missing.wav {tmp}/out.wav --checkpoint {ckpt}",
         "input audio {tmp}/missing.wav not found"),
        ("enhance {tmp} {tmp}/out.wav --checkpoint {ckpt}", "is a folder, not a file"),
        ("enhance {bad_wav} {tmp}/out.wav --checkpoint {ckpt}", "cannot read audio file"),
        ("enhance {wav} {tmp}/out.wav --checkpoint {tmp}/missing.pt", "checkpoint not found"),
        ("enhance {wav} {tmp}/out.wav --checkpoint {bad_ckpt}", "corrupt"),
        ("enhance {wav} " + UNWRITABLE + "/out.wav --checkpoint {ckpt}", "cannot write output"),
        ("enhance {wav} {file}/out.wav --checkpoint {ckpt}", "is a file, not a folder"),
        ("enhance {wav} {tmp}/out.wav --chunk-seconds 0", "--chunk-seconds: must be a number > 0"),
        ("enhance {wav} {tmp}/out.wav --chunk-seconds 0.25", "longer than the 0.5 s overlap"),
        ("enhance {wav} {tmp}/out.wav --mask-floor-db 3", "--mask-floor-db: expected a level in dB in [-200, 0)"),
        ("enhance {wav} {tmp}/out.wav --mask-floor-db loud", "--mask-floor-db: expected a level in dB"),
        ("enhance {wav} {tmp}/out.wav --threads -1", "--threads: must be an integer >= 0"),
        ("enhance {wav} {tmp}/out.wav --scan fast", "--scan: invalid choice: 'fast'"),
        ("enhance {wav} {tmp}/out.wav --precision fp16", "--precision: invalid choice: 'fp16'"),
    ],
    "evaluate": [
        ("evaluate --checkpoint {tmp}/missing.pt --out=", "checkpoint not found"),
        ("evaluate --precision half --out=", "--precision: invalid choice: 'half'"),
        ("evaluate --checkpoint {bad_ckpt} --out=", "corrupt"),
        ("evaluate --out " + UNWRITABLE + "/e.json", "cannot write --out"),
        ("evaluate --out {file}/e.json", "is a file, not a folder"),
        ("evaluate --data {file} --out=", "--data {file} is a file, not a folder"),
        ("evaluate --n-test 0", "--n-test: must be a positive integer"),
        ("evaluate --tune-n -1", "--tune-n: must be a positive integer"),
        ("evaluate --threads -1", "--threads: must be an integer >= 0"),
        ("evaluate --anchors maybe", "--anchors: invalid choice: 'maybe'"),
        ("evaluate --n-voicebank 2 --out=", "--n-voicebank needs --voicebank DIR"),
        ("evaluate --voicebank {file} --out=", "--voicebank {file} is a file, not a folder"),
        ("evaluate --real-test {tmp}/no_corpus --out=", "--real-test: no corpus v3 at {tmp}/no_corpus"),
        ("evaluate --real-test {tmp} --no-real --out=", "--real-test and --no-real exclude each other"),
        ("evaluate --sets validation --out=", "--sets validation needs --data DIR"),
        ("evaluate --sets clean --out=", "--sets clean needs --data DIR"),
        ("evaluate --sets arctic,valid --out=", "--sets: expected test sets from"),
    ],
    "anchors": [
        ("anchors --no-rtf --names nope", "unknown anchor 'nope'; the anchors are gtcrn, deepfilternet3, rnnoise"),
        ("anchors --no-rtf --names ,", "--names lists no anchor"),
        ("anchors --no-rtf --n-test 0", "--n-test: must be a positive integer"),
        ("anchors --no-rtf --set synthetic --data {tmp}/no_corpus", "python -m mbsnet data --out {tmp}/no_corpus"),
        ("anchors --no-rtf --out {file}/out.json", "is a file, not a folder"),
        ("anchors --no-rtf --set real --data {tmp}/no_corpus", "--data: no corpus v3 at {tmp}/no_corpus"),
        ("anchors --no-rtf --set voicebank", "--set voicebank needs --data"),
        ("anchors --no-rtf --set voicebank --data {file}", "--data {file} is a file, not a folder"),
        ("anchors --no-rtf --out {tmp}", "is a folder; give a file name"),
        ("anchors --no-rtf --out " + UNWRITABLE + "/a.json", "cannot write --out"),
    ],
    "gpu-report": [
        ("gpu-report --presets seed,nope", "unknown preset 'nope'"),
        ("gpu-report --cap-gib 0", "--cap-gib: must be a number > 0"),
        ("gpu-report --budget-minutes -1", "--budget-minutes: must be a number > 0"),
        ("gpu-report --repeats 0", "--repeats: must be a positive integer"),
        ("gpu-report --workers -1", "--workers: must be an integer >= 0"),
        ("gpu-report --seconds 0.001 --out {tmp}/r", "too short"),
        ("gpu-report --out {file}", "is a file, not a folder"),
        ("gpu-report --out " + UNWRITABLE + "/r", "cannot write --out"),
    ] + ([] if torch.cuda.is_available() else [      # on a GPU machine this would run the report
        ("gpu-report --out {tmp}/r", "gpu-report needs a CUDA GPU"),
    ]),
}
# A model file whose forward calls .item(): cannot run on meta tensors nor under FakeTensorMode.
ITEM_MODEL = """
import torch, torch.nn as nn

class Item(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        return y * y.sum().item()

def build():
    return {"build": Item, "batch": lambda b: torch.randn(b, 4), "loss": lambda m, x: m(x).sum()}

def incomplete():
    return {"build": Item, "batch": lambda b: torch.randn(b, 4)}
"""
ALL = [(command, argv, expected) for command, cases in CASES.items() for argv, expected in cases]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The inputs the cases name, made once."""
    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    ckpt = root / "tiny.pt"
    atomic_save({"config": TINY.to_dict(), "model": build_model(TINY).state_dict()}, ckpt)
    (root / "bad.pt").write_bytes(b"definitely not a zip file")
    sf.write(root / "in.wav", np.zeros(1600, dtype=np.float32), 16_000, subtype="PCM_16")
    (root / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 3)
    unpaired = root / "voicebank"
    for folder in ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav"):
        (unpaired / folder).mkdir(parents=True)
    sf.write(unpaired / "clean_trainset_28spk_wav" / "p226_001.wav", np.zeros(1600, dtype=np.float32), 16_000)
    (root / "item_model.py").write_text(ITEM_MODEL)
    (root / "broken_model.py").write_text("import no_such_module_here\n")
    return {"item_model": root / "item_model.py", "broken_model": root / "broken_model.py",
            "ckpt": ckpt, "bad_ckpt": root / "bad.pt", "wav": root / "in.wav", "bad_wav": root / "bad.wav",
            "unpaired": unpaired}


def assert_one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("command,argv,expected", ALL, ids=[f"{c}: {a}" for c, a, _ in ALL])
def test_bad_input_is_one_error_line_and_exit_2(command, argv, expected, files, tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    names = {"tmp": tmp_path, "file": tmp_path / "afile", **files}
    before = sorted(tmp_path.rglob("*"))
    assert main([a.format(**names) for a in argv.split()]) == 2
    out, err = capsys.readouterr()
    line = assert_one_error_line(err)
    assert expected.format(**names) in line
    assert out == ""                                      # nothing was run, nothing printed
    assert sorted(tmp_path.rglob("*")) == before          # nor written: it failed before work


def test_every_subcommand_has_bad_input_cases():
    from mbsnet.cli import COMMANDS

    assert set(COMMANDS) <= set(CASES)


@pytest.mark.parametrize("argv", [["memory", "--preset", "nope"],
                                  ["train", "--data", "voicebank:/nonexistent", "--out", "run"]]
                         + ([] if torch.cuda.is_available() else [["gpu-report", "--out", "run"]]))
def test_the_module_prints_one_line_and_exits_2(argv, tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "mbsnet", *argv], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert_one_error_line(done.stderr)
    assert done.stdout == "" and not (tmp_path / "run").exists()


def test_a_real_bug_keeps_its_traceback(monkeypatch):
    """main answers bad input, not every exception: an unexpected one propagates."""
    from mbsnet.cli import params

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(params, "run", broken)
    with pytest.raises(ZeroDivisionError):
        main(["params"])
