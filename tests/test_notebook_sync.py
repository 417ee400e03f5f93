"""tools/check_notebook_sync.py: every notebook and its jupytext source hold the same cells."""
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHECKER = ROOT / "tools" / "check_notebook_sync.py"
PAIR = "07_phase3"          # the smallest notebook: copied and edited below

spec = importlib.util.spec_from_file_location("check_notebook_sync", CHECKER)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


@pytest.fixture
def pair(tmp_path):
    """A copy of one notebook, its source and the pairing config, in a folder of their own."""
    for name in (f"{PAIR}.ipynb", f"{PAIR}.py", "jupytext.toml"):
        shutil.copy2(NOTEBOOKS / name, tmp_path / name)
    return tmp_path


def run(folder, capsys):
    rc = check.main([str(folder)])
    out, err = capsys.readouterr()
    return rc, out, err.splitlines()


def test_the_repository_is_in_sync():
    result = subprocess.run([sys.executable, str(CHECKER)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "in sync" in result.stdout


def test_every_notebook_has_a_source_beside_it():
    stems = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert stems and stems == {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py")}


def test_an_untouched_copy_passes(pair, capsys):
    rc, out, err = run(pair, capsys)
    assert rc == 0 and err == [] and "1 notebooks in sync" in out


def test_editing_only_the_notebook_fails_and_names_it(pair, capsys):
    path = pair / f"{PAIR}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    index = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    nb["cells"][index]["source"] = ["edited_in_the_notebook = True\n"] + nb["cells"][index]["source"]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    rc, out, err = run(pair, capsys)
    assert rc == 1
    assert len(err) == 2                                   # one line for the pair, one summary
    assert f"{PAIR}.ipynb" in err[0] and f"cell {index + 1} (code)" in err[0]
    assert "edited_in_the_notebook" in err[0]


def test_editing_only_the_source_fails_and_names_the_notebook(pair, capsys):
    path = pair / f"{PAIR}.py"
    text = path.read_text(encoding="utf-8")
    assert "\n# %%\n" in text
    path.write_text(text.replace("\n# %%\n", "\n# %%\nedited_in_the_source = True\n", 1), encoding="utf-8")
    rc, out, err = run(pair, capsys)
    assert rc == 1 and len(err) == 2
    assert f"{PAIR}.ipynb" in err[0] and "(code) differs at its line 1" in err[0]
    assert "edited_in_the_source" in err[0]


def test_a_markdown_edit_and_a_new_cell_are_caught(pair, capsys):
    path = pair / f"{PAIR}.py"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("# # 7. Phase 3", "# # 7. Phase three", 1), encoding="utf-8")
    rc, _, err = run(pair, capsys)
    assert rc == 1 and "cell 1 (markdown)" in err[0]
    path.write_text(text + "\n# %%\nprint('one more cell')\n", encoding="utf-8")
    rc, _, err = run(pair, capsys)
    assert rc == 1 and ".ipynb has no cell, .py has code" in err[0]


def test_a_cell_tag_counts(pair, capsys):
    path = pair / f"{PAIR}.py"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\n# %%\n", '\n# %% tags=["remove-input"]\n', 1), encoding="utf-8")
    rc, _, err = run(pair, capsys)
    assert rc == 1 and "metadata" in err[0] and "remove-input" in err[0]


def test_an_unpaired_file_fails(pair, capsys):
    (pair / f"{PAIR}.py").rename(pair / "08_lonely.py")
    rc, _, err = run(pair, capsys)
    assert rc == 1 and len(err) == 3
    assert f"{PAIR}.ipynb: no paired source {PAIR}.py" in err[0]
    assert "08_lonely.ipynb: missing, but its source 08_lonely.py exists" in err[1]
