"""Corpus v3: shared-recording plans, RIR / EQ augmentation, determinism, disjoint splits, SNRs, the fallback without shared data.

The corpus tests run on a small fake shared-data tree (same layout and manifests as
../shared/data, made-up audio), so they test the real-recording code path on any machine; one
test reads the real tree's manifests when it is there.
"""
import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from mbsnet.cli import main
from mbsnet.data import augment, corpus_v3, real
from mbsnet.data.datasets import CorpusV3Pairs, open_dataset
from mbsnet.evaluate import real_items
from mbsnet.results import REPO_ROOT

FS = 16_000
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aac", ".aiff", ".aif"}


def _speech_like(rng, seconds, lead_zeros=0.0):
    t = np.arange(int(seconds * FS)) / FS
    f0 = rng.uniform(100, 220)
    x = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 12))
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 5) * t) ** 2        # syllables
    x = 0.2 * x / np.abs(x).max()
    return np.concatenate([np.zeros(int(lead_zeros * FS)), x])


def _write_folder(root, folder, files, rng):
    """files: [(name, seconds, est_snr_db, clip_frac, lead_zeros)] -> flac files + manifest.csv."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    with open(root / folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "seconds", "rms_dbfs", "est_snr_db", "orig_peak", "clip_frac", "orig_sr",
                    "orig_ch", "src_path"])
        for name, seconds, snr, clip, lead in files:
            if folder.startswith("noise"):
                x = signal.lfilter([1], [1, -rng.uniform(0.5, 0.95)], rng.standard_normal(int(seconds * FS))) * 0.02
            else:
                x = _speech_like(rng, seconds, lead)
            (root / folder / name).parent.mkdir(parents=True, exist_ok=True)
            sf.write(root / folder / name, x, FS, subtype="PCM_16")
            w.writerow([name, len(x) / FS, -30, snr, 0.5, clip, FS, 1, f"upstream/{name}"])


@pytest.fixture(scope="module")
def fake_shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared") / "data"
    rng = np.random.default_rng(0)
    libri = [(f"{spk}-{spk * 10}-0000.flac", 4.0, 15.0 if spk == 110 else 35.0, 0.0, 0.0) for spk in range(101, 111)]
    _write_folder(root, "speech/librispeech_train-clean-100", libri, rng)
    (root / "speech/librispeech_train-clean-100/SPEAKERS.TXT").write_text(
        ";ID |SEX| SUBSET | MINUTES | NAME\n" + "".join(f"{s} | {'MF'[s % 2]} | train-clean-100 | 25 | x\n"
                                                       for s in range(101, 111)))
    _write_folder(root, "speech/librispeech_test-other",
                  [(f"{s}/{s}-{s * 10}-000{k}.flac", 3.0, 30.0, 0.0, 0.0) for s in (201, 202) for k in (0, 1)], rng)
    _write_folder(root, "speech/picovoice_speech-to-intent",
                  [(f"{u}.flac", 3.0, 60.0, 0.0, 0.0) for u in ("aa-1", "bb-2", "cc-3")], rng)
    _write_folder(root, "speech/picovoice_wake-word",
                  [("alexa/1.flac", 1.2, 80.0, 0.0, 0.4), ("alexa/2.flac", 1.2, 80.0, 0.01, 0.4),
                   ("computer/3.flac", 1.2, 80.0, 0.0, 0.4), ("jarvis/4.flac", 1.0, 80.0, 0.0, 0.4)], rng)
    _write_folder(root, "noise/blanket", [(f"{n}.flac", 8.0, 10.0, 0.0, 0.0)
                                          for n in ("birds", "city", "coffee-shop", "rain")], rng)
    _write_folder(root, "noise/speech_commands_bg", [(f"{n}.flac", 8.0, 10.0, 0.0, 0.0)
                                                     for n in ("doing_the_dishes", "running_tap")], rng)
    return root


SPEC = corpus_v3.CorpusV3Spec(n_train=10, n_test=4, n_real=4, seed=4, max_seconds=2.0, arctic=False,
                              augment=augment.AugmentSpec(rir_prob=0.5, eq_prob=0.5, clip_prob=0.2))


@pytest.fixture(scope="module")
def tiny(fake_shared, tmp_path_factory):
    return corpus_v3.generate_corpus(tmp_path_factory.mktemp("v3"), SPEC, fake_shared, workers=2, progress=False)


def _rt60_schroeder(h, fs=FS):
    """T20 of the energy decay curve (Schroeder backward integration) after the direct sound."""
    direct = int(np.argmax(np.abs(h)))
    edc = np.cumsum((h[direct + 1:].astype(np.float64) ** 2)[::-1])[::-1]
    db = 10 * np.log10(edc / edc[0])
    i5, i25 = int(np.argmax(db <= -5)), int(np.argmax(db <= -25))
    slope = np.polyfit(np.arange(i5, i25) / fs, db[i5:i25], 1)[0]
    return -60 / slope


@pytest.mark.parametrize("seed", range(6))
def test_rir_rt60_measured_by_schroeder_integration_is_the_drawn_one_and_in_range(seed):
    aug = augment.AugmentSpec()
    h, info = augment.random_rir(np.random.default_rng(seed), aug)
    measured = _rt60_schroeder(h)
    assert measured == pytest.approx(info["rt60_s"], rel=0.1)
    assert 0.9 * aug.rt60_s[0] <= measured <= 1.1 * aug.rt60_s[1]
    direct = int(np.argmax(np.abs(h)))
    drr = 10 * np.log10(h[direct] ** 2 / (np.sum(h.astype(np.float64) ** 2) - h[direct] ** 2))
    assert drr == pytest.approx(info["drr_db"], abs=0.1)


def test_eq_keeps_the_level_and_its_response_within_bounds():
    x = signal.lfilter([1], [1, -0.9], np.random.default_rng(0).standard_normal(FS)).astype(np.float32)
    lo, hi = augment.EQ_BOUNDS_DB
    for seed in range(40):
        sos, desc = augment.random_eq(np.random.default_rng(seed))
        freqs, response = signal.sosfreqz(sos, 1024, fs=FS)
        db = 20 * np.log10(np.abs(response[freqs >= 300]))
        assert lo <= db.min() and db.max() <= hi, desc
        y = augment.apply_eq(x, sos)
        assert 20 * np.log10(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(x ** 2))) == pytest.approx(0, abs=0.01)
        assert np.abs(y).max() <= 4 * np.abs(x).max() and not np.allclose(x, y, atol=1e-3)


def test_trim_digital_silence_shortens_long_runs_only():
    tone = 0.1 + 0.05 * np.sin(np.arange(FS) * 0.1)     # never digitally silent
    x = np.concatenate([np.zeros(FS), tone, np.zeros(FS), tone, np.zeros(100), tone, np.zeros(FS)])
    y = real.trim_digital_silence(x)
    edge, gap = int(0.05 * FS), int(0.25 * FS)
    assert len(y) == 3 * FS + 2 * edge + gap + 100
    assert np.abs(y[:edge]).max() == 0 and y[edge] > 0 and np.abs(y[-edge:]).max() == 0
    np.testing.assert_array_equal(y[edge:edge + FS], tone.astype(np.float32))


def test_plans_are_disjoint_filtered_and_keep_picovoice_in_train(fake_shared):
    plan = real.speech_plan(fake_shared, seed=4)
    train, test = plan["train"], plan["test"]
    assert not {u["speaker"] for u in train if u["speaker"]} & {u["speaker"] for u in test}
    assert not {u["path"] for u in train} & {u["path"] for u in test}
    assert {u["source"] for u in test} == {real.LIBRI_TRAIN, real.LIBRI_TEST}
    assert {u["source"] for u in train} == {real.LIBRI_TRAIN, real.PICO_INTENT, real.PICO_WAKE}
    assert plan["dropped"][real.LIBRI_TRAIN]["noisy"] == 1 and plan["dropped"][real.PICO_WAKE]["clipped"] == 1
    assert "110" not in {u["speaker"] for u in train + test}          # est_snr_db 15 < 20: dropped
    noises = real.noise_plan(fake_shared)
    assert {r["path"] for r in noises["test"]} == set(real.HELD_OUT_NOISES) - {"noise/blanket/summer-night.flac"}
    assert not {r["path"] for r in noises["train"]} & set(real.HELD_OUT_NOISES)


def test_manifest_splits_share_no_speakers_sentences_voices_or_noise_recordings(tiny):
    m = json.loads((tiny / "manifest.json").read_text())
    train, held = m["splits"]["train"], m["splits"]["test"] + m["splits"]["real"]
    assert len(train) == 10 and len(m["splits"]["test"]) == 4 and len(m["splits"]["real"]) == 4

    def files(rs):
        return {f for r in rs for f in np.atleast_1d(r.get("speech_file", [])).tolist()}
    assert not {r["speaker"] for r in train if r["speaker"]} & {r["speaker"] for r in held}
    assert not files(train) & files(held) and files(held)
    assert not {r.get("noise_file") for r in train} & {r.get("noise_file") for r in held} - {None}
    assert not {r["text"] for r in train if "text" in r} & {r["text"] for r in held if "text" in r}
    assert not set(m["plan"]["espeak_voices"]["train"]) & set(m["plan"]["espeak_voices"]["test"])
    assert not set(m["plan"]["speech_files"]["train"]) & set(m["plan"]["speech_files"]["test"])
    assert not set(m["plan"]["noise_files"]["train"]) & set(m["plan"]["noise_files"]["test"])
    assert {r["speech_source"] for r in m["splits"]["real"]} <= {real.LIBRI_TRAIN, real.LIBRI_TEST}
    assert all(r["noise"].startswith("rec:") or r["noise"] == "real_babble" for r in m["splits"]["real"])
    assert {"picovoice" in r["speech_source"] for r in held} == {False}
    sources = m["shared_data"]["sources"]
    assert sources[real.LIBRI_TRAIN]["license"].startswith("CC BY 4.0") and "Apache" in sources[real.PICO_WAKE]["license"]
    assert sources["blanket"]["license"]["rain.flac"].startswith("CC BY")
    assert "picovoice" in m["decisions"] and m["target"].startswith("reverberant")
    for split in ("train", "test", "real"):
        assert sum(m["counts"][split]["speech_source"].values()) == len(m["splits"][split])
        assert {r["snr_db"] for r in m["splits"][split]} <= set(m["snrs_db"][split])
    augmented = [r["augment"] for r in m["splits"]["train"] + m["splits"]["test"]]
    assert all(any(a[k] for a in augmented) for k in ("rir", "eq", "clip"))    # every branch made
    assert not any(r["augment"][k] for r in m["splits"]["real"] for k in ("rir", "eq", "clip"))


def test_every_item_is_at_its_recorded_snr(tiny):
    ds = {s: CorpusV3Pairs(tiny, s) for s in ("train", "test", "real")}
    checked = []
    for split, d in ds.items():
        for i, r in enumerate(d.records):
            if r["augment"]["clip"]:          # the SNR is that of the mixture before it clipped
                continue
            clean, noisy = d[i]
            assert clean.shape == noisy.shape and np.abs(noisy).max() <= 0.99 + 1e-4
            snr = 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum((noisy - clean).astype(np.float64) ** 2))
            assert snr == pytest.approx(r["snr_db"], abs=0.2), r["id"]
            checked.append(r)
    assert any(r["augment"]["rir"] for r in checked) and any(r["augment"]["eq"] for r in checked)


def test_same_seed_same_bytes_for_any_worker_count_and_reuse(tiny, fake_shared, tmp_path):
    again = corpus_v3.generate_corpus(tmp_path, SPEC, fake_shared, workers=1, progress=False)
    for path in sorted((tiny).rglob("*.wav")):
        assert (again / path.relative_to(tiny)).read_bytes() == path.read_bytes(), path
    assert len(list(again.rglob("*.wav"))) == 2 * 18
    ma, mb = (json.loads((r / "manifest.json").read_text()) for r in (tiny, again))
    assert ma["splits"] == mb["splits"]
    stamp = (again / "manifest.json").stat().st_mtime_ns
    corpus_v3.ensure_corpus(again, SPEC, fake_shared, progress=False)
    assert (again / "manifest.json").stat().st_mtime_ns == stamp


def test_datasets_and_evaluation_items(tiny):
    assert len(open_dataset(f"v3:{tiny}", "train")) == 10
    assert len(open_dataset(f"real-test:{tiny}", "test")) == 4
    with pytest.raises(ValueError, match="test set"):
        open_dataset(f"real-test:{tiny}", "train")
    items = real_items(tiny, n=2)
    assert len(items) == 2 and items[0]["clean"].shape == items[0]["noisy"].shape
    assert items[0]["speech_source"].startswith("librispeech")


def test_the_validation_set_is_the_second_half_of_the_test_split_and_never_overlaps_the_reported_one(
        tiny, tmp_path):
    from dataclasses import replace

    import torch

    from mbsnet import build_model, presets
    from mbsnet.checkpoint import atomic_save
    from mbsnet.errors import InputError
    from mbsnet.evaluate import run_evaluation, synthetic_items, validation_items

    test_ids = [r["id"] for r in synthetic_items(tiny)]
    assert [r["id"] for r in validation_items(tiny)] == test_ids[2:] and len(test_ids) == 4
    config = replace(presets.get("final"), name="tiny", channels=16, n_layers=1, d_state=4, expand=1,
                     decoder_hidden=32)
    ckpt = tmp_path / "tiny.pt"
    atomic_save({"config": config.to_dict(), "model": build_model(config).state_dict()}, ckpt)
    with pytest.raises(InputError, match="--n-test 2 or less"):
        run_evaluation(ckpt, tiny, sets=("synthetic", "validation"), tune_n=1, progress=False)
    result = run_evaluation(ckpt, tiny, n_test=2, sets=("synthetic", "validation"), tune_n=1, progress=False)
    reported = {r["id"] for r in result["synthetic"]["rows"]}
    chosen_by = {r["id"] for r in result["validation"]["rows"]}
    assert len(reported) == len(chosen_by) == 2 and not reported & chosen_by
    assert set(result["validation"]["summary"]) == {"noisy", "wiener", "model"}
    with pytest.raises(InputError, match="--n-test 2 or less"):
        run_evaluation(ckpt, tiny, sets=("synthetic", "clean"), tune_n=1, progress=False)


def test_the_clean_input_set_feeds_the_validation_sets_clean_signals_and_the_identity_scores_the_ceiling(
        tiny, tmp_path):
    from dataclasses import replace

    import numpy as np

    from mbsnet import build_model, presets
    from mbsnet.checkpoint import atomic_save
    from mbsnet.evaluate import run_evaluation, validation_items

    config = replace(presets.get("final"), name="tiny", channels=16, n_layers=1, d_state=4, expand=1,
                     decoder_hidden=32)
    ckpt = tmp_path / "tiny.pt"
    atomic_save({"config": config.to_dict(), "model": build_model(config).state_dict()}, ckpt)
    result = run_evaluation(ckpt, tiny, sets=("clean",), tune_n=1, progress=False)["clean"]
    validation = validation_items(tiny)
    assert [r["id"] for r in result["rows"] if r["system"] == "noisy"] == [f"{v['id']}-clean" for v in validation]
    assert {r["noise"] for r in result["rows"]} == {"none"}
    noisy = result["summary"]["noisy"]
    assert noisy["pesq"] > 4.5 and noisy["stoi"] > 0.999 and noisy["si_sdr"] > 100     # the input is the reference
    assert result["summary"]["model"]["si_sdr"] < noisy["si_sdr"]       # an untrained model distorts it
    assert not np.isclose(result["summary"]["model"]["pesq"], noisy["pesq"])


def test_without_shared_data_it_builds_from_espeak_and_says_what_is_missing_in_one_line(
        tmp_path, monkeypatch, capsys):
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("MBSNET_SHARED_DATA", str(empty))
    out = tmp_path / "v3"
    assert main(["data", "--version", "3", "--out", str(out), "--n-train", "3", "--n-test", "2",
                 "--max-seconds", "1.5", "--workers", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    said = [line for line in lines if "missing" in line]
    assert len(said) == 1 and str(empty) in said[0] and "no real-speech test split" in said[0]
    m = corpus_v3.read_manifest(out)
    assert {r["speech_source"] for r in m["splits"]["train"] + m["splits"]["test"]} == {"espeak"}
    assert all(not r["noise"].startswith("rec:") and r["noise"] != "real_babble"
               for r in m["splits"]["train"] + m["splits"]["test"])
    assert m["splits"]["real"] == [] and len(m["splits"]["arctic"]) > 0
    with pytest.raises(FileNotFoundError, match="MBSNET_SHARED_DATA") as err:
        real_items(out)
    assert "\n" not in str(err.value)


def test_the_real_shared_tree_splits_disjointly_when_present():
    root = real.shared_root()
    if real.SPEECH_SOURCES[real.LIBRI_TRAIN]["folder"] not in real.present_folders(root):
        pytest.skip(f"no shared recordings at {root}")
    plan = real.speech_plan(root, seed=0)
    assert not {u["speaker"] for u in plan["train"] if u["speaker"]} & {u["speaker"] for u in plan["test"]}
    assert len(plan["test"]) >= 100 and len(plan["held_out_speakers"]) >= 40


def test_the_repository_holds_no_audio_made_from_the_shared_data():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    audio = [Path(p) for p in tracked if Path(p).suffix.lower() in AUDIO_SUFFIXES]
    assert all(p.parts[:2] == ("mbsnet", "assets") and p.stem.startswith("arctic_") for p in audio), audio
    assert not [p for p in tracked if p.startswith("data/")]
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/corpus_v3/train/clean/00000.wav"], cwd=REPO_ROOT)
    assert ignored.returncode == 0
    shared = real.shared_root()
    if shared.is_dir():
        stems = {p.stem for p in shared.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES}
        assert not {p.stem for p in audio} & stems


def test_the_mask_floor_sweep_scores_each_floor_on_the_validation_set_beside_noisy_and_wiener(tiny, tmp_path):
    from dataclasses import replace

    from mbsnet import build_model, presets
    from mbsnet.checkpoint import atomic_save
    from mbsnet.evaluate import validation_items
    from mbsnet.experiments.mask_floor import sweep_mask_floor

    config = replace(presets.get("final"), name="tiny", channels=16, n_layers=1, d_state=4, expand=1,
                     decoder_hidden=32)
    ckpt = tmp_path / "tiny.pt"
    atomic_save({"config": config.to_dict(), "model": build_model(config).state_dict()}, ckpt)
    result = sweep_mask_floor([None, -3.0], tiny, ckpt, progress=False)
    assert result["n_items"] == len(validation_items(tiny))
    assert list(result["summary"]) == ["noisy", "wiener", "model", "model, floor -3 dB"]
    free, floored = result["summary"]["model"], result["summary"]["model, floor -3 dB"]
    assert free["si_sdr"] != floored["si_sdr"]                            # the floor changed the output
    assert set(result["pesq_by_snr"]["model"]) == {f"{r['snr_db']:g}" for r in result["rows"]}


def test_the_mask_floor_sweeps_command_line_reads_the_stored_command_and_refuses_others():
    from mbsnet.experiments.mask_floor import parse_args
    from mbsnet.results import load_result

    stored = load_result("mask_floor_validation")["provenance"]["command"].split()[3:]
    args = parse_args(stored)
    assert args["floors"] == [None, -30, -25, -20, -15, -10] and args["every"] == 2 and args["data"] == "data/corpus_v3"
    for bad in ([], ["--data", "d"], ["out.json"], ["out.json", "--fast", "1"], ["out.json", "--data"]):
        with pytest.raises(ValueError, match="usage"):
            parse_args(bad)
