"""chunked_scan's clamp counter (where the authors' clamps bind) and the authors_clamps experiment on a tiny config."""
from dataclasses import replace

import pytest
import torch

from mbsnet import presets
from mbsnet.experiments.authors_clamps import format_summary, run
from mbsnet.scan import CLAMP_RANGES, chunked_scan, clamp_fractions, selective_scan

TINY = dict(n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9), channels=16, decoder_hidden=32,
            n_layers=1)


def _inputs(b=2, l=20, d=6, n=4, seed=0, dt_shift=0.0, u_scale=1.0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(u=u_scale * r(b, l, d), delta=r(b, l, d) + dt_shift,
                A=-torch.rand(d, n, generator=g) * 3 - 0.1, B=r(b, l, n), C=r(b, l, n),
                D=r(d), z=r(b, l, d), delta_bias=r(d) * 0.1)


@pytest.mark.parametrize("clamps", [False, True])
def test_counting_keeps_the_output_and_reports_fractions(clamps):
    x = _inputs()
    counter = {}
    counted = chunked_scan(**x, delta_softplus=True, chunk_size=7, clamps=clamps, counter=counter)
    plain = chunked_scan(**x, delta_softplus=True, chunk_size=7, clamps=clamps)
    assert torch.equal(counted, plain)
    via_api = selective_scan(**x, delta_softplus=True, method="chunked", chunk_size=7,
                             clamps=clamps, counter={})
    assert torch.equal(via_api, plain)
    fractions = clamp_fractions(counter)
    assert set(fractions) == set(CLAMP_RANGES)
    assert all(0.0 <= f <= 1.0 for f in fractions.values())
    b, l, d = x["u"].shape
    n = x["A"].shape[1]
    assert counter["dt_B"][1] == b * l * d and counter["y"][1] == b * l * d
    assert counter["dt_A"][1] == counter["A_bar"][1] == counter["h"][1] == b * l * d * n


def test_a_huge_dt_and_loud_input_are_counted_as_binding_as_a_reference_says():
    x = _inputs(dt_shift=8.0, u_scale=50.0)       # dt ~ 8: dt > 1, dt*A < -10; |h| and |y| large
    counter = {}
    out = chunked_scan(**{**x, "D": None, "z": None}, delta_softplus=True, chunk_size=5,
                       counter=counter)
    f = clamp_fractions(counter)
    dt = torch.nn.functional.softplus(x["delta"] + x["delta_bias"])
    dt_a = dt.unsqueeze(-1) * x["A"]
    assert f["dt_B"] == pytest.approx(float((dt > 1).float().mean())) and f["dt_B"] > 0.9
    assert f["dt_A"] == pytest.approx(float((dt_a < -10).float().mean())) and f["dt_A"] > 0.1
    assert f["y"] == pytest.approx(float((out.abs() > 50).float().mean())) and f["y"] > 0.1
    assert f["h"] > 0.1
    small = {}                                    # tiny steps: A-bar = exp(dt*A) > 0.999
    chunked_scan(**_inputs(dt_shift=-12.0), delta_softplus=True, counter=small)
    assert clamp_fractions(small)["A_bar"] > 0.5 and clamp_fractions(small)["dt_B"] == 0.0


def test_a_nan_counts_as_outside():
    counter = {}
    x = _inputs()
    x["u"][0, 3, 1] = float("nan")
    chunked_scan(**x, delta_softplus=True, counter=counter)
    assert counter["h"][0] > 0 and counter["y"][0] > 0


def test_the_experiment_runs_both_variants_from_the_same_start(tmp_path):
    cfg = replace(presets.get("authors_attempt"), **TINY)
    out = tmp_path / "authors_clamps.json"
    r = run(steps=2, seconds=0.05, timed_steps=1, cfg=cfg, out_path=out, log=None)
    assert out.exists() and r["same_initial_parameters"]
    assert r["config"]["clamps"]["scan_clamps"] and not r["config"]["no_clamps"]["scan_clamps"]
    for name in ("clamps", "no_clamps"):
        rows = r["rows"][name]
        assert [row["counted"] for row in rows] == [True, True, False]
        assert set(rows[0]["bind"]) == set(CLAMP_RANGES) and rows[2]["bind"] is None
        assert all(0.0 <= v <= 1.0 for v in rows[0]["bind"].values())
        assert r["summary"][name]["nonfinite_steps"] == {"loss": 0, "grads": 0, "params": 0}
        assert rows[0]["cpu_s"] > 0 and rows[0]["grad_norm"] > 0
    # the first step's loss is computed before any update, from equal parameters: the clamps
    # change it only where they bind
    assert r["rows"]["clamps"][0]["loss"] == pytest.approx(r["rows"]["no_clamps"][0]["loss"], rel=1e-3)
    assert "cost ratio" in format_summary(r)
