"""Write the claims table of book/intro.md from the stored results (mbsnet.experiments.claims).

The intro page carries the same table as notebook 9 (which asserts that the two agree): the
source analysis' eight claims, each with its verdict, key numbers and notebook. This rewrites
the lines between the page's two claims-table markers.

Usage: python tools/claims_table.py [--check]   (--check: fail if the intro's table is stale)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mbsnet.experiments import claims  # noqa: E402

INTRO = ROOT / "book" / "intro.md"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if book/intro.md's table is stale")
    args = parser.parse_args(argv)
    text = INTRO.read_text()
    table = claims.markdown(claims.table(), link_prefix="notebooks/")
    if claims.intro_table(text) == table:
        print("claims_table: book/intro.md is up to date")
        return 0
    if args.check:
        print("claims_table: book/intro.md's claims table is stale; run python tools/claims_table.py",
              file=sys.stderr)
        return 1
    old = claims.intro_table(text)
    INTRO.write_text(text.replace(old, table, 1))
    print("claims_table: rewrote the claims table of book/intro.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
