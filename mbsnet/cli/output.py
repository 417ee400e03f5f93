"""How every subcommand prints machine-readable output."""
from __future__ import annotations

import json
import sys


def print_json(obj) -> None:
    """`obj` as indented JSON on stdout (numbers, strings; anything else via str)."""
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
