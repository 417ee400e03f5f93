"""Training under torchrun semantics: 2 CPU processes on gloo take the same step as one process at the same global batch."""
import csv
import os
import socket
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from mbsnet import presets
from mbsnet.distributed import Rank, current
from mbsnet.errors import InputError
from mbsnet.train import train_model

TINY = replace(presets.get("final"), name="tiny", n_fft=64, hop_length=16, band_widths=(8, 8, 8, 9),
               channels=16, decoder_hidden=32, n_layers=1)
SETTINGS = dict(steps=2, batch_size=4, segment_seconds=0.1, seed=0, lr=1e-3)


def dataset():
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(6):
        clean = (0.1 * rng.standard_normal(4000)).astype(np.float32)
        pairs.append((clean, (clean + 0.05 * rng.standard_normal(4000)).astype(np.float32)))
    return pairs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out):
    """One torchrun-like process: its environment, then the trainer as the CLI runs it."""
    from mbsnet import distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    if os.path.exists("/sys/class/net/lo"):       # gloo on the loopback interface, whatever the hostname
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    me = distributed.init_from_env(timeout_minutes=2)
    assert (me.rank, me.world_size) == (rank, world) and torch.distributed.get_backend() == "gloo"
    model, _ = train_model(TINY, dataset(), **SETTINGS, out=f"{out}/run", device="cpu", progress=False,
                           checkpoint_every=1)
    torch.save(model.state_dict(), f"{out}/rank{rank}.pt")
    distributed.shutdown()


def start_two_processes(out):
    return mp.spawn(_worker, args=(2, free_port(), str(out)), nprocs=2, join=False)


def wait_for(context, limit_s=150):
    deadline = time.monotonic() + limit_s
    while not context.join(timeout=2):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail(f"the 2 processes did not finish within {limit_s} s")


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_and_one(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    context = start_two_processes(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:            # the one-process reference, while the two start up
        single, _ = train_model(TINY, dataset(), **SETTINGS, out=out / "single", device="cpu",
                                progress=False)
    finally:
        torch.set_num_threads(threads)
        wait_for(context)
    return out, single


def test_two_processes_take_the_step_of_one_at_the_same_global_batch(two_and_one):
    out, single = two_and_one
    ranks = [torch.load(out / f"rank{r}.pt") for r in (0, 1)]
    reference = single.state_dict()
    initial = presets_model_state()
    moved = 0
    for name, value in reference.items():
        for state in ranks:
            torch.testing.assert_close(state[name], value, rtol=1e-4, atol=1e-6, msg=name)
        moved += int(not torch.equal(value, initial[name]))
    assert moved > len(reference) // 2          # the step did move the weights


def presets_model_state():
    from mbsnet.model import build_model

    torch.manual_seed(SETTINGS["seed"])
    return build_model(TINY).state_dict()


def test_only_rank_0_writes_and_logs_the_global_loss(two_and_one):
    out, _ = two_and_one
    files = sorted(p.name for p in (out / "run").iterdir())
    assert files == ["checkpoint.pt", "eval_log.jsonl", "summary.json", "train_log.csv"]
    two, one = read_log(out / "run" / "train_log.csv"), read_log(out / "single" / "train_log.csv")
    assert [r["step"] for r in two] == ["1", "2"]          # one row per step, not one per rank
    for a, b in zip(two, one):                              # the ranks' mean loss = the global batch's
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
        assert float(a["grad_norm"]) == pytest.approx(float(b["grad_norm"]), rel=1e-4)


def test_rank_shards_and_checks_the_global_batch():
    x = torch.arange(8).reshape(4, 2)
    assert torch.equal(Rank(1, 2, 1).shard(x)[0], x[2:])
    assert Rank(0, 1, 0).shard(x)[0] is x
    with pytest.raises(InputError, match="multiple of the number of processes"):
        Rank(0, 2, 0).check_batch(3)
    assert current() == Rank(0, 1, 0) and current().is_main    # no process group: one process
