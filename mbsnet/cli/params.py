"""`python -m mbsnet params --preset NAME [--json]`: parameter counts per component of a preset."""
from __future__ import annotations

from mbsnet.cli.checks import preset_name
from mbsnet.cli.output import print_json


def add_arguments(parser) -> None:
    parser.add_argument("--preset", default="seed", type=preset_name,
                        help="preset name (see mbsnet.presets.names())")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from mbsnet import presets
    from mbsnet.model import build_model
    from mbsnet.params import breakdown

    cfg = presets.get(args.preset)
    result = breakdown(build_model(cfg))
    if args.json:
        print_json({"preset": cfg.name, **result.to_dict()})
    else:
        print(f"preset {cfg.name}\n{result.table()}")
    return 0
