"""Figure conventions shared by the notebooks: a preset looks the same everywhere, and no two presets
that compute different functions look alike."""
import pytest

pytest.importorskip("matplotlib")

from mbsnet import presets  # noqa: E402
from mbsnet.experiments.ladder.measure import same_function_key  # noqa: E402
from mbsnet.plots import PRESET_COLORS, preset_color, preset_marker  # noqa: E402


def test_every_preset_has_its_own_colour_and_marker():
    for name in presets.names():
        assert name in PRESET_COLORS and preset_marker(name) != "."
    assert preset_color("not a preset") == "0.5"


def test_presets_that_compute_different_functions_never_share_a_colour():
    names = presets.names()
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if same_function_key(a) != same_function_key(b):
                assert preset_color(a) != preset_color(b), (a, b)


def test_red_and_green_are_the_seed_and_the_final_model():
    assert preset_color("seed") == "#c0392b" and preset_color("final") == "#1e8449"
    others = {preset_color(n) for n in presets.names()
              if same_function_key(n) not in (same_function_key("seed"), same_function_key("final"))}
    assert not others & {"#c0392b", "#1e8449"}


def test_every_remedy_has_a_colour_and_marker_no_other_preset_has():
    ladder = {preset_color(n) for n in presets.names()}
    remedies = presets.remedy_names()
    assert len({preset_color(n) for n in remedies}) == len(remedies)
    for name in remedies:
        assert name in PRESET_COLORS and preset_color(name) not in ladder, name
        assert preset_marker(name) not in (".", preset_marker(presets.parent(name))), name


def test_memory_vs_time_draws_one_point_per_rung():
    import matplotlib

    matplotlib.use("Agg")
    from mbsnet.plots.remedies import memory_vs_time

    points = {"seed": (1.0, 19.5), "seed_checkpointed": (1.3, 3.0), "final_lean": (0.1, 0.7)}
    ax = memory_vs_time(points, usable_gib=11.5)
    drawn = {line.get_label(): line.get_xydata().tolist() for line in ax.get_lines()
             if line.get_label() in points}
    assert drawn == {n: [list(p)] for n, p in points.items()}
    assert {line.get_color() for line in ax.get_lines() if line.get_label() in points} == \
        {preset_color(n) for n in points}


def test_precision_runs_draws_one_line_per_run_coloured_by_precision():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mbsnet.plots.remedies import precision_runs

    evals = lambda v: {"evals": [{"step": 0, "si_sdr_db": 1.0}, {"step": 50, "si_sdr_db": v}]}
    runs = {"fp32_seed0": evals(5.0), "bf16_seed0": evals(5.1), "fp32_seed1": evals(4.9), "bf16_seed1": evals(5.2)}
    ax = precision_runs(runs)
    lines = ax.get_lines()
    assert len(lines) == 4 and [l.get_ydata()[-1] for l in lines] == [5.0, 5.1, 4.9, 5.2]
    assert lines[0].get_color() != lines[1].get_color() and lines[0].get_color() == lines[2].get_color()
    assert lines[0].get_linestyle() != lines[2].get_linestyle()
    plt.close(ax.figure)
