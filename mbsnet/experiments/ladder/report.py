"""The ladder as text: the source analysis' expected-results table beside the measurements, tables."""
from __future__ import annotations


# The source analysis' "EXPECTED RESULTS AFTER OPTIMIZATION" table, quoted, and the preset
# that stands for each of its columns on this ladder.
SOURCE_EXPECTED = {
    "columns": {"Current": "seed", "After Phase 1": "expand1", "After Phase 2": "linear_output",
                "Target": "final"},
    "Parameters": ("7.33M", "~3.5M", "~2.5M", "~2.7M"),
    "Memory (batch=2)": ("OOM", "~6 GB", "~4 GB", "<6 GB"),
    "Batch size": ("Can't run", "2-4", "6-8", "6"),
    "PESQ (expected)": ("N/A", "3.45-3.55", "3.40-3.50", ">3.40"),
    "Training time": ("N/A", "Baseline", "-30%", "Faster"),
}


def expected_vs_measured(result: dict) -> list[list[str]]:
    """The source's expected-results table with the measured value beside every cell:
    [[metric, "predicted | measured", ...], ...]. Memory is the predicted CUDA peak at batch 2
    (2 s segments) against a 12 GiB card's usable memory; batch size is the largest that fits
    it; PESQ is the short-training proxy on synthetic speech (not VoiceBank PESQ); training time
    is the CPU step time relative to the end of phase 1."""
    rows = result["rows"]
    names = list(SOURCE_EXPECTED["columns"].values())
    base = rows["expand1"].get("step_seconds")

    def measured(metric, r):
        if metric == "Parameters":
            return f"{r['parameters'] / 1e6:.2f}M"
        if metric == "Memory (batch=2)":
            oom = " (OOM)" if r["peak_b2_gib"] > r["usable_gib"] else ""
            return f"{r['peak_b2_gib']:.2f} GiB{oom}"
        if metric == "Batch size":
            return f"max {r['max_batch_12gib']}"
        if metric == "PESQ (expected)":
            if "quality" not in r:
                return "not measured"
            q = r["quality"]["pesq"]
            return f"{q['mean']:.2f} ± {q['std']:.2f} (proxy)"
        if r.get("step_seconds") is None or base is None:
            return "not measured"
        return f"{r['step_seconds'] / base - 1:+.0%} ({r['step_seconds']:.1f} s/step)"

    table = []
    for metric, predicted in SOURCE_EXPECTED.items():
        if metric == "columns":
            continue
        table.append([metric] + [f"{p} → **{measured(metric, rows[n])}**"
                                 for p, n in zip(predicted, names)])
    return table


def markdown_table(header, body) -> str:
    """A Markdown table from a header row and body rows (lists of cells)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def table(result: dict, names=None, baselines: dict | None = None) -> str:
    """A plain-text table of the ladder (one row per preset), 86 characters wide; `baselines`
    ({"noisy input": {...}, "Wiener filter": {...}}, e.g. from proxy_baselines) adds their
    quality below the presets."""
    head = (f"{'preset':<28}{'params':>10}{'b2 GiB':>7}{'b6 GiB':>7}{'max b':>6}"
            f"{'step s':>7}{'dSI-SDR dB':>11}{'PESQ':>10}")
    lines = [head, "-" * len(head)]
    for name in names or result["presets"]:
        r = result["rows"][name]
        q = r.get("quality")
        sisdr = (f"{q['si_sdr_improvement']['mean']:+.2f}±{q['si_sdr_improvement']['std']:.2f}"
                 if q else "-")
        pesq = f"{q['pesq']['mean']:.2f}±{q['pesq']['std']:.2f}" if q else "-"

        def num(key, fmt):
            return format(r[key], fmt) if r.get(key) is not None else "-"
        lines.append(f"{name:<28}{num('parameters', ','):>10}{num('peak_b2_gib', '.2f'):>7}"
                     f"{num('peak_b6_gib', '.2f'):>7}{num('max_batch_12gib', 'd'):>6}"
                     f"{num('step_seconds', '.2f'):>7}{sisdr:>11}{pesq:>10}")
    if baselines:
        lines.append("-" * len(head))
        for name, b in baselines.items():
            lines.append(f"{name:<28}{'':>10}{'':>7}{'':>7}{'':>6}{'':>7}"
                         f"{b['si_sdr_improvement']:>+11.2f}{b['pesq']:>10.2f}")
    return "\n".join(lines)


def preset_line(name: str, row: dict, width: int = 28) -> str:
    """One ladder row as a line (under 86 characters): parameters, predicted peaks at batch 2 and 6
    (GiB), max batch on 12 GiB."""
    return (f"{name:<{width}}{row['parameters']:>10,} params  b2 {row['peak_b2_gib']:5.2f} GiB  "
            f"b6 {row['peak_b6_gib']:5.2f} GiB  max b {row['max_batch_12gib']}")


def comparison_line(c: dict) -> str:
    """A `compare` result as a line: b vs a, the difference with its unit, the threshold, the verdict."""
    unit = "dB" if c["metric"] == "si_sdr_improvement" else "PESQ"
    return (f"{c['b']} vs {c['a']}: {c['difference']:+.2f} {unit} (threshold {c['threshold']:.2f}) "
            f"-> {c['verdict']}")


def comparison_table(comparisons, a_label: str = "a", b_label: str = "b") -> str:
    """`compare` results as a Markdown table (for a notebook's markdown output): the two presets,
    the metric, b − a, the noise threshold and the verdict, which is about b."""
    units = {"si_sdr_improvement": "SI-SDR (dB)", "pesq": "PESQ"}
    words = {"b better": f"{b_label} better", "b worse": f"{b_label} worse"}
    body = [[f"`{c['b']}` vs `{c['a']}`", units.get(c["metric"], c["metric"]), f"{c['difference']:+.2f}",
             f"{c['threshold']:.2f}", words.get(c["verdict"], c["verdict"])] for c in comparisons]
    return markdown_table([f"{b_label} vs {a_label}", "metric", "difference", "threshold", "verdict"], body)
