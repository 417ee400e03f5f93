"""The memory calculator's logic, without a browser (traitlets observers fire synchronously)."""
import json
import random
import re
import shutil
import subprocess
from dataclasses import replace

import pytest

pytest.importorskip("ipywidgets")

from mbsnet import presets  # noqa: E402
from mbsnet.memory import gpus  # noqa: E402
from mbsnet.memory.formula import formula_config, training_peak_formula  # noqa: E402
from mbsnet.widgets import (  # noqa: E402
    _SUMMARY_JS, D_STATES, DIRECTIONS, EXPANDS, MemoryCalculator, summary_html)

GiB = 2 ** 30


@pytest.fixture
def calc():
    return MemoryCalculator(draw=False)


def test_starts_at_the_seed_batch_2_which_does_not_fit_12_gib(calc):
    assert calc.peak_bytes == training_peak_formula(presets.get("seed"), 2, 2.0)["total"]
    assert calc.fits["rtx3080ti"] is False and calc.fits["a100-80"] is True
    assert "GiB" in calc.summary.value


def test_batch_slider_moves_the_peak_linearly(calc):
    calc.batch.value = 1
    one = calc.peak_bytes
    calc.batch.value = 3
    three = calc.peak_bytes
    calc.batch.value = 2
    assert abs((three - one) / 2 - (calc.peak_bytes - one)) < 1e-6 * calc.peak_bytes
    assert calc.fits["rtx3080ti"] is False
    calc.batch.value = 1
    assert calc.fits["rtx3080ti"] is True


def test_smaller_state_expand_and_uni_direction_each_lower_the_peak(calc):
    start = calc.peak_bytes
    for control, value in ((calc.d_state, 8), (calc.expand, 1), (calc.direction, "uni")):
        before = calc.peak_bytes
        control.value = value
        assert calc.peak_bytes < before
    assert calc.peak_bytes < start / 4
    assert calc.config().d_inner == 128 and calc.config().temporal_direction == "uni"


def test_longer_segments_cost_more(calc):
    before = calc.peak_bytes
    calc.seconds.value = 4.0
    assert calc.peak_bytes > 1.9 * before


def _shown(box) -> list:
    """Every widget inside `box`, depth first."""
    found = []
    for child in box.children:
        found.append(child)
        found += _shown(child) if hasattr(child, "children") else []
    return found


def test_the_readout_follows_each_control_and_matches_the_formula(calc):
    """After each move the summary quotes training_peak_formula for the settings on display
    (computed here from the controls' values) and lists exactly the GPUs it fits."""
    seed = presets.get("seed")
    for control, value in ((calc.batch, 5), (calc.seconds, 3.5), (calc.expand, 1), (calc.d_state, 8),
                           (calc.direction, "uni"), (calc.batch, 1)):
        before = calc.summary.value
        control.value = value
        assert calc.summary.value != before, control.description
        cfg = replace(seed, expand=calc.expand.value, d_state=calc.d_state.value,
                      temporal_direction=calc.direction.value, crossband_direction=calc.direction.value)
        peak = training_peak_formula(cfg, calc.batch.value, calc.seconds.value)["total"]
        assert calc.peak_bytes == peak
        assert f"predicted peak {peak / GiB:.2f} GiB" in calc.summary.value
        listed = calc.summary.value.split("fits: ")[1].split(", ")
        assert set(listed) == {g.label for g in gpus.GPUS.values() if peak <= g.usable} or (
            listed == ["none of the GPUs"] and all(peak > g.usable for g in gpus.GPUS.values()))


def test_the_widget_shows_every_control_and_the_readout(calc):
    shown = _shown(calc.widget())
    for part in (*calc.controls, calc.summary, calc.output):
        assert any(part is w for w in shown), part


# -- the static copy (what the book shows: no kernel there) -----------------------------------



@pytest.fixture(scope="module")
def static():
    calc = MemoryCalculator(draw=False)
    return calc, calc.static_data(), calc.static_html()


def _sample(calc, n=60, seed=0):
    rng = random.Random(seed)
    grid = [(b, i, j, k, m) for b in (1, 2, 32) for i in (0, len(calc.seconds_grid) - 1)
            for j in (0, len(EXPANDS) - 1) for k in (0, len(D_STATES) - 1) for m in (0, 1)]
    return grid + [(rng.randint(1, 32), rng.randrange(len(calc.seconds_grid)), rng.randrange(len(EXPANDS)),
                    rng.randrange(len(D_STATES)), rng.randrange(2)) for _ in range(n)]


def _python_summary(calc, b, i, j, k, m):
    cfg = formula_config(calc.base, expand=EXPANDS[j], d_state=D_STATES[k], direction=DIRECTIONS[m])
    result = training_peak_formula(cfg, b, calc.seconds_grid[i])
    fitting = [g.label for g in gpus.GPUS.values() if result["total"] <= g.usable]
    return result["total"], summary_html(result["total"], cfg.d_inner, result["frames"], fitting)


def test_the_lookup_table_is_the_formula_over_the_slider_grid(static):
    calc, data, _ = static
    assert len(data["table"]) == len(calc.seconds_grid) * len(EXPANDS) * len(D_STATES) * len(DIRECTIONS)
    for b, i, j, k, m in _sample(calc):
        intercept, slope = data["table"][f"{i},{j},{k},{m}"]
        peak, _ = _python_summary(calc, b, i, j, k, m)
        assert abs(intercept + slope * b - peak) <= 1e-9 * peak


def test_the_static_copy_starts_at_the_widgets_settings_with_its_controls_disabled(static):
    calc, _, page = static
    assert calc.summary.value in page
    assert page.count("<input") == page.count(" disabled") == 6     # enabled only by its script
    assert re.search(r'data-knob="batch"[^>]* value="1"', page)       # position 1 = batch 2
    bundle = calc._repr_mimebundle_()
    assert bundle["text/html"] == page and "application/vnd.jupyter.widget-view+json" in bundle


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_static_copys_script_writes_the_widgets_summary(static):
    calc, data, _ = static
    cases = _sample(calc, n=40, seed=1)
    settings = [{"batch": b - 1, "seconds": i, "expand": j, "d_state": k, "dir": m} for b, i, j, k, m in cases]
    script = (f"{_SUMMARY_JS}\nconst D = {json.dumps(data)};\nconst S = {json.dumps(settings)};\n"
              "console.log(JSON.stringify(S.map(s => summary(D, s, String(s.dir)))));")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout
    for (b, i, j, k, m), js in zip(cases, json.loads(out)):
        assert js == _python_summary(calc, b, i, j, k, m)[1], (b, i, j, k, m)
