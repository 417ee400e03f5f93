"""The whole ladder: every preset measured, quality runs in a pool or in-process, saved after each piece."""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm.auto import tqdm

from mbsnet import presets
from mbsnet.errors import InputError
from mbsnet.experiments.ladder.measure import (DEFAULT_OUT, GPU, MEMORY_SECONDS, ProxyBudget, memory_columns,
                                               parameter_columns, proxy_corpus, quality_groups, quality_run,
                                               relative_cost, step_seconds, still_valid)
from mbsnet.experiments.ladder.stats import quality_columns
from mbsnet.results import save_result


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
    names = list(names or presets.names())
    for name in names:
        presets.get(name)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    corpus_root = Path(proxy_corpus(budget, corpus_root, progress))
    previous = load(out) if resume and out is not None and Path(out).exists() else None
    groups = quality_groups(names)
    runs = _stored_runs(previous, merge, budget, groups)
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
                kept = _kept_memory_columns(previous, name, result["rows"][name]["parameters"])
                result["rows"][name].update(kept if kept is not None else memory_columns(name))
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
        _set_step_seconds(name, row)
    result["complete"] = all(_rows_complete(r) for r in result["rows"].values())
    save()
    return result


def _stored_runs(previous, merge, budget: ProxyBudget, groups) -> dict:
    """{(preset, seed): quality run} still valid from a resumed result and the `merge` files."""
    def valid(result):
        return {(r["preset"], r["seed"]): r for r in result.get("runs", []) if still_valid(r, groups)}

    runs = valid(previous) if previous and previous.get("budget") == budget.to_dict() else {}
    for path in merge or ():
        other = load(path)
        if other.get("budget") != budget.to_dict():
            raise InputError(f"{path} was run with another budget: {other.get('budget')}")
        runs.update(valid(other))
    return runs


def _kept_memory_columns(previous, name: str, parameters: int) -> dict | None:
    """A resumed row's memory columns if they were predicted for the same model, shape and GPU."""
    kept = (previous or {}).get("rows", {}).get(name, {})
    same = (previous or {}).get("memory_seconds") == MEMORY_SECONDS and \
        kept.get("parameters") == parameters and "max_batch_12gib" in kept and previous.get("gpu") == GPU
    return {k: v for k, v in kept.items()
            if k.startswith(("peak_", "max_batch", "usable", "affine", "gpu"))} if same else None


def _set_step_seconds(name: str, row: dict) -> None:
    """A row's step time: its quality runs' median, or its dedicated timing where it shares
    another preset's quality runs (or has none)."""
    dedicated = row.get("dedicated_step_seconds")
    if "quality" in row and not (row.get("quality_from") != name and dedicated):
        row["step_seconds"] = row["quality"]["step_seconds_median"]
        row["step_seconds_source"] = "median over the quality runs' steps"
    elif dedicated:
        row["step_seconds"] = statistics.median(dedicated)
        row["step_seconds_source"] = "dedicated timing (1 warm-up + 2 steps)"


def load(path=DEFAULT_OUT) -> dict:
    """The stored ladder result (JSON with provenance), as written by run_ladder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no ladder result at {path}; run `python -m mbsnet ladder`")
    return json.loads(path.read_text())
