"""`python -m mbsnet anchors`: PESQ / STOI / SI-SDR and real-time factor of the pretrained anchors (GTCRN, DeepFilterNet3, RNNoise)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from mbsnet.anchors import AnchorUnavailable, check, names as anchor_names
from mbsnet.cli.output import print_json

TEST_SETS = ("arctic", "synthetic")   # mbsnet.anchors.score.TEST_SETS (not imported: it loads torch)


def add_arguments(parser) -> None:
    parser.add_argument("--set", choices=TEST_SETS, default="arctic",
                        help="test set: the ARCTIC mixtures (real speech) or the synthetic corpus' test split")
    parser.add_argument("--data", default=None,
                        help="synthetic corpus directory (default: $MBSNET_DATA or data/synthetic); "
                             "it must exist (make one with `python -m mbsnet data --out DIR`)")
    parser.add_argument("--n-test", type=int, default=None, help="only the first N items of the test set")
    parser.add_argument("--names", default=",".join(anchor_names()),
                        help="comma-separated anchors (default: %(default)s)")
    parser.add_argument("--out", default="", help="where to store the results JSON ('' = don't)")
    parser.add_argument("--no-rtf", action="store_true", help="skip the real-time-factor timing")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _names(text: str) -> tuple[str, ...]:
    """The anchors named in `text` (comma-separated); ValueError (one line) for none or an unknown one."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ValueError(f"--names lists no anchor; the anchors are {', '.join(anchor_names())}")
    for name in names:
        if name not in anchor_names():
            raise ValueError(f"unknown anchor {name!r}; the anchors are {', '.join(anchor_names())}")
    return names


def _unwritable(path: Path) -> str | None:
    """Why the results JSON cannot be written at `path`, or None (checked before the run, not after)."""
    if path.is_dir():
        return f"--out {path} is a directory"
    existing = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not existing.is_dir():
        return f"--out {path}: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"--out {path}: {existing} is not writable"
    return None


def _command(args, names: tuple[str, ...]) -> str:
    """The command line that reproduces this run, as stored in the provenance."""
    parts = ["python -m mbsnet anchors", "--set", args.set]
    parts += ["--data", args.data] if args.data else []
    parts += ["--n-test", str(args.n_test)] if args.n_test is not None else []
    parts += ["--names", ",".join(names)] if names != anchor_names() else []
    parts += ["--out", args.out] + (["--no-rtf"] if args.no_rtf else [])
    return " ".join(parts)


def run(args) -> int:
    try:
        names = _names(args.names)
    except ValueError as exc:
        return _error(str(exc))
    if args.n_test is not None and args.n_test < 1:
        return _error(f"--n-test must be at least 1, got {args.n_test}")
    if args.set == "synthetic":
        from mbsnet.data.corpus import default_dir, read_manifest

        root = Path(args.data) if args.data else default_dir()
        if read_manifest(root) is None:
            return _error(f"no synthetic corpus at {root} (no readable manifest.json); "
                          f"make one: python -m mbsnet data --out {root}")
    if args.out and (problem := _unwritable(Path(args.out))):
        return _error(problem)
    for name in names:
        try:
            check(name)
        except AnchorUnavailable as exc:      # one line with the pip command
            return _error(str(exc))

    import torch

    from mbsnet.anchors.score import report, run_anchors
    from mbsnet.results import save_result

    torch.set_num_threads(1)  # one thread everywhere: the anchors run single-threaded too
    result = run_anchors(args.set, args.data, args.n_test, names, rtf=not args.no_rtf,
                         progress=not args.json and sys.stderr.isatty())
    if args.out:
        try:
            save_result(args.out, result, command=_command(args, names))
        except OSError as exc:
            return _error(f"cannot store the results in {args.out}: {exc.strerror or exc}")
    if args.json:
        print_json({k: result[k] for k in ("test_set", "n_items", "systems", "summary", "anchors")})
    else:
        print(report(result))
        if args.out:
            print(f"stored in {args.out}")
    return 0
