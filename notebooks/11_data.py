# %% [markdown]
# # 9. Data: an offline speech corpus, then real voices and real noise
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
#
# That synthetic corpus is the offline base: what a fresh clone builds, and what the tests use. The final model now
# trains on **corpus v3** (the section below), which adds real voices and real noise recordings, babble of real
# talkers, and augmentation for recording conditions (rooms, microphone colouring, level, clipping), and holds out a
# real-speech test set. Without the recordings, corpus v3 falls back to this corpus's eSpeak voices and generated
# noise and says so in one line.

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
# ## Corpus v3: real voices, real noise
#
# The synthetic corpus is what any clone builds offline in a minute, and what CI tests. The final model now trains
# on **corpus v3** (`python -m mbsnet data --version 3`, `mbsnet.data.corpus_v3`), which adds real recordings gathered
# for this project in `../shared/data` (LibriSpeech and Picovoice speech, ambient and household noise recordings),
# babble made of those real talkers, and augmentation for recording conditions. This notebook never reads those
# recordings: what it says about them comes from the corpus description stored when the corpus was built,
# `results/corpus_v3.json`, so it shows the same with or without them; its live demos use the shipped ARCTIC
# utterances and generated noise.

# %%
from scipy import signal

from mbsnet.data import augment, corpus_v3, real
from mbsnet.experiments.ladder import markdown_table
from mbsnet.results import load_result

stored = load_result("corpus_v3")
v3, counts, prov = stored["corpus"], stored["corpus"]["counts"], stored["provenance"]
command = "python -m mbsnet " + prov["command"].split(" ", 1)[1]
print(textwrap.fill(f"results/corpus_v3.json: {command}", 84, subsequent_indent="    "))
print(f"    {prov['date'][:16]} UTC, commit {prov['git_commit'][:7]}; the build took "
      f"{stored['build']['seconds']:.0f} s with {stored['build']['workers']} worker")
assert not v3["shared_data"]["missing"]                                  # built with every shared folder
assert v3["spec"] == corpus_v3.CorpusV3Spec().to_dict()                  # ... and today's default spec
assert v3["weights"] == {"speech": corpus_v3.SPEECH_WEIGHTS, "noise": corpus_v3.NOISE_WEIGHTS}

# %% [markdown]
# ### Sources
#
# Speech from four real sources beside eSpeak; noise from the eight generators, real recordings and babble of
# real talkers (up to 24 speakers of the same split, never the target's). Files are kept as clean targets only when
# their manifest says they are clean enough (the `filters` decision below).

# %%
NAMES = {"espeak": "eSpeak NG", real.LIBRI_TRAIN: "LibriSpeech train-clean-100",
         real.LIBRI_TEST: "LibriSpeech test-other", real.PICO_INTENT: "Picovoice speech-to-intent",
         real.PICO_WAKE: "Picovoice wake-word", "CMU ARCTIC": "CMU ARCTIC"}
src, voices = v3["shared_data"]["sources"], v3["plan"]["espeak_voices"]
rows = [["eSpeak NG", "synthesised here (GPL-3.0 program)", "–",
         f"{v3['plan']['espeak_sentences']['train']} sentences, {len(voices['train'])} voices",
         f"{v3['plan']['espeak_sentences']['test']} sentences, {len(voices['test'])} voices"]]
for name in (real.LIBRI_TRAIN, real.LIBRI_TEST, real.PICO_INTENT, real.PICO_WAKE):
    s = src[name]
    dropped = ", ".join(f"{v} {k}" for k, v in s["dropped"].items() if v) or "none"
    rows.append([NAMES[name], s["license"].split(" (")[0], f"{s['files']} ({dropped})",
                 *(s["files_per_split"][k] for k in ("train", "test"))])
display(Markdown(markdown_table(["speech", "license", "files (dropped)", "train", "test and real"], rows)))

# %%
licenses = {f"{folder}/{f}": lic for folder in ("blanket", "speech_commands_bg")
            for f, lic in src[folder]["license"].items()}
noise_files = v3["plan"]["noise_files"]
rows = []
for split in ("train", "test"):
    for path in noise_files[split]:
        uses = [counts[s]["noise"].get("rec:" + pathlib.Path(path).stem, 0) for s in ("train", "test", "real")]
        rows.append([pathlib.Path(path).stem, licenses[path.split("/", 1)[1]], split, *uses])
display(Markdown(f"**The {len(rows)} noise recordings** (items that use each, per split; the CC BY ones need the "
                 "attribution given)\n\n" + markdown_table(["recording", "license", "held", "train", "test",
                                                             "real"], rows)))

# %% [markdown]
# ### Splits: weights, minutes, the real-speech test set
#
# Each item draws its speech source and noise group with these weights (among the sources present), a VoiceBank
# SNR and, in train and test, the augmentation below. The **real** split is the real-speech test set: held-out
# LibriSpeech speakers with held-out noise recordings or babble of other held-out speakers, no simulated room.

# %%
W = v3["weights"]
SHORT = {**NAMES, "librispeech": "LibriSpeech", "real_babble": "real babble", "recording": "recordings"}

def share(d):
    return ", ".join(f"{SHORT.get(k, k).replace('LibriSpeech ', 'Libri ')} {v:.2f}" for k, v in d.items())

rows = [[s, c["items"], f"{c['minutes']:.1f}", share(W["speech"][s]), share(W["noise"][s]),
         "/".join(f"{x:g}" for x in v3["snrs_db"][s])] for s, c in counts.items() if s != "arctic"]
rows.append(["arctic", counts["arctic"]["items"], f"{counts['arctic']['minutes']:.1f}", "2 ARCTIC utterances",
             "each generator", "/".join(f"{x:g}" for x in corpus.TEST_SNRS_DB)])
display(Markdown(markdown_table(["split", "items", "minutes", "speech weights", "noise weights", "SNRs (dB)"], rows)))
train = counts["train"]
for kind in ("speech_source", "noise_group"):            # the drawn shares follow the weights
    weights = W["speech" if kind == "speech_source" else "noise"]["train"]
    assert all(abs(train[kind][k] / train["items"] - w) < 0.025 for k, w in weights.items()), train[kind]

# %%
for key in ("picovoice", "noise_holdout", "filters", "real_split"):
    print(textwrap.fill(f"{key}: {v3['decisions'][key]}", 84, subsequent_indent="    "))

# %% [markdown]
# What the description records about train/test disjointness, asserted:

# %%
held_noise = {pathlib.Path(p).stem for p in noise_files["test"]}
train_noise = {pathlib.Path(p).stem for p in noise_files["train"]}
used = {s: {k[4:] for k in counts[s]["noise"] if k.startswith("rec:")} for s in ("train", "test", "real")}
assert not held_noise & train_noise and set(noise_files["test"]) == set(real.HELD_OUT_NOISES)
assert used["train"] <= train_noise and used["test"] | used["real"] <= held_noise   # only held-out noise in test
assert not set(voices["train"]) & set(voices["test"])                             # no shared eSpeak voice
assert voices == {s: plan[s]["variants"] for s in ("train", "test")}   # the same split as the synthetic corpus
pico = [real.PICO_INTENT, real.PICO_WAKE]
assert all(src[p]["files_per_split"]["test"] == 0 for p in pico)              # Picovoice: train only
assert not set(pico) & (set(counts["test"]["speech_source"]) | set(counts["real"]["speech_source"]))
assert real.LIBRI_TEST not in train["speech_source"]                           # test-other: test only
libri = src[real.LIBRI_TRAIN]                       # one utterance per train-clean-100 speaker, split by speaker
assert libri["files_per_split"]["train"] + libri["files_per_split"]["test"] + sum(libri["dropped"].values()) \
    == libri["files"]
speakers = v3["plan"]["held_out_speakers"]
assert len(set(speakers)) == len(speakers) >= libri["files_per_split"]["test"]
print(textwrap.fill(f"held out for test and real: {len(speakers)} LibriSpeech speakers, {len(held_noise)} noise "
                    f"recordings ({', '.join(sorted(held_noise))}), {len(voices['test'])} eSpeak voices", 84,
                    subsequent_indent="    "))

# %%
noisy_real = stored["noisy_input_real_split"]
rows = [[k, v["n"], f"{v['pesq']:.2f}", f"{v['stoi']:.3f}", f"{v['si_sdr']:.1f}"]
        for k, v in [("all", noisy_real["summary"]), *sorted(noisy_real["by_noise"].items())]]
display(Markdown(f"**The real-speech test set**: {counts['real']['items']} mixtures, {counts['real']['minutes']:.1f} "
                 "min; the noisy input's scores (PESQ wideband, STOI, SI-SDR dB), the floor a model must "
                 "clear\n\n" + markdown_table(["noise", "n", "PESQ", "STOI", "SI-SDR"], rows)))
assert counts["real"]["items"] >= 100 and not any(counts["real"]["augment"].values())

# %% [markdown]
# ### Composition

# %%
SPLITS_SHOWN = [s for s in ("train", "test", "real", "arctic") if counts[s]["items"]]
GROUPS = {"speech_source": list(NAMES), "noise_group": ["generated", "recording", "real_babble"]}
COLOURS = {"speech_source": plt.cm.tab10([0, 1, 2, 3, 4, 7]), "noise_group": plt.cm.Set2([0, 1, 2])}
fig, axes = plt.subplots(1, 2, figsize=(6.8, 2.9), sharey=True, constrained_layout=True)
for ax, (kind, groups) in zip(axes, GROUPS.items()):
    left = np.zeros(len(SPLITS_SHOWN))
    for g, colour in zip(groups, COLOURS[kind]):
        pct = np.array([100 * counts[s][kind].get(g, 0) / counts[s]["items"] for s in SPLITS_SHOWN])
        ax.barh(SPLITS_SHOWN, pct, left=left, color=colour, label=SHORT.get(g, g))
        left += pct
    ax.set_xlabel("share of items (%)")
    ax.set_title("speech" if kind == "speech_source" else "noise", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, frameon=False)
axes[0].set_yticks(range(len(SPLITS_SHOWN)), [f"{s} ({counts[s]['items']})" for s in SPLITS_SHOWN])
axes[0].invert_yaxis()
plt.show()

# %% [markdown]
# ### Augmentation for recording conditions
#
# In train and test, an item may be heard in a simulated room, through a coloured microphone, at a random level and
# clipped. The model learns to remove the noise and keep the room: with an impulse response $h$ and an EQ filter
# $e$, the input is $y = \mathrm{clip}\big(e * (h * s) + g\, e * n\big)$ and the target $e * (h * s)$, both scaled
# to a random level (`mbsnet.data.augment`). The real split has its own rooms and microphones: level only.

# %%
A = v3["augmentation"]
aug = augment.AugmentSpec()
assert A["train_and_test"] == v3["spec"]["augment"] and A["rir"] == augment.RIR_MODEL
assert A["eq_ranges"] == {k: list(v) for k, v in augment.EQ_RANGES.items()}
t = A["train_and_test"]
rows = [["room (RIR)", t["rir_prob"], f"RT60 {t['rt60_s'][0]}–{t['rt60_s'][1]} s, DRR {t['drr_db'][0]}–"
         f"{t['drr_db'][1]} dB", train["augment"]["rir"]],
        ["microphone EQ", t["eq_prob"], f"low shelf {A['eq_ranges']['low_shelf_db']} dB, high shelf "
         f"{A['eq_ranges']['high_shelf_db']} dB, 0–2 peaks", train["augment"]["eq"]],
        ["level", 1.0, f"{t['level_dbfs'][0]} to {t['level_dbfs'][1]} dBFS RMS", train["items"]],
        ["clipping", t["clip_prob"], f"at {t['clip_at'][0]}–{t['clip_at'][1]} of the peak", train["augment"]["clip"]]]
display(Markdown(markdown_table(["augmentation", "probability", "range", "train items"], rows)))
for name, p, _, n in rows:
    assert abs(n / train["items"] - p) < 0.025, name
print(textwrap.fill("room model: " + A["rir"], 84, subsequent_indent="    "))

# %% [markdown]
# Live, on a shipped ARCTIC utterance, from one seed: a room drawn from the stored ranges and a microphone EQ.

# %%
from mbsnet.assets import ARCTIC_WAVS
from mbsnet.data.audio import load_wav

dry = load_wav(ARCTIC_WAVS[0])[0]
rng = np.random.default_rng(0)
h, room = augment.random_rir(rng, aug)
wet = augment.reverberate(dry, h)
sos, eq = augment.random_eq(rng)
coloured = augment.apply_eq(dry, sos)
print("room:", room)
print(textwrap.fill("EQ: " + "; ".join(f"{d['type'].replace('_', ' ')} {d['hz']:.0f} Hz" + (
    f" {d['db']:+.1f} dB" if "db" in d else "") + (f" Q {d['q']:.1f}" if "q" in d else "") for d in eq), 84,
                    subsequent_indent="    "))

# %%
fig = spectrogram_grid({"dry (CMU ARCTIC)": dry, f"reverberant (RT60 {room['rt60_s']} s, DRR {room['drr_db']} dB)": wet,
                        "EQ-coloured": coloured}, height=1.5)
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
display(*(Audio(x[:40_000], rate=16_000) for x in (dry, wet, coloured)))
assert len(dry) == len(wet) == len(coloured)


# %% [markdown]
# Measured back: the room's decay (Schroeder's backward-integrated energy, its −5 to −25 dB slope extrapolated to
# 60 dB), the pauses between words filling with reverberation, and the EQ's change of band energy against the
# filter's frequency response.

# %%
def rt60_schroeder(h, fs=16_000):
    direct = int(np.argmax(np.abs(h)))
    edc = np.cumsum((h[direct + 1:].astype(np.float64) ** 2)[::-1])[::-1]
    db = 10 * np.log10(edc / edc[0])
    i5, i25 = int(np.argmax(db <= -5)), int(np.argmax(db <= -25))
    return -60 / np.polyfit(np.arange(i5, i25) / fs, db[i5:i25], 1)[0]

def quiet_frames_db(x, n=320):    # the 25th percentile of 20 ms frame levels, re the loudest frame
    e = 10 * np.log10(np.mean(x[:len(x) // n * n].reshape(-1, n).astype(np.float64) ** 2, axis=1) + 1e-12)
    return float(np.percentile(e - e.max(), 25))

rt60 = rt60_schroeder(h)
print(f"RT60 drawn {room['rt60_s']} s, measured {rt60:.3f} s")
print(f"quiet frames (25th percentile re the loudest): dry {quiet_frames_db(dry):.1f} dB, "
      f"reverberant {quiet_frames_db(wet):.1f} dB")
assert abs(rt60 / room["rt60_s"] - 1) < 0.1 and aug.rt60_s[0] <= room["rt60_s"] <= aug.rt60_s[1]
assert quiet_frames_db(wet) > quiet_frames_db(dry) + 3

# %%
f = np.fft.rfftfreq(len(dry), 1 / 16_000)
X, Y = np.abs(np.fft.rfft(dry)) ** 2, np.abs(np.fft.rfft(coloured)) ** 2
H = np.abs(signal.sosfreqz(sos, worN=f, fs=16_000)[1]) ** 2
keep = X.sum() / (H * X).sum()                           # apply_eq keeps the RMS: colour, not level
rows = []
for lo, hi in [(0, 300), (300, 1000), (1000, 4000), (4000, 8001)]:
    b = (f >= lo) & (f < hi)
    measured, predicted = (10 * np.log10(v[b].sum() / X[b].sum()) for v in (Y, keep * H * X))
    rows.append([f"{lo}–{min(hi, 8000)} Hz", f"{10 * np.log10(H[b].mean()):+.1f}", f"{predicted:+.2f}",
                 f"{measured:+.2f}"])
    assert abs(measured - predicted) < 0.1
display(Markdown(markdown_table(["band", "EQ response (mean, dB)", "predicted change (dB)", "measured change (dB)"],
                                rows)))
assert abs(10 * np.log10(Y.sum() / X.sum())) < 0.01

# %% [markdown]
# And whole items as the corpus renders them (`augment.render`: room, EQ, noise at the SNR, clipping, level) —
# 40 mixtures of the same utterance with pink noise at 5 dB, each from its own seed:

# %%
levels, capped, clipped = [], 0, 0
for i in range(40):
    r = np.random.default_rng([1, i])
    out = augment.render(r, dry, (0, len(dry)), lambda n: noise.make_noise("pink", r, n), 5.0, aug)
    rms_db = 20 * np.log10(np.sqrt(np.mean(out["noisy"].astype(np.float64) ** 2)))
    assert abs(rms_db - out["info"]["level_dbfs"]) < 0.02 and np.abs(out["noisy"]).max() <= 0.99 + 1e-6
    levels.append(rms_db)
    capped += bool(np.abs(out["noisy"]).max() >= 0.989 or np.abs(out["clean"]).max() >= 0.989)
    clipped += out["info"]["clip"] is not None
print(f"input level {min(levels):.1f} to {max(levels):.1f} dBFS RMS (drawn from {aug.level_dbfs});")
print(f"    {capped} of 40 held lower by the 0.99 peak limit; {clipped} clipped (p = {aug.clip_prob})")
assert aug.level_dbfs[0] <= min(levels) and max(levels) <= aug.level_dbfs[1]

# %% [markdown]
# ### A fresh clone
#
# Without `../shared/data` (or `$MBSNET_SHARED_DATA`, or `--shared-data`), corpus v3 still builds: eSpeak speech and
# generated noise, no real split, and one line saying what is missing. Live, with the shared root pointed at an empty
# temporary folder and a tiny corpus:

# %%
import contextlib, io

tmp = pathlib.Path(tempfile.mkdtemp())
said = io.StringIO()
with contextlib.redirect_stdout(said):
    fresh = corpus_v3.generate_corpus(tmp / "corpus_v3", corpus_v3.CorpusV3Spec(n_train=3, n_test=2, arctic=False),
                                      shared=tmp / "no-shared-data", workers=1, progress=False)
lines = said.getvalue().replace(str(tmp), "<tmp>").splitlines()
print(textwrap.fill(lines[0], 84, subsequent_indent="    "))
m = corpus_v3.read_manifest(fresh)
for s in ("train", "test", "real"):
    c = m["counts"][s]
    print(f"  {s:5s} {c['items']} items: {c['speech_source']}, {c['noise_group']}")
assert len(lines) == 1 and m["shared_data"]["missing"] == list(real.FOLDERS) and not m["splits"]["real"]
assert all(set(m["counts"][s]["speech_source"]) == {"espeak"} and set(m["counts"][s]["noise_group"]) == {"generated"}
           for s in ("train", "test"))

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
real_share = 1 - train["speech_source"]["espeak"] / train["items"]
display(Markdown(
    f"**Corpus v3, the final model's training data:** {train['items']:,} training items "
    f"({train['minutes'] / 60:.1f} h), "
    f"{real_share:.0%} of them real speech (LibriSpeech, Picovoice) and "
    f"{1 - train['noise_group']['generated'] / train['items']:.0%} real noise ({len(noise_files['train'])} "
    f"recordings, {len(noise_files['test'])} more held out for test, or babble of real talkers); "
    f"{train['augment']['rir'] / train['items']:.0%} in a simulated room, "
    f"{train['augment']['eq'] / train['items']:.0%} EQ-coloured. Its real-speech test set: "
    f"{counts['real']['items']} mixtures ({counts['real']['minutes']:.0f} min) drawn from {len(speakers)} held-out "
    f"speakers and held-out noise, noisy-input PESQ {noisy_real['summary']['pesq']:.2f}, STOI "
    f"{noisy_real['summary']['stoi']:.3f}. A clone without the recordings builds it from eSpeak and generated noise "
    f"and says so in {len(lines)} line."))
assert real_share > 0.5 and counts["real"]["items"] >= 100 and len(lines) == 1

# %% [markdown]
# The synthetic corpus is not VoiceBank-DEMAND — synthetic voices are easier to model than people — so its numbers
# are only comparable among models trained here; the ARCTIC mixtures and corpus v3's real-speech test set keep us
# honest about that. Notebook 12 trains the final model on corpus v3.
