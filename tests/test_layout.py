"""The package's shape: one-way dependencies (no import cycle), small modules, a CLI that loads nothing heavy for --help."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mbsnet.cli import COMMANDS
from mbsnet.cli import module_name as command_module

PACKAGE = Path(__file__).resolve().parent.parent / "mbsnet"
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path, top_level_only: bool) -> set[str]:
    """mbsnet modules that `path` imports (at module level only, or anywhere)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mbsnet")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mbsnet"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


def test_the_package_has_no_import_cycle():
    graph = {m: imported_modules(p, top_level_only=True) - {m} for m, p in MODULES.items()}
    state = {}

    def visit(m, path):
        state[m] = "open"
        for dep in graph.get(m, ()):
            if state.get(dep) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_no_module_is_longer_than_the_limit():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_module_says_what_it_owns():
    missing = [m for m, p in MODULES.items() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert not missing, f"modules without a docstring: {missing}"


def test_the_library_never_imports_the_cli_or_argparse():
    offenders = []
    for m, p in MODULES.items():
        if m.startswith("mbsnet.cli") or m == "mbsnet.__main__":
            continue
        tree = ast.parse(p.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        if "argparse" in names or any(d.startswith("mbsnet.cli") for d in imported_modules(p, False)):
            offenders.append(m)
    assert not offenders, f"library modules that import the CLI or argparse: {offenders}"


def test_each_subcommand_is_one_module_of_the_cli_package():
    for name in COMMANDS:
        path = PACKAGE / "cli" / f"{command_module(name)}.py"
        functions = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        assert {"add_arguments", "run"} <= functions, name


@pytest.mark.parametrize("argv", [["--help"], ["params", "--help"], ["memory", "--help"], ["train", "--help"],
                                  ["anchors", "--help"], ["data", "--help"], ["gpu-report", "--help"]])
def test_help_does_not_import_torch(argv):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "mbsnet", *argv],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "mbsnet.cli" in imported                      # the check sees what was imported
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}, "--help imported torch"
