"""The memory calculator's logic, without a browser (traitlets observers fire synchronously)."""
import pytest

pytest.importorskip("ipywidgets")

from mbsnet import presets  # noqa: E402
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


def test_widget_assembles(calc):
    box = calc.widget()
    assert calc.summary in box.children
