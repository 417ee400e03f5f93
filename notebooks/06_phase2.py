# %% [markdown]
# # 6. Phase 2: shared encoder, unidirectional time, single-Linear output nets
#
# > ### Phase 2: Architecture Optimization
# > 4. ✅ **Shared encoder + dual heads** (instead of dual branches)
# > 5. ✅ **Unidirectional temporal Mamba** (test performance)
# > 6. ✅ **Simplify output networks**
# >
# > **Expected**: ~3.5M → **~2.5M params**, -50% memory
#
# — *the source analysis* (`brutal_complexity_analysis.md`)
#
# Phase 2 continues the ladder from `expand1`, the end of phase 1 (notebook 5), one change per rung. The
# measurements come from `results/ladder.json` (`python -m mbsnet ladder`); parameters and two memory
# predictions are recomputed live.

# %%
from IPython.display import Markdown, display
from mbsnet import build_model, presets
from mbsnet.experiments import ladder
from mbsnet.memory import predict_peak
from mbsnet.params import breakdown

result = ladder.load()
rows = result["rows"]
phase2 = ["expand1", "shared_encoder", "temporal_uni", "linear_output"]
for name in phase2[1:]:
    print(f"{name:<15} = {presets.parent(name):<15} + {presets.changes(name)}")
for name in phase2 + ["crossband_bi_shared_encoder"]:
    assert breakdown(build_model(presets.get(name))).total == rows[name]["parameters"], name


# %%
def line(name):
    return ladder.preset_line(name, rows[name], width=28)

def delta(a, b):
    ra, rb = rows[a], rows[b]
    return (ra["parameters"] - rb["parameters"], 1 - rb["peak_b6_gib"] / ra["peak_b6_gib"])

for name in phase2:
    print(line(name))

# %% [markdown]
# ## Step 4: one shared encoder, two heads
#
# > Magnitude and phase share 80%+ of acoustic features … **Reduction**: 7.33M → **~4.5M params**
#
# The seed runs two complete encoders (4 temporal + 1 cross-band bidirectional Mamba layers each) on the same
# band-split features. `shared_encoder` keeps one; the magnitude and phase output nets and decoders stay
# separate. It halves the Mamba parameters and the encoder's saved activations — and the encoder is where
# almost all the activations are.

# %%
saved, mem = delta("expand1", "shared_encoder")
half = rows["expand1"]["parameter_groups"]["encoders (Mamba)"] // 2
assert saved == half
print(f"shared encoder: -{saved:,} parameters (exactly one encoder; source: -1.5M),")
print(f"    -{mem:.0%} of the predicted batch-6 peak")

# %% [markdown]
# The source's premise is that magnitude and phase can share their features. At an equal budget, one encoder
# against two, on the ladder's rung and on the path to `final` (cross-band still bidirectional):

# %%
# NBVAL_IGNORE_OUTPUT
claim_shared = [ladder.compare(result, a, b, m) for a, b in
                [("expand1", "shared_encoder"), ("crossband_bi_expand1", "crossband_bi_shared_encoder")]
                for m in ("si_sdr_improvement", "pesq")]
display(Markdown(ladder.comparison_table(claim_shared, a_label="two encoders", b_label="shared")))
assert [c["verdict"] for c in claim_shared] == ["b better", "within noise", "within noise", "within noise"]

# %% [markdown]
# Sharing costs nothing the proxy can see; on the ladder's rung the shared model even crosses the noisy input's
# SI-SDR within the budget while the two-encoder model does not. Half the encoder for free: the premise holds.

# %% [markdown]
# ## Step 5: unidirectional temporal Mamba
#
# > **Impact**: -40% memory, -40% params for temporal layers … **Performance**: SEMamba shows minimal loss
# > (<0.05 PESQ) with unidirectional
#
# SEMamba is *bidirectional*: its `MambaBlock` runs `forward_blocks` and `backward_blocks` on the flipped
# sequence (4 TF-Mamba blocks, 64 channels, expand 4, d_state 16, ≈2.26M parameters, VoiceBank-DEMAND PESQ
# 3.55). So the cited evidence does not exist; the ladder measures the change here (claim 4).

# %%
saved, mem = delta("shared_encoder", "temporal_uni")
temporal = breakdown(build_model(presets.get("shared_encoder")))["shared_encoder.temporal"]
print(f"temporal uni: -{saved:,} parameters ({saved / temporal:.0%} of the temporal layers; source: -40%),")
print(f"    -{mem:.0%} of the predicted batch-6 peak (source: -40% memory)")
assert 0.5 < saved / temporal < 0.65 and mem < 0.4

# %% [markdown]
# Dropping the backward direction removes one of the two Mamba blocks per layer *and* the merge Linear and
# LayerNorm, so the temporal layers lose a bit more than half their parameters. Memory falls less than 40%
# because the band split, decoders and cross-band layer are untouched.
#
# Quality at an equal budget, two pairs that differ only in the temporal direction: `shared_encoder` →
# `temporal_uni` (the ladder's rung), and `crossband_bi_slim_decoder` → `crossband_bi_temporal_uni` (the
# configuration notebook 9 chooses as `final`):

# %%
# NBVAL_IGNORE_OUTPUT
claim4 = [ladder.compare(result, bi, uni) for bi, uni in
          [("shared_encoder", "temporal_uni"), ("crossband_bi_slim_decoder", "crossband_bi_temporal_uni")]]
claim4 += [ladder.compare(result, c["a"], c["b"], "pesq") for c in claim4]
display(Markdown(ladder.comparison_table(claim4, a_label="bi", b_label="uni")))
assert [c["verdict"] for c in claim4] == ["within noise", "b better", "b better", "b better"]

# %% [markdown]
# The source expects a small loss ("< 0.05 PESQ"). The proxy measures the opposite sign: at an equal budget of 200
# short steps the *unidirectional* models are ahead — in PESQ on the ladder's rung (SI-SDR within noise), and in
# both metrics, by about twice the threshold, at the final model's scale. What this measures is how fast each model
# learns from 0.25 s crops, not what it reaches: a backward pass has little context to add over 32 frames, and it
# doubles the temporal Mamba work the optimizer must coordinate. Notebook 9 checks with a 4× larger budget whether
# the gap is one of speed or of capacity; published systems (SEMamba, MP-SENet's conformers) keep temporal context
# in both directions.
#
# The same pair trained much longer — the full CPU recipe of notebooks 9 and 12, 1980 steps on the 1000-utterance
# corpus, evaluated on 100 synthetic test utterances and 16 real-speech mixtures (notebook 13) — gives the source's
# own comparison:

# %%
from mbsnet.results import load_result

evals = {"bi": load_result("evaluation_final_bidirectional"), "uni": load_result("evaluation_final")}
cost = {k: evals["bi"][k]["summary"]["model"]["pesq"] - evals["uni"][k]["summary"]["model"]["pesq"]
        for k in ("synthetic", "arctic")}
ref = {k: evals["uni"][k]["summary"] for k in ("synthetic", "arctic")}
assert 0 < max(cost.values()) < 0.05                       # the source's "< 0.05 PESQ" holds here
display(Markdown(
    f"After the full recipe, one direction along time costs **{cost['synthetic']:.2f} PESQ** on synthetic speech "
    f"and **{cost['arctic']:.2f}** on real speech (bidirectional {evals['bi']['synthetic']['summary']['model']['pesq']:.2f} "
    f"and {evals['bi']['arctic']['summary']['model']['pesq']:.2f}; the noisy input {ref['synthetic']['noisy']['pesq']:.2f} "
    f"and {ref['arctic']['noisy']['pesq']:.2f}, the Wiener filter {ref['synthetic']['wiener']['pesq']:.2f} and "
    f"{ref['arctic']['wiener']['pesq']:.2f}): less than the source's 0.05, one seed each. So its number holds at "
    f"this scale, though its evidence (SEMamba) does not."))

# %% [markdown]
# ## Step 6: single-Linear output nets
#
# > BSRNN uses single Linear layer (128→128) … **Reduction**: **-96K params**
#
# BSRNN's mask estimator is in fact a per-band MLP (LayerNorm, Linear to a hidden size of $4N$, Tanh, Linear,
# GLU), bigger than the seed's output net. Here the change is measured:

# %%
saved, mem = delta("temporal_uni", "linear_output")
c = presets.get("temporal_uni").channels
mlp, linear = (c * 2 * c + 2 * c) + (2 * c * c + c), c * c + c
assert saved == 2 * (mlp - linear) == 98_816
print(f"output nets: -{saved:,} parameters = 2 x ({mlp:,} - {linear:,}) (source: -96K),")
print(f"    {mem:+.1%} of the predicted batch-6 peak")

# %%
# NBVAL_IGNORE_OUTPUT
claim5 = [ladder.compare(result, "temporal_uni", "linear_output", m) for m in ("si_sdr_improvement", "pesq")]
display(Markdown(ladder.comparison_table(claim5, a_label="MLP", b_label="single Linear")))
per_seed = rows["linear_output"]["quality"]["si_sdr_improvement"]
print(f"linear_output, SI-SDR improvement per seed: {per_seed['min']:+.2f} and {per_seed['max']:+.2f} dB")
assert [c["verdict"] for c in claim5] == ["within noise", "b worse"]

# %% [markdown]
# The single Linear costs PESQ just past the noise threshold; in SI-SDR the difference is within noise only
# because one of `linear_output`'s two runs learned as fast as its parent and the other did not (the widest
# seed-to-seed spread on the ladder). The source expects "minimal quality loss"; at this budget the evidence
# leans the other way, weakly. `final` keeps the MLP output nets.

# %% [markdown]
# ## Phase 2, predicted vs measured
#
# One memory prediction recomputed live (a full training step on meta tensors):

# %%
assert predict_peak(presets.get("linear_output"), 2).peak_bytes == rows["linear_output"]["peak_b2_bytes"]
start, end = rows["expand1"], rows["linear_output"]
mem = 1 - end["peak_b2_gib"] / start["peak_b2_gib"]
print(f"parameters: {start['parameters'] / 1e6:.2f}M -> {end['parameters'] / 1e6:.2f}M (source: ~3.5M -> ~2.5M)")
print(f"batch-2 peak: {start['peak_b2_gib']:.2f} -> {end['peak_b2_gib']:.2f} GiB, -{mem:.0%} (source: ~6 -> ~4 GB, -50%)")
print(f"max batch on 12 GiB: {end['max_batch_12gib']} (source: 6-8)")
assert end["parameters"] > 4.5e6 and mem > 0.5 and end["max_batch_12gib"] > 8

# %% [markdown]
# The whole phase, with the two reference systems scored live on the proxy's clips (the noisy input and notebook 13's
# Wiener filter; about 15 s):

# %%
# NBVAL_IGNORE_OUTPUT
baselines = ladder.proxy_baselines(result, load_result("evaluation_final")["wiener"])
print(ladder.table(result, phase2 + ["crossband_bi_shared_encoder"], baselines))
wiener, sisdr = baselines["Wiener filter"], {n: rows[n]["quality"]["si_sdr_improvement"]["mean"] for n in phase2}
assert sisdr["shared_encoder"] < wiener["si_sdr_improvement"] < sisdr["temporal_uni"]    # first past the Wiener filter
assert all(r["quality"]["pesq"]["mean"] < wiener["pesq"] for r in rows.values() if "quality" in r)

# %% [markdown]
# **Verdict (phase 2).** Memory falls even more than the source predicts, mostly thanks to the shared encoder
# (which halves the activations that dominate the peak); the batch-size target is passed with a wide margin.
# The parameter prediction misses again: phase 2 ends at 4.77M, not ~2.5M, because the decoders (4.37M) are
# still there. On quality at an equal short budget: the shared encoder costs nothing measurable, unidirectional
# time learns *faster* (after the full recipe it costs 0.02 PESQ, within the source's 0.05), and the single-Linear
# output nets cost a little PESQ. `temporal_uni` is the first rung that beats the Wiener filter's SI-SDR on the proxy;
# no rung reaches the Wiener filter's PESQ there.
