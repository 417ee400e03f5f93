"""eSpeak NG synthesis, noise generators, the synthetic corpus and the ARCTIC mixtures."""
import json

import numpy as np
import pytest

from mbsnet.data import corpus, espeak, noise
from mbsnet.data.corpus import CorpusSpec
from mbsnet.data.datasets import ArcticMixtures, SyntheticPairs, random_crop


def test_espeak_speaks_at_16k_with_variants_accents_rate_and_pitch():
    slow = espeak.synthesize("Hello from the corpus.", "en-gb-scotland+m3", rate_wpm=120)
    fast = espeak.synthesize("Hello from the corpus.", "en-gb-scotland+m3", rate_wpm=300)
    assert slow.dtype == np.float32 and np.abs(slow).max() > 0.05
    assert len(slow) > 1.5 * len(fast)  # speaking rate works
    assert espeak.native_rate() == 22_050
    low = espeak.synthesize("Hello from the corpus.", "en-us+f2", pitch=10)
    high = espeak.synthesize("Hello from the corpus.", "en-us+f2", pitch=90)
    assert not np.array_equal(low[:4000], high[:4000])
    assert {"m3", "f2", "klatt"} <= set(espeak.variants())


def test_espeak_rejects_unknown_voice_and_empty_text():
    with pytest.raises(ValueError, match="voice"):
        espeak.synthesize("hi", "zz-nowhere")
    with pytest.raises(ValueError, match="text"):
        espeak.synthesize("   ")


@pytest.mark.parametrize("kind", noise.NOISE_TYPES)
def test_noises_are_unit_rms_and_deterministic(kind):
    talkers = [np.sin(np.arange(8000) * 0.05).astype(np.float32), np.random.default_rng(0).standard_normal(5000)]
    a = noise.make_noise(kind, np.random.default_rng(7), 16_000, talkers=talkers)
    b = noise.make_noise(kind, np.random.default_rng(7), 16_000, talkers=talkers)
    assert a.shape == (16_000,) and np.isfinite(a).all()
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3)
    np.testing.assert_array_equal(a, b)


def test_noise_colours_have_the_right_spectral_tilt():
    rng = np.random.default_rng(0)
    def low_high_ratio(x):
        p = np.abs(np.fft.rfft(x)) ** 2
        return p[10:500].mean() / p[4000:8000].mean()
    assert low_high_ratio(noise.white(rng, 16_000)) < 2
    assert low_high_ratio(noise.pink(rng, 16_000)) > 5
    assert low_high_ratio(noise.brown(rng, 16_000)) > low_high_ratio(noise.pink(rng, 16_000))


@pytest.mark.parametrize("snr", [0.0, 2.5, 17.5])
def test_mix_at_snr_is_exact(snr):
    rng = np.random.default_rng(1)
    clean, n = rng.standard_normal(8000), rng.standard_normal(8000) * 3
    noisy = noise.mix_at_snr(clean, n, snr)
    residual = noisy - clean
    assert 10 * np.log10(np.mean(clean ** 2) / np.mean(residual ** 2)) == pytest.approx(snr, abs=1e-3)


def test_mix_rejects_silence_and_unknown_noise():
    with pytest.raises(ValueError, match="silent"):
        noise.mix_at_snr(np.zeros(100), np.ones(100), 5)
    with pytest.raises(ValueError, match="unknown noise"):
        noise.make_noise("jackhammer", np.random.default_rng(0), 100)


def test_split_plan_shares_no_sentences_and_no_voices():
    plan = corpus.split_plan(CorpusSpec(seed=3))
    assert not set(plan["train"]["sentences"]) & set(plan["test"]["sentences"])
    assert not set(plan["train"]["variants"]) & set(plan["test"]["variants"])
    assert len(plan["train"]["sentences"]) + len(plan["test"]["sentences"]) == len(corpus.sentences())
    assert len(corpus.sentences()) >= 100


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return corpus.generate_corpus(root, CorpusSpec(n_train=4, n_test=2, seed=5), progress=False)


def test_corpus_manifest_snrs_and_voices(tiny_corpus):
    manifest = json.loads((tiny_corpus / "manifest.json").read_text())
    train, test = manifest["splits"]["train"], manifest["splits"]["test"]
    assert len(train) == 4 and len(test) == 2
    assert {r["snr_db"] for r in train} <= set(corpus.TRAIN_SNRS_DB)
    assert {r["snr_db"] for r in test} <= set(corpus.TEST_SNRS_DB)
    voice_variant = lambda r: r["voice"].split("+")[1]
    assert {voice_variant(r) for r in train} <= set(manifest["voices"]["train"])
    assert {voice_variant(r) for r in test} <= set(manifest["voices"]["test"])
    assert not {r["text"] for r in train} & {r["text"] for r in test}
    assert manifest["provenance"]["git_commit"]


def test_corpus_pairs_are_16k_aligned_and_at_the_stated_snr(tiny_corpus):
    ds = SyntheticPairs(tiny_corpus, "test")
    clean, noisy = ds[0]
    assert clean.shape == noisy.shape and clean.dtype == np.float32
    assert np.abs(noisy).max() <= 1.0
    snr = 10 * np.log10(np.sum(clean ** 2) / np.sum((noisy - clean) ** 2))
    assert snr == pytest.approx(ds.records[0]["snr_db"], abs=0.3)  # 16-bit rounding


def test_corpus_is_deterministic_and_reused(tiny_corpus, tmp_path):
    again = corpus.generate_corpus(tmp_path, CorpusSpec(n_train=4, n_test=2, seed=5), progress=False)
    for rel in ("train/noisy/00003.wav", "test/clean/00001.wav"):
        assert (again / rel).read_bytes() == (tiny_corpus / rel).read_bytes()
    stamp = (again / "manifest.json").stat().st_mtime_ns
    corpus.ensure_corpus(again, CorpusSpec(n_train=4, n_test=2, seed=5), progress=False)
    assert (again / "manifest.json").stat().st_mtime_ns == stamp  # reused, not regenerated


def test_random_crop_pads_short_pairs_and_aligns_long_ones():
    rng = np.random.default_rng(0)
    c, n = random_crop(rng, np.arange(10.0), np.arange(10.0) + 100, 16)
    assert len(c) == 16 and c[10:].sum() == 0
    c, n = random_crop(rng, np.arange(1000.0), np.arange(1000.0) + 100, 64)
    np.testing.assert_array_equal(n - c, 100)


def test_arctic_mixtures_are_real_speech_with_every_noise():
    mix = ArcticMixtures()
    assert len(mix) == 2 * len(noise.NOISE_TYPES)
    clean, noisy = mix[0]
    assert clean.shape == noisy.shape and len(clean) > 16_000
    assert {r["noise"] for r in mix.records} == set(noise.NOISE_TYPES)
