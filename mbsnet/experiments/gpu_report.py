"""The GPU one-shot (`python -m mbsnet gpu-report`): every measurement the book wants from a GPU, in one run under a time budget.

    seed at batch 1     the measured peak of one training step (and under the cap: it fits)
    seed at batch 2     the measured peak on the whole card, and the step under a 12 GiB cap, where
                        the real torch.OutOfMemoryError is caught and recorded
    ladder              every preset (mbsnet.presets.names(), read when the run starts) at batch 2:
                        measured peak beside predict_peak's, and step times (median of a few)
    scan bench          mbsnet.experiments.scan_bench's cases on the device

The step measured is the one the predictor traces (mbsnet.memory.step: the model built, Adam's
state made by a zero step, random complex STFT inputs, `spectral_loss`, backward, Adam step), and
the peak includes the model, the optimizer state and the inputs, as `predict_peak`'s does.

Files under `out` (each written by mbsnet.results.save_result, with provenance, as soon as its part
ends, so a run stopped early keeps what it measured):
    gpu_memory_<seed>_b1.json, gpu_memory_<seed>_b2.json   {"predicted", "measured", "oom"}: the
        format of `python -m mbsnet memory --measure`, read by mbsnet.results.stored_gpu_results
    gpu_ladder.json        {"batch_size", "seconds", "rows": [{preset, predicted/measured ...}]}
    gpu_scan_bench.json    bench_scan's result and ratio table, on the device
    gpu_report.json        the summary: device, budget, each part's status, seconds and file

The time guard: before each unit of work (a seed measurement, a preset, a scan case) the run
checks the time used against `budget_s`; past it, the rest is recorded as skipped with the reason.
Predictions run in `workers` CPU processes (spawned at the start) while the GPU measures.

The device is an interface (mbsnet.memory.devices): CudaDevice on a GPU, TrackedCpuDevice to run
the same orchestration on a CPU (tests).
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import torch

from mbsnet import presets as preset_registry
from mbsnet.experiments.scan_bench import BENCH_METHODS, bench_shape, ratio_table
from mbsnet.memory.devices import open_device
from mbsnet.memory.predict import predict_peak
from mbsnet.memory.step import make_optimizer, random_inputs, spectral_loss, warm_up_optimizer
from mbsnet.model import build_model
from mbsnet.results import save_result
from mbsnet.scan.shapes import seed_shapes, sweep_shapes
from mbsnet.units import GiB

BUDGET_S = 7.0 * 60        # the parts' budget: leaves a minute of the 8 for start-up and writing
CAP_GIB = 12.0
SECONDS = 2.0
MAX_SEQUENTIAL_LENGTH = 2048


class Deadline:
    """Time used against a budget; `reason(what)` is None while there is time, else why `what`
    is skipped."""

    def __init__(self, budget_s: float, clock=time.monotonic):
        self.budget_s, self.clock, self.start = float(budget_s), clock, clock()

    def used(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        return self.budget_s - self.used()

    def reason(self, what: str) -> str | None:
        if self.left() > 0:
            return None
        return f"time guard: {what} skipped, {self.used():.0f} s used of the {self.budget_s:.0f} s budget"


def _predict(cfg, batch, seconds) -> dict:
    return predict_peak(cfg, batch, seconds).to_dict()


class Predictions:
    """predict_peak of (cfg, batch) jobs, in `workers` spawned processes (0: in this process, on
    demand). get() waits at most `timeout` seconds and returns None when it runs out."""

    def __init__(self, jobs: dict, seconds: float, workers: int = 0):
        self.jobs, self.seconds, self.done, self.futures = jobs, seconds, {}, {}
        self.pool = None
        if workers > 0 and jobs:
            self.pool = ProcessPoolExecutor(min(workers, len(jobs)),
                                            mp_context=multiprocessing.get_context("spawn"))
            self.futures = {k: self.pool.submit(_predict, cfg, batch, seconds)
                            for k, (cfg, batch) in jobs.items()}

    def get(self, key, timeout: float | None = None) -> dict | None:
        if key not in self.done:
            if key in self.futures:
                try:
                    wait = None if timeout is None else max(timeout, 0.1)
                    self.done[key] = self.futures[key].result(timeout=wait)
                except FutureTimeout:
                    return None
            else:
                self.done[key] = _predict(*self.jobs[key], self.seconds)
        return self.done[key]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _build_and_step(cfg, batch, seconds, device):
    """Build the model, make Adam's state, run one step -> (model, optimizer, noisy, clean)."""
    dev = device.torch_device
    torch.manual_seed(0)
    model = build_model(cfg).to(dev)
    opt = make_optimizer(model, "adam")
    warm_up_optimizer(model, opt)
    noisy, clean = random_inputs(cfg, batch, cfg.frames(seconds), dev)
    _step(model, opt, noisy, clean)
    device.synchronize()
    return model, opt, noisy, clean


def _step(model, opt, noisy, clean) -> None:
    opt.zero_grad(set_to_none=True)
    spectral_loss(model(noisy), clean).backward()
    opt.step()


def measured_step(cfg, batch: int, seconds: float, device, repeats: int = 0) -> dict:
    """The peak of one training step on `device` (model, optimizer state and inputs included),
    then `repeats` more steps timed between synchronizations. A torch.OutOfMemoryError is
    recorded ({"out_of_memory": True, "message"}), not raised."""
    out = {"device": device.name, "preset": cfg.name, "batch_size": batch, "seconds": seconds}
    start, oom = time.perf_counter(), None
    try:
        with device.peak_scope() as reading:
            model, opt, noisy, clean = _build_and_step(cfg, batch, seconds, device)
    except torch.OutOfMemoryError as exc:
        oom = str(exc).splitlines()[0]
    if oom is not None:               # out of the except block: its traceback (and tensors) are gone
        device.release()
        return {**out, "out_of_memory": True, "message": oom,
                "max_memory_allocated_gib": round(reading.peak_bytes / GiB, 4)}
    out.update(peak_bytes=reading.peak_bytes, peak_gib=round(reading.peak_bytes / GiB, 4),
               first_step_s=round(time.perf_counter() - start, 4))
    if reading.reserved_bytes is not None:
        out["reserved_bytes"] = reading.reserved_bytes
    times = []
    for _ in range(repeats):
        device.synchronize()
        t0 = time.perf_counter()
        _step(model, opt, noisy, clean)
        device.synchronize()
        times.append(time.perf_counter() - t0)
    if times:
        out.update(step_seconds=times, step_s_median=statistics.median(times))
    del model, opt, noisy, clean
    device.release()
    return out


def capped_step(cfg, batch: int, seconds: float, device, cap_bytes: int) -> dict:
    """One step with the device capped at `cap_bytes`: {"status": "fits" | "oom", "message", ...}
    (the real OutOfMemoryError's first line on an OOM)."""
    result = {"cap_gib": round(cap_bytes / GiB, 4), "device": device.name, "batch_size": batch,
              "preset": cfg.name}
    with device.capped(cap_bytes):
        m = measured_step(cfg, batch, seconds, device)
    if m.get("out_of_memory"):
        result.update(status="oom", message=m["message"],
                      max_memory_allocated_gib=m["max_memory_allocated_gib"])
    else:
        result.update(status="fits", message="the step ran within the cap",
                      max_memory_allocated_gib=m["peak_gib"])
    return result


def _ladder_row(name, measured, predicted) -> dict:
    row = {"preset": name, "predicted_peak_bytes": predicted["peak_bytes"] if predicted else None,
           "predicted_gib": predicted["peak_gib"] if predicted else None}
    if measured.get("out_of_memory"):
        return {**row, "out_of_memory": True, "message": measured["message"]}
    row.update({k: measured[k] for k in ("peak_bytes", "peak_gib", "reserved_bytes", "first_step_s",
                                         "step_seconds", "step_s_median") if k in measured})
    if predicted:
        row["measured_over_predicted"] = measured["peak_bytes"] / predicted["peak_bytes"]
    return row


def scan_bench_on(device, deadline: Deadline, batch: int = 2, shapes=None, repeats: int = 3,
                  chunk_size: int = 64, max_sequential_length: int = MAX_SEQUENTIAL_LENGTH) -> dict:
    """bench_scan's cases (seed shapes at `batch`, then the sweep) on `device`, case by case
    under the time guard. mambapy is benched only where it is installed."""
    shapes = shapes if shapes is not None else seed_shapes(batch) + sweep_shapes()
    methods = [m for m in BENCH_METHODS if m != "mambapy" or importlib.util.find_spec("mambapy")]
    skipped = [] if "mambapy" in methods else ["mambapy: not installed"]
    cases = []
    for shape in shapes:
        why = deadline.reason(f"scan case {shape.name}")
        if why:
            skipped.append(why)
            continue
        ms = [m for m in methods if m != "sequential" or shape.l <= max_sequential_length]
        skipped += [f"sequential at {shape.name} (l > {max_sequential_length})"
                    for _ in range(len(methods) - len(ms))]
        cases.append(bench_shape(shape, ms, repeats, chunk_size, device=device.torch_device))
        device.release()
    result = {"device": device.name, "repeats": repeats, "chunk_size": chunk_size, "quick": False,
              "threads": torch.get_num_threads(), "skipped": skipped, "cases": cases}
    result["table"] = ratio_table(result) if cases else []
    return result


def gpu_report(out_dir, device=None, *, configs=None, seed_cfg=None, batch: int = 2,
               seconds: float = SECONDS, cap_bytes: int = int(CAP_GIB * GiB), repeats: int = 3,
               budget_s: float = BUDGET_S, workers: int = 0, scan_shapes=None,
               scan_repeats: int = 3, command: str | None = None, clock=time.monotonic,
               log=print) -> dict:
    """Run every part (see the module docstring) and write its files under `out_dir`.

    configs: {name: MBSNetConfig} for the ladder (default: every preset, in ladder order);
    seed_cfg: the model of the seed parts (default presets.get("seed")). Returns the summary
    that gpu_report.json holds."""
    device = open_device(device)
    out_dir = Path(out_dir)
    configs = configs if configs is not None else {n: preset_registry.get(n)
                                                   for n in preset_registry.names()}
    seed_cfg = seed_cfg or preset_registry.get("seed")
    deadline = Deadline(budget_s, clock)
    jobs = {(seed_cfg.name, 1): (seed_cfg, 1)}
    jobs.update({(name, batch): (cfg, batch) for name, cfg in configs.items()})
    if seed_cfg.name not in configs:
        jobs[(seed_cfg.name, batch)] = (seed_cfg, batch)
    predictions = Predictions(jobs, seconds, workers)
    summary = {"device": device.describe(), "batch_size": batch, "seconds": seconds,
               "cap_gib": round(cap_bytes / GiB, 4), "budget_s": budget_s, "parts": {}}

    def save(name, payload):
        save_result(out_dir / name, payload, command)
        save_result(out_dir / "gpu_report.json", {**summary, "elapsed_s": round(deadline.used(), 1)},
                    command)

    def part(name, status, started, **extra):
        summary["parts"][name] = {"status": status, "seconds": round(deadline.used() - started, 2),
                                  **extra}
        log(f"{name}: {status} ({summary['parts'][name]['seconds']:.1f} s)"
            + (f": {extra['reason']}" if "reason" in extra else ""))

    measured = {}
    try:
        for b in (1, batch):
            name, started = f"seed_b{b}", deadline.used()
            why = deadline.reason(name)
            if why:
                part(name, "skipped", started, reason=why)
                continue
            measured[(seed_cfg.name, b)] = m = measured_step(seed_cfg, b, seconds, device, repeats)
            oom = capped_step(seed_cfg, b, seconds, device, cap_bytes)
            predicted = predictions.get((seed_cfg.name, b), timeout=max(deadline.left(), 0))
            payload = {"measured": m, "oom": oom, "predicted": predicted}
            if predicted is None:
                payload["predicted"] = {}
                payload["prediction_skipped"] = "time guard: the prediction had not finished"
            filename = f"gpu_memory_{seed_cfg.name}_b{b}.json"
            part(name, "done", started, file=filename, oom=oom["status"])
            save(filename, payload)

        started, rows, skipped = deadline.used(), [], []
        for name, cfg in configs.items():
            why = deadline.reason(f"preset {name}")
            if why:
                skipped.append({"preset": name, "reason": why})
                continue
            m = measured.get((name, batch)) or measured_step(cfg, batch, seconds, device, repeats)
            predicted = predictions.get((name, batch), timeout=max(deadline.left(), 0))
            rows.append(_ladder_row(name, m, predicted))
            log(f"  {name}: measured {m.get('peak_gib', 'OOM')} GiB, predicted "
                f"{predicted['peak_gib'] if predicted else 'not finished'} GiB")
        ladder = {"device": device.name, "batch_size": batch, "seconds": seconds, "rows": rows,
                  "skipped": skipped}
        part("ladder", "done" if not skipped else "partial", started, presets=len(rows),
             skipped=len(skipped), file="gpu_ladder.json")
        save("gpu_ladder.json", ladder)

        started = deadline.used()
        why = deadline.reason("scan bench")
        if why:
            part("scan_bench", "skipped", started, reason=why)
        else:
            bench = scan_bench_on(device, deadline, batch, scan_shapes, scan_repeats)
            part("scan_bench", "done", started, cases=len(bench["cases"]),
                 skipped=len(bench["skipped"]), file="gpu_scan_bench.json")
            save("gpu_scan_bench.json", bench)
    finally:
        predictions.close()
    summary["elapsed_s"] = round(deadline.used(), 1)
    save_result(out_dir / "gpu_report.json", summary, command)
    return summary
