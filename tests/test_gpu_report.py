"""The GPU one-shot's orchestration, run on the CPU through the device interface (the tracker as memory reader, a simulated cap)."""
import json
from dataclasses import replace

import pytest
import torch

from mbsnet import presets
from mbsnet.train import TrainSettings as train_settings
from mbsnet.experiments.gpu_report import Deadline, gpu_report, trainer_settings
from mbsnet.memory import predict_peak
from mbsnet.memory.devices import CudaDevice, TrackedCpuDevice, open_device
from mbsnet.results import stored_gpu_report, stored_gpu_results
from mbsnet.scan.shapes import ScanShape
from mbsnet.step import StepSettings
from mbsnet.units import GiB

TINY = replace(presets.get("seed"), name="tiny", n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9),
               channels=16, decoder_hidden=32, n_layers=1)
TINY_RECOMPUTE = replace(TINY, name="tiny_recompute", scan_method="recompute")
SECONDS = 0.02
SHAPE = ScanShape("tiny scan", 2, 16, 8, 4)


@pytest.fixture(scope="module")
def predicted():
    """The original's step (the OOM the book reproduces) and the trainer's, at batch 1 and 2."""
    return {(b, kind): predict_peak(TINY, b, SECONDS, step=settings).peak_bytes for b in (1, 2)
            for kind, settings in (("original", None), ("trainer", trainer_settings()))}


@pytest.fixture(scope="module")
def report(tmp_path_factory, predicted):
    """One full run on the CPU, capped halfway between the batch-1 and batch-2 predictions."""
    out = tmp_path_factory.mktemp("results")
    cap = (predicted[1, "original"] + predicted[2, "original"]) // 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # tiny ops: threads only contend on a loaded machine
    try:
        summary = gpu_report(out, TrackedCpuDevice("Test GPU (cpu tracker)"), seed_cfg=TINY,
                             configs={"tiny": TINY, "tiny_recompute": TINY_RECOMPUTE}, seconds=SECONDS,
                             cap_bytes=cap, repeats=2, scan_shapes=[SHAPE], scan_repeats=1,
                             command="test gpu-report", log=lambda *a: None)
    finally:
        torch.set_num_threads(threads)
    return out, summary


def test_every_part_runs_and_writes_its_file(report):
    out, summary = report
    assert {n: p["status"] for n, p in summary["parts"].items()} == {
        "seed_b1": "done", "seed_b2": "done", "ladder": "done", "scan_bench": "done"}
    names = {p.name for p in out.glob("gpu_*.json")}
    assert names == {"gpu_memory_tiny_b1.json", "gpu_memory_tiny_b2.json", "gpu_ladder.json",
                     "gpu_scan_bench.json", "gpu_report.json"}
    for name in names:
        prov = json.loads((out / name).read_text())["provenance"]
        assert prov["command"] == "test gpu-report" and prov["date"] and prov["git_commit"]
    assert summary["device"]["name"] == "Test GPU (cpu tracker)"


def test_the_cap_lets_batch_1_fit_and_batch_2_run_out_of_memory(report, predicted):
    out, _ = report
    b1 = json.loads((out / "gpu_memory_tiny_b1.json").read_text())
    b2 = json.loads((out / "gpu_memory_tiny_b2.json").read_text())
    assert b1["oom"]["status"] == "fits" and b2["oom"]["status"] == "oom"
    assert "out of memory" in b2["oom"]["message"]
    assert b2["oom"]["max_memory_allocated_gib"] < b2["measured"]["peak_gib"]
    assert b2["oom"]["cap_gib"] < b2["measured"]["peak_gib"]


def test_measured_equals_predicted_on_the_tracker(report, predicted):
    """The same step (mbsnet.step.train_step, the original's and the trainer's settings), on real
    CPU tensors and on meta tensors: the same bytes."""
    out, _ = report
    for b in (1, 2):
        rec = json.loads((out / f"gpu_memory_tiny_b{b}.json").read_text())
        assert rec["step"] == "original" and rec["predicted"]["step"] == "original"
        assert rec["measured"]["peak_bytes"] == rec["predicted"]["peak_bytes"] == predicted[b, "original"]
        assert len(rec["measured"]["step_seconds"]) == 2 and rec["measured"]["step_s_median"] > 0
        tr = rec["trainer"]
        assert tr["settings"] == trainer_settings().to_dict() and tr["predicted"]["step"] == "trainer"
        assert (tr["predicted"]["optimizer"], tr["measured"]["step"]) == ("adamw", "trainer")
        assert tr["measured"]["peak_bytes"] == tr["predicted"]["peak_bytes"] == predicted[b, "trainer"]
        assert tr["oom"]["step"] == "trainer" and tr["oom"]["status"] in ("fits", "oom")
    assert predicted[2, "trainer"] != predicted[2, "original"]       # two different steps


def test_the_report_measures_the_trainers_step_by_default():
    s = trainer_settings()
    assert (s.optimizer, s.loss, s.grad_clip, s.name) == ("adamw", "enhancement", 5.0, "trainer")
    assert s == train_settings().step_settings()


def test_the_ladder_puts_each_measured_peak_beside_its_prediction(report):
    rows = {r["preset"]: r for r in json.loads((report[0] / "gpu_ladder.json").read_text())["rows"]}
    assert set(rows) == {"tiny", "tiny_recompute"}
    for name, cfg in (("tiny", TINY), ("tiny_recompute", TINY_RECOMPUTE)):
        assert rows[name]["predicted_peak_bytes"] == predict_peak(cfg, 2, SECONDS,
                                                                  step=trainer_settings()).peak_bytes
        assert rows[name]["measured_over_predicted"] == pytest.approx(1.0)
    assert rows["tiny_recompute"]["peak_bytes"] < rows["tiny"]["peak_bytes"]


def test_the_scan_bench_runs_on_the_device(report):
    bench = json.loads((report[0] / "gpu_scan_bench.json").read_text())
    assert [c["shape"]["name"] for c in bench["cases"]] == ["tiny scan"]
    assert {"sequential", "chunked", "recompute"} <= set(bench["cases"][0]["methods"])
    assert bench["table"][0]["case"] == "tiny scan"


def test_the_notebooks_read_the_stored_files(report):
    """stored_gpu_results gives notebook 2 the seed records in the format it prints."""
    out, _ = report
    stored = stored_gpu_results(out)
    assert [r["measured"]["batch_size"] for r in stored] == [1, 2]
    for rec in stored:                       # what notebook 2's hook reads from each record
        m, p, prov = rec["measured"], rec["predicted"], rec["provenance"]
        line = (f"{m['device']} ({prov['date']}, {prov['git_commit'][:10]}): batch {m['batch_size']}: "
                f"measured {m['peak_gib']:.2f} GiB ({m['peak_bytes'] / p['peak_bytes'] - 1:+.1%}); "
                f"predicted {p['peak_gib']:.2f} GiB; cap: {rec.get('oom', {}).get('status', 'n/a')}")
        assert "Test GPU" in line and "+0.0%" in line
    assert [r["oom"]["status"] for r in stored] == ["fits", "oom"]
    others = stored_gpu_report(out)
    assert set(others) == {"report", "ladder", "scan_bench"}
    assert [r["preset"] for r in others["ladder"]["rows"]] == ["tiny", "tiny_recompute"]


def test_a_synthetic_gpu_file_is_read_back(tmp_path):
    from mbsnet.results import save_result

    rec = {"measured": {"device": "NVIDIA H200", "preset": "seed", "batch_size": 2,
                        "peak_bytes": 21 * GiB, "peak_gib": 21.0},
           "predicted": {"peak_bytes": 20 * GiB, "peak_gib": 20.0},
           "oom": {"status": "oom", "cap_gib": 12.0, "message": "CUDA out of memory."}}
    save_result(tmp_path / "gpu_memory_seed_b2.json", rec, command="python -m mbsnet gpu-report")
    save_result(tmp_path / "gpu_ladder.json", {"device": "NVIDIA H200", "rows": [{"preset": "seed"}]})
    save_result(tmp_path / "gpu_scan_bench.json", {"device": "cpu", "cases": []})   # a CPU run: left out
    [back] = stored_gpu_results(tmp_path)
    assert {k: back[k] for k in rec} == rec
    assert back["provenance"]["command"] == "python -m mbsnet gpu-report"
    assert set(stored_gpu_report(tmp_path)) == {"ladder"}


def test_the_time_guard_skips_what_would_start_late(tmp_path):
    summary = gpu_report(tmp_path, TrackedCpuDevice("Test GPU"), seed_cfg=TINY, configs={"tiny": TINY},
                         seconds=SECONDS, budget_s=0, scan_shapes=[SHAPE], log=lambda *a: None)
    parts = summary["parts"]
    assert parts["seed_b1"]["status"] == parts["seed_b2"]["status"] == parts["scan_bench"]["status"] == "skipped"
    assert "time guard" in parts["seed_b1"]["reason"]
    ladder = json.loads((tmp_path / "gpu_ladder.json").read_text())
    assert ladder["rows"] == [] and "time guard" in ladder["skipped"][0]["reason"]
    assert not list(tmp_path.glob("gpu_memory_*.json"))


def test_deadline_counts_against_its_clock():
    now = [100.0]
    deadline = Deadline(10, clock=lambda: now[0])
    assert deadline.reason("x") is None and deadline.left() == 10
    now[0] = 111.0
    assert deadline.left() == -1 and "x skipped, 11 s used of the 10 s budget" in deadline.reason("x")


def test_the_device_interface_without_cuda():
    assert isinstance(open_device("cpu"), TrackedCpuDevice)
    with pytest.raises(ValueError, match="device must be"):
        open_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            CudaDevice()


def test_predictions_in_worker_processes_equal_the_in_process_ones():
    from mbsnet.experiments.gpu_report import Predictions

    jobs = {("tiny", 1): (TINY, 1), ("tiny", 1, "trainer"): (TINY, 1, StepSettings())}
    pool = Predictions(jobs, SECONDS, workers=1)
    try:
        for key in jobs:
            assert pool.get(key)["peak_bytes"] == Predictions(jobs, SECONDS).get(key)["peak_bytes"]
        assert pool.get(("tiny", 1))["step"] == "original" and pool.get(("tiny", 1, "trainer"))["step"] == "trainer"
    finally:
        pool.close()


def test_the_cli_passes_its_options_to_the_report(monkeypatch, tmp_path, capsys):
    """The command on a (pretended) GPU machine: what it hands to gpu_report, and its one line."""
    from mbsnet.cli import main
    from mbsnet.experiments import gpu_report as module

    seen = {}

    def fake(out, device, **kwargs):
        seen.update(out=out, device=device, **kwargs)
        return {"elapsed_s": 1.0, "device": {"name": "Pretend GPU"},
                "parts": {"seed_b1": {"status": "done"}, "scan_bench": {"status": "skipped"}}}

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(module, "gpu_report", fake)
    assert main(["gpu-report", "--out", str(tmp_path), "--presets", "seed,final", "--cap-gib", "6",
                 "--budget-minutes", "2", "--workers", "0"]) == 0
    assert seen["device"] == "cuda" and list(seen["configs"]) == ["seed", "final"]
    assert seen["cap_bytes"] == 6 * GiB and seen["budget_s"] == 120 and seen["workers"] == 0
    out = capsys.readouterr().out
    assert "Pretend GPU" in out and "not complete: scan_bench" in out
