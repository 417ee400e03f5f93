"""`python -m mbsnet data` then `python -m mbsnet evaluate` end to end, on a tiny corpus and model."""
import json
from dataclasses import replace

import pytest
import torch

from mbsnet import build_model, presets
from mbsnet.checkpoint import atomic_save
from mbsnet.cli import main

TINY = replace(presets.get("final"), name="tiny", channels=16, n_layers=1, d_state=4, expand=1,
               decoder_hidden=32)


def test_data_then_evaluate(tmp_path, capsys):
    root = tmp_path / "corpus"
    assert main(["data", "--out", str(root), "--n-train", "2", "--n-test", "1", "--seed", "1"]) == 0
    assert "1 test" in capsys.readouterr().out
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    atomic_save({"config": TINY.to_dict(), "model": build_model(TINY).state_dict()}, ckpt)
    out = tmp_path / "results.json"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(root), "--out", str(out),
                 "--tune-n", "1", "--n-arctic", "2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads(out.read_text())
    assert stored["provenance"]["git_commit"] and stored["synthetic"]["summary"]["noisy"]["n"] == 1
    assert stored["arctic"]["summary"]["model"]["n"] == 2
    for system in ("noisy", "wiener", "model"):
        assert printed["synthetic"]["summary"][system]["si_sdr"] == pytest.approx(
            stored["synthetic"]["summary"][system]["si_sdr"])


def test_evaluate_reports_a_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"definitely not a zip file")
    assert main(["evaluate", "--checkpoint", str(bad), "--out", ""]) == 2
    assert "corrupt" in capsys.readouterr().err
