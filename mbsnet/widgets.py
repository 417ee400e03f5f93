"""Interactive memory calculator for notebook 3 (ipywidgets; imported only by notebooks).

Sliders for batch, seconds, expand, d_state and direction; each move recomputes the closed-form
peak (`mbsnet.memory.formula.training_peak_formula`, microseconds, checked against `predict_peak` in
notebook 3) and shows it against the GPU budgets. The logic lives in `MemoryCalculator.update`
and its attributes (`peak_bytes`, `fits`, `summary.value`), so it is testable without a browser.

A page without a kernel (the static book, a notebook viewer) cannot run the sliders' Python. So a
displayed calculator carries two views of itself: the live ipywidgets one, which JupyterLab shows
while a kernel runs it, and a static HTML copy (`static_html`) that the book shows instead (its
`nb_mime_priority_overrides` prefer text/html). The copy looks the formula's peak up in a grid
precomputed over every slider position, in a few lines of JavaScript, so it never shows a number
for settings other than those on display; where its script cannot run (an untrusted notebook),
its controls stay disabled at the settings the summary describes.
"""
from __future__ import annotations

import hashlib
import html
import itertools
import json

import ipywidgets as w

from mbsnet import presets
from mbsnet.memory import gpus
from mbsnet.memory.formula import formula_config, training_peak_formula
from mbsnet.units import GiB

EXPANDS = (0.5, 1, 1.5, 2, 3, 4)
D_STATES = (2, 4, 8, 12, 16, 32, 64)
DIRECTIONS = ("bi", "uni")


def summary_html(peak_bytes: float, d_inner: int, frames: int, fitting: list[str]) -> str:
    """The calculator's one-line readout (the live widget and the static copy write the same)."""
    return (f"<b>predicted peak {peak_bytes / GiB:.2f} GiB</b> (d_inner {d_inner}, {frames} frames); "
            f"fits: {', '.join(fitting) if fitting else 'none of the GPUs'}")


class MemoryCalculator:
    """Predicted training peak of `base` (default: the seed) as the sliders move."""

    def __init__(self, base=None, batch=2, seconds=2.0, draw=True):
        self.base = base or presets.get("seed")
        self.draw = draw
        self.batch = w.IntSlider(value=batch, min=1, max=32, description="batch")
        self.seconds = w.FloatSlider(value=seconds, min=0.5, max=8.0, step=0.5,
                                     description="seconds")
        self.expand = w.SelectionSlider(options=list(EXPANDS), value=self.base.expand,
                                        description="expand")
        self.d_state = w.SelectionSlider(options=list(D_STATES), value=self.base.d_state,
                                         description="d_state")
        self.direction = w.ToggleButtons(options=list(DIRECTIONS), value=self.base.temporal_direction,
                                         description="direction")
        self.summary = w.HTML()
        self.output = w.Output()
        self.peak_bytes = 0
        self.categories: dict = {}
        self.fits: dict = {}
        self._box = None
        for control in self.controls:
            control.observe(self.update, names="value")
        self.update()

    @property
    def controls(self):
        return (self.batch, self.seconds, self.expand, self.d_state, self.direction)

    @property
    def seconds_grid(self) -> list[float]:
        """Every position of the seconds slider."""
        s = self.seconds
        return [s.min + i * s.step for i in range(int(round((s.max - s.min) / s.step)) + 1)]

    def config(self, expand=None, d_state=None, direction=None):
        return formula_config(self.base, expand=self.expand.value if expand is None else expand,
                              d_state=self.d_state.value if d_state is None else d_state,
                              direction=self.direction.value if direction is None else direction)

    def update(self, change=None) -> None:
        """Recompute the peak from the formula and refresh the summary (and figure)."""
        result = training_peak_formula(self.config(), self.batch.value, self.seconds.value)
        self.peak_bytes = result["total"]
        self.categories = result["categories"]
        self.fits = {name: self.peak_bytes <= gpu.usable for name, gpu in gpus.GPUS.items()}
        fitting = [gpus.get(n).label for n, ok in self.fits.items() if ok]
        self.summary.value = summary_html(self.peak_bytes, self.config().d_inner, result["frames"], fitting)
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
        """The whole calculator, ready to display (the same box every time)."""
        if self._box is None:
            self._box = w.VBox([w.HBox([self.batch, self.seconds]), w.HBox([self.expand, self.d_state]),
                                self.direction, self.summary, self.output])
        return self._box

    # -- the static copy ---------------------------------------------------------------------
    def lookup_table(self) -> dict:
        """The formula's peak over every slider position, as JavaScript reads it.

        The peak is affine in the batch (every saved tensor has the batch as a factor; weights,
        gradients and Adam state do not), so each (seconds, expand, d_state, direction) position
        stores [intercept, slope] in bytes: peak(batch) = intercept + slope * batch, to within a
        rounding error of the float sums (tests/test_widgets.py checks it against the formula).
        Keys are the positions' indices joined by commas."""
        table = {}
        for (i, s), (j, e), (k, n), (m, d) in itertools.product(
                enumerate(self.seconds_grid), enumerate(EXPANDS), enumerate(D_STATES), enumerate(DIRECTIONS)):
            cfg = self.config(expand=e, d_state=n, direction=d)
            one, two = (training_peak_formula(cfg, b, s)["total"] for b in (1, 2))
            table[f"{i},{j},{k},{m}"] = [2 * one - two, two - one]
        return table

    def static_data(self) -> dict:
        """What the static copy's script reads: the lookup table and the labels of its readout."""
        return {"table": self.lookup_table(),
                "batches": list(range(self.batch.min, self.batch.max + 1)),
                "frames": [self.base.frames(s) for s in self.seconds_grid],
                "dInner": [self.config(expand=e).d_inner for e in EXPANDS],
                "gpus": [[g.label, g.usable] for g in gpus.GPUS.values()], "GiB": GiB}

    def static_html(self) -> str:
        """A self-contained HTML + JavaScript copy of the calculator (see the module docstring),
        at the widget's current settings."""
        seconds = self.seconds_grid
        data = self.static_data()
        payload = json.dumps(data, separators=(",", ":"))
        uid = "mbsnet-calculator-" + hashlib.sha1(payload.encode()).hexdigest()[:10]
        knobs = [("batch", "batch", list(range(self.batch.min, self.batch.max + 1)), self.batch.value),
                 ("seconds", "seconds", seconds, self.seconds.value),
                 ("expand", "expand", list(EXPANDS), self.expand.value),
                 ("d_state", "d_state", list(D_STATES), self.d_state.value)]
        labels = {"batch": [str(b) for b in data["batches"]], "seconds": [f"{s:.1f}" for s in seconds],
                  "expand": [f"{e:g}" for e in EXPANDS], "d_state": [str(n) for n in D_STATES]}
        rows = []
        for key, label, values, value in knobs:
            index = values.index(value)
            shown = labels[key][index]
            rows.append(f'<label style="display:inline-block;min-width:15em;margin:0.15em 1em 0.15em 0">'
                        f'<span style="display:inline-block;width:5.5em">{label}</span>'
                        f'<input type="range" data-knob="{key}" aria-label="{label}" min="0" '
                        f'max="{len(values) - 1}" step="1" value="{index}" disabled '
                        f'style="vertical-align:middle;width:8em"> <output>{html.escape(shown)}</output></label>')
        radios = "".join(
            f'<label style="margin-right:0.8em"><input type="radio" name="{uid}-direction" value="{i}" '
            f'aria-label="direction {d}"{" checked" if d == self.direction.value else ""} disabled> {d}</label>'
            for i, d in enumerate(DIRECTIONS))
        rows.append(f'<span style="display:inline-block;width:5.5em">direction</span>{radios}')
        script = _STATIC_JS.replace("__UID__", uid).replace("__DATA__", payload).replace(
            "__LABELS__", json.dumps(labels, separators=(",", ":")))
        n_settings = len(data["batches"]) * len(data["table"])
        note = (f'<p style="margin:0 0 0.3em;font-size:90%">A copy of the calculator that runs in this page: '
                f'the formula\'s peak for each of the {n_settings:,} slider settings, precomputed and looked '
                f'up as the controls move. In JupyterLab the cell shows the live calculator, which also '
                f'draws the peak by category.</p>')
        return (f'<div id="{uid}" class="mbsnet-calculator" style="line-height:1.9">' + note
                + "<br>".join(rows)
                + f'<p class="mbsnet-calculator-summary" style="margin:0.4em 0 0">{self.summary.value}</p>'
                + "</div>" + f"<script>{script}</script>")

    def _repr_mimebundle_(self, **kwargs):
        """The live widget's view (JupyterLab with a kernel) and the static copy (the book)."""
        bundle = self.widget()._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self.static_html()
        return bundle


# The static copy's lookup, a pure function (tests/test_widgets.py runs it under node where node
# is installed): ix holds the slider positions, batch included; it mirrors summary_html and
# MemoryCalculator.update.
_SUMMARY_JS = """function summary(D, ix, dir) {
    var ab = D.table[[ix.seconds, ix.expand, ix.d_state, dir].join(",")];
    var peak = ab[0] + ab[1] * D.batches[ix.batch];
    var fitting = D.gpus.filter(function (g) { return peak <= g[1]; }).map(function (g) { return g[0]; });
    return "<b>predicted peak " + (peak / D.GiB).toFixed(2) + " GiB</b> (d_inner " + D.dInner[ix.expand] +
      ", " + D.frames[ix.seconds] + " frames); fits: " + (fitting.length ? fitting.join(", ") : "none of the GPUs");
  }"""

# The static copy's script: enable the controls, then on every move write the readouts and the
# summary for the positions on display.
_STATIC_JS = """(function () {
  var root = document.getElementById("__UID__"), D = __DATA__, L = __LABELS__;
  if (!root) { return; }
  var inputs = root.querySelectorAll("input");
  __SUMMARY__
  function update() {
    var ix = {};
    ["batch", "seconds", "expand", "d_state"].forEach(function (name) {
      var el = root.querySelector('input[data-knob="' + name + '"]');
      ix[name] = parseInt(el.value, 10);
      el.parentNode.querySelector("output").textContent = L[name][ix[name]];
    });
    var dir = root.querySelector('input[type="radio"]:checked').value;
    root.querySelector(".mbsnet-calculator-summary").innerHTML = summary(D, ix, dir);
  }
  for (var i = 0; i < inputs.length; i++) {
    inputs[i].disabled = false;
    inputs[i].addEventListener("input", update);
    inputs[i].addEventListener("change", update);
  }
  update();
})();""".replace("__SUMMARY__", _SUMMARY_JS)
