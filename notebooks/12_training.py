# %% [markdown]
# # 10. Train the final model
#
# > | Metric | Current | After Phase 1 | After Phase 2 | Target |
# > |--------|---------|---------------|---------------|--------|
# > | **Training time** | N/A | Baseline | -30% | Faster ✅ |
#
# — *the source analysis*, which expected the fixes to make training possible, then faster
#
# The seed MBS-Net could not train at batch 2 on a 12 GiB GPU. The `final` preset (notebook 9) takes the changes that
# cut memory and parameters — the recomputing scan, one shared encoder, slim decoders, `expand` 1 — and runs Mamba
# along time in one direction only; across bands it stays bidirectional. Here it trains — on a CPU.
#
# `mbsnet.train` is a plain loop: AdamW ($\beta = (0.8, 0.99)$, as MP-SENet and SEMamba), a linear warm-up then cosine
# learning rate, gradient clipping at 5, bf16 autocast on CUDA. The loss has the original MBS-Net's two terms and
# weights; with $X_c = |X|^{0.3} e^{i\angle X}$,
#
# $$\mathcal{L} = 0.5\,\big(\lVert \Re Y_c - \Re S_c\rVert_1 + \lVert \Im Y_c - \Im S_c\rVert_1\big) + 0.5\,\lVert |Y|^{0.3} - |S|^{0.3}\rVert_1 .$$
#
# The real/imaginary term is on the compressed spectrum, as in MP-SENet's complex loss; the original's description
# reads as the raw spectrum, and the memory predictor of notebooks 2–3 keeps that form (the original's step). For
# the memory figures the choice does not matter: the loss runs after the forward pass, below the step's peak, and
# the predicted peak is the same to the byte with either loss (`tests/test_memory.py`).
#
# The third phase, on corpus v3 (below), adds a waveform term, $0.5\,\lVert y - s\rVert_1$ (`--time-weight 0.5`):
# on a probe batch of that corpus it is about as large as each spectral term.
#
# Each step's batch is drawn from an RNG seeded by (seed, step), and checkpoints hold the optimizer and RNG states, so
# a run that is killed and resumed ends with exactly the weights of an uninterrupted one.

# %%
from dataclasses import replace
import textwrap
import numpy as np, torch, matplotlib.pyplot as plt
from IPython.display import Markdown, display

from mbsnet import presets
from mbsnet.params import breakdown
from mbsnet.model import build_model

final = presets.get("final")
print(textwrap.fill(", ".join(f"{k}={final.to_dict()[k]!r}" for k in (
    "scan_method", "expand", "encoder", "decoder", "temporal_direction", "crossband_direction", "n_layers",
    "channels", "d_state")), 84))
print(f"parameters: {breakdown(build_model(final)).total:,}")

# %% [markdown]
# ## A live run
#
# One step of the full `final` model on 2 × 0.5 s takes several seconds on this CPU, too slow for a notebook. The live
# run uses the same architecture shrunk (16 channels, one temporal layer) on real speech (CMU ARCTIC) plus noise, for
# 60 steps. The point is the mechanics: the loss must fall.

# %%
from mbsnet.assets import ARCTIC_WAVS
from mbsnet.data.audio import load_wav
from mbsnet.data.noise import make_noise, mix_at_snr
from mbsnet.train import train_model

rng = np.random.default_rng(0)
speech = load_wav(ARCTIC_WAVS[0])[0]
pairs = [(speech[i:i + 8000], mix_at_snr(speech[i:i + 8000], make_noise("pink", rng, 8000), 5.0))
         for i in range(0, 40_000, 8000)]
small = replace(final, name="final-small", channels=16, n_layers=1, decoder_hidden=64)
torch.set_num_threads(1)
model, history = train_model(small, pairs, steps=60, batch_size=4, segment_seconds=0.25, seed=0,
                             lr=3e-3, progress=False)
losses = np.array([h["loss"] for h in history])
print(f"loss: first 10 steps {losses[:10].mean():.3f}, last 10 steps {losses[-10:].mean():.3f}")
assert losses[-10:].mean() < 0.8 * losses[:10].mean()

# %%
# NBVAL_IGNORE_OUTPUT
print(f"{np.mean([h['step_seconds'] for h in history]):.2f} s per step")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(np.arange(1, len(losses) + 1), losses, color="#1e8449")
ax.set_xlabel("step"); ax.set_ylabel("training loss"); ax.set_title("live run, final-small"); ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## The shipped checkpoint
#
# `checkpoints/final/` holds the `final` model trained on this project's 2-core CPU, one thread, in the background,
# together with its log and provenance. It trained in five phases. The first two are on the synthetic corpus
# (notebook 11): a run from scratch on short crops — run as the ladder's `crossband_bi_temporal_uni`, the same
# architecture under its ladder name, when notebook 9 tested it on the full corpus — then a warm start (`python -m
# mbsnet train --init`: the first phase's weights, a fresh optimizer and a new warm-up + cosine schedule) on crops
# twice as long. That model, which had heard only eSpeak, is kept as `checkpoints/final_synthetic/`. The third phase
# warm-starts it on corpus v3 (real voices and real noise beside the synthetic ones), on 2 s crops, over four
# sessions with `--resume`. Phases 4 and 5 continue from phase 3's weights on the same corpus with a share of the
# training crops remixed at cleaner SNRs; the last sections say why, and how the validation set chose them. Each
# phase's commands and settings:

# %%
import json
from mbsnet.checkpoint import SHIPPED_CHECKPOINT, read_checkpoint
from mbsnet.plots.enhancement import read_train_log, training_curve

state = read_checkpoint(SHIPPED_CHECKPOINT)
info = json.loads((SHIPPED_CHECKPOINT.parent / "training.json").read_text())
for i, phase in enumerate(info["phases"], 1):
    t = phase["train"]
    print(f"phase {i}: steps {phase['first_step']}-{phase['first_step'] + phase['steps'] - 1}, batch "
          f"{t['batch_size']} x {t['segment_seconds']} s, peak lr {t['lr']}, {phase['train_minutes']:.0f} min")
    for command in phase["commands"]:
        print(textwrap.fill(command, 84, initial_indent="  ", subsequent_indent="      "))
print("machine :", info["machine"]["processor"], "| threads:", info["threads"])
print("stored  :", f"{SHIPPED_CHECKPOINT.stat().st_size / 2**20:.1f} MiB,", state["dtype"])
print("inference setting:", state["inference"]["settings"], "(the last section says why)")
assert {k: v for k, v in state["config"].items() if k != "mask_floor_db"} == final.to_dict()
assert state["step"] == info["phases"][-1]["steps"] and info["step"] == sum(p["steps"] for p in info["phases"])
assert len(info["phases"]) == 5

# %%
log = read_train_log(SHIPPED_CHECKPOINT.parent / "train_log.csv")
evals = [json.loads(line) for line in (SHIPPED_CHECKPOINT.parent / "eval_log.jsonl").read_text().splitlines()]
seconds_of_audio = sum(p["steps"] * p["train"]["batch_size"] * p["train"]["segment_seconds"] for p in info["phases"])
print(f"{len(log['step'])} logged steps, {info['train_minutes']:.0f} minutes of training, "
      f"{seconds_of_audio / 60:.0f} minutes of audio seen")
fig = training_curve(log, evals)
plt.show()

# %%
phases = {p: log["loss"][log["run_phase"] == p] for p in np.unique(log["run_phase"])}
for p, loss in phases.items():
    print(f"phase {p:.0f} mean loss: first 50 steps {loss[:50].mean():.3f}, last 50 steps {loss[-50:].mean():.3f}")
print("held-out evaluations in training (the first n test items of the phase's corpus),")
print("improvement over the noisy input:")
for e in evals:
    print(f"  phase {e['run_phase']} step {e['step']:4d}, n = {e['eval']['n']:2d}: SI-SDR "
          f"{e['eval']['si_sdr_improvement']:+.2f} dB, PESQ {e['eval']['pesq_improvement']:+.3f}")
assert all(phases[p][-50:].mean() < phases[p][:50].mean() for p in (1, 2, 3))       # each training phase falls
assert all(abs(phases[p][-200:].mean() - phases[p][:200].mean()) < 0.03 for p in (4, 5))  # the fine-tunes: flat

# %% [markdown]
# A few utterances are a coarse gauge of the held-out quality, and in phase 3 a misleading one (next section);
# notebook 13 evaluates the model on whole test sets. The loss levels are not comparable across the dashed lines:
# phase 1 is on 0.5 s crops, phase 2 on 1 s crops, phase 3 on 2 s crops of another corpus with a waveform term,
# phases 4 and 5 on the same with a share of cleaner crops. Phases 4 and 5 are fine-tunes of a trained model at half
# phase 3's peak learning rate: their loss is flat within the noise of 2-crop batches (the means over 200 steps move
# by less than 0.03), and they were judged on the validation set, not by their loss.
#
# The same two-phase recipe was first run for the model with the seed's *bidirectional* Mamba along time (shipped
# as `final` until notebook 9's evidence changed the choice; `checkpoints/final_bidirectional/`). Its first phase
# read an earlier version of the corpus for 520 steps and was stopped and resumed by hand (its README says how),
# so the curves are close to, not exactly, matched:

# %%
from mbsnet.plots import preset_color
from mbsnet.plots.enhancement import loss_comparison

former = SHIPPED_CHECKPOINT.parent.parent / "final_bidirectional"
former_log = read_train_log(former / "train_log.csv")
synthetic_phases = {k: v[log["run_phase"] <= 2] for k, v in log.items()}      # the two phases both models ran
runs = {"bidirectional along time": former_log, "unidirectional along time (final)": synthetic_phases}
ax = loss_comparison(runs, colors=dict(zip(runs, (preset_color("crossband_bi_slim_decoder"), preset_color("final")))))
plt.show()
former_info = json.loads((former / "training.json").read_text())
assert [p["steps"] for p in former_info["phases"]] == [p["steps"] for p in info["phases"][:2]]
def window_means(lg, p):
    loss = lg["loss"][lg["run_phase"] == p]
    return loss[:200].mean(), loss[-200:].mean()

means = {}
print(f"{'mean loss, first / last 200 steps':<36}{'phase 1':>16}{'phase 2':>16}{'CPU minutes':>13}")
uni_info = {"train_minutes": sum(p["train_minutes"] for p in info["phases"][:2])}
for name, lg, inf in (("bidirectional", former_log, former_info), ("uni (final)", synthetic_phases, uni_info)):
    means[name] = {p: window_means(lg, p) for p in (1, 2)}
    print(f"{name:<36}" + "".join(f"{f'{means[name][p][0]:.3f} / {means[name][p][1]:.3f}':>16}" for p in (1, 2))
          + f"{inf['train_minutes']:>13.0f}")
bi, uni = means["bidirectional"], means["uni (final)"]
assert uni[1][0] < bi[1][0] - 0.03                              # faster at the start of phase 1
assert all(abs(uni[p][1] - bi[p][1]) < 0.01 for p in (1, 2))     # level at the end of each phase

# %% [markdown]
# The unidirectional model's loss falls faster at the start; by the end of each phase the two are level. It is the
# picture of notebook 9's evaluations: the temporal direction changes how fast the model learns here, not where
# it ends, and the unidirectional model gets there with fewer parameters, less memory and faster steps (notebook 9's
# step times; the CPU minutes above are not comparable, since the bidirectional model's first phase ran while the
# machine was loaded by other work).

# %% [markdown]
# ## Phase 3: corpus v3, judged on whole test sets
#
# During phase 3 the gauge — 8, later 32, items of corpus v3's test split — said the run was getting *worse*
# (PESQ 1.80 at step 250, 1.73 at 500, 1.68 at 750). Snapshots of the weights, each evaluated side by side with the
# noisy input and the Wiener filter on the same 40 real-speech mixtures (held-out LibriSpeech speakers, held-out
# noise recordings) and the 16 ARCTIC mixtures (`python -m mbsnet evaluate --checkpoint SNAPSHOT --data
# data/corpus_v3 --sets real,arctic --n-test 40 ...`), said otherwise. Phase 3's final weights were evaluated on all
# 150 real-speech mixtures (`results/evaluation_v3_phase3_nofloor.json`); its first 40 are the same files, so its
# means over them join the table:

# %%
from mbsnet.evaluate import summarize_by
from mbsnet.results import load_result
from mbsnet.experiments.ladder import markdown_table

snapshots = {"end of phase 2 (eSpeak only)": ("evaluation_final_v3_sets", 0),
             "phase 3, step 575": ("evaluation_final_v3b_step575", 575),
             "phase 3, step 825": ("evaluation_final_v3b_step825", 825),
             "phase 3, step 1100": ("evaluation_final_v3b_step1100", 1100),
             "phase 3, step 1225": ("evaluation_final_v3b_step1225", 1225)}
shipped_eval = load_result("evaluation_v3_phase3_nofloor")  # phase 3's final weights, before the mask floor (below)
phase3_steps = info["phases"][2]["steps"]
trajectory, baseline = {}, None
for label, (name, step) in snapshots.items():
    ev = load_result(name)
    trajectory[label] = (step, {k: ev[k]["summary"]["model"] for k in ("real", "arctic")})
    baseline = baseline or ev
ids40 = [r["id"] for r in baseline["real"]["rows"] if r["system"] == "noisy"]
shipped_rows = [r for r in shipped_eval["real"]["rows"] if r["id"] in set(ids40)]
assert [r["id"] for r in shipped_rows if r["system"] == "noisy"] == ids40    # the same 40 files, in order
shipped40 = summarize_by(shipped_rows)
assert shipped40["noisy"] == baseline["real"]["summary"]["noisy"]
assert shipped_eval["arctic"]["items_sha"] == baseline["arctic"]["items_sha"]
trajectory[f"phase 3, step {phase3_steps} (end of phase 3, no floor)"] = (phase3_steps, {
    "real": shipped40["model"], "arctic": shipped_eval["arctic"]["summary"]["model"]})
rows = [[f"*{s}*"] + [f"{baseline[k]['summary'][s][m]:.{2 if m == 'si_sdr' else 3}f}" for k in ("real", "arctic")
                      for m in ("pesq", "stoi", "si_sdr")] for s in ("noisy", "wiener")]
rows += [[label] + [f"{t[k][m]:.{2 if m == 'si_sdr' else 3}f}" for k in ("real", "arctic")
                    for m in ("pesq", "stoi", "si_sdr")] for label, (_, t) in trajectory.items()]
display(Markdown(markdown_table(["", "real PESQ", "STOI", "SI-SDR (dB)", "ARCTIC PESQ", "STOI", "SI-SDR (dB)"],
                                rows)))

# %%
fig, axes = plt.subplots(2, 3, figsize=(6.8, 3.8), sharex=True, constrained_layout=True)
steps = [step for step, _ in trajectory.values()]
for row, k in zip(axes, ("real", "arctic")):
    for ax, m in zip(row, ("pesq", "stoi", "si_sdr")):
        ax.plot(steps, [t[k][m] for _, t in trajectory.values()], "o-", color="#1e8449", label="model")
        for system, color in (("noisy", "#95a5a6"), ("wiener", "#e67e22")):
            ax.axhline(baseline[k]["summary"][system][m], color=color, ls="--", lw=1, label=system)
        ax.set_title(f"{'40 real-speech' if k == 'real' else '16 ARCTIC'}: {m.replace('_', '-').upper()}",
                     fontsize=8)
        ax.tick_params(labelsize=7); ax.grid(alpha=0.3)
for ax in axes[1]:
    ax.set_xlabel("phase-3 step", fontsize=8)
axes[0, 0].legend(fontsize=6)
plt.show()

# %% [markdown]
# ## Choosing by a validation set, and where the model loses
#
# Picking a snapshot by the scores of the test set it is then reported on flatters it. `python -m mbsnet evaluate
# --sets validation` scores a **validation set** instead: the second half of corpus v3's test split (items 150-299:
# held-out voices, held-out noise recordings, other mixtures than the first 150, which the reported synthetic scores
# use). One more run tried whether a second low learning-rate tail closes the gap to the Wiener filter:
# `runs/final_v3c` continues phase 3's full training state (its step 1350; AdamW moments and RNG
# included) with the schedule lengthened to 2000 steps, so the rate rose to 6e-5 and decayed again; it was stopped
# at step 1800 (rate 1.5e-5). Its snapshots beside phase 3's final weights on the validation set:

# %%
validation = {"phase 3, step 1350": load_result("validation_final_v3b_step1350"),
              "runs/final_v3c, step 1675": load_result("validation_final_v3c_step1675"),
              "runs/final_v3c, step 1800": load_result("validation_final_v3c_step1800")}
first_val = next(iter(validation.values()))["validation"]
assert len({v["validation"]["items_sha"] for v in validation.values()}) == 1      # the same 150 files
assert first_val["n_items"] == 150
metrics = ("pesq", "stoi", "si_sdr")
fmt = lambda m, x: f"{x:.{2 if m == 'si_sdr' else 3}f}"
rows = [[f"*{s}*"] + [fmt(m, first_val["summary"][s][m]) for m in metrics] for s in ("noisy", "wiener")]
rows += [[label] + [fmt(m, v["validation"]["summary"]["model"][m]) for m in metrics] for label, v in validation.items()]
display(Markdown(markdown_table(["validation set (150)", "PESQ", "STOI", "SI-SDR (dB)"], rows)))

# %% [markdown]
# Split by the mixture's SNR, the validation set and the 150 real-speech mixtures of notebook 13 say the same thing
# (PESQ, model minus Wiener, phase 3's final weights):

# %%
def pesq_gap_by_snr(evaluated):
    """{snr_db: (n, model PESQ - Wiener PESQ)} from a stored evaluation's per-file rows."""
    out = {}
    for snr in sorted({r["snr_db"] for r in evaluated["rows"]}):
        by = {s: [r["pesq"] for r in evaluated["rows"] if r["snr_db"] == snr and r["system"] == s]
              for s in ("model", "wiener")}
        out[snr] = (len(by["model"]), float(np.mean(by["model"]) - np.mean(by["wiener"])))
    return out

gaps = {"validation": pesq_gap_by_snr(first_val), "real-speech test": pesq_gap_by_snr(shipped_eval["real"])}
snrs = list(gaps["validation"])
assert snrs == list(gaps["real-speech test"])
display(Markdown(markdown_table(["SNR (dB)"] + [f"{s:g}" for s in snrs],
                                [[name] + [f"{g[s][1]:+.3f} (n={g[s][0]})" for s in snrs]
                                 for name, g in gaps.items()])))
tail = [v["validation"]["summary"]["model"]["pesq"] for v in validation.values()]
low = {name: np.mean([g[s][1] for s in snrs[:2]]) for name, g in gaps.items()}
high = {name: np.mean([g[s][1] for s in snrs[2:]]) for name, g in gaps.items()}
snr_plan = load_result("corpus_v3")["corpus"]["snrs_db"]
display(Markdown(
    f"The second tail moves the validation PESQ by {max(tail) - min(tail):.3f} at most: more of the same training "
    "does not close the gap. Where the gap is, does: at the two noisiest SNRs the model is within "
    f"{max(abs(x) for x in low.values()):.2f} PESQ of the Wiener filter (mean over the two), at the two cleanest it "
    f"is {min(-x for x in high.values()):.2f}-{max(-x for x in high.values()):.2f} behind. Corpus v3 trains at "
    f"{', '.join(f'{x:g}' for x in snr_plan['train'])} dB and tests at {', '.join(f'{x:g}' for x in snr_plan['test'])} "
    "dB (the VoiceBank-DEMAND protocol): the gap grows with the input's SNR, the cleanest test level lies beyond "
    "every training mixture and the next one at the edge of them; the model takes clean-ish inputs for noisier "
    "ones and over-processes them. That is a hypothesis; the next section tests it."))
assert max(tail) - min(tail) < 0.03                        # the second tail: no real change
assert all(x < -0.05 for x in high.values()) and all(x > -0.04 for x in low.values())
assert max(snr_plan["train"]) < max(snr_plan["test"])

# %% [markdown]
# ## What the model does to clean speech, and a floor for its mask
#
# Give a system speech with no noise at all and a transparent one hands it back unchanged. `python -m mbsnet evaluate
# --sets clean` feeds the validation set's clean signals as the input; the identity (the input itself) scores the
# ceiling. Beside it, the Wiener filter, phase 3's final weights, and `runs/final_v3d` at step 550: those weights
# warm-started with 30% of its training crops remixed at 15-30 dB (`train --remix-snr 15,30 --remix-prob 0.3`), to
# show it cleaner inputs:

# %%
clean_runs = {"phase 3, step 1350": load_result("clean_input_final_v3b"),
              "runs/final_v3d, step 550 (remixed crops)": load_result("validation_final_v3d_step550")}
remixed_val = clean_runs["runs/final_v3d, step 550 (remixed crops)"]["validation"]
assert len({r["clean"]["items_sha"] for r in clean_runs.values()}) == 1
assert remixed_val["items_sha"] == first_val["items_sha"]
clean_first = next(iter(clean_runs.values()))["clean"]["summary"]
rows = [["*identity (the input)*"] + [fmt(m, clean_first["noisy"][m]) for m in metrics],
        ["*Wiener*"] + [fmt(m, clean_first["wiener"][m]) for m in metrics]]
rows += [[label] + [fmt(m, r["clean"]["summary"]["model"][m]) for m in metrics] for label, r in clean_runs.items()]
display(Markdown(markdown_table(["clean input (150)", "PESQ", "STOI", "SI-SDR (dB)"], rows)))
shipped_clean = clean_first["model"]
remixed_clean = clean_runs["runs/final_v3d, step 550 (remixed crops)"]["clean"]["summary"]["model"]
remixed_gaps = pesq_gap_by_snr(remixed_val)
display(Markdown(
    f"On clean speech phase 3's weights lose **{clean_first['noisy']['pesq'] - shipped_clean['pesq']:.2f} PESQ** "
    f"(the Wiener filter {clean_first['noisy']['pesq'] - clean_first['wiener']['pesq']:.2f}): it alters speech that "
    f"needs nothing done. Cleaner training crops help a little there (PESQ {shipped_clean['pesq']:.2f} → "
    f"{remixed_clean['pesq']:.2f}, SI-SDR {shipped_clean['si_sdr']:.1f} → {remixed_clean['si_sdr']:.1f} dB) but not "
    f"on the validation set's mixtures: PESQ {first_val['summary']['model']['pesq']:.3f} → "
    f"{remixed_val['summary']['model']['pesq']:.3f}, and at 17.5 dB still {remixed_gaps[17.5][1]:+.3f} behind the "
    "Wiener filter. Unseen SNRs are not the whole story."))
assert clean_first["noisy"]["pesq"] - shipped_clean["pesq"] > 0.5 > clean_first["noisy"]["pesq"] - clean_first["wiener"]["pesq"]
assert remixed_clean["pesq"] > shipped_clean["pesq"] and remixed_val["summary"]["model"]["pesq"] < first_val["summary"]["model"]["pesq"]
assert remixed_gaps[17.5][1] < -0.15

# %% [markdown]
# The magnitude mask is a sigmoid: nothing keeps it from taking a time-frequency bin to zero, and a model trained to
# remove noise carves holes into speech where it is unsure. The Wiener filter has a floor: it never attenuates a bin
# by more than its `floor_db`. The same for the model is an attenuation limit, **`mask_floor_db`**: the mask held at or
# above a level, the weights untouched (a setting of the config, like DeepFilterNet's attenuation limit). Which level,
# chosen on the validation set (`python -m mbsnet.experiments.mask_floor`, every other validation item):

# %%
sweep = load_result("mask_floor_validation")
assert sweep["items_sha"] != first_val["items_sha"] and sweep["n_items"] == first_val["n_items"] // 2
print(textwrap.fill(f"{sweep['provenance']['command']} ({sweep['provenance']['date'][:10]}, "
                    f"commit {sweep['provenance']['git_commit'][:7]})", 84, subsequent_indent="    "))
sweep_snrs = list(sweep["pesq_by_snr"]["noisy"])
rows = [[s if s in ("noisy", "wiener") else s.replace("model, ", "").replace("model", "no floor")]
        + [fmt(m, sweep["summary"][s][m]) for m in metrics] + [f"{sweep['pesq_by_snr'][s][x]:.3f}" for x in sweep_snrs]
        for s in sweep["summary"]]
display(Markdown(markdown_table(["system", "PESQ", "STOI", "SI-SDR (dB)"] + [f"PESQ at {x} dB" for x in sweep_snrs],
                                rows)))
floored = {f: sweep["summary"]["model" if f is None else f"model, floor {f:g} dB"] for f in sweep["floors"]}
chosen = max((f for f in sweep["floors"] if f is not None), key=lambda f: floored[f]["pesq"])
free, best, w = floored[None], floored[chosen], sweep["summary"]["wiener"]
shipped_cfg = read_checkpoint(SHIPPED_CHECKPOINT)
display(Markdown(
    f"A floor of **{chosen:g} dB** scores best: PESQ {free['pesq']:.3f} → **{best['pesq']:.3f}** (Wiener "
    f"{w['pesq']:.3f}), at every SNR, for {best['si_sdr'] - free['si_sdr']:+.2f} dB SI-SDR and "
    f"{best['stoi'] - free['stoi']:+.3f} STOI; higher floors keep more noise and lose SI-SDR, lower ones leave the "
    f"holes. The shipped checkpoint carries it (`mask_floor_db={shipped_cfg['config']['mask_floor_db']:g}` in its "
    "config, set by `mbsnet.checkpoint.with_inference_settings`, which records how it was chosen); `enhance "
    "--mask-floor-db none` turns it off. Notebook 13 reports the test sets with it."))
assert shipped_cfg["config"]["mask_floor_db"] == chosen == -20
assert all(sweep["pesq_by_snr"][f"model, floor {chosen:g} dB"][x] > sweep["pesq_by_snr"]["model"][x] for x in sweep_snrs)
assert best["pesq"] - free["pesq"] > 0.04 and abs(best["si_sdr"] - free["si_sdr"]) < 0.1
# %% [markdown]
# ## Phases 4 and 5: cleaner training crops, chosen by the validation set
#
# Remixed crops alone (phase 4, `runs/final_v3d`, stopped at step 550 of 1200) made the model a little more
# transparent but no better on mixtures (above). Phase 5 (`runs/final_v3e`) continued from phase 4's weights with a
# stronger remix: 40% of the crops at an SNR drawn from 15-45 dB (`--remix-snr 15,45 --remix-prob 0.4`), 700 steps,
# the learning rate decayed to 5e-6. It was judged with the −20 dB floor, beside phase 3's weights with the same floor,
# on the validation set and on clean input, by a rule written down before any test-set score of it was seen
# (`runs/final_v3e/README.md`): replace phase 3 if validation PESQ is not lower by more than 0.01 and SI-SDR is
# higher, on the mixtures and on clean input.

# %%
judged = {"phase 3 + floor": load_result("validation_clean_final_floor20"),
          "phase 5 + floor": load_result("validation_final_v3e_step700_floor20")}
for k in ("validation", "clean"):
    assert len({j[k]["items_sha"] for j in judged.values()}) == 1                 # the same 150 files
assert judged["phase 3 + floor"]["validation"]["items_sha"] == first_val["items_sha"]
for label, j in judged.items():
    print(textwrap.fill(f"{label}: {j['provenance']['date'][:10]}, commit {j['provenance']['git_commit'][:7]}: "
                        f"{j['provenance']['command']}", 84, subsequent_indent="    "))
ref = judged["phase 3 + floor"]
rows = [[f"*{name}*"] + [fmt(m, ref["validation"]["summary"][s][m]) for m in metrics]
        + [fmt(m, ref["clean"]["summary"][s][m]) for m in ("pesq", "si_sdr")]
        for s, name in (("noisy", "noisy input / identity"), ("wiener", "Wiener"))]
rows += [[label] + [fmt(m, j["validation"]["summary"]["model"][m]) for m in metrics]
         + [fmt(m, j["clean"]["summary"]["model"][m]) for m in ("pesq", "si_sdr")] for label, j in judged.items()]
display(Markdown(markdown_table(["validation set (150)", "PESQ", "STOI", "SI-SDR (dB)", "clean input: PESQ",
                                 "SI-SDR (dB)"], rows)))

# %%
judged_gaps = {label: pesq_gap_by_snr(j["validation"]) for label, j in judged.items()}
fig, ax = plt.subplots(figsize=(5.6, 2.6), constrained_layout=True)
x = np.arange(len(snrs))
for i, (label, g) in enumerate(judged_gaps.items()):
    ax.bar(x + (i - 0.5) * 0.38, [g[s][1] for s in snrs], 0.38, label=label,
           color=("#95a5a6", "#1e8449")[i])
ax.axhline(0, color="#e67e22", lw=1, label="Wiener filter")
ax.set_xticks(x, [f"{s:g} dB" for s in snrs]); ax.set_ylabel("PESQ, model − Wiener", fontsize=8)
ax.set_title("validation set, by input SNR", fontsize=9); ax.legend(fontsize=7); ax.grid(alpha=0.3, axis="y")
plt.show()

# %%
v3, v5 = (judged[k]["validation"]["summary"]["model"] for k in judged)
c3, c5 = (judged[k]["clean"]["summary"]["model"] for k in judged)
ships = (v5["pesq"] - v3["pesq"] >= -0.01 and v5["si_sdr"] > v3["si_sdr"]
         and c5["pesq"] > c3["pesq"] and c5["si_sdr"] > c3["si_sdr"])
last = info["phases"][-1]
display(Markdown(
    f"On the validation mixtures the two are level: PESQ {v5['pesq'] - v3['pesq']:+.3f}, SI-SDR "
    f"{v5['si_sdr'] - v3['si_sdr']:+.2f} dB, STOI {v5['stoi'] - v3['stoi']:+.3f}, and both still "
    f"{-judged_gaps['phase 3 + floor'][snrs[-1]][1]:.3f} / {-judged_gaps['phase 5 + floor'][snrs[-1]][1]:.3f} PESQ "
    f"behind the Wiener filter at {snrs[-1]:g} dB. On clean input phase 5 is clearly "
    f"more transparent: PESQ {c3['pesq']:.2f} → **{c5['pesq']:.2f}**, SI-SDR {c3['si_sdr']:.1f} → "
    f"**{c5['si_sdr']:.1f} dB** (the Wiener filter {ref['clean']['summary']['wiener']['pesq']:.2f} / "
    f"{ref['clean']['summary']['wiener']['si_sdr']:.1f} dB). By the rule, **phase 5 ships**: `checkpoints/final/` "
    f"holds its weights ({last['steps']} steps, {last['train_minutes']:.0f} CPU minutes) with the same floor. The "
    "test sets were scored once, after this choice (notebook 13)."))
assert ships
assert state["step"] == last["steps"] == 700 and "--out runs/final_v3e" in last["commands"][0]
assert abs(v5["pesq"] - v3["pesq"]) < 0.01 and c5["si_sdr"] - c3["si_sdr"] > 5

# %% [markdown]
# ## Verdict

# %%
shipped = trajectory[f"phase 3, step {phase3_steps} (end of phase 3, no floor)"][1]
before = trajectory["end of phase 2 (eSpeak only)"][1]
b = {k: baseline[k]["summary"] for k in ("real", "arctic")}
phase3 = info["phases"][2]
full = shipped_eval["real"]["summary"]
mid = trajectory["phase 3, step 825"][1]
floored_real = load_result("evaluation_v3_phase3")["real"]["summary"]       # phase 3, with the mask floor
final_real = load_result("evaluation_v3_final")["real"]["summary"]          # phase 5 (shipped), with the floor
floored_si_sdr_gap = floored_real["model"]["si_sdr"] - floored_real["wiener"]["si_sdr"]
gauge = [e["eval"]["pesq_improvement"] for e in evals if e["run_phase"] == 3 and e["eval"]["n"] == 8]
display(Markdown(
    f"**The final preset trains on a CPU, and real data moved it.** The live small run's loss fell from "
    f"{losses[:10].mean():.3f} to {losses[-10:].mean():.3f}. The shipped checkpoint trained {info['step']} steps in "
    f"{len(info['phases'])} phases, {info['train_minutes'] / 60:.1f} hours of one CPU thread, the loss of each "
    f"of the first three falling (phases 4 and 5 are flat fine-tunes); the third, {phase3['steps']} steps on corpus v3 ({phase3['train_minutes'] / 60:.1f} h), raised the "
    f"40 real-speech mixtures from PESQ {before['real']['pesq']:.3f} to {shipped['real']['pesq']:.3f} (Wiener "
    f"{b['real']['wiener']['pesq']:.3f}), STOI {before['real']['stoi']:.3f} to {shipped['real']['stoi']:.3f} "
    f"(noisy input {b['real']['noisy']['stoi']:.3f}) and SI-SDR {before['real']['si_sdr']:.2f} to "
    f"{shipped['real']['si_sdr']:.2f} dB (Wiener {b['real']['wiener']['si_sdr']:.2f}), and ARCTIC's PESQ from "
    f"{before['arctic']['pesq']:.3f} to {shipped['arctic']['pesq']:.3f}. Mid-run, at the higher learning rate, "
    f"PESQ rose while real-speech STOI and SI-SDR fell below the noisy input's and the Wiener filter's (step "
    f"825: {mid['real']['pesq']:.3f} / {mid['real']['stoi']:.3f} / {mid['real']['si_sdr']:.2f}); as the rate "
    f"decayed STOI and SI-SDR came back above them at a small cost in PESQ. The 8-item gauge pointed the wrong way "
    f"(its PESQ gain fell from {gauge[0]:+.2f} to {gauge[-1]:+.2f} over steps 250-750 while the 40 items' rose): "
    f"judge snapshots on a whole validation set (the section above). On all 150 real-speech mixtures (notebook 13) "
    f"phase 3's weights are just below the Wiener filter on PESQ ({full['model']['pesq']:.3f} against "
    f"{full['wiener']['pesq']:.3f}) and SI-SDR ({full['model']['si_sdr']:.2f} against {full['wiener']['si_sdr']:.2f} "
    f"dB): these 40 are its easier part. **The mask floor** chosen on the validation set lifts phase 3's weights "
    f"past it on PESQ ({floored_real['model']['pesq']:.3f}); SI-SDR stays {-floored_si_sdr_gap:.2f} dB behind. "
    f"**Phases 4 and 5**, cleaner crops chosen by the validation set, close that: the shipped weights with the floor "
    f"score {final_real['model']['pesq']:.3f} / {final_real['model']['stoi']:.3f} / "
    f"{final_real['model']['si_sdr']:.2f} dB there, against the Wiener filter's {final_real['wiener']['pesq']:.3f} / "
    f"{final_real['wiener']['stoi']:.3f} / {final_real['wiener']['si_sdr']:.2f}."))
assert all(final_real["model"][m] > final_real["wiener"][m] for m in ("pesq", "stoi", "si_sdr"))
assert all(abs(final_real["wiener"][m] - floored_real["wiener"][m]) < 1e-9 for m in ("pesq", "stoi", "si_sdr"))
full = shipped_eval["real"]["summary"]
assert full["model"]["pesq"] < full["wiener"]["pesq"] and full["model"]["si_sdr"] < full["wiener"]["si_sdr"]
assert floored_real["model"]["pesq"] > floored_real["wiener"]["pesq"] and -0.3 < floored_si_sdr_gap < 0
assert mid["real"]["stoi"] < b["real"]["noisy"]["stoi"] < shipped["real"]["stoi"]
assert mid["real"]["si_sdr"] < b["real"]["wiener"]["si_sdr"] < shipped["real"]["si_sdr"]
assert gauge[-1] < gauge[0] and trajectory["phase 3, step 825"][1]["real"]["pesq"] > before["real"]["pesq"]
assert all(phases[p][-50:].mean() < phases[p][:50].mean() for p in (1, 2, 3))
assert all(shipped["real"][m] > before["real"][m] for m in ("pesq", "stoi", "si_sdr"))

# %% [markdown]
# A few CPU-hours is still a tiny budget: SEMamba trains for 10+ days on two GPUs. What the model achieved with it —
# against the noisy input, a classical Wiener filter and three pretrained enhancers, on every test set — is
# notebook 13.
