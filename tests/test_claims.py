"""The claims table: eight claims settled from the stored results, and the intro page's copy of it."""
from mbsnet.experiments import claims
from mbsnet.results import REPO_ROOT


def test_every_claim_of_the_source_has_a_verdict_numbers_and_a_notebook():
    rows = claims.table()
    assert [r["n"] for r in rows] == list(range(1, 9))
    for r in rows:
        assert r["claim"] and r["verdict"] and r["numbers"] and r["notebook"] in claims.NOTEBOOKS


def test_the_markdown_is_a_table_with_one_line_per_claim_and_links_to_the_notebooks():
    text = claims.markdown(claims.table(), link_prefix="notebooks/")
    lines = text.splitlines()
    assert len(lines) == 10 and lines[1] == "|---|---|---|---|---|"
    assert all(line.startswith("| ") and line.endswith(" |") and line.count(" | ") == 4 for line in lines[2:])
    assert "(notebooks/09_the_ledger.ipynb)" in text


def test_the_intro_page_carries_the_current_table():
    intro = (REPO_ROOT / "book" / "intro.md").read_text()
    assert claims.intro_table(intro) == claims.markdown(claims.table(), link_prefix="notebooks/"), \
        "run python tools/claims_table.py"
