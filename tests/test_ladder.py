"""The optimization ladder: presets, the runner's columns, noise-aware comparisons, the ledger."""
import json
from pathlib import Path

import pytest

from mbsnet.experiments import ladder
from mbsnet import presets
from mbsnet.experiments.ladder import ProxyBudget
from mbsnet.experiments.ladder import run as ladder_run

LEDGER = Path(__file__).resolve().parent.parent / "results" / "ladder.json"


def test_variants_reach_the_final_configuration_one_change_at_a_time():
    final = presets.get("final").to_dict()
    route = presets.get("crossband_bi_temporal_uni").to_dict()
    final.pop("name"), route.pop("name")
    assert route == final
    chain, name = [], "crossband_bi_temporal_uni"
    while name is not None:
        chain.append(name)
        name = presets.parent(name)
    assert chain[::-1] == ["seed", "recompute_scan", "crossband_bi_expand1",
                           "crossband_bi_shared_encoder", "crossband_bi_slim_decoder",
                           "crossband_bi_temporal_uni"]


def test_cross_band_and_temporal_variants_differ_only_in_direction():
    def diff(a, b):
        da, db = presets.get(a).to_dict(), presets.get(b).to_dict()
        return {k for k in da if k != "name" and da[k] != db[k]}

    assert diff("expand1", "crossband_bi_expand1") == {"crossband_direction"}
    assert diff("shared_encoder", "crossband_bi_shared_encoder") == {"crossband_direction"}
    assert diff("crossband_bi_slim_decoder", "crossband_bi_temporal_uni") == {"temporal_direction"}


def test_presets_with_the_same_function_share_their_quality_runs():
    groups = ladder.quality_groups(presets.names())
    assert groups["recompute_scan"] == ["seed", "recompute_scan"]
    assert groups["crossband_bi_slim_decoder"] == ["crossband_bi_slim_decoder"]
    assert groups["crossband_bi_temporal_uni"] == ["crossband_bi_temporal_uni", "final"]
    assert sorted(m for ms in groups.values() for m in ms) == sorted(presets.names())


def test_final_meets_the_parameter_target():
    assert ladder.parameter_columns("final")["parameters"] <= 2_700_000


def test_budget_rejects_bad_values():
    with pytest.raises(ValueError, match="steps"):
        ProxyBudget(steps=0)
    with pytest.raises(ValueError, match="seeds"):
        ProxyBudget(seeds=())


def test_spread_of_seeds():
    s = ladder.spread([1.0, 3.0])
    assert s["mean"] == 2.0 and s["min"] == 1.0 and s["max"] == 3.0 and s["n"] == 2
    assert abs(s["std"] - 2 ** 0.5) < 1e-12
    assert ladder.spread([float("nan")])["n"] == 0


def _fake_result(values: dict) -> dict:
    rows = {n: {"quality": {"si_sdr_improvement": ladder.spread(v)}} for n, v in values.items()}
    return {"rows": rows, "quality_groups": {n: [n] for n in values}}


def test_compare_calls_a_difference_only_above_the_noise():
    result = _fake_result({"a": [1.0, 1.2], "b": [1.1, 1.3], "c": [3.0, 3.2]})
    assert ladder.pooled_noise(result) == pytest.approx(0.2 / 2 ** 0.5)  # std of two values 0.2 apart
    assert ladder.compare(result, "a", "b")["verdict"] == "within noise"
    assert ladder.compare(result, "a", "c")["verdict"] == "b better"
    assert ladder.compare(result, "c", "a")["verdict"] == "b worse"


def test_run_ladder_fills_every_column(tmp_path):
    budget = ProxyBudget(steps=1, segment_seconds=0.25, n_train=4, n_eval=1, eval_seconds=0.5)
    out = tmp_path / "ladder.json"
    result = ladder.run_ladder(["slim_decoder"], budget, out=out, corpus_root=tmp_path / "corpus",
                               memory=False, progress=False)
    row = result["rows"]["slim_decoder"]
    assert row["parameters"] == 722_054
    assert row["quality"]["si_sdr_improvement"]["n"] == 2 and row["step_seconds"] > 0
    stored = json.loads(out.read_text())
    assert stored["provenance"]["command"] and stored["rows"]["slim_decoder"]["quality_from"] == "slim_decoder"
    assert "slim_decoder" in ladder.table(stored)


@pytest.mark.skipif(not LEDGER.exists(), reason="results/ladder.json not generated yet")
def test_stored_ledger_lists_every_preset_with_its_deterministic_columns():
    result = ladder.load(LEDGER)
    assert result["presets"] == presets.names()
    for name in presets.names():
        row = result["rows"][name]
        for key in ("parameters", "peak_b2_gib", "peak_b6_gib", "max_batch_12gib"):
            assert row[key] is not None, (name, key)
        assert row["parameters"] == ladder.parameter_columns(name)["parameters"], name
    assert result["rows"]["final"]["peak_b6_gib"] <= 6


@pytest.mark.skipif(not LEDGER.exists(), reason="results/ladder.json not generated yet")
def test_stored_ledger_has_every_measured_column():
    result = ladder.load(LEDGER)
    missing = [n for n in presets.names() if not ladder_run._rows_complete(result["rows"][n])]
    assert result["complete"] == (not missing)
    if missing:
        pytest.skip(f"ledger incomplete (CPU budget): no quality runs or step time for {missing}")
    for name in presets.names():
        assert result["rows"][name]["quality"]["si_sdr_improvement"]["n"] >= 2, name
        assert result["rows"][name]["quality"]["pesq"]["n"] >= 2, name


def test_stored_runs_of_a_redefined_preset_are_not_taken_over():
    groups = ladder.quality_groups(["crossband_bi_slim_decoder", "crossband_bi_temporal_uni", "final"])
    current = presets.get("crossband_bi_temporal_uni").to_dict()
    assert ladder.still_valid({"preset": "crossband_bi_temporal_uni", "config": current}, groups)
    assert ladder.still_valid({"preset": "crossband_bi_temporal_uni"}, groups)  # stored before configs were
    stale = presets.get("crossband_bi_slim_decoder").to_dict() | {"name": "crossband_bi_temporal_uni"}
    assert not ladder.still_valid({"preset": "crossband_bi_temporal_uni", "config": stale}, groups)
    # `final` shares crossband_bi_temporal_uni's runs, so runs stored under its name are orphans.
    assert not ladder.still_valid({"preset": "final", "config": presets.get("final").to_dict()}, groups)
