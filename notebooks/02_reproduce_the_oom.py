# %% [markdown]
# # 2. Reproduce the OOM
#
# > **Current**: 7.33M params, OOM with batch_size=2
# >
# > With gradients (×3 for backprop), activations, optimizer states → **>10 GB easily exceeded**
#
# — *the source analysis* (`brutal_complexity_analysis.md`)
#
# The seed MBS-Net ran out of memory at batch 2 on a 12 GiB RTX 3080 Ti. Before fixing anything we reproduce that failure,
# and we find out *where* the memory goes. Most readers (and CI) have no GPU, so we **predict** the CUDA peak on the CPU:
#
# * one full training step — forward on a complex STFT $(b, 257, 251)$ (2 s at 16 kHz), the loss
#   (0.5·L1 on real/imag + 0.5·L1 on $|X|^{0.3}$), backward, an Adam step — runs on **meta tensors**: every op computes
#   shapes and dtypes, nothing is allocated;
# * a small `TorchDispatchMode` (`mbsnet.memory.LiveMemoryTracker`) follows every tensor storage from its creation to
#   the moment autograd or Python drops it (a weakref callback), so it knows the live bytes after every op, rounded up
#   to 512 B as the CUDA caching allocator does;
# * the step is a steady-state one: Adam's two states per parameter already exist, as from step 2 on.
#
# This counts what `torch.cuda.max_memory_allocated` counts. It leaves out:

# %%
from IPython.display import Markdown, display
from mbsnet import memory, presets, build_model
from mbsnet.memory import gpus
from mbsnet.params import breakdown
from mbsnet.units import GiB, MiB

display(Markdown("\n".join(f"- **{what.replace('_', ' ')}**: {how}" for what, how in memory.LEFT_OUT.items())))

# %% [markdown]
# ## The model: 7,325,830 parameters
#
# The parameters themselves are not the problem: in fp32 they take 28 MiB, and with gradients and Adam's two
# states, $16\,P$ bytes = 112 MiB.

# %%
seed = presets.get("seed")
P = breakdown(build_model(seed)).total
print(f"parameters: {P:,}  ->  weights + gradients + Adam state = 16 P bytes = {16 * P / MiB:.0f} MiB")
assert P == 7_325_830

# %% [markdown]
# ## Batch 1 and batch 2, predicted
#
# Each prediction runs the whole training step on meta tensors (~15–30 s each here).

# %%
reports = {f"batch {b}": memory.cached_predict_peak(seed, b) for b in (1, 2)}
for label, r in reports.items():
    print(f"{label}: predicted peak {r.peak_gib:.2f} GiB, during {r.peak_phase}")
    for category, nbytes in r.categories.items():
        print(f"    {category:<18}{nbytes / GiB:8.3f} GiB")

# %%
# NBVAL_IGNORE_OUTPUT
for label, r in reports.items():
    print(f"{label}: {r.n_ops:,} ops tracked in {r.elapsed_s:.1f} s")

# %% [markdown]
# Against a 12 GiB card (PyTorch gets about 11.5 GiB of it: the CUDA context takes ~0.3–0.5 GiB first):

# %%
import matplotlib.pyplot as plt
from mbsnet.plots.memory import plot_category_bars, plot_timeline, plot_module_breakdown

fig, ax = plt.subplots(figsize=(5, 4))
plot_category_bars(ax, reports, budget_gib=12)
ax.set_title("seed MBS-Net, one training step (2 s segments)")
plt.show()

# %% [markdown]
# Almost all of it is **saved activations**: tensors that autograd keeps from the forward pass for the backward
# pass. Parameters, gradients and Adam state together are about 0.1 GiB.
#
# ### When: live memory over the step
#
# The tracker records the live bytes after every op. Memory climbs through the forward pass (every Mamba block adds
# its saved tensors), peaks early in the backward pass (the first scan's gradient buffers come on top of everything
# saved), then falls as backward releases what it used.

# %%
fig, ax = plt.subplots(figsize=(7.2, 3.5))
for (label, r), color in zip(reports.items(), ("#1f77b4", "#c0392b")):
    plot_timeline(ax, r, budget_gib=12, label=label, color=color)
ax.legend(loc="upper left")
plt.show()

# %% [markdown]
# ### Where: by module
#
# At the peak of batch 2, the memory belongs to the Mamba stacks: the 4 temporal bidirectional layers and the
# cross-band layer of each of the two encoders (magnitude and phase).

# %%
fig, ax = plt.subplots(figsize=(7, 4))
plot_module_breakdown(ax, reports["batch 2"], depth=3, top=14)
ax.set_title("batch 2: live at the peak, by module")
plt.show()

# %%
top = reports["batch 2"].by_module(2)
mamba = sum(v for k, v in top.items() if "encoder" in k)
print(f"encoders (Mamba): {mamba / GiB:.2f} GiB = {mamba / reports['batch 2'].peak_bytes:.1%} of the peak")

# %% [markdown]
# ## How big a batch fits?
#
# Activation memory grows linearly with the batch: every tensor the step saves has the batch as a factor, while
# parameters, gradients and Adam state do not. We **check** that the peak is affine in $b$ before we extrapolate
# with it: fit $\text{peak}(b) = a + s\,b$ on $b = 1, 2$, then compare with a full prediction at $b = 3$.

# %%
fit = memory.affine_in_batch(seed, check_batch=3)
print(f"peak(b) = {fit['intercept'] / GiB:.3f} GiB + {fit['slope'] / GiB:.3f} GiB x b")
check = fit["check"]
print(f"b = 3: affine {check['affine'] / GiB:.3f} GiB, full prediction {check['predicted'] / GiB:.3f} GiB "
      f"(error {check['relative_error']:.3%})")
assert check["relative_error"] < 0.005

# %%
print(f"{'GPU':<22}{'usable GiB':>11}{'max batch':>10}")
max_batches = {}
for name, gpu in gpus.GPUS.items():
    m = max(int((gpu.usable - fit["intercept"]) // fit["slope"]), 0)
    max_batches[name] = m
    print(f"{gpu.label:<22}{gpu.usable / GiB:>11.2f}{m:>10}")

# %%
spare = gpus.get("rtx3080ti").usable - reports["batch 1"].peak_bytes
print(f"batch 1 leaves {spare / GiB:.2f} GiB of the RTX 3080 Ti;")
print(f"the original recipe's batch 6 would need {(fit['intercept'] + 6 * fit['slope']) / GiB:.1f} GiB: "
      f"only the 80 GiB cards take it.")
assert max_batches["a100-80"] >= 6 > max_batches["a100-40"]

# %% [markdown]
# ## The step `python -m mbsnet train` runs
#
# Everything above is the original MBS-Net's step: Adam, its spectral loss, fp32. The trainer runs another one
# (`mbsnet.step.train_step` with `TrainSettings().step_settings()`): **AdamW**, the **enhancement loss** computed
# from waveforms (their STFTs are made inside the step), the gradient norm **clipped** at 5, and on CUDA the
# preset's **precision** (autocast for the bf16 presets; CUDA's bf16 policy is emulated on meta tensors,
# `mbsnet.precision`). `python -m mbsnet memory` predicts the trainer's step unless given `--step original`.
# The seed's batch-2 predictions take minutes here, so they are stored by
# `python -m mbsnet.experiments.trainer_step results/trainer_step_seed.json`; this notebook checks the stored
# original fp32 rows against its own live predictions above, and re-predicts one trainer row live.

# %%
from mbsnet.experiments.ladder import report as ladder_report
from mbsnet.results import load_result

both = load_result("trainer_step_seed")
peak = {(r["step"], r["precision"], r["batch_size"]): r["peak_bytes"] for r in both["rows"]}
for b in (1, 2):                        # the stored original fp32 rows are this notebook's predictions
    assert peak["original", "fp32", b] == reports[f"batch {b}"].peak_bytes
what = {"original": "original: Adam, spectral loss", "trainer": "trainer: AdamW, enhancement loss, clip 5"}
usable = gpus.get("rtx3080ti").usable
cell = lambda k, p, b: f"{peak[k, p, b] / GiB:.2f}" + ("" if peak[k, p, b] <= usable else " (OOM)")
display(Markdown(ladder_report.markdown_table(
    ["step", "batch", "fp32 (GiB)", "bf16 autocast (GiB)"],
    [(what[k], b, cell(k, "fp32", b), cell(k, "bf16", b)) for b in (1, 2) for k in what])))

# %%
from mbsnet.experiments.trainer_step import settings_for
live = memory.cached_predict_peak(seed, 1, step=settings_for("trainer", "fp32"))
print(f"{live.step}'s step ({live.optimizer}), fp32, batch 1: live {live.peak_gib:.3f} GiB, "
      f"stored {peak['trainer', 'fp32', 1] / GiB:.3f} GiB")
assert live.peak_bytes == peak["trainer", "fp32", 1]

# %%
t2, o2, h2 = peak["trainer", "fp32", 2], peak["original", "fp32", 2], peak["trainer", "bf16", 2]
assert abs(t2 / o2 - 1) < 0.02 and h2 > t2 > usable
display(Markdown(
    f"The trainer's step peaks at **{t2 / GiB:.2f} GiB** at batch 2, {(t2 - o2) / MiB:+.1f} MiB from the "
    f"original's: AdamW keeps the same two states per parameter as Adam, and at the peak, early "
    f"in backward, the loss is long gone. bf16 autocast does not rescue the seed: **{h2 / GiB:.2f} GiB**. Its "
    f"scan's $(b, l, d, n)$ tensors stay fp32 (softplus and exp are on autocast's fp32 list), and each fp32 "
    f"state $h_t$ is cast to bf16 for the einsum with $C_t$, a copy that autograd keeps too. Neither step "
    f"fits the 12 GiB card at batch 2."))

# %% [markdown]
# ## On a GPU: the real OOM
#
# `mbsnet.memory.reproduce_oom(cfg, batch, cap_gib=12)` runs the same step on a GPU capped at 12 GiB with
# `torch.cuda.set_per_process_memory_fraction` and catches the real `torch.OutOfMemoryError`. On a CPU it says so
# and does nothing.

# %%
# NBVAL_IGNORE_OUTPUT
import textwrap
for batch in (1, 2):
    result = memory.reproduce_oom(seed, batch, cap_gib=12)
    print(textwrap.fill(f"batch {batch}: {result['status']}: {result['message']}", 84, subsequent_indent="    "))

# %% [markdown]
# A GPU measurement is stored under `results/gpu_memory_*.json`, with its device, date, commit and command, by
#
# ```bash
# python -m mbsnet memory --preset seed --batch 1 --measure --oom-cap 12 \
#     --out results/gpu_memory_seed_b1.json
# ```
#
# and the same with `--batch 2` ([Running on a GPU](../gpu.md) says what to expect). None has been made for this
# book yet. When such files exist, they are shown here next to the prediction:

# %%
# NBVAL_IGNORE_OUTPUT
stored = memory.stored_gpu_results()
if not stored:
    print("No GPU measurement stored yet: the numbers above are predictions made on a CPU.")
for rec in stored:
    m, p, prov = rec["measured"], rec["predicted"], rec["provenance"]
    seen = (f"measured {m['peak_gib']:.2f} GiB ({m['peak_bytes'] / p['peak_bytes'] - 1:+.1%} vs predicted)"
            if "peak_gib" in m else "out of memory on this card")
    print(f"{m['device']} ({prov['date']}, {prov['git_commit'][:10]}): batch {m['batch_size']}:")
    print(f"    {seen}; predicted {p['peak_gib']:.2f} GiB; "
          f"under a 12 GiB cap: {rec.get('oom', {}).get('status', 'n/a')}")

# %% [markdown]
# ## Verdict

# %%
b1, b2 = reports["batch 1"], reports["batch 2"]
card = gpus.get("rtx3080ti")
assert b2.peak_bytes > 12 * GiB                       # batch 2 cannot fit a 12 GiB card
assert b1.peak_bytes < card.usable                    # batch 1 does
assert b2.categories["saved_activations"] > 0.9 * b2.peak_bytes
assert 16 * P < 0.01 * b2.peak_bytes                  # weights + grads + Adam: < 1 %
assert max_batches["rtx3080ti"] == 1
display(Markdown(
    f"**Reproduced, as a prediction.** Batch 1 peaks at **{b1.peak_gib:.2f} GiB** and fits the 12 GiB "
    f"RTX 3080 Ti; batch 2 peaks at **{b2.peak_gib:.2f} GiB** and does not. "
    f"{b2.categories['saved_activations'] / b2.peak_bytes:.0%} of it is saved activations; parameters, "
    f"gradients and Adam state are {16 * P / MiB:.0f} MiB. No GPU has measured it yet: "
    f"[Running on a GPU](../gpu.md) gives the two commands that will."))

# %% [markdown]
# The source was right that batch 2 does not fit, but not about why: it is not "gradients ×3" or optimizer
# state, it is what autograd **saves** from the forward pass — mostly the selective scan's $(b, l, d, n)$ tensors,
# as notebook 3 derives. Notebook 4 removes them.
