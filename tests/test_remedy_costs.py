"""The remedies' costs (mbsnet.experiments.remedy_costs) on tiny configs: every rung timed, its ratio to its
parent; accumulation's peak below the full batch's."""
from dataclasses import replace

from mbsnet import presets
from mbsnet.experiments.remedy_costs import predict_times, step_peaks, step_time_ratios

TINY = dict(n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9), channels=16, decoder_hidden=32, n_layers=1)


def _tiny(*names):
    return {n: replace(presets.get(n), **TINY) for n in names}


def test_step_time_ratios_time_every_rung_against_its_parent():
    names = ("seed", "seed_checkpointed", "final", "final_bf16")
    r = step_time_ratios(names, seconds=0.05, repeats=2, cfgs=_tiny(*names))
    assert set(r["median_s"]) == set(names) and all(len(t) == 2 for t in r["times_s"].values())
    assert r["wall_s"].keys() == r["times_s"].keys()
    assert r["parents"] == {"seed": None, "seed_checkpointed": "seed", "final": "seed", "final_bf16": "final"}
    assert set(r["ratio_to_parent"]) == {"seed_checkpointed", "final", "final_bf16"}
    med = r["median_s"]
    assert r["ratio_to_parent"]["final_bf16"] == med["final_bf16"] / med["final"]
    assert r["ratio_to_seed"]["seed"] == 1.0


def test_accumulation_is_predicted_below_the_full_batch():
    cfgs = _tiny("seed", "final")
    r = step_peaks({"seed": (1, 2)}, seconds=0.05, log=lambda m: None, cfgs=cfgs)
    seed = r["claim2"]["seed"]
    assert seed["b2"]["peak_bytes"] > seed["b1"]["peak_bytes"]
    acc = r["accumulation"]
    assert acc["batch2_x3"]["accumulate"] == 3 and acc["batch2_x3"]["micro_batch"] == 2
    assert acc["batch2"]["peak_bytes"] <= acc["batch2_x3"]["peak_bytes"] < acc["batch6"]["peak_bytes"]


def test_predict_times_times_each_preset_and_batch(tmp_path):
    out = tmp_path / "predict_times.json"
    r = predict_times(["final_lean", "final"], batches=(1, 2), seconds=0.05, log=lambda m: None, out_path=out)
    assert out.exists() and list(r["rows"]) == ["final_lean", "final"]
    for row in r["rows"].values():
        assert set(row) == {"b1", "b2"} and all(v["cpu_s"] > 0 and v["peak_gib"] > 0 for v in row.values())
        assert row["b2"]["peak_gib"] > row["b1"]["peak_gib"]
    assert r["max_cpu_s"] == max(v["cpu_s"] for row in r["rows"].values() for v in row.values())
