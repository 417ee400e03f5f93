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
# `checkpoints/final/` holds the `final` model trained on the synthetic corpus (notebook 11) on this project's 2-core
# CPU, one thread, in the background, together with its log and provenance. It trained in two phases: a first run
# from scratch on short crops — run as the ladder's `crossband_bi_temporal_uni`, the same architecture under its ladder
# name, when notebook 9 tested it on the full corpus — then a warm start (`python -m mbsnet train --init`: the first
# phase's weights, a fresh optimizer and a new warm-up + cosine schedule) on crops twice as long. Each phase's
# commands and settings:

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
assert state["config"] == final.to_dict()
assert state["step"] == info["phases"][-1]["steps"] and info["step"] == sum(p["steps"] for p in info["phases"])

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
print("held-out evaluations (4 test utterances), improvement over the noisy input:")
for e in evals:
    print(f"  phase {e['run_phase']} step {e['step']:4d}: SI-SDR {e['eval']['si_sdr_improvement']:+.2f} dB, "
          f"PESQ {e['eval']['pesq_improvement']:+.3f}")
from mbsnet.results import load_result
ref = load_result("evaluation_final")["synthetic"]["summary"]
print("for reference, the Wiener filter on the whole 100-utterance test set (notebook 13):")
print(f"  SI-SDR {ref['wiener']['si_sdr'] - ref['noisy']['si_sdr']:+.2f} dB, "
      f"PESQ {ref['wiener']['pesq'] - ref['noisy']['pesq']:+.3f}")
first, last = phases[1][:50].mean(), phases[max(phases)][-50:].mean()
assert all(loss[-50:].mean() < loss[:50].mean() for loss in phases.values())

# %% [markdown]
# Four utterances are a coarse gauge of the held-out quality; notebook 13 evaluates both phases on the whole
# 100-utterance test set and on real speech. The phase-2 loss is on 1 s crops, the phase-1 loss on 0.5 s crops, so
# their levels are not comparable across the dashed line.
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
runs = {"bidirectional along time": former_log, "unidirectional along time (final)": log}
ax = loss_comparison(runs, colors=dict(zip(runs, (preset_color("crossband_bi_slim_decoder"), preset_color("final")))))
plt.show()
former_info = json.loads((former / "training.json").read_text())
assert [p["steps"] for p in former_info["phases"]] == [p["steps"] for p in info["phases"]]
def window_means(lg, p):
    loss = lg["loss"][lg["run_phase"] == p]
    return loss[:200].mean(), loss[-200:].mean()

means = {}
print(f"{'mean loss, first / last 200 steps':<36}{'phase 1':>16}{'phase 2':>16}{'CPU minutes':>13}")
for name, lg, inf in (("bidirectional", former_log, former_info), ("uni (final)", log, info)):
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
# ## Verdict

# %%
display(Markdown(
    f"**The final preset trains on a CPU.** The live small run's loss fell from {losses[:10].mean():.3f} to "
    f"{losses[-10:].mean():.3f}; the shipped checkpoint trained {info['step']} steps in {len(info['phases'])} "
    f"phases ({info['train_minutes']:.0f} min, one CPU thread), its mean loss falling from {first:.3f} to "
    f"{last:.3f}."))

# %% [markdown]
# An hour or two of one CPU thread is a tiny budget: SEMamba trains for 10+ days on two GPUs. What the model
# achieved with it — against the noisy input and a classical Wiener filter, on synthetic and on real speech — is
# notebook 13.
