"""The docs a newcomer reads: a short README, results generated rather than copied (each shipped docs/results/<grid>.md
is what `aura grid --results` writes from the grid's shipped evidence, every number the README cites is on the page
it cites), docs/parameters.md generated from the schema, and every link resolving."""
import re
import subprocess
import sys

import pytest
from conftest import REPO

PAGES = sorted(p for p in (REPO / "docs" / "results").glob("*.md") if p.read_text().startswith("# Results: the `"))
NUMBER = re.compile(r"(?<![\d.])\d+\.\d{3,4}(?!\d)")


def body(text: str) -> str:
    """A page without its header bullets (commit, date, machine: they name where it came from, not what it says)."""
    return text.split("## Summary", 1)[1]


def test_some_results_page_ships():
    assert PAGES, "no generated results page in docs/results/"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """Every shipped page written again from its grid's shipped evidence, two grids at a time (each is one process of
    mostly numpy on one core): page stem → (the process's return code and stderr, the folder it wrote into)."""
    from concurrent.futures import ThreadPoolExecutor
    root = tmp_path_factory.mktemp("results")

    def regenerate(page):
        out = root / page.stem
        r = subprocess.run([sys.executable, "-m", "aura_core.cli", "grid", f"params/grids/{page.stem}.yaml",
                            "--results", str(out)], capture_output=True, text=True, timeout=900, cwd=REPO)
        return page.stem, (r.returncode, r.stderr[-2000:], out)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(regenerate, PAGES))


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_a_shipped_results_page_is_what_its_evidence_gives(page, regenerated):
    grid = page.stem
    assert (REPO / "outputs" / "grids" / grid / "EVIDENCE.json").is_file(), \
        f"{page.name}: its grid's evidence does not ship (aura grid params/grids/{grid}.yaml --export)"
    returncode, stderr, out = regenerated[grid]
    assert returncode == 0, stderr
    assert body((out / page.name).read_text()) == body(page.read_text()), \
        f"{page.name} differs from what its evidence gives now: run make results"
    for key in ("commit", "resolved base params (sha256)", "written", "hardware", "levels"):
        assert f"- **{key}**: " in page.read_text()


CITED = re.compile(r"<!-- numbers from (docs/results/[\w.]+\.md) -->(.*?)<!-- /numbers -->", re.S)


def cited_blocks(text: str) -> list[tuple[str, str]]:
    return CITED.findall(text)


DOCS = [REPO / "README.md", *sorted(p for p in (REPO / "docs").rglob("*.md") if p.parent.name != "results")]


def test_the_readme_cites_a_generated_page():
    assert cited_blocks((REPO / "README.md").read_text()), "the README cites no generated results page"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_number_a_document_quotes_is_on_the_page_it_cites(doc):
    for page, block in cited_blocks(doc.read_text()):
        assert (REPO / page).is_file(), f"{doc.name}: cites {page}, which is not generated"
        source = (REPO / page).read_text()
        numbers = NUMBER.findall(block)
        assert numbers, f"{doc.name}: a block citing {page} holds no number"
        missing = [n for n in numbers if n not in source]
        assert not missing, f"{doc.name}: numbers not on {page}: {missing}"
        assert block.strip() in source, f"{doc.name}: its block is not the table {page} shows: run make results"


def test_every_quoting_block_is_registered():
    """A block `make results` would never rewrite is a hand copy: every (document, page) block is in DOC_BLOCKS."""
    from aura_core.reporting.results_page import DOC_BLOCKS
    for doc in DOCS:
        for page, _ in cited_blocks(doc.read_text()):
            grid = page.removeprefix("docs/results/").removesuffix(".md")
            assert (str(doc.relative_to(REPO)), grid) in DOC_BLOCKS, (doc.name, page)


def test_the_answer_sections_prose_quotes_its_pages_verbatim():
    """The prose under 'The answer so far' is written from the pages it cites (in a numbers block or a link): every
    number there, and every interval as a whole (a drifted bound is caught even when the bound occurs elsewhere on the
    page)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## The answer so far", 1)[1].split("\n## ", 1)[0]
    prose = " ".join(CITED.sub("", section).split())   # an interval wrapped over two lines is still one interval
    cited = {page for page, _ in cited_blocks(section)} | set(re.findall(r"\((docs/results/[\w.-]+\.md)\)", section))
    pages = "\n".join((REPO / page).read_text() for page in sorted(cited))
    intervals = re.findall(r"\[[+−-]?\d\.\d{3}, [+−-]?\d\.\d{3}\]", prose)
    assert intervals, "the answer's prose quotes no interval"
    assert not [i for i in intervals if i not in pages], [i for i in intervals if i not in pages]
    assert not [n for n in re.findall(r"\d\.\d{3}", prose) if n not in pages]


def test_a_number_that_drifts_from_its_page_is_caught():
    text = "<!-- numbers from docs/results/x.md -->| B | 0.7002 |<!-- /numbers -->"
    (page, block), = cited_blocks(text)
    assert page == "docs/results/x.md" and NUMBER.findall(block) == ["0.7002"]
    assert [n for n in NUMBER.findall(block) if n not in "| padded | 0.7003 |"] == ["0.7002"]


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(REPO):
            continue          # beside the clone (../shared/…): not the repository's to check
        if not path.exists():
            broken.append(target)
    assert not broken, f"{doc.relative_to(REPO)}: links to nothing: {broken}"


def test_the_readme_fits_a_first_read():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    first_screen = "\n".join(text.splitlines()[:20])
    assert "make report" in first_screen and "make test" in first_screen      # what it is, then the two commands


def test_docs_parameters_is_what_the_schema_gives():
    from aura_core.reporting.params_page import page
    assert (REPO / "docs" / "parameters.md").read_text() == page(REPO / "params"), "run make docs"


def test_every_key_is_on_the_parameters_page():
    from aura_core.base.params import schema
    text = (REPO / "docs" / "parameters.md").read_text()
    assert all(f"| `{f['key']}` |" in text for f in schema())


def test_the_results_index_lists_every_page(tmp_path):
    import shutil

    from aura_core.reporting.results_page import write_index
    folder = REPO / "docs" / "results"
    index = (folder / "README.md").read_text()
    assert all(f"]({p.name})" in index for p in folder.glob("*.md") if p.name != "README.md")
    for p in folder.glob("*.md"):
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "README.md").unlink()
    assert write_index(tmp_path).read_text() == index, "run make results"


def test_make_results_rewrites_exactly_the_block_that_cites_the_page(tmp_path):
    from aura_core.reporting.results_page import update_block
    readme = tmp_path / "README.md"
    text = ("# x\n\nbefore\n<!-- numbers from docs/results/g.md -->\n| old | 0.100 |\n<!-- /numbers -->\nafter\n"
            "<!-- numbers from docs/results/h.md -->\n| other | 0.200 |\n<!-- /numbers -->\n")
    readme.write_text(text)
    assert update_block(readme, "docs/results/g.md", "| new | 0.300 |")
    assert readme.read_text() == text.replace("| old | 0.100 |", "| new | 0.300 |")
    assert not update_block(readme, "docs/results/none.md", "| x |")
    assert readme.read_text() == text.replace("| old | 0.100 |", "| new | 0.300 |")


def test_the_readme_blocks_are_the_pages_own_tables():
    """Each README block is, line for line, the table its page shows under "The README's table"."""
    for page, block in cited_blocks((REPO / "README.md").read_text()):
        source = (REPO / page).read_text()
        table = source.split("## The README's table", 1)[1].split("\n## ", 1)[0]
        assert block.strip() in table, page


def test_a_page_names_its_commit_clean_while_make_results_rewrites_the_docs(tmp_path):
    """The page header's commit counts a change to code as uncommitted, never the pages and README blocks the same
    `make results` is writing (else every page after the first would say "with uncommitted changes")."""
    from aura_core.reporting.results_page import GENERATED
    from aura_core.reporting.single_report import _git_commit
    git = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "aura_core").mkdir()
    for f in ("README.md", "docs/page.md", "aura_core/stats.py"):
        (tmp_path / f).write_text("x\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    (tmp_path / "docs" / "page.md").write_text("regenerated\n")
    (tmp_path / "README.md").write_text("block rewritten\n")
    assert not _git_commit(tmp_path, GENERATED).endswith("(with uncommitted changes)")
    assert _git_commit(tmp_path).endswith("(with uncommitted changes)")
    (tmp_path / "aura_core" / "stats.py").write_text("changed\n")
    assert _git_commit(tmp_path, GENERATED).endswith("(with uncommitted changes)")
