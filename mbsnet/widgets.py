"""Interactive memory calculator for notebook 3 (ipywidgets; imported only by notebooks).

Sliders for batch, seconds, expand, d_state and direction; each move recomputes the closed-form
peak (`mbsnet.memory.formula.training_peak_formula`, microseconds, checked against `predict_peak` in
notebook 3) and shows it against the GPU budgets. The logic lives in `MemoryCalculator.update`
and its attributes (`peak_bytes`, `fits`, `summary.value`), so it is testable without a browser.
"""
from __future__ import annotations

import ipywidgets as w

from mbsnet import presets
from mbsnet.memory import gpus
from mbsnet.memory.formula import formula_config, training_peak_formula
from mbsnet.units import GiB


class MemoryCalculator:
    """Predicted training peak of `base` (default: the seed) as the sliders move."""

    def __init__(self, base=None, batch=2, seconds=2.0, draw=True):
        self.base = base or presets.get("seed")
        self.draw = draw
        self.batch = w.IntSlider(value=batch, min=1, max=32, description="batch")
        self.seconds = w.FloatSlider(value=seconds, min=0.5, max=8.0, step=0.5,
                                     description="seconds")
        self.expand = w.SelectionSlider(options=[0.5, 1, 1.5, 2, 3, 4], value=self.base.expand,
                                        description="expand")
        self.d_state = w.SelectionSlider(options=[2, 4, 8, 12, 16, 32, 64],
                                         value=self.base.d_state, description="d_state")
        self.direction = w.ToggleButtons(options=["bi", "uni"], value=self.base.temporal_direction,
                                         description="direction")
        self.summary = w.HTML()
        self.output = w.Output()
        self.peak_bytes = 0
        self.categories: dict = {}
        self.fits: dict = {}
        for control in self.controls:
            control.observe(self.update, names="value")
        self.update()

    @property
    def controls(self):
        return (self.batch, self.seconds, self.expand, self.d_state, self.direction)

    def config(self):
        return formula_config(self.base, expand=self.expand.value, d_state=self.d_state.value,
                              direction=self.direction.value)

    def update(self, change=None) -> None:
        """Recompute the peak from the formula and refresh the summary (and figure)."""
        result = training_peak_formula(self.config(), self.batch.value, self.seconds.value)
        self.peak_bytes = result["total"]
        self.categories = result["categories"]
        self.fits = {name: self.peak_bytes <= gpu.usable for name, gpu in gpus.GPUS.items()}
        fitting = [gpus.get(n).label for n, ok in self.fits.items() if ok]
        self.summary.value = (f"<b>predicted peak {self.peak_bytes / GiB:.2f} GiB</b> "
                              f"(d_inner {self.config().d_inner}, {result['frames']} frames); "
                              f"fits: {', '.join(fitting) if fitting else 'none of the GPUs'}")
        if self.draw:
            self._redraw()

    def _redraw(self) -> None:
        import matplotlib.pyplot as plt

        from mbsnet.plots.memory import plot_peak_vs_budgets

        self.output.clear_output(wait=True)
        with self.output:
            fig, ax = plt.subplots(figsize=(7, 2.6))
            plot_peak_vs_budgets(ax, self.categories)
            plt.show()

    def widget(self):
        """The whole calculator, ready to display."""
        return w.VBox([w.HBox([self.batch, self.seconds]), w.HBox([self.expand, self.d_state]),
                       self.direction, self.summary, self.output])
