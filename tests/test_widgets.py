"""The memory calculator's logic, without a browser (traitlets observers fire synchronously)."""
from dataclasses import replace

import pytest

pytest.importorskip("ipywidgets")

from mbsnet import presets  # noqa: E402
from mbsnet.memory import gpus  # noqa: E402
from mbsnet.memory.formula import training_peak_formula  # noqa: E402
from mbsnet.widgets import MemoryCalculator  # noqa: E402

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
