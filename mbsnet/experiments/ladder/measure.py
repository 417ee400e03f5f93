"""One preset measured: its parameters, predicted memory, CPU step time and short-training quality proxy."""
from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from mbsnet import presets
from mbsnet.config import MBSNetConfig
from mbsnet.data.corpus import CorpusSpec, ensure_corpus
from mbsnet.data.datasets import SyntheticPairs
from mbsnet.errors import InputError
from mbsnet.evaluate import evaluate_model
from mbsnet.memory import cached_predict_peak, max_batch
from mbsnet.model import build_model
from mbsnet.params import breakdown
from mbsnet.results import DATA_DIR, RESULTS_DIR
from mbsnet.train import TrainSettings, make_batch, train_model, train_step
from mbsnet.units import GiB

DEFAULT_OUT = RESULTS_DIR / "ladder.json"
DEFAULT_CORPUS = DATA_DIR / "ladder"
MEMORY_BATCHES = (2, 6)
MEMORY_SECONDS = 2.0
GPU = "rtx3080ti"


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
                raise InputError(f"ProxyBudget.{name} must be >= 1, got {getattr(self, name)}")
        if len(self.seeds) < 1:
            raise InputError("ProxyBudget.seeds must name at least one seed")
        if not (self.segment_seconds > 0 and self.eval_seconds > 0 and self.lr > 0):
            raise InputError("ProxyBudget: segment_seconds, eval_seconds and lr must be > 0")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d


QUICK_BUDGET = ProxyBudget(steps=2, segment_seconds=0.25, n_train=8, n_eval=2, eval_seconds=1.0)


def parameter_columns(name: str) -> dict:
    """{"parameters": total, "parameter_groups": {group: count}} of preset `name`."""
    result = breakdown(build_model(presets.get(name)))
    return {"parameters": result.total, "parameter_groups": result.grouped()}


def memory_columns(name: str, batches=MEMORY_BATCHES, seconds: float = MEMORY_SECONDS,
                   gpu: str = GPU) -> dict:
    """Predicted CUDA training-step peak (bytes, GiB) at each batch, and the max batch on `gpu`.

    The max batch comes from the affine fit peak(b) = intercept + slope * b (from b = 1, 2);
    `affine_error_b6` is how far that fit is from the full prediction at the largest batch.
    """
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


def proxy_corpus(budget: ProxyBudget, root=None, progress: bool = False) -> Path:
    """The synthetic corpus of the proxy (generated once, reused while its manifest matches)."""
    spec = CorpusSpec(n_train=budget.n_train, n_test=budget.n_eval, seed=budget.corpus_seed)
    return ensure_corpus(root or DEFAULT_CORPUS, spec, progress)


def eval_pairs(corpus_root, budget: ProxyBudget) -> list[tuple[np.ndarray, np.ndarray]]:
    """The held-out pairs: the first n_eval test utterances, each cut to its central
    eval_seconds (shorter ones kept whole). -> [(clean (s,), noisy (s,))]."""
    test = SyntheticPairs(corpus_root, "test")
    length = int(round(budget.eval_seconds * presets.SEED.sample_rate))
    pairs = []
    for i in range(min(budget.n_eval, len(test))):
        clean, noisy = test[i]
        start = max((len(clean) - length) // 2, 0)
        pairs.append((clean[start:start + length], noisy[start:start + length]))
    return pairs


def proxy_baselines(result: dict, wiener_knobs: dict, budget: ProxyBudget | None = None) -> dict:
    """The reference systems on the proxy's held-out clips: the noisy input and the Wiener filter
    (with `wiener_knobs`, e.g. the ones `python -m mbsnet evaluate` tuned, notebook 13).

    Generates the clips afresh (a corpus with one training utterance has the same first test
    utterances as the proxy's, see generate_corpus; ~15 s) and checks that the noisy input scores
    what every stored run recorded for it, so the clips are the runs' own.
    -> {"noisy input": {metric: mean}, "Wiener filter": {metric: mean}} for si_sdr, pesq and their
    improvements over the noisy input (0 for the noisy input itself)."""
    import tempfile

    from mbsnet.data.corpus import generate_corpus
    from mbsnet.evaluate import score_systems, summarize_by
    from mbsnet.wiener import wiener_enhance

    budget = budget or ProxyBudget(**{k: tuple(v) if k == "seeds" else v for k, v in result["budget"].items()})
    metrics = ("si_sdr", "pesq")
    with tempfile.TemporaryDirectory() as tmp:
        spec = CorpusSpec(n_train=1, n_test=budget.n_eval, seed=budget.corpus_seed)
        root = generate_corpus(Path(tmp) / "proxy", spec, progress=False)
        items = [{"clean": c, "noisy": n} for c, n in eval_pairs(root, budget)]
    systems = {"noisy input": lambda x: x,
               "Wiener filter": lambda x: wiener_enhance(x, wiener_knobs["oversubtraction"], wiener_knobs["floor_db"])}
    summary = summarize_by(score_systems(items, systems, metrics, progress=False), metrics=metrics)
    for run in result["runs"]:
        for m in metrics:
            if abs(run[f"{m}_noisy"] - summary["noisy input"][m]) > 1e-6:
                raise ValueError(f"the regenerated clips are not the proxy's: noisy {m} "
                                 f"{summary['noisy input'][m]:.6f}, stored {run[f'{m}_noisy']:.6f}")
    noisy = summary["noisy input"]
    return {name: {**{m: s[m] for m in metrics}, **{f"{m}_improvement": s[m] - noisy[m] for m in metrics}}
            for name, s in summary.items()}


@contextlib.contextmanager
def _one_thread():
    """Run the body with one torch thread (runs are compared at equal threads), then restore."""
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
