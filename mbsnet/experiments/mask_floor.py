"""The magnitude mask's floor (MBSNetConfig.mask_floor_db), chosen on the validation set.

    PYTHONPATH=$PWD python -m mbsnet.experiments.mask_floor results/mask_floor_validation.json \\
        --data data/corpus_v3 --floors none,-30,-25,-20,-15,-10 --every 2

The model trained with its sigmoid mask free to go to 0 (a bin can be removed entirely). A floor
is an attenuation limit set at inference: the same weights, the mask held at or above it. This
scores each floor beside the noisy input and the Wiener filter (knobs tuned on training pairs, as
`evaluate` does) on the validation set (the second half of corpus v3's test split; `--every K`:
every K-th of its items), never on a reported test set; means and PESQ by SNR per system.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from mbsnet.checkpoint import load_model
from mbsnet.enhance import enhance_long, set_mask_floor
from mbsnet.evaluate import items_sha, score_systems, summarize_by, tuned_wiener_knobs, validation_items
from mbsnet.results import save_result
from mbsnet.wiener import wiener_enhance


def floor_label(floor_db) -> str:
    return "model" if floor_db is None else f"model, floor {floor_db:g} dB"


def sweep_mask_floor(floors, data_root, checkpoint=None, every: int = 1, progress: bool = True) -> dict:
    """{"n_items", "items_sha", "wiener", "floors", "summary": {system: means},
    "pesq_by_snr": {system: {snr: mean}}, "rows"} for `floors` (None: no floor) on the validation set."""
    items = validation_items(data_root)[::every]
    knobs = tuned_wiener_knobs(data_root)
    systems = {"noisy": lambda x: x,
               "wiener": lambda x: wiener_enhance(x, knobs["oversubtraction"], knobs["floor_db"])}
    for floor in floors:
        model = set_mask_floor(load_model(checkpoint), floor)
        systems[floor_label(floor)] = lambda x, m=model: enhance_long(m, x)
    rows = score_systems(items, systems, desc="mask floor", progress=progress)
    snrs = sorted({r["snr_db"] for r in rows})
    by_snr = {s: {f"{snr:g}": float(np.mean([r["pesq"] for r in rows if r["system"] == s and r["snr_db"] == snr]))
                  for snr in snrs} for s in systems}
    return {"n_items": len(items), "items_sha": items_sha(items), "every": every, "wiener": knobs,
            "floors": list(floors), "summary": summarize_by(rows), "pesq_by_snr": by_snr, "rows": rows}


USAGE = ("usage: python -m mbsnet.experiments.mask_floor OUT.json --data DIR [--checkpoint CKPT] "
         "[--floors none,-30,...] [--every K]")


def _floors(text: str):
    return [None if f.strip() == "none" else float(f) for f in text.split(",")]


def parse_args(argv) -> dict:
    """{"out", "data", "checkpoint", "floors", "every"} from `OUT.json --flag value ...`; ValueError (USAGE) if bad."""
    if not argv or argv[0].startswith("--") or len(argv) % 2 == 0:
        raise ValueError(USAGE)
    args = {"out": argv[0], "data": None, "checkpoint": None, "floors": [None, -30, -25, -20, -15, -10], "every": 1}
    for flag, value in zip(argv[1::2], argv[2::2]):
        key = flag.removeprefix("--")
        if not flag.startswith("--") or key not in args or key == "out":
            raise ValueError(f"unknown option {flag!r}; {USAGE}")
        args[key] = {"floors": _floors, "every": int}.get(key, str)(value)
    if args["data"] is None:
        raise ValueError(f"--data is required; {USAGE}")
    return args


def main(argv=None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    result = sweep_mask_floor(args["floors"], args["data"], args["checkpoint"], args["every"])
    floors = ",".join("none" if f is None else f"{f:g}" for f in args["floors"])
    command = (f"python -m mbsnet.experiments.mask_floor {args['out']} --data {args['data']} --floors {floors} "
               f"--every {args['every']}" + (f" --checkpoint {args['checkpoint']}" if args["checkpoint"] else ""))
    save_result(args["out"], {"checkpoint": args["checkpoint"], **result}, command=command)
    for system, s in result["summary"].items():
        snr = " ".join(f"{v:.3f}" for v in result["pesq_by_snr"][system].values())
        print(f"{system:<24} PESQ {s['pesq']:.3f} STOI {s['stoi']:.3f} SI-SDR {s['si_sdr']:6.2f}  PESQ by SNR {snr}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
