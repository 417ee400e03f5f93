"""Benchmarks: `python -m mbsnet bench enhance` measures the real-time factor and peak memory of `enhance`.

For each length a wav of generated noisy speech (the two ARCTIC utterances tiled to the length, plus
white noise at 5 dB SNR, 16 kHz) is written to a temporary folder. A fresh child process per length
then does what `python -m mbsnet enhance` does: set the torch threads, load the checkpoint, run
enhance_file (read, the model in overlapping chunks, write). The child reports
- "seconds": wall seconds of enhance_file, and "rtf" = seconds / audio seconds (real-time factor);
  "cpu_seconds" and "rtf_cpu" the same in CPU seconds of the child (all its threads): on a shared
  machine, where other jobs stretch the wall clock, the CPU time of a one-thread run is the
  steadier measure of the compute;
- "peak_rss_bytes": its peak resident memory over its whole life (resource.getrusage ru_maxrss),
  and "rss_before_bytes": the same peak just before enhance_file (imports and the model loaded),
  so that peak - before is what the enhancing itself added.
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
import torch
if args["threads"]:
    torch.set_num_threads(args["threads"])
from mbsnet.checkpoint import load_model
from mbsnet.enhance import enhance_file
model = load_model(args["checkpoint"])
if args["scan_method"]:
    from mbsnet.enhance import set_scan_method
    set_scan_method(model, args["scan_method"])
kw = {"progress": False} if "progress" in inspect.signature(enhance_file).parameters else {}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0, c0 = time.perf_counter(), time.process_time()
info = enhance_file(args["src"], args["dst"], model=model, verbose=False, **kw)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "samples": info["samples"],
                  "rss_before_bytes": before,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
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
                 folder=None, pythonpath=None) -> dict:
    """RTF and peak RSS of enhancing `seconds` of generated audio, in a fresh child process.

    pythonpath: where the child imports mbsnet from (default: this process's mbsnet), e.g. an
    older checkout to compare with.
    """
    from mbsnet.checkpoint import SHIPPED_CHECKPOINT
    from mbsnet.data.audio import save_wav

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        src, dst = Path(tmp) / "noisy.wav", Path(tmp) / "enhanced.wav"
        save_wav(src, noisy_speech(seconds), 16_000)
        args = {"src": str(src), "dst": str(dst), "threads": threads, "scan_method": scan_method,
                "checkpoint": str(checkpoint or SHIPPED_CHECKPOINT)}
        root = pythonpath or str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"bench enhance child failed ({done.returncode}): {done.stderr[-2000:]}")
        out = json.loads(done.stdout.strip().splitlines()[-1])
    out.update(audio_seconds=seconds, rtf=out["seconds"] / seconds,
               rtf_cpu=out["cpu_seconds"] / seconds)
    if out["samples"] != int(round(seconds * 16_000)):
        raise RuntimeError(f"enhance wrote {out['samples']} samples for {seconds} s of audio")
    return out


def bench_enhance(lengths=BENCH_LENGTHS, threads: int = 1, checkpoint=None, scan_method=None,
                  progress=True) -> dict:
    """bench_length for every length, shortest first."""
    from tqdm.auto import tqdm

    runs = [bench_length(s, threads, checkpoint, scan_method)
            for s in tqdm(sorted(lengths), desc="bench enhance", disable=not progress)]
    return {"threads": threads, "checkpoint": str(checkpoint) if checkpoint else "shipped",
            "scan_method": runs[0]["scan_method"], "runs": runs}


def format_enhance_table(result: dict) -> str:
    """Plain-text table: one line per length."""
    from mbsnet.units import MiB

    lines = [f"enhance, {result['threads']} thread(s), scan {result['scan_method']!r}",
             f"    {'audio s':>8} {'wall s':>8} {'RTF':>7} {'CPU s':>8} {'RTF CPU':>8} "
             f"{'peak RSS MiB':>13} {'before MiB':>11}"]
    for r in result["runs"]:
        lines.append(f"    {r['audio_seconds']:8.0f} {r['seconds']:8.2f} {r['rtf']:7.3f} "
                     f"{r['cpu_seconds']:8.2f} {r['rtf_cpu']:8.3f} "
                     f"{r['peak_rss_bytes'] / MiB:13.0f} {r['rss_before_bytes'] / MiB:11.0f}")
    return "\n".join(lines)
