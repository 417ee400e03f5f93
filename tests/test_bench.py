"""`bench scan`: the peer computes the same function, cases and ratio table are well formed."""
import argparse

import pytest
import torch

from mbsnet.cli import bench as bench_cli
from mbsnet.experiments import scan_bench as bench
from mbsnet.scan.shapes import ScanShape, scan_inputs, seed_shapes


def test_mambapy_peer_computes_the_same_function():
    x = scan_inputs(ScanShape("t", 2, 37, 8, 4))
    ours = bench.scan_function("recompute")(**x)
    torch.testing.assert_close(bench.mambapy_scan(**x), ours, rtol=6e-4, atol=2e-3)


def test_seed_shapes_are_the_seed_scans():
    temporal, cross = seed_shapes(batch=2)
    assert (temporal.b, temporal.l, temporal.d, temporal.n) == (62, 251, 256, 16)
    assert (cross.b, cross.l) == (502, 31)


def test_bench_shape_and_ratio_table():
    methods = [m for m in bench.BENCH_METHODS if m != "compiled"]    # compiling: test_scan_compiled
    result = {"cases": [bench.bench_shape(ScanShape("tiny", 2, 20, 4, 3), methods,
                                          repeats=1, chunk_size=8, warmup=0)]}
    case = result["cases"][0]
    assert set(case["methods"]) == set(methods)
    assert all(r["max_rel_error"] < 1e-4 for r in case["methods"].values())
    assert case["methods"]["recompute"]["saved_bytes"] < case["methods"]["sequential"]["saved_bytes"]
    row = bench.ratio_table(result)[0]
    assert row["recompute s"] > 0 and "mambapy/recompute" in row and "mambapy/sequential" in row
    assert row["recompute first call s"] > 0
    assert "recompute saved MiB" in bench.format_table([row])


def test_cli_arguments():
    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    args = parser.parse_args(["scan", "--quick", "--repeats", "3", "--json", "--methods",
                              "compiled,mambapy", "--cases", "seed temporal"])
    assert args.what == "scan" and args.quick and args.repeats == 3
    assert args.methods == ("compiled", "mambapy") and args.cases == "seed temporal"
    assert bench_cli.BENCH_METHODS == bench.BENCH_METHODS
    with pytest.raises(SystemExit):
        parser.parse_args(["memory"])
    with pytest.raises(ValueError, match="unknown method"):
        bench.scan_function("fast")


def test_one_cpu_thread_is_timed_in_process_cpu_time_and_the_clock_is_recorded():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert bench.clock_for("cpu")[0] == "process CPU time"
        case = bench.bench_shape(ScanShape("tiny", 2, 20, 4, 3), ["recompute"], repeats=1, chunk_size=8,
                                 warmup=0, check=False)
        assert case["clock"] == "process CPU time"
        if threads > 1:
            torch.set_num_threads(2)
            assert bench.clock_for("cpu")[0] == "wall time"
        assert bench.clock_for("cuda")[0] == "wall time"
    finally:
        torch.set_num_threads(threads)


def test_the_scan_floor_is_the_larger_of_compute_and_traffic_and_scales_with_the_shape():
    from mbsnet.experiments.scan_floor import EXPS, FLOPS, floor_seconds, measure_rates, scan_traffic_bytes

    rates = {"exp_per_s": 1e9, "flop_per_s": 1e11, "copy_bytes_per_s": 1e10}
    f = floor_seconds(rates, b=2, l=10, d=8, n=4)
    assert f["state_elements"] == 640
    assert f["compute_s"] == pytest.approx(640 * (EXPS / 1e9 + FLOPS / 1e11))
    # u, delta, z (b·l·d) and B, C (b·l·n) read twice, y and dy once, five gradients written
    assert scan_traffic_bytes(2, 10, 8, 4) == 4 * (3 * (3 * 160 + 2 * 80) + 2 * 160)
    assert f["floor_s"] == max(f["compute_s"], f["traffic_s"])
    slow_memory = floor_seconds(rates | {"copy_bytes_per_s": 1.0}, b=2, l=10, d=8, n=4)
    assert slow_memory["floor_s"] == slow_memory["traffic_s"] > f["floor_s"]
    assert floor_seconds(rates, b=4, l=10, d=8, n=4)["compute_s"] == pytest.approx(2 * f["compute_s"])
    measured = measure_rates()
    assert all(v > 0 for v in measured.values()) and measured["flop_per_s"] > measured["exp_per_s"]


def test_bench_inference_times_every_kernel_and_checks_each_against_float64():
    from mbsnet.experiments.scan_inference_bench import bench_inference, enhance_shapes, format_inference_table
    from mbsnet.scan import native
    from mbsnet.scan.shapes import ScanShape

    temporal, crossband = enhance_shapes()
    assert (temporal.b, temporal.l, temporal.d, temporal.n) == (31, 1001, 128, 16)       # final, 8 s chunk
    assert (crossband.b, crossband.l) == (1001, 31)
    result = bench_inference(repeats=2, shapes=[ScanShape("tiny", 3, 17, 8, 4)])
    kernels = ["recompute forward", "torch"] + (["native"] if native.library() is not None else [])
    assert result["kernels"] == kernels and len(result["cases"]) == 1
    case = result["cases"][0]
    assert all(len(case["cpu_seconds"][k]) == 2 for k in kernels)
    assert case["speedup_vs_recompute_forward"]["recompute forward"] == 1.0
    assert all(0 <= e < 1e-5 for e in case["max_rel_error_vs_float64"].values())
    assert "tiny" in format_inference_table(result)
