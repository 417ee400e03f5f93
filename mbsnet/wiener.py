"""A classical baseline: a decision-directed Wiener filter (Ephraim & Malah 1984, Scalart 1996).

Noise power per bin is estimated as a low percentile of the noisy power over time (speech is
absent in some frames of every bin), scaled by `oversubtraction`. The a priori SNR follows the
decision-directed rule
    xi_t = a * |S_{t-1}|^2 / N + (1 - a) * max(|X_t|^2 / N - 1, 0),    a = 0.98
and the gain is max(xi / (1 + xi), floor). Two knobs, `oversubtraction` and `floor_db`, are tuned
by `tune_wiener` on training pairs (never on the test set).
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from mbsnet.data.audio import istft, stft
from mbsnet.metrics import score_pair
from mbsnet.config import MBSNetConfig

_CFG = MBSNetConfig()
NOISE_PERCENTILE = 10.0
DD_ALPHA = 0.98


def wiener_enhance(noisy, oversubtraction: float = 1.0, floor_db: float = -15.0,
                   cfg: MBSNetConfig = _CFG) -> np.ndarray:
    """Wiener-filter a waveform (s,) at cfg.sample_rate -> float32 (s,)."""
    if oversubtraction <= 0:
        raise ValueError(f"oversubtraction must be > 0, got {oversubtraction}")
    x = torch.as_tensor(np.asarray(noisy, dtype=np.float32))
    if x.dim() != 1:
        raise ValueError(f"noisy must be a waveform (s,), got shape {tuple(x.shape)}")
    length = x.shape[0]
    if length < cfg.n_fft:
        x = torch.nn.functional.pad(x, (0, cfg.n_fft - length))
    spec = stft(x, cfg).numpy()                                   # (f, t)
    power = np.abs(spec) ** 2
    noise = oversubtraction * np.percentile(power, NOISE_PERCENTILE, axis=1) + 1e-12  # (f,)
    floor = 10 ** (floor_db / 20)
    gains = np.empty_like(power)
    previous = np.zeros(power.shape[0])
    for t in range(power.shape[1]):
        posterior = power[:, t] / noise
        prior = DD_ALPHA * previous / noise + (1 - DD_ALPHA) * np.maximum(posterior - 1, 0)
        gains[:, t] = np.maximum(prior / (1 + prior), floor)
        previous = (gains[:, t] ** 2) * power[:, t]
    out = istft(torch.as_tensor(spec * gains), x.shape[0], cfg)[:length]
    return out.numpy().astype(np.float32)


def tune_wiener(pairs, oversubtractions=(1.0, 2.0, 4.0, 8.0), floors_db=(-30.0, -20.0, -12.0),
                metric: str = "pesq", max_extensions: int = 4) -> dict:
    """Grid-search the two knobs on (clean, noisy) training pairs -> {"oversubtraction", "floor_db",
    "score", "metric", "grid", "at_edge"}; the best mean `metric` ("pesq" or "si_sdr") wins.

    A best value on the grid's edge means the optimum may lie outside it, so the grid grows past
    that edge (oversubtraction doubled or halved, the floor moved by 6 dB) and is searched again,
    up to `max_extensions` times; `at_edge` says whether the best still lies on an outer edge.
    """

    overs, floors = sorted(oversubtractions), sorted(floors_db)
    scores: dict[tuple, float] = {}

    def edges(best):
        """The values to add to each axis so that `best` is no longer on its edge."""
        over, floor = best
        add_over = [over * 2] if over == overs[-1] else [over / 2] if over == overs[0] and len(overs) > 1 else []
        add_floor = [floor - 6] if floor == floors[0] else [floor + 6] if floor == floors[-1] else []
        return add_over, add_floor

    for extension in range(max_extensions + 1):
        for over, floor in itertools.product(overs, floors):
            if (over, floor) not in scores:
                values = [score_pair(c, wiener_enhance(n, over, floor), (metric,))[metric] for c, n in pairs]
                scores[(over, floor)] = float(np.nanmean(values))
        best = max(scores, key=scores.get)
        add_over, add_floor = edges(best)
        if not (add_over or add_floor) or extension == max_extensions:
            break
        overs, floors = sorted(overs + add_over), sorted(floors + add_floor)
    grid = [{"oversubtraction": o, "floor_db": f, "score": v} for (o, f), v in sorted(scores.items())]
    return {"oversubtraction": best[0], "floor_db": best[1], "score": scores[best], "metric": metric,
            "grid": grid, "at_edge": any(edges(best))}
