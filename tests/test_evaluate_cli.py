"""`python -m mbsnet data` then `python -m mbsnet evaluate` end to end, on a tiny corpus and model; the
comparison with the anchors (stored scores matched to the same files, or live)."""
import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

from mbsnet import build_model, presets
from mbsnet.checkpoint import atomic_save
from mbsnet.anchors import available, names as anchor_names, wheels
from mbsnet.cli import main
from mbsnet.comparison import comparison_table, load_live_anchors, stored_anchors
from mbsnet.evaluate import items_sha, voicebank_items
from mbsnet.results import load_result

TINY = replace(presets.get("final"), name="tiny", channels=16, n_layers=1, d_state=4, expand=1,
               decoder_hidden=32)


@pytest.fixture(scope="module")
def corpus_and_checkpoint(tmp_path_factory):
    """A tiny synthetic corpus (2 train, 1 test, the ARCTIC split) and a tiny untrained checkpoint."""
    tmp = tmp_path_factory.mktemp("eval")
    root = tmp / "corpus"
    assert main(["data", "--out", str(root), "--n-train", "2", "--n-test", "1", "--seed", "1"]) == 0
    torch.manual_seed(0)
    ckpt = tmp / "tiny.pt"
    atomic_save({"config": TINY.to_dict(), "model": build_model(TINY).state_dict()}, ckpt)
    return root, ckpt


def test_data_then_evaluate(corpus_and_checkpoint, tmp_path, capsys):
    root, ckpt = corpus_and_checkpoint
    capsys.readouterr()
    out = tmp_path / "results.json"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(root), "--out", str(out), "--no-real",
                 "--tune-n", "1", "--n-arctic", "2", "--anchors", "none", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads(out.read_text())
    assert stored["provenance"]["git_commit"] and stored["synthetic"]["summary"]["noisy"]["n"] == 1
    assert stored["provenance"]["command"] == (f"python -m mbsnet evaluate --checkpoint {ckpt} --data {root} "
                                               f"--n-arctic 2 --tune-n 1 --anchors none --no-real --out {out}")
    assert stored["arctic"]["summary"]["model"]["n"] == 2 and "real" not in stored
    for system in ("noisy", "wiener", "model"):
        assert printed["synthetic"]["summary"][system]["si_sdr"] == pytest.approx(
            stored["synthetic"]["summary"][system]["si_sdr"])
    cmp = stored["arctic"]["comparison"]
    assert list(cmp["systems"]) == ["noisy", "wiener", "model"] and cmp["missing"] == {}
    assert cmp["systems"]["model"]["params"] == sum(p.numel() for p in build_model(TINY).parameters())
    assert cmp["systems"]["model"]["rtf"] > 0 and cmp["systems"]["wiener"]["rtf"] > 0   # measured
    assert stored["arctic"]["items_sha"] == items_sha(
        [{"id": r["id"], "noisy": np.zeros(round(r["seconds"] * 16_000))}
         for r in json.loads((root / "manifest.json").read_text())["splits"]["arctic"][:2]])


@pytest.mark.skipif(not all(available(n) for n in anchor_names()), reason="the anchors' wheels are not installed")
def test_evaluate_scores_live_anchors_in_the_same_loop(corpus_and_checkpoint, tmp_path, capsys):
    root, ckpt = corpus_and_checkpoint
    out = tmp_path / "results.json"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(root), "--out", str(out), "--no-real",
                 "--tune-n", "1", "--n-arctic", "1", "--anchors", "live", "--no-rtf"]) == 0
    printed = capsys.readouterr().out
    stored = json.loads(out.read_text())
    for test_set in ("synthetic", "arctic"):
        cmp = stored[test_set]["comparison"]
        assert list(cmp["systems"]) == ["noisy", "wiener", "model", *anchor_names()] and cmp["missing"] == {}
        rows = {r["system"]: r for r in stored[test_set]["rows"]}
        for name in anchor_names():
            assert cmp["systems"][name]["source"] == "live" and cmp["systems"][name]["params"] > 20_000
            assert cmp["systems"][name]["summary"]["si_sdr"] == pytest.approx(rows[name]["si_sdr"])
            assert f"\n  {name} " in printed


def test_a_missing_wheel_is_a_line_not_an_error(monkeypatch):
    monkeypatch.setattr(wheels, "_find_spec", lambda import_name: None)
    loaded, missing = load_live_anchors()
    assert loaded == {} and list(missing) == list(anchor_names())
    assert "pip install --no-deps pyrnnoise==0.4.5" in missing["rnnoise"]


def _evaluated(noisy_pesq=(1.5, 2.0)):
    items = [{"id": f"u{i}", "noisy": np.zeros(16_000 + i)} for i in range(2)]
    rows = [{"id": it["id"], "system": "noisy", "pesq": p, "stoi": 0.9, "si_sdr": 5.0}
            for it, p in zip(items, noisy_pesq)]
    return {"n_items": 2, "items_sha": items_sha(items), "rows": rows,
            "summary": {"noisy": {"pesq": float(np.mean(noisy_pesq)), "stoi": 0.9, "si_sdr": 5.0}}}


def _store(results_dir, evaluated, names=("gtcrn",), name="anchors_arctic.json"):
    summary = {"noisy": evaluated["summary"]["noisy"], **{n: {"pesq": 2.5, "stoi": 0.95, "si_sdr": 12.0}
                                                           for n in names}}
    rows = evaluated["rows"] + [{"id": r["id"], "system": n, "pesq": 2.0 + i, "stoi": 0.9, "si_sdr": 12.0}
                                for n in names for i, r in enumerate(evaluated["rows"])]
    (results_dir / name).write_text(json.dumps(
        {"provenance": {"date": "2026-12-01T00:00:00+00:00", "git_commit": "abcdef0123"},
         "items_sha": evaluated["items_sha"], "n_items": 2, "rows": rows, "summary": summary,
         "anchors": {n: {"params": 1000, "rtf": 0.05} for n in names}}))


def test_stored_anchors_are_used_only_on_the_same_files(tmp_path):
    here = _evaluated()
    found, missing = stored_anchors("arctic", here, results_dir=tmp_path)
    assert found == {} and "no stored anchor scores (anchors_arctic.json)" in missing["anchors"]
    _store(tmp_path, here)
    found, missing = stored_anchors("arctic", here, results_dir=tmp_path)
    assert found["gtcrn"]["summary"]["pesq"] == 2.5 and found["gtcrn"]["source"].startswith("anchors_arctic.json")
    assert set(missing) == {"deepfilternet3", "rnnoise"} and "not in anchors_arctic.json" in missing["rnnoise"]
    other_audio = _evaluated(noisy_pesq=(1.5, 2.1))                 # same ids and lengths, other noisy scores
    found, missing = stored_anchors("arctic", other_audio, results_dir=tmp_path)
    assert found == {} and "other audio (noisy-input pesq differs by up to 0.1)" in missing["anchors"]
    fewer = {**here, "items_sha": items_sha([{"id": "u1", "noisy": np.zeros(16_001)}]), "n_items": 1,
             "rows": here["rows"][1:]}
    found, missing = stored_anchors("arctic", fewer, results_dir=tmp_path)   # a part of the stored files
    assert found["gtcrn"]["summary"] == {"n": 1, "pesq": 3.0, "pesq_n": 1, "stoi": 0.9, "stoi_n": 1,
                                         "si_sdr": 12.0, "si_sdr_n": 1}
    assert "1 of its 2 files" in found["gtcrn"]["source"]
    other = {**fewer, "rows": [{**here["rows"][0], "id": "zz"}]}
    found, missing = stored_anchors("arctic", other, results_dir=tmp_path)
    assert found == {} and "scored other files" in missing["anchors"]
    text = comparison_table("arctic", {**here, "comparison": {"systems": {}, "missing": missing}})
    assert "scored other files" in text.splitlines()[-1]


def test_items_sha_depends_on_ids_lengths_and_order():
    a, b = {"id": "a", "noisy": np.zeros(10)}, {"id": "b", "noisy": np.zeros(12)}
    assert items_sha([a, b]) == items_sha([dict(a), dict(b)])
    assert len({items_sha([a, b]), items_sha([b, a]), items_sha([a]), items_sha([a, {**b, "noisy": np.zeros(13)}]),
                items_sha([a, {**b, "id": "c"}])}) == 5


def test_voicebank_items_are_its_test_pairs_at_16k(tmp_path):
    for folder in ("clean_testset_wav", "noisy_testset_wav"):
        (tmp_path / folder).mkdir()
        for name in ("p232_002.wav", "p232_001.wav"):
            sf.write(tmp_path / folder / name, np.full(4800, 0.1, np.float32), 48_000)
    items = voicebank_items(tmp_path)
    assert [it["id"] for it in items] == ["p232_001", "p232_002"] and len(items[0]["noisy"]) == 1600
    assert [it["id"] for it in voicebank_items(tmp_path, 1)] == ["p232_001"]


def test_stored_anchors_look_in_every_file_of_the_set_and_prefer_an_exact_match(tmp_path):
    """anchors_<set>.json may hold another corpus' files; anchors_<set>_*.json are tried too."""
    here, other_ids = _evaluated(), {**_evaluated(), "items_sha": "elsewhere"}
    other_ids["rows"] = [{**r, "id": "o" + r["id"]} for r in other_ids["rows"]]
    _store(tmp_path, other_ids)                                   # anchors_arctic.json: other files
    found, missing = stored_anchors("arctic", here, results_dir=tmp_path)
    assert found == {} and "scored other files" in missing["anchors"]
    _store(tmp_path, here, name="anchors_arctic_v9.json")        # the same files, under another name
    found, missing = stored_anchors("arctic", here, results_dir=tmp_path)
    assert found["gtcrn"]["source"].startswith("anchors_arctic_v9.json (")
    fewer = {**here, "items_sha": items_sha([{"id": "u1", "noisy": np.zeros(16_001)}]), "n_items": 1,
             "rows": here["rows"][1:]}
    _store(tmp_path, fewer, name="anchors_arctic_v8.json")       # exactly the one file: wins over v9's two
    found, _ = stored_anchors("arctic", fewer, results_dir=tmp_path)
    assert found["gtcrn"]["source"].startswith("anchors_arctic_v8.json (") and "of its" not in found["gtcrn"]["source"]


def test_the_stored_anchor_scores_match_the_stored_evaluations_file_for_file():
    """Notebook 13's table (the shipped model on corpus v3's test sets) and the synthetic-only model's
    stored evaluations: every anchor's stored scores on the very files the model's were stored for."""
    final, real, v3 = load_result("evaluation_final"), load_result("evaluation_real"), load_result("evaluation_v3_final")
    for test_set, evaluated in (("synthetic", final["synthetic"]), ("arctic", final["arctic"]), ("real", real["real"]),
                                *((k, v3[k]) for k in ("synthetic", "arctic", "real"))):
        found, missing = stored_anchors(test_set, evaluated)
        assert missing == {} and list(found) == list(anchor_names())
        n = len({r["id"] for r in evaluated["rows"]})
        assert all(f["summary"]["n"] == n for f in found.values())
        assert all(v <= 0.002 for f in found.values() for v in f["noisy_max_diff"].values())
