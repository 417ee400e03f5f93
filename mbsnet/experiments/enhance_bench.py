"""Benchmarks: `python -m mbsnet bench enhance` measures the real-time factor and peak memory of `enhance`.

For each length a wav of generated noisy speech (the two ARCTIC utterances tiled to the length, plus
white noise at 5 dB SNR, 16 kHz) is written to a temporary folder. A fresh child process per length
then does what `python -m mbsnet enhance` does: set the torch threads, load the checkpoint, run
enhance_file (read, the model in overlapping chunks, write). The child reports
- "seconds": wall seconds of enhance_file, and "rtf" = seconds / audio seconds (real-time factor);
  "cpu_seconds" and "rtf_cpu" the same in CPU seconds of the child (all its threads): on a shared
  machine, where other jobs stretch the wall clock, the CPU time of a one-thread run is the
  steadier measure of the compute;
- "peak_rss_bytes": its peak resident memory over its whole life (VmHWM of /proc/self/status: the
  high-water mark of this process' own memory; where /proc is missing, resource.getrusage's ru_maxrss,
  which Linux carries over from the parent across fork + exec, so that it can report the parent's
  peak), and "rss_before_bytes": the same peak just before enhance_file (imports and the model
  loaded), so that peak - before is what the enhancing itself added.
With `repeats` each length runs that many times (the median run is kept); with `baseline` (another
checkout's folder) the two are interleaved in one run and their ratios stored. `bench enhance
--profile` (mbsnet.experiments.enhance_profile) shows where the time goes instead.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BENCH_LENGTHS = (10.0, 60.0, 600.0)      # seconds of audio
NOISE_SNR_DB = 5.0

_CHILD = r"""
import inspect, json, resource, sys, time
args = json.loads(sys.argv[1])
def peak_rss():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
import torch
if args["threads"]:
    torch.set_num_threads(args["threads"])
from mbsnet.checkpoint import load_model
from mbsnet.enhance import enhance_file
model = load_model(args["checkpoint"])
if args["scan_method"]:
    from mbsnet.enhance import set_scan_method
    set_scan_method(model, args["scan_method"])
if args.get("precision"):
    from mbsnet.enhance import set_precision
    set_precision(model, args["precision"])
kw = {"progress": False} if "progress" in inspect.signature(enhance_file).parameters else {}
before = peak_rss()
t0, c0 = time.perf_counter(), time.process_time()
info = enhance_file(args["src"], args["dst"], model=model, verbose=False, **kw)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
import mbsnet
print(json.dumps({"mbsnet": mbsnet.__path__[0], "seconds": seconds, "cpu_seconds": cpu, "samples": info["samples"],
                  "rss_before_bytes": before,
                  "peak_rss_bytes": peak_rss(),
                  "threads": torch.get_num_threads(), "scan_method": model.cfg.scan_method
                  if not args["scan_method"] else args["scan_method"]}))
"""


def noisy_speech(seconds: float, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """(s,) float32: the ARCTIC utterances tiled to `seconds`, plus white noise at NOISE_SNR_DB."""
    from mbsnet.assets import ARCTIC_WAVS
    from mbsnet.data.audio import load_wav

    speech = np.concatenate([load_wav(p, rate)[0] for p in ARCTIC_WAVS])
    n = int(round(seconds * rate))
    clean = np.resize(speech, n)
    noise = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** (NOISE_SNR_DB / 10))
    return (0.5 * (clean + noise)).astype(np.float32)


def bench_length(seconds: float, threads: int = 1, checkpoint=None, scan_method=None,
                 folder=None, pythonpath=None, precision=None) -> dict:
    """RTF and peak RSS of enhancing `seconds` of generated audio, in a fresh child process.

    pythonpath: where the child imports mbsnet from (default: this process's mbsnet), e.g. an
    older checkout to compare with. precision: the child's set_precision (None: fp32, the default).
    """
    from mbsnet.checkpoint import SHIPPED_CHECKPOINT
    from mbsnet.data.audio import save_wav

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        src, dst = Path(tmp) / "noisy.wav", Path(tmp) / "enhanced.wav"
        save_wav(src, noisy_speech(seconds), 16_000)
        args = {"src": str(src), "dst": str(dst), "threads": threads, "scan_method": scan_method,
                "precision": precision,
                "checkpoint": str(checkpoint or SHIPPED_CHECKPOINT)}
        root = pythonpath or str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
        # cwd=root: `python -c` puts the working directory first on sys.path, before PYTHONPATH
        done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], env=env, cwd=root,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"bench enhance child failed ({done.returncode}): {done.stderr[-2000:]}")
        out = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(out["mbsnet"]).resolve().is_relative_to(Path(root).resolve()):
        raise RuntimeError(f"bench enhance child imported mbsnet from {out['mbsnet']}, not {root}")
    out.update(audio_seconds=seconds, rtf=out["seconds"] / seconds,
               rtf_cpu=out["cpu_seconds"] / seconds)
    if out["samples"] != int(round(seconds * 16_000)):
        raise RuntimeError(f"enhance wrote {out['samples']} samples for {seconds} s of audio")
    return out


def _median_run(runs: list[dict]) -> dict:
    """The run with the median CPU seconds, with every repeat's CPU and wall seconds beside it."""
    ordered = sorted(runs, key=lambda r: r["cpu_seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "repeats_cpu_seconds": [r["cpu_seconds"] for r in runs],
            "repeats_seconds": [r["seconds"] for r in runs],
            "peak_rss_bytes_max": max(r["peak_rss_bytes"] for r in runs)}


def bench_enhance(lengths=BENCH_LENGTHS, threads: int = 1, checkpoint=None, scan_method=None,
                  progress=True, repeats: int = 1, baseline=None, precision=None) -> dict:
    """bench_length for every length, shortest first; each length `repeats` times (median).

    baseline: a folder holding another checkout's `mbsnet` (e.g. `git archive` of an older commit)
    to compare with: its runs are interleaved with this checkout's, the order alternating per
    repeat, so both see the same machine load; "speedup" holds the ratios of the medians.
    precision: this checkout's runs only (set_precision); the baseline runs at its default, fp32, so
    `baseline` = this checkout's own folder compares the two precisions.
    The machine's load average (os.getloadavg) before and after is recorded: the machine is shared.
    """
    from tqdm.auto import tqdm

    variants = {"current": None, **({"baseline": str(baseline)} if baseline else {})}
    runs = {v: {s: [] for s in sorted(lengths)} for v in variants}
    load_before = os.getloadavg()
    jobs = [(rep, s) for rep in range(repeats) for s in sorted(lengths)]
    for rep, s in tqdm(jobs, desc="bench enhance", disable=not progress):
        order = list(variants) if rep % 2 == 0 else list(variants)[::-1]
        for v in order:
            runs[v][s].append(bench_length(s, threads, checkpoint, scan_method, pythonpath=variants[v],
                                           precision=precision if v == "current" else None))
    medians = {v: [_median_run(r) for r in by_length.values()] for v, by_length in runs.items()}
    result = {"threads": threads, "checkpoint": str(checkpoint) if checkpoint else "shipped",
              "scan_method": medians["current"][0]["scan_method"], "precision": precision or "fp32",
              "repeats": repeats,
              "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "runs": medians["current"]}
    if baseline:
        result["baseline"] = {"pythonpath": str(baseline), "runs": medians["baseline"]}
        result["speedup"] = [
            {"audio_seconds": new["audio_seconds"], "rtf_cpu_baseline": old["rtf_cpu"],
             "rtf_cpu": new["rtf_cpu"], "cpu_speedup": old["cpu_seconds"] / new["cpu_seconds"],
             "wall_speedup": old["seconds"] / new["seconds"],
             "peak_rss_bytes_baseline": old["peak_rss_bytes_max"],
             "peak_rss_bytes": new["peak_rss_bytes_max"]}
            for new, old in zip(medians["current"], medians["baseline"])]
    return result


def format_enhance_table(result: dict) -> str:
    """Plain-text table: one line per length (medians), then the speedup over a baseline if any."""
    from mbsnet.units import MiB

    lines = [f"enhance, {result['threads']} thread(s), scan {result['scan_method']!r}, "
             f"median of {result.get('repeats', 1)}",
             f"    {'audio s':>8} {'wall s':>8} {'RTF':>7} {'CPU s':>8} {'RTF CPU':>8} "
             f"{'peak RSS MiB':>13} {'before MiB':>11}"]
    for r in result["runs"]:
        lines.append(f"    {r['audio_seconds']:8.0f} {r['seconds']:8.2f} {r['rtf']:7.3f} "
                     f"{r['cpu_seconds']:8.2f} {r['rtf_cpu']:8.3f} "
                     f"{r['peak_rss_bytes'] / MiB:13.0f} {r['rss_before_bytes'] / MiB:11.0f}")
    for x in result.get("speedup", []):
        lines.append(f"    {x['audio_seconds']:g} s vs baseline: RTF CPU {x['rtf_cpu_baseline']:.3f} -> "
                     f"{x['rtf_cpu']:.3f} ({x['cpu_speedup']:.2f}x CPU, {x['wall_speedup']:.2f}x wall), "
                     f"peak RSS {x['peak_rss_bytes_baseline'] / MiB:.0f} -> {x['peak_rss_bytes'] / MiB:.0f} MiB")
    if "load_average_before" in result:
        lines.append(f"    machine load average (1, 5, 15 min) before "
                     f"{', '.join(f'{x:.1f}' for x in result['load_average_before'])}, after "
                     f"{', '.join(f'{x:.1f}' for x in result['load_average_after'])}")
    return "\n".join(lines)
