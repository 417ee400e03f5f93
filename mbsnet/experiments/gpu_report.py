"""The GPU one-shot (`python -m mbsnet gpu-report`): every measurement the book wants from a GPU, in one run under a time budget.

    seed at batch 1     the measured peak of one training step (and under the cap: it fits)
    seed at batch 2     the measured peak on the whole card, and the step under a 12 GiB cap, where
                        the real torch.OutOfMemoryError is caught and recorded
    ladder              every preset (mbsnet.presets.names(), read when the run starts) at batch 2:
                        measured peak beside predict_peak's, and step times (median of a few)
    scan bench          mbsnet.experiments.scan_bench's cases on the device

Every step measured is mbsnet.step.train_step, the function the trainer runs and the predictor
traces, and each measurement sits beside the prediction of the same settings: the trainer's
(`step`, default TrainSettings().step_settings(): AdamW, enhancement_loss, clipping, the
config's precision, from (b, s) waveforms) for the ladder and the seed's "trainer" records, and
the original MBS-Net's (StepSettings.original(): Adam, spectral_loss, from complex STFTs) for the
seed's main records, whose batch-2 step under the cap is the OOM the book reproduces. The model
is built, the optimizer state made by a zero step (steady state), and the peak includes the
model, the optimizer state and the inputs, as predict_peak's does.

Files under `out` (each written by mbsnet.results.save_result, with provenance, as soon as its part
ends, so a run stopped early keeps what it measured):
    gpu_memory_<seed>_b1.json, gpu_memory_<seed>_b2.json   {"predicted", "measured", "oom"} of
        the original's step (the format of `python -m mbsnet memory --measure`, read by
        mbsnet.results.stored_gpu_results), "step": "original", and "trainer": the same three of
        the trainer's step with its "settings"
    gpu_ladder.json        {"batch_size", "seconds", "step", "rows": [{preset, predicted/measured ...}]}
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
from mbsnet.memory.step import step_inputs, warm_up_optimizer
from mbsnet.model import build_model
from mbsnet.results import save_result
from mbsnet.scan.shapes import seed_shapes, sweep_shapes
from mbsnet.step import StepSettings, make_optimizer, make_scaler, train_step
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


ORIGINAL = StepSettings.original()


def trainer_settings() -> StepSettings:
    """What `python -m mbsnet train` runs by default (mbsnet.train.TrainSettings)."""
    from mbsnet.train import TrainSettings

    return TrainSettings().step_settings()


def _predict(cfg, batch, seconds, settings=ORIGINAL) -> dict:
    return predict_peak(cfg, batch, seconds, step=settings).to_dict()


class Predictions:
    """predict_peak of (cfg, batch[, StepSettings]) jobs (default the original's step), in
    `workers` spawned processes (0: in this process, on demand). get() waits at most `timeout`
    seconds and returns None when it runs out."""

    def __init__(self, jobs: dict, seconds: float, workers: int = 0):
        self.jobs, self.seconds, self.done, self.futures = jobs, seconds, {}, {}
        self.pool = None
        if workers > 0 and jobs:
            self.pool = ProcessPoolExecutor(min(workers, len(jobs)),
                                            mp_context=multiprocessing.get_context("spawn"))
            self.futures = {k: self.pool.submit(_predict, *job[:2], seconds, *job[2:])
                            for k, job in jobs.items()}

    def get(self, key, timeout: float | None = None) -> dict | None:
        if key not in self.done:
            if key in self.futures:
                try:
                    wait = None if timeout is None else max(timeout, 0.1)
                    self.done[key] = self.futures[key].result(timeout=wait)
                except FutureTimeout:
                    return None
            else:
                job = self.jobs[key]
                self.done[key] = _predict(*job[:2], self.seconds, *job[2:])
        return self.done[key]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _build_and_step(cfg, batch, seconds, device, settings: StepSettings):
    """Build the model, make the optimizer's state, run one train_step -> a closure that runs
    the next step (holding the model, optimizer, scaler and micro-batches)."""
    dev = device.torch_device
    torch.manual_seed(0)
    model = build_model(cfg).to(dev)
    opt = make_optimizer(model, settings)
    warm_up_optimizer(model, opt)
    scaler = make_scaler(dev.type, settings.precision_for(cfg))
    micro, _inputs = step_inputs(cfg, batch, seconds, settings, device=dev)

    def step():
        train_step(model, opt, micro, settings, scaler=scaler)

    step()
    device.synchronize()
    return step


def measured_step(cfg, batch: int, seconds: float, device, repeats: int = 0,
                  settings: StepSettings = ORIGINAL) -> dict:
    """The peak of one train_step with `settings` on `device` (model, optimizer state and inputs
    included), then `repeats` more steps timed between synchronizations. A
    torch.OutOfMemoryError is recorded ({"out_of_memory": True, "message"}), not raised."""
    out = {"device": device.name, "preset": cfg.name, "batch_size": batch, "seconds": seconds,
           "step": settings.name}
    start, oom = time.perf_counter(), None
    try:
        with device.peak_scope() as reading:
            step = _build_and_step(cfg, batch, seconds, device, settings)
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
        step()
        device.synchronize()
        times.append(time.perf_counter() - t0)
    if times:
        out.update(step_seconds=times, step_s_median=statistics.median(times))
    del step
    device.release()
    return out


def capped_step(cfg, batch: int, seconds: float, device, cap_bytes: int,
                settings: StepSettings = ORIGINAL) -> dict:
    """One step with the device capped at `cap_bytes`: {"status": "fits" | "oom", "message", ...}
    (the real OutOfMemoryError's first line on an OOM)."""
    result = {"cap_gib": round(cap_bytes / GiB, 4), "device": device.name, "batch_size": batch,
              "preset": cfg.name, "step": settings.name}
    with device.capped(cap_bytes):
        m = measured_step(cfg, batch, seconds, device, settings=settings)
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
               log=print, step: StepSettings | None = None) -> dict:
    """Run every part (see the module docstring) and write its files under `out_dir`.

    configs: {name: MBSNetConfig} for the ladder (default: every preset, in ladder order);
    seed_cfg: the model of the seed parts (default presets.get("seed")); step: the trainer's
    StepSettings (default trainer_settings()). Returns the summary that gpu_report.json holds."""
    device = open_device(device)
    out_dir = Path(out_dir)
    configs = configs if configs is not None else {n: preset_registry.get(n)
                                                   for n in preset_registry.names()}
    seed_cfg = seed_cfg or preset_registry.get("seed")
    trainer = step or trainer_settings()
    deadline = Deadline(budget_s, clock)
    jobs = {(seed_cfg.name, b, kind): (seed_cfg, b, settings) for b in (1, batch)
            for kind, settings in (("original", ORIGINAL), ("trainer", trainer))}
    jobs.update({(name, batch, "trainer"): (cfg, batch, trainer) for name, cfg in configs.items()})
    predictions = Predictions(jobs, seconds, workers)
    summary = {"device": device.describe(), "batch_size": batch, "seconds": seconds,
               "cap_gib": round(cap_bytes / GiB, 4), "budget_s": budget_s,
               "step": trainer.to_dict(), "parts": {}}

    def save(name, payload):
        save_result(out_dir / name, payload, command)
        save_result(out_dir / "gpu_report.json", {**summary, "elapsed_s": round(deadline.used(), 1)},
                    command)

    def part(name, status, started, **extra):
        summary["parts"][name] = {"status": status, "seconds": round(deadline.used() - started, 2),
                                  **extra}
        log(f"{name}: {status} ({summary['parts'][name]['seconds']:.1f} s)"
            + (f": {extra['reason']}" if "reason" in extra else ""))

    def seed_record(b, kind, settings):
        m = measured_step(seed_cfg, b, seconds, device, repeats, settings)
        oom = capped_step(seed_cfg, b, seconds, device, cap_bytes, settings)
        predicted = predictions.get((seed_cfg.name, b, kind), timeout=max(deadline.left(), 0))
        record = {"measured": m, "oom": oom, "predicted": predicted or {}}
        if predicted is None:
            record["prediction_skipped"] = "time guard: the prediction had not finished"
        return record

    measured = {}
    try:
        for b in (1, batch):
            name, started = f"seed_b{b}", deadline.used()
            why = deadline.reason(name)
            if why:
                part(name, "skipped", started, reason=why)
                continue
            payload = {**seed_record(b, "original", ORIGINAL), "step": "original"}
            why = deadline.reason(f"{name}: the trainer's step")
            payload["trainer"] = ({"skipped": why} if why else
                                  {**seed_record(b, "trainer", trainer), "settings": trainer.to_dict()})
            if "measured" in payload["trainer"]:
                measured[(seed_cfg.name, b)] = payload["trainer"]["measured"]
            filename = f"gpu_memory_{seed_cfg.name}_b{b}.json"
            part(name, "done", started, file=filename, oom=payload["oom"]["status"],
                 trainer_oom=payload["trainer"].get("oom", {}).get("status", "skipped"))
            save(filename, payload)

        started, rows, skipped = deadline.used(), [], []
        for name, cfg in configs.items():
            why = deadline.reason(f"preset {name}")
            if why:
                skipped.append({"preset": name, "reason": why})
                continue
            m = measured.get((name, batch)) or measured_step(cfg, batch, seconds, device, repeats,
                                                             trainer)
            predicted = predictions.get((name, batch, "trainer"), timeout=max(deadline.left(), 0))
            rows.append(_ladder_row(name, m, predicted))
            log(f"  {name}: measured {m.get('peak_gib', 'OOM')} GiB, predicted "
                f"{predicted['peak_gib'] if predicted else 'not finished'} GiB")
        ladder = {"device": device.name, "batch_size": batch, "seconds": seconds,
                  "step": trainer.to_dict(), "rows": rows, "skipped": skipped}
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
