# %% [markdown]
# # 9. Data: an offline speech corpus
#
# > | Metric | Current | After Phase 1 | After Phase 2 | Target |
# > |--------|---------|---------------|---------------|--------|
# > | **PESQ (expected)** | N/A | 3.45-3.55 | 3.40-3.50 | >3.40 ✅ |
#
# — *the source analysis* (`brutal_complexity_analysis.md`), predicting quality after each phase of fixes
#
# A PESQ prediction needs data to check it against. The standard benchmark is VoiceBank-DEMAND (11,572 training and 824
# test pairs, 48 kHz), but it is a multi-gigabyte download and this series must run offline, in CI, on a CPU. So we
# build a small corpus that has the same *shape* of problem from things that ship with Python packages:
#
# * **speech** from the eSpeak NG synthesizer (the `espeakng-loader` wheel carries the library and its voice data;
#   `mbsnet.data.espeak` is a 100-line ctypes binding), with ~90 voice variants, eight English accents and six other
#   languages, random speaking rate (130–220 words/min) and pitch;
# * **noise** from generators (`mbsnet.data.noise`): white, pink, brown, babble of overlapping synthetic talkers, mains hum
#   with harmonics, fan noise, knocks and clicks, and a café mix;
# * **mixing** at VoiceBank-DEMAND's SNRs — 0/5/10/15 dB for training, 2.5/7.5/12.5/17.5 dB for test:
#
# $$ y = s + g\,n, \qquad g = \sqrt{\frac{P_s}{P_n\,10^{\mathrm{SNR}/10}}}, \qquad P_x = \tfrac{1}{S}\textstyle\sum_t x_t^2 .$$
#
# Train and test share **no sentences and no voices**, so the test set measures generalisation to unseen talkers.
# Everything is a function of one seed.

# %%
import textwrap

import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Audio, Markdown, display

from mbsnet.data import corpus, noise
from mbsnet.data.corpus import CorpusSpec
from mbsnet.data.datasets import SyntheticPairs

plan = corpus.split_plan(CorpusSpec())
for split in ("train", "test"):
    langs = sorted({lang for lang, _ in plan[split]["sentences"]})
    print(f"{split:5s}: {len(plan[split]['sentences']):3d} sentences in {langs}, "
          f"{len(plan[split]['variants'])} voice variants")
print(textwrap.fill("English accents: " + ", ".join(corpus.ENGLISH_ACCENTS), 84, subsequent_indent="    "))

# %%
train_sentences = set(plan["train"]["sentences"])
train_voices = set(plan["train"]["variants"])
assert not train_sentences & set(plan["test"]["sentences"])   # no shared sentence
assert not train_voices & set(plan["test"]["variants"])       # no shared voice
print(textwrap.fill("test voices: " + ", ".join(plan["test"]["variants"]), 84, subsequent_indent="    "))

# %% [markdown]
# ## Generating a corpus
#
# `python -m mbsnet data` writes the default corpus (1,000 training and 100 test utterances, about 75 minutes of
# audio, plus the real-speech test set below) to `data/synthetic/` in about a minute, and reuses it afterwards. Here we
# make a small one in a temporary folder. eSpeak NG keeps internal state from one utterance to the next, so each split
# is generated in a fresh process: the audio is then a function of the seed alone, bit for bit, and the first test
# utterances are the same whatever the corpus size.

# %%
import tempfile, pathlib

root = pathlib.Path(tempfile.mkdtemp()) / "corpus"
corpus.generate_corpus(root, CorpusSpec(n_train=8, n_test=4, seed=0), progress=False)
test = SyntheticPairs(root, "test")
for r in test.records:
    print(f"{r['id']}  {r['voice']:18s} {r['rate_wpm']:3d} wpm  {r['noise']:7s} {r['snr_db']:4.1f} dB  "
          f"{r['seconds']:.2f} s  {textwrap.shorten(r['text'], 20, placeholder='…')}")


# %% [markdown]
# Each pair is stored as 16-bit wav; the SNR measured back from the files matches the manifest (16-bit rounding
# costs a few hundredths of a dB):

# %%
def measured_snr(clean, noisy):
    return 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum((noisy - clean).astype(np.float64) ** 2))

errors = [abs(measured_snr(*test[i]) - r["snr_db"]) for i, r in enumerate(test.records)]
print(f"largest SNR error: {max(errors):.3f} dB")
assert max(errors) < 0.3

# %% [markdown]
# ## Listening
#
# A test utterance (a voice never heard in training), clean and mixed, and one real recording for comparison.

# %%
# NBVAL_IGNORE_OUTPUT
k = next(i for i, r in enumerate(test.records) if r["lang"] == "en")
clean, noisy = test[k]
print(textwrap.fill(test.records[k]["text"], 84))
print(test.records[k]["voice"], "|", test.records[k]["noise"], test.records[k]["snr_db"], "dB")
display(Audio(clean[:40_000], rate=16_000), Audio(noisy[:40_000], rate=16_000))
assert len(clean) == len(noisy) > 16_000

# %%
from mbsnet.plots.enhancement import spectrogram_grid

fig = spectrogram_grid({"clean (eSpeak NG)": clean, f"noisy ({test.records[k]['noise']}, "
                        f"{test.records[k]['snr_db']} dB)": noisy})
plt.show()

# %% [markdown]
# ## The noises
#
# 1.5 seconds of each generator (unit RMS, so the SNR alone sets the level). Babble and café use synthetic talkers
# from the test voices.

# %%
rng = np.random.default_rng(0)
talkers = corpus.babble_pool(rng, plan["test"]["sentences"], plan["test"]["variants"], n_talkers=6)
noises = {kind: noise.make_noise(kind, np.random.default_rng(i), 24_000, talkers=talkers)
          for i, kind in enumerate(noise.NOISE_TYPES)}
fig = spectrogram_grid(noises, ncols=2, height=1.6, width=3.0)
plt.show()


# %%
def band_share(x, lo_hz, hi_hz):
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 16_000)
    return p[(f >= lo_hz) & (f < hi_hz)].sum() / p.sum()

for kind, x in noises.items():
    print(f"{kind:10s} energy below 500 Hz: {band_share(x, 0, 500):6.1%}   above 4 kHz: {band_share(x, 4000, 8000):6.1%}")
assert band_share(noises["white"], 4000, 8000) > 0.4 and band_share(noises["brown"], 0, 500) > 0.9

# %% [markdown]
# ## Real speech: CMU ARCTIC
#
# Synthetic speech is cleaner and more regular than a person. The two CMU ARCTIC recordings shipped in `mbsnet/assets`
# (free to redistribute) are mixed with every noise type at the test SNRs: 16 mixtures of real speech that no model
# trains on. The corpus stores them as its `arctic` split.

# %%
arctic = SyntheticPairs(root, "arctic")
print(len(arctic), "mixtures:", sorted({r["noise"] for r in arctic.records}))
real_clean, real_noisy = arctic[3]
print(arctic.records[3]["id"], arctic.records[3]["snr_db"], "dB")
assert len(arctic) == 2 * len(noise.NOISE_TYPES)

# %%
# NBVAL_IGNORE_OUTPUT
display(Audio(real_noisy[:40_000], rate=16_000))

# %% [markdown]
# ## VoiceBank-DEMAND, for those who have it
#
# Unzip `clean_trainset_28spk_wav`, `noisy_trainset_28spk_wav`, `clean_testset_wav` and `noisy_testset_wav` into one
# folder. `VoiceBankDEMAND(root, split)` pairs the files by name (`pXXX_NNN.wav`), resamples 48 kHz to 16 kHz, and cuts
# random 2 s training crops; `python -m mbsnet train --data voicebank:PATH` trains on it. A miniature in that layout
# shows the loader, and what happens when a folder is missing:

# %%
import shutil, soundfile as sf
from mbsnet.data.datasets import VOICEBANK_FOLDERS, VoiceBankDEMAND

vb = pathlib.Path(tempfile.mkdtemp()) / "VoiceBank-DEMAND"
for clean_dir, noisy_dir in VOICEBANK_FOLDERS.values():
    for name in ("p232_001.wav", "p232_002.wav"):
        for folder in (clean_dir, noisy_dir):
            (vb / folder).mkdir(parents=True, exist_ok=True)
            sf.write(vb / folder / name, 0.1 * np.random.default_rng(1).standard_normal(72_000), 48_000)
train_vb = VoiceBankDEMAND(vb, "train", segment_seconds=1.0)
print(len(train_vb), "pairs;", "a crop:", train_vb[0][0].shape, "samples at 16 kHz")
shutil.rmtree(vb / "noisy_testset_wav")
try:
    VoiceBankDEMAND(vb, "test")
except FileNotFoundError as err:
    print(textwrap.fill("FileNotFoundError: " + str(err).replace(str(vb.parent), "<tmp>"), 84,
                        subsequent_indent="    "))

# %% [markdown]
# ## Verdict

# %%
display(Markdown(
    f"**The offline corpus:** {len(plan['train']['sentences'])} training and {len(plan['test']['sentences'])} test "
    f"sentences, {len(train_voices)} and {len(plan['test']['variants'])} voices, none shared; "
    f"{len(noise.NOISE_TYPES)} noise types at 0–15 dB (train) and 2.5–17.5 dB (test); SNR error < 0.3 dB; "
    f"{len(arctic)} real-speech mixtures held out."))
assert len(plan["train"]["sentences"]) + len(plan["test"]["sentences"]) >= 150

# %% [markdown]
# The corpus is not VoiceBank-DEMAND — synthetic voices are easier to model than people — so its numbers are
# only comparable among models trained here. The real-speech mixtures keep us honest about that. Notebook 12 trains
# the final model on it.
