"""The repository's places and its stored results: paths, provenance (command, date, commit, machine), loading."""
from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "results"
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
DATA_DIR = REPO_ROOT / "data"          # generated corpora (git-ignored)


def git_commit(repo: Path | None = None) -> str:
    """The current commit (with '+dirty' if the tree has changes), or 'unknown'."""
    repo = repo or REPO_ROOT
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    """CPU/GPU description of this machine."""
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    else:
        info["device"] = "cpu"
    return info


def provenance(command: str | None = None) -> dict:
    """A record to store beside any measured result."""
    return {"command": command or " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(), "machine": machine()}


def save_result(path, payload: dict, command: str | None = None) -> Path:
    """Write `payload` with a `provenance` block as JSON (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"provenance": provenance(command), **payload}, indent=2, default=str))
    tmp.replace(path)
    return path


def load_result(name: str, results_dir=None) -> dict:
    """A stored result by file name under results/ (".json" may be left out), parsed."""
    root = Path(results_dir) if results_dir else RESULTS_DIR
    path = root / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


def stored_gpu_results(results_dir=None) -> list[dict]:
    """GPU measurements stored as results/gpu_memory_*.json (written by `python -m mbsnet
    gpu-report`, or `memory --measure --out ...`, on a machine with a GPU; each with provenance:
    device, date, commit, command), oldest first. Each is {"measured", "predicted", "oom",
    "provenance", "path"}. Empty when no GPU run has been stored yet."""
    root = Path(results_dir) if results_dir else RESULTS_DIR
    found = []
    for path in sorted(root.glob("gpu_memory_*.json")):
        record = json.loads(path.read_text())
        if record.get("measured", {}).get("device", "cpu") != "cpu":
            record["path"] = str(path)
            found.append(record)
    return sorted(found, key=lambda r: r.get("provenance", {}).get("date", ""))


GPU_REPORT_FILES = {"report": "gpu_report.json", "ladder": "gpu_ladder.json",
                    "scan_bench": "gpu_scan_bench.json"}


def stored_gpu_report(results_dir=None) -> dict:
    """The other files of `python -m mbsnet gpu-report` that exist under results/:
    {"report": summary, "ladder": {"rows": [{preset, predicted_gib, peak_gib, step_s_median, ...}]},
    "scan_bench": bench_scan's result on the GPU}, each with its provenance and "path". Files
    measured on a CPU (device "cpu") are left out; empty when none is stored."""
    root = Path(results_dir) if results_dir else RESULTS_DIR
    found = {}
    for key, name in GPU_REPORT_FILES.items():
        path = root / name
        if path.exists():
            record = json.loads(path.read_text())
            device = record.get("device", "cpu")
            if (device.get("name") if isinstance(device, dict) else device) != "cpu":
                found[key] = {**record, "path": str(path)}
    return found
