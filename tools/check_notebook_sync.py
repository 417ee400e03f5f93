"""Check that every notebook and its jupytext source hold the same cells.

Each notebooks/NN_name.ipynb (committed executed, with outputs) is paired with a jupytext
percent-format source notebooks/NN_name.py (notebooks/jupytext.toml). This fails when a notebook
has no source, a source has no notebook, or the two differ in their cells: number, types,
sources, or the cell metadata the source carries (tags). Both sides are compared after jupytext's
normalisation: the notebook is written to the source format with the pairing's configuration and
read back, as the source is read, so only a difference that `jupytext --sync` would carry over
counts. Outputs are not compared; they live only in the notebook.

One line per bad pair on stderr, naming the notebook and the first differing cell; exit 1.
Fix a pair with `jupytext --sync notebooks/NN_name.py` (the newer of the two files wins) or
`make notebooks NB=NN_name` (syncs, then re-executes).

Usage: python tools/check_notebook_sync.py [FOLDER]   (default: the repository's notebooks/)
"""
from __future__ import annotations

import argparse
import re
import sys
from itertools import zip_longest
from pathlib import Path

import jupytext
from jupytext.config import load_jupytext_configuration_file

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CONFIG = "jupytext.toml"
PAIRING = "ipynb,py:percent"          # must match notebooks/jupytext.toml's `formats`
SOURCE_FORMAT = "py:percent"
NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+$")


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_config(folder: Path):
    path = folder / CONFIG
    if not path.is_file():
        raise SystemExit(f"check_notebook_sync: no {shown(path)} (the pairing configuration)")
    config = load_jupytext_configuration_file(str(path))
    formats = ",".join(config.formats) if isinstance(config.formats, list) else config.formats
    if formats != PAIRING:
        raise SystemExit(f"check_notebook_sync: {shown(path)} pairs {formats!r}; this check expects {PAIRING!r}")
    return config


def first_line(source: str) -> str:
    line = next((s for s in source.splitlines() if s.strip()), "")
    return repr(line[:60] + ("..." if len(line) > 60 else ""))


def describe(cell) -> str:
    return "no cell" if cell is None else f"{cell.cell_type} {first_line(cell.source)}"


def first_difference(notebook, source) -> str | None:
    """Where the two notebooks' cells first differ, in words; None if they do not."""
    for number, (a, b) in enumerate(zip_longest(notebook.cells, source.cells), 1):
        if a is None or b is None or a.cell_type != b.cell_type:
            return f"cell {number}: .ipynb has {describe(a)}, .py has {describe(b)}"
        if a.source != b.source:
            a_lines, b_lines = a.source.splitlines(), b.source.splitlines()
            line, x, y = next(((i, x, y) for i, (x, y) in enumerate(zip_longest(a_lines, b_lines)) if x != y),
                              (len(a_lines) - 1, a.source[-20:], b.source[-20:]))   # only line endings differ
            return (f"cell {number} ({a.cell_type}) differs at its line {line + 1}: "
                    f".ipynb {'(end of cell)' if x is None else repr(x[:60])}, "
                    f".py {'(end of cell)' if y is None else repr(y[:60])}")
        if a.metadata != b.metadata:
            return f"cell {number} ({a.cell_type}): metadata .ipynb {dict(a.metadata)}, .py {dict(b.metadata)}"
    return None


def check_pair(ipynb: Path, py: Path, config) -> str | None:
    notebook = jupytext.read(ipynb)
    normalised = jupytext.reads(jupytext.writes(notebook, SOURCE_FORMAT, config=config), SOURCE_FORMAT,
                                config=config)
    source = jupytext.reads(py.read_text(encoding="utf-8"), SOURCE_FORMAT, config=config)
    difference = first_difference(normalised, source)
    return None if difference is None else f"{shown(ipynb)}: out of sync with {py.name}: {difference}"


def problems(folder: Path) -> tuple[list[str], int]:
    """(one line per bad pair, number of pairs checked)."""
    config = load_config(folder)
    stems = {p.stem for p in folder.iterdir() if p.suffix in (".ipynb", ".py") and NAME.match(p.stem)}
    found, pairs = [], 0
    for stem in sorted(stems):
        ipynb, py = folder / f"{stem}.ipynb", folder / f"{stem}.py"
        if not py.exists():
            found.append(f"{shown(ipynb)}: no paired source {py.name} (jupytext --sync {shown(ipynb)} makes it)")
        elif not ipynb.exists():
            found.append(f"{shown(ipynb)}: missing, but its source {py.name} exists "
                         f"(jupytext --sync {shown(py)} makes it; then execute it)")
        else:
            pairs += 1
            problem = check_pair(ipynb, py, config)
            if problem:
                found.append(problem)
    return found, pairs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=NOTEBOOKS,
                        help="the folder of NN_name.ipynb / NN_name.py pairs (default: notebooks/)")
    args = parser.parse_args(argv)
    found, pairs = problems(args.folder)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"check_notebook_sync: {len(found)} notebook(s) out of sync; edit the .py and run "
              f"`make notebooks NB=NN_name`, or `jupytext --sync` the pair", file=sys.stderr)
        return 1
    if not pairs:
        print(f"check_notebook_sync: no NN_name.ipynb / NN_name.py pairs in {shown(args.folder)}", file=sys.stderr)
        return 1
    print(f"check_notebook_sync: {pairs} notebooks in sync with their sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
