"""The optimization ladder: every preset measured side by side.

For each preset (mbsnet.presets.names()) the ladder records
    parameters             total and per group (band split, Mamba encoders, output nets, decoders)
    predicted CUDA peak    of one Adam training step at batch 2 and batch 6, 2 s segments
                           (mbsnet.memory.predict_peak, no GPU needed)
    max batch              on a 12 GiB RTX 3080 Ti (affine fit of the predicted peak in batch)
    CPU step time          median seconds of a training step at the proxy's batch and length
    quality proxy          SI-SDR improvement and PESQ on held-out synthetic speech after a short
                           training run with the same data, steps and seeds for every preset

The quality proxy is a *short-training* proxy on the built-in synthetic corpus: it ranks how
fast each architecture learns under one small budget. It is not VoiceBank-DEMAND PESQ and cannot
be compared with published numbers. Presets that compute the same function (configs equal up to
`name` and `scan_method`: the scan method changes memory and speed, never the output) share one
set of quality runs, e.g. `seed` uses the runs of `recompute_scan`.

CLI: python -m mbsnet ladder [--json] [--out results/ladder.json] [--quick] [--presets A,B]
                             [--workers N] [--resume] [--merge OTHER.json]
"""
from __future__ import annotations

import contextlib
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from mbsnet import presets
from mbsnet.config import MBSNetConfig
from mbsnet.results import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "results" / "ladder.json"
DEFAULT_CORPUS = REPO_ROOT / "data" / "ladder"
GiB = 2 ** 30
MEMORY_BATCHES = (2, 6)
MEMORY_SECONDS = 2.0
GPU = "rtx3080ti"
QUALITY_METRICS = ("si_sdr_improvement", "si_sdr", "pesq", "pesq_improvement")


@dataclass(frozen=True)
class ProxyBudget:
    """The one training budget every preset gets for the quality proxy.

    steps x batch_size segments of segment_seconds, AdamW at lr (the trainer's warmup + cosine),
    for each seed in `seeds`; a corpus of n_train training utterances (seeded by corpus_seed);
    evaluation on the first n_eval held-out utterances, each cut to its central eval_seconds.
    """

    # 200 steps is where the shipped run's held-out SI-SDR first rose above the noisy input's;
    # 0.25 s segments keep the 26 runs (13 functions x 2 seeds) near 1.5 CPU-hours.
    steps: int = 200
    batch_size: int = 2
    segment_seconds: float = 0.25
    lr: float = 2e-3
    seeds: tuple = (0, 1)
    n_train: int = 64
    n_eval: int = 10
    eval_seconds: float = 2.0
    corpus_seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "n_train", "n_eval"):
            if getattr(self, name) < 1:
                raise ValueError(f"ProxyBudget.{name} must be >= 1, got {getattr(self, name)}")
        if len(self.seeds) < 1:
            raise ValueError("ProxyBudget.seeds must name at least one seed")
        if not (self.segment_seconds > 0 and self.eval_seconds > 0 and self.lr > 0):
            raise ValueError("ProxyBudget: segment_seconds, eval_seconds and lr must be > 0")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d


QUICK_BUDGET = ProxyBudget(steps=2, segment_seconds=0.25, n_train=8, n_eval=2, eval_seconds=1.0)


# ---------------------------------------------------------------------------------------------
# Cheap, deterministic columns
# ---------------------------------------------------------------------------------------------
def parameter_columns(name: str) -> dict:
    """{"parameters": total, "parameter_groups": {group: count}} of preset `name`."""
    from mbsnet.model import build_model
    from mbsnet.params import breakdown

    result = breakdown(build_model(presets.get(name)))
    return {"parameters": result.total, "parameter_groups": result.grouped()}


def memory_columns(name: str, batches=MEMORY_BATCHES, seconds: float = MEMORY_SECONDS,
                   gpu: str = GPU) -> dict:
    """Predicted CUDA training-step peak (bytes, GiB) at each batch, and the max batch on `gpu`.

    The max batch comes from the affine fit peak(b) = intercept + slope * b (from b = 1, 2);
    `affine_error_b6` is how far that fit is from the full prediction at the largest batch.
    """
    from mbsnet.memory import cached_predict_peak, max_batch

    cfg = presets.get(name)
    out = {}
    for b in batches:
        report = cached_predict_peak(cfg, b, seconds)
        out[f"peak_b{b}_bytes"] = report.peak_bytes
        out[f"peak_b{b}_gib"] = report.peak_bytes / GiB
        out[f"peak_b{b}_categories_gib"] = {k: v / GiB for k, v in report.categories.items()}
    mb = max_batch(cfg, gpu, seconds, verify=False)
    b = max(batches)
    affine = mb["fit"]["intercept"] + mb["fit"]["slope"] * b
    out.update(max_batch_12gib=mb["max_batch"], gpu=gpu, usable_gib=mb["usable_bytes"] / GiB,
               affine_fit_bytes=mb["fit"],
               affine_error_b6=abs(affine - out[f"peak_b{b}_bytes"]) / out[f"peak_b{b}_bytes"])
    return out


def same_function_key(name: str) -> tuple:
    """Presets with equal keys compute the same function (they differ at most in the scan)."""
    d = presets.get(name).to_dict()
    d.pop("name"), d.pop("scan_method"), d.pop("scan_chunk_size")
    return tuple(sorted(d.items()))


def quality_groups(names) -> dict[str, list[str]]:
    """{preset that is trained: [presets sharing its runs]}: one representative per function,
    preferring a preset with the recomputing scan (the fastest on a CPU)."""
    groups: dict[tuple, list[str]] = {}
    for name in names:
        groups.setdefault(same_function_key(name), []).append(name)
    out = {}
    for members in groups.values():
        fast = [m for m in members if presets.get(m).scan_method == "recompute"]
        out[(fast or members)[0]] = members
    return out


def still_valid(run: dict, groups: dict[str, list[str]]) -> bool:
    """Whether a stored quality run can be taken over: its preset is still a trained
    representative and, where the run recorded its config, the preset still has that config
    (a preset redefined since, e.g. `final`, is trained again)."""
    name = run["preset"]
    if name not in groups:
        return False
    return "config" not in run or MBSNetConfig(**run["config"]) == presets.get(name)


def relative_cost(name: str) -> float:
    """A rough training cost (for scheduling the longest runs first): scan work per step."""
    cfg = presets.get(name)
    dirs = {"bi": 2, "uni": 1}
    blocks = (cfg.n_layers * dirs[cfg.temporal_direction] + dirs[cfg.crossband_direction])
    encoders = 2 if cfg.encoder == "separate" else 1
    decoders = 0.3 if cfg.decoder == "per_band" else 0.1
    return encoders * blocks * cfg.d_inner * (cfg.d_state + 8) / (10 * 128 * 24) + decoders


# ---------------------------------------------------------------------------------------------
# Quality proxy and step time
# ---------------------------------------------------------------------------------------------
def proxy_corpus(budget: ProxyBudget, root=None, progress: bool = False) -> Path:
    """The synthetic corpus of the proxy (generated once, reused while its manifest matches)."""
    from mbsnet.data.corpus import CorpusSpec, ensure_corpus

    spec = CorpusSpec(n_train=budget.n_train, n_test=budget.n_eval, seed=budget.corpus_seed)
    return ensure_corpus(root or DEFAULT_CORPUS, spec, progress)


def eval_pairs(corpus_root, budget: ProxyBudget) -> list[tuple[np.ndarray, np.ndarray]]:
    """The held-out pairs: the first n_eval test utterances, each cut to its central
    eval_seconds (shorter ones kept whole). -> [(clean (s,), noisy (s,))]."""
    from mbsnet.data.datasets import SyntheticPairs

    test = SyntheticPairs(corpus_root, "test")
    length = int(round(budget.eval_seconds * presets.SEED.sample_rate))
    pairs = []
    for i in range(min(budget.n_eval, len(test))):
        clean, noisy = test[i]
        start = max((len(clean) - length) // 2, 0)
        pairs.append((clean[start:start + length], noisy[start:start + length]))
    return pairs


@contextlib.contextmanager
def _one_thread():
    """Run the body with one torch thread (runs are compared at equal threads), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def quality_run(name: str, seed: int, budget: ProxyBudget, corpus_root) -> dict:
    """Train preset `name` with `budget` and `seed`, evaluate on the held-out pairs.

    Returns {"preset", "seed", "config" (the preset's fields, so a stored run can be matched to
    its preset later), metrics of mbsnet.train.evaluate_model, "final_loss",
    "step_seconds": [...], "train_seconds", "eval_seconds"}.
    """
    import torch

    from mbsnet.data.datasets import SyntheticPairs
    from mbsnet.train import evaluate_model, train_model

    with _one_thread():
        start = time.perf_counter()
        model, history = train_model(presets.get(name), SyntheticPairs(corpus_root, "train"),
                                     steps=budget.steps, batch_size=budget.batch_size,
                                     segment_seconds=budget.segment_seconds, seed=seed,
                                     lr=budget.lr, device="cpu", progress=False)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        with torch.no_grad():
            metrics = evaluate_model(model, eval_pairs(corpus_root, budget))
    steps = [h for h in history if "loss" in h]
    return {"preset": name, "seed": seed, "config": presets.get(name).to_dict(), **metrics,
            "final_loss": steps[-1]["loss"],
            "step_seconds": [h["step_seconds"] for h in steps],
            "train_seconds": train_seconds, "eval_seconds": time.perf_counter() - start}


def step_seconds(name: str, budget: ProxyBudget, corpus_root, steps: int = 3,
                 warmup: int = 1) -> list[float]:
    """Seconds of `steps` training steps (after `warmup` untimed ones) of preset `name` at the
    proxy's batch and segment length, with the trainer's own train_step."""
    import torch

    from mbsnet.data.datasets import SyntheticPairs
    from mbsnet.model import build_model
    from mbsnet.train import TrainSettings, make_batch, train_step

    s = TrainSettings(steps=steps + warmup, batch_size=budget.batch_size,
                      segment_seconds=budget.segment_seconds, seed=0, lr=budget.lr)
    torch.manual_seed(0)
    model = build_model(presets.get(name)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, betas=s.betas)
    data = SyntheticPairs(corpus_root, "train")
    times = []
    with _one_thread():
        for step in range(steps + warmup):
            clean, noisy = make_batch(data, step, s)
            t = time.perf_counter()
            train_step(model, opt, clean, noisy, s, s.lr)
            if step >= warmup:
                times.append(time.perf_counter() - t)
    return times


def spread(values) -> dict:
    """mean, std (sample, 0 for one value), min, max, n of a list of numbers."""
    values = [float(v) for v in values if v == v]
    if not values:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"),
                "max": float("nan"), "n": 0}
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def quality_columns(runs: list[dict]) -> dict:
    """Per-metric spread over seeds, and the median step time over all runs' steps
    (the first step of each run, a warm-up, left out)."""
    out = {m: spread(r[m] for r in runs) for m in QUALITY_METRICS}
    times = [t for r in runs for t in r["step_seconds"][1:]] or [t for r in runs for t in r["step_seconds"]]
    out["step_seconds_median"] = statistics.median(times) if times else float("nan")
    out["seeds"] = [r["seed"] for r in runs]
    return out


# ---------------------------------------------------------------------------------------------
# The whole ladder
# ---------------------------------------------------------------------------------------------
def _rows_complete(row: dict) -> bool:
    needed = ("parameters", "peak_b2_gib", "peak_b6_gib", "max_batch_12gib", "step_seconds",
              "quality")
    return all(row.get(k) is not None for k in needed)


def run_ladder(names=None, budget: ProxyBudget = ProxyBudget(), out=DEFAULT_OUT,
               corpus_root=None, workers: int = 1, resume: bool = False, quality: bool = True,
               memory: bool = True, progress: bool = True, command: str | None = None,
               merge=(), timing: bool = True) -> dict:
    """Measure every preset in `names` (default: all) and save the result after each piece.

    Quality runs go to a pool of `workers` processes (longest first) while the main process
    computes parameters, predicted memory and the dedicated step timings; with workers=1 they
    run in this process, last. The result is saved after each quality run. `merge`: other stored
    results (same budget) whose quality runs are taken over, e.g. from a second process that ran part of the presets. With `resume`, quality
    runs already stored in `out` with the same budget are kept.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    from mbsnet.results import save_result

    names = list(names or presets.names())
    for name in names:
        presets.get(name)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    corpus_root = Path(proxy_corpus(budget, corpus_root, progress))
    previous = load(out) if resume and out is not None and Path(out).exists() else None
    groups = quality_groups(names)
    runs: dict = {}
    if previous and previous.get("budget") == budget.to_dict():
        runs = {(r["preset"], r["seed"]): r for r in previous.get("runs", []) if still_valid(r, groups)}
    for path in merge or ():
        other = load(path)
        if other.get("budget") != budget.to_dict():
            raise ValueError(f"{path} was run with another budget: {other.get('budget')}")
        runs.update({(r["preset"], r["seed"]): r for r in other.get("runs", []) if still_valid(r, groups)})
    result = {"budget": budget.to_dict(), "presets": names, "corpus": str(corpus_root),
              "memory_seconds": MEMORY_SECONDS, "gpu": GPU, "quality_groups": groups,
              "rows": {n: {"preset": n, "parent": presets.parent(n),
                           "changes": presets.changes(n)} for n in names},
              "runs": list(runs.values())}

    def save():
        if out is not None:
            save_result(out, result, command)

    def fill_quality():
        for trained, members in groups.items():
            mine = [r for (p, _), r in runs.items() if p == trained]
            if len(mine) == len(budget.seeds):
                for m in members:
                    result["rows"][m]["quality"] = quality_columns(mine)
                    result["rows"][m]["quality_from"] = trained
        result["runs"] = list(runs.values())

    jobs = [(p, s) for p in sorted(groups, key=relative_cost, reverse=True)
            for s in budget.seeds if (p, s) not in runs] if quality else []
    pool = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            if workers > 1 else None)
    with pool or contextlib.nullcontext():
        futures = {pool.submit(quality_run, p, s, budget, corpus_root): (p, s)
                   for p, s in jobs} if pool else {}

        def store(run):
            """Keep a finished quality run and save at once, so a long ladder keeps its progress."""
            runs[(run["preset"], run["seed"])] = run
            fill_quality()
            save()

        def collect(done):
            for future in done:
                futures.pop(future)
                store(future.result())

        for name in tqdm(names, desc="parameters", disable=not progress):
            result["rows"][name].update(parameter_columns(name))
        save()
        if memory:
            for name in tqdm(names, desc="predicted memory", disable=not progress):
                kept = (previous or {}).get("rows", {}).get(name, {})
                same = (previous or {}).get("memory_seconds") == MEMORY_SECONDS and \
                    kept.get("parameters") == result["rows"][name]["parameters"] and \
                    "max_batch_12gib" in kept and previous.get("gpu") == GPU
                result["rows"][name].update({k: v for k, v in kept.items() if k.startswith(
                    ("peak_", "max_batch", "usable", "affine", "gpu"))} if same else memory_columns(name))
                save()
                collect([f for f in futures if f.done()])
        # Presets that share their quality runs but not their scan get a dedicated timing; the
        # preset they share with is timed the same way, so the two can be compared directly.
        timed = {n for t, members in groups.items() for n in members
                 if len({presets.get(m).scan_method for m in members}) > 1}
        for name in tqdm(sorted(timed) if timing else [], desc="step time", disable=not progress):
            kept = (previous or {}).get("budget") == budget.to_dict() and \
                previous["rows"].get(name, {}).get("dedicated_step_seconds")
            times = kept or step_seconds(name, budget, corpus_root, steps=2)
            result["rows"][name]["dedicated_step_seconds"] = times
            collect([f for f in futures if f.done()])
        save()
        if pool is None:
            for p, s in tqdm(jobs, desc="quality runs", disable=not progress):
                store(quality_run(p, s, budget, corpus_root))
        else:
            for future in tqdm(as_completed(list(futures)), total=len(futures), desc="quality runs",
                               disable=not progress):
                collect([future])
    fill_quality()
    for name, row in result["rows"].items():
        if "quality" not in row and row.get("dedicated_step_seconds"):
            row["step_seconds"] = statistics.median(row["dedicated_step_seconds"])
            row["step_seconds_source"] = "dedicated timing (1 warm-up + 2 steps)"
        if "quality" in row:
            shared = row.get("quality_from") != name and "dedicated_step_seconds" in row
            row["step_seconds"] = (statistics.median(row["dedicated_step_seconds"]) if shared
                                   else row["quality"]["step_seconds_median"])
            row["step_seconds_source"] = ("dedicated timing (1 warm-up + 2 steps)" if shared
                                          else "median over the quality runs' steps")
    result["complete"] = all(_rows_complete(r) for r in result["rows"].values())
    save()
    return result


def pooled_noise(result: dict, metric: str = "si_sdr_improvement") -> float:
    """Seed-to-seed standard deviation of `metric`, pooled over every trained preset
    (sqrt of the mean per-preset variance): one noise level estimated from all the runs."""
    variances = [result["rows"][p]["quality"][metric]["std"] ** 2
                 for p in result["quality_groups"] if "quality" in result["rows"][p]
                 and result["rows"][p]["quality"][metric]["n"] > 1]
    if not variances:
        raise ValueError("pooled_noise needs presets trained with at least 2 seeds")
    return float(np.sqrt(np.mean(variances)))


def compare(result: dict, a: str, b: str, metric: str = "si_sdr_improvement",
            z: float = 2.0) -> dict:
    """Quality of preset `b` minus preset `a` on `metric`, against the noise.

    The difference of two means over n seeds each has standard deviation
    noise * sqrt(2 / n) (noise = pooled_noise); |difference| above z times that is called a
    difference, otherwise "within noise". Returns {"a", "b", "metric", "difference", "threshold",
    "verdict": "b better" | "b worse" | "within noise" | "not measured"} ("not measured" when
    either preset has no quality runs in `result`).
    """
    if "quality" not in result["rows"][a] or "quality" not in result["rows"][b]:
        return {"a": a, "b": b, "metric": metric, "difference": float("nan"),
                "threshold": float("nan"), "verdict": "not measured"}
    qa, qb = result["rows"][a]["quality"][metric], result["rows"][b]["quality"][metric]
    n = min(qa["n"], qb["n"])
    threshold = z * pooled_noise(result, metric) * np.sqrt(2 / n)
    diff = qb["mean"] - qa["mean"]
    verdict = "within noise" if abs(diff) <= threshold else ("b better" if diff > 0 else "b worse")
    return {"a": a, "b": b, "metric": metric, "difference": diff, "threshold": float(threshold),
            "verdict": verdict}


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


def load(path=DEFAULT_OUT) -> dict:
    """The stored ladder result (JSON with provenance), as written by run_ladder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no ladder result at {path}; run `python -m mbsnet ladder`")
    return json.loads(path.read_text())


def table(result: dict, names=None) -> str:
    """A plain-text table of the ladder (one row per preset)."""
    head = (f"{'preset':<28}{'params':>11}{'peak b2':>9}{'peak b6':>9}{'max b':>7}"
            f"{'step s':>8}{'dSI-SDR dB':>16}{'PESQ':>14}")
    lines = [head, "-" * len(head)]
    for name in names or result["presets"]:
        r = result["rows"][name]
        q = r.get("quality")
        sisdr = (f"{q['si_sdr_improvement']['mean']:+6.2f}±{q['si_sdr_improvement']['std']:.2f}"
                 if q else "-")
        pesq = f"{q['pesq']['mean']:.3f}±{q['pesq']['std']:.3f}" if q else "-"

        def num(key, fmt):
            return format(r[key], fmt) if r.get(key) is not None else "-"
        lines.append(f"{name:<28}{num('parameters', ','):>11}{num('peak_b2_gib', '.2f'):>9}"
                     f"{num('peak_b6_gib', '.2f'):>9}{num('max_batch_12gib', 'd'):>7}"
                     f"{num('step_seconds', '.2f'):>8}{sisdr:>16}{pesq:>14}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--out", default=str(DEFAULT_OUT.relative_to(REPO_ROOT)),
                        help="where to store the result (JSON with provenance); '' to not store")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny budget (2 steps, 2 clips) and, unless --presets is given, "
                             "only slim_decoder and final: a smoke test, not a measurement")
    parser.add_argument("--presets", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--steps", type=int, default=None, help="quality-proxy training steps")
    parser.add_argument("--segment-seconds", type=float, default=None,
                        help="training segment length of the quality proxy")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes for the quality runs (each uses one thread)")
    parser.add_argument("--resume", action="store_true",
                        help="keep quality runs already stored in --out with the same budget")
    parser.add_argument("--merge", default=None, metavar="PATHS",
                        help="comma-separated stored results (same budget) whose quality runs to "
                             "take over, e.g. from a second process run with a --presets subset")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality proxy")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip the dedicated step timings (of presets sharing quality runs)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from mbsnet.cli import print_json

    budget = QUICK_BUDGET if args.quick else ProxyBudget()
    if args.steps is not None:
        budget = replace(budget, steps=args.steps)
    if args.segment_seconds is not None:
        budget = replace(budget, segment_seconds=args.segment_seconds)
    if args.seeds:
        budget = replace(budget, seeds=tuple(int(s) for s in args.seeds.split(",")))
    names = args.presets.split(",") if args.presets else (
        ["slim_decoder", "final"] if args.quick else None)
    try:
        result = run_ladder(names, budget, out=Path(args.out) if args.out else None,
                            corpus_root=DEFAULT_CORPUS.with_name("ladder_quick") if args.quick else None,
                            workers=args.workers, resume=args.resume, quality=not args.no_quality,
                            merge=args.merge.split(",") if args.merge else (),
                            timing=not args.no_timing,
                            progress=not args.json,
                            command="python -m mbsnet ladder " + " ".join(sys.argv[2:]))
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    if args.json:
        print_json(result)
    else:
        print(table(result))
    return 0
