"""A grid's results page for the docs (docs/results/<grid>.md): written from the grid's cells or shipped evidence, never
copied by hand. A header says where the numbers come from (commit, the resolved params' sha256, date, hardware, the
file behind each level); then the grid's summary and bottom line; then the sections a grid registers in PAGES."""
from __future__ import annotations

import hashlib
import os
import platform
import time
from pathlib import Path
from typing import Callable

import yaml

from aura_core import PROJECT_DIR
from aura_core.base.io import atomic_write_text, read_json
from aura_core.base.params import load, to_dict
from aura_core.evidence import seed_scale
from aura_core.evidence.diagnosis import GridEvidence
from aura_core.evidence.timing import time_text
from aura_core.grids import Grid, finished, training_cells
from aura_core.reporting.answers import (
    SEEDS_FOR_POWER,
    answers,
    as_printed,
    average_table,
    markdown_summary,
    multiverse_text,
    paper_tables,
    shapley_summary,
    speed_table,
    unasked_answers,
)
from aura_core.reporting.single_report import _git_commit
from aura_core.reporting.tables import tier_legend

# grid name → its own sections, (title, markdown) each, after the summary
PAGES: dict[str, Callable[[GridEvidence], list[tuple[str, str]]]] = {
    "seed_scale": lambda ev: seed_scale.sections(ev, seed_scale.proxy_grid(ev.grid)),
    "multiverse": lambda ev: multiverse_sections(ev),
}
OWN_TIME = {"seed_scale"}            # pages whose own sections time the cells (against Partner B's step count)
GENERATED = ("docs", "README.md")   # what make results itself rewrites: not a change to the code that computed a page


def multiverse_sections(ev: GridEvidence) -> list[tuple[str, str]]:
    """The multiverse grid's page: the robustness sentence, the effect averaged over the universes and in each, each
    level's spread over the universes, the universes nearest each partner, and which switch moves the numbers."""
    def md(df, needs: int = 1) -> str:
        if df is None or df.empty:
            return "_(no finished universe yet)_" if needs == 1 else f"_(needs {needs} finished universes)_"
        return df.to_markdown(index=False, floatfmt=".3f")
    return [("Robustness", multiverse_text(ev)),
            ("The effect averaged over the universes", md(average_table(ev.mv_average), 2)),
            ("The effect in each universe", md(ev.multiverse)),
            ("Each level over the universes", md(ev.mv_spread)),
            ("The universes nearest each partner", md(ev.mv_closest)),
            ("Which switch moves the numbers (one-way η², descriptive)", md(ev.importance, 3))]


def evidence_sections(ev: GridEvidence) -> list[tuple[str, str]]:
    """What every grid's page carries where its evidence exists: the comparison report's questions it tests, the
    causes the report did not ask about, the Shapley split with its interactions, and what the evidence supports
    reporting in a paper (the same words and tables as the grid view, so the page and report.html cannot differ)."""
    out = []
    asked = answers(ev) if len(ev.attrib) else []
    tested = [(q, a) for q, a in asked if not a.startswith("Not tested")]
    if tested:
        untested = [q for q, a in asked if a.startswith("Not tested")]
        out.append(("The comparison report's questions",
                    "\n\n".join(f"**{q}** {a}" for q, a in tested)
                    + (f"\n\nNot tested by this grid: {'; '.join(untested)}" if untested else "")))
    unasked = unasked_answers(ev) if len(ev.attrib) else []
    if unasked:
        out.append(("Candidate causes the comparison report did not ask about",
                    "\n\n".join(f"**{t}.** {a}" for t, a in unasked)))
    shap, inter = ev.shapley
    if ev.grid.shapley and len(shap):
        text = shapley_summary(shap, inter)
        if "shapley" in shap:
            text += ("\n\n" + shap.to_markdown(index=False, floatfmt=".4f")
                     + (f"\n\nEvery two-factor interaction (95% and 90% CI; the reading is the equivalence test's; "
                        f"{SEEDS_FOR_POWER}):\n\n"
                        + as_printed(inter).to_markdown(index=False, floatfmt=".4f") if len(inter) else ""))
        out.append((f"Shapley attribution: `{ev.grid.shapley['from']}` → `{ev.grid.shapley['to']}`", text))
    if ev.grid.name not in OWN_TIME:
        out.append(("Time", time_text(ev.grid)))
    results, ablation = paper_tables(ev)
    if len(results):
        out.append(("What the evidence supports reporting",
                    "Mean ± sd over seeds with the 95% t interval of the mean (`paper_results`):\n\n"
                    + results.to_markdown(index=False)
                    + ("\n\nEach one-change contrast, its change with the 95% CI; † significant after Holm over the "
                       "report's one family (`paper_ablation`):\n\n" + ablation.to_markdown(index=False)
                       if len(ablation) else "")))
    return out


# grid name → the rows its README block shows: (row name, configuration label, or a callable of the grid giving it)
README_ROWS: dict[str, list[tuple[str, Callable[[Grid], str]]]] = {
    "seed_scale": [("B as stated, seed scale", lambda g: g.baseline),
                   ("masked, seed scale", lambda g: seed_scale.masked_label(g, g.baseline)),
                   ("A candidate, seed scale", lambda g: g.shapley["to"])],
    "unpad_parity": [("B as stated, cpu proxy", lambda g: "padded")],
    "factorial": [("B as stated, cpu proxy", lambda g: g.baseline),
                  ("masked, cpu proxy", lambda g: seed_scale.masked_label(g, g.baseline)),
                  ("A candidate, cpu proxy", lambda g: g.shapley["to"])],
}
CLAIM_ROWS = {"seed_scale": True}   # which blocks also show the partners' claimed numbers
LEVELS = ("L1", "L2", "L3")


def readme_block(ev: GridEvidence) -> str:
    """The README's table for this grid: the partners' claims (where registered) and each registered configuration's
    mean ± sd over its finished seeds per level; a configuration with no finished seed is left out."""
    rows = []
    if CLAIM_ROWS.get(ev.grid.name):
        for who, name in (("partner_a", "Partner A (claimed)"), ("partner_b", "Partner B (claimed)")):
            rows.append([name] + [f"{ev.claims['tiers'].get(lv, {}).get(who, float('nan')):.4f}" for lv in LEVELS])
    t = ev.table
    for name, label_of in README_ROWS.get(ev.grid.name, []):
        r = t[(t["config"] == label_of(ev.grid)) & t["tier"].isin(LEVELS)] if len(t) and "tier" in t else t
        if r.empty or "mean" not in r:
            continue
        r = r.set_index("tier")
        n = int(r["seeds"].max())
        value = "{:.3f} ± {:.3f}" if n > 1 else "{:.3f}"   # one seed has no spread to show
        rows.append([f"{name} ({n} seed{'s' if n != 1 else ''})"]
                    + [value.format(r.loc[lv, "mean"], r.loc[lv, "sd"]) if lv in r.index else "—" for lv in LEVELS])
    head = "| | " + " | ".join(LEVELS) + " |\n|---|" + "---|" * len(LEVELS)
    return head + "\n" + "\n".join("| " + " | ".join(row) + " |" for row in rows)


# (document, grid) → the table `make results` writes into the document's `<!-- numbers from docs/results/<grid>.md -->`
# block, so what the docs quote is the page's own table (tests/test_docs.py checks every number against the page)
DOC_BLOCKS: dict[tuple[str, str], Callable[[GridEvidence], str]] = {
    **{("README.md", name): readme_block for name in README_ROWS},
    ("docs/performance.md", "diagnosis"): lambda ev: speed_table(ev.speed),
}


def update_block(doc: Path, page_path: str, block: str) -> bool:
    """Rewrite the document's `<!-- numbers from PAGE -->` block with `block`; False when it cites no such block."""
    start, end = f"<!-- numbers from {page_path} -->", "<!-- /numbers -->"
    text = doc.read_text(encoding="utf-8")
    if start not in text:
        return False
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    atomic_write_text(doc, f"{before}{start}\n{block}\n{end}{after}")
    return True


def params_digest(grid: Grid) -> str:
    """sha256 of the grid's base profile as resolved (every key, extends applied), so the page names exactly the
    params its cells started from (each cell adds only its configuration's keys)."""
    text = yaml.safe_dump(to_dict(load(grid.base)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def hardware(grid: Grid) -> str:
    """Where the cells trained (their train.json: device, processes, torch) and the machine that wrote the page."""
    seen: dict[str, int] = {}
    for c in training_cells(grid):
        if finished(c) and c.run.train_info.is_file():
            info = read_json(c.run.train_info)
            key = f"{info.get('device')} × {info.get('processes', 1)} process(es), torch {info.get('torch')}"
            seen[key] = seen.get(key, 0) + 1
    trained = "; ".join(f"{k} ({n} cells)" for k, n in seen.items()) or "no finished training"
    return f"cells trained on: {trained}. Page written on: {cpu_name()}, {os.cpu_count()} cores."


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def page(ev: GridEvidence) -> str:
    grid = ev.grid
    legend = tier_legend(grid)
    head = {"grid file": f"params/grids/{grid.path.name}", "commit": _git_commit(PROJECT_DIR, GENERATED),
            "resolved base params (sha256)": f"{grid.base.name}: {params_digest(grid)}",
            "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "hardware": hardware(grid),
            "levels": "; ".join(f"{r.level} = {r.tier} ({r.rows} rows)" for r in legend.itertuples()) or "—"}
    parts = [f"# Results: the `{grid.name}` grid", "",
             f"Generated by `aura grid params/grids/{grid.path.name} --results docs/results` (`make results`) from the "
             "grid's cells; do not edit by hand.", "", *[f"- **{k}**: {v}" for k, v in head.items()], ""]
    if ev.partial:
        parts += [f"**{ev.partial}**", ""]
    parts += ["## Summary", "", markdown_summary(ev), ""]
    if grid.name in README_ROWS:
        parts += ["## The README's table", "", "What the README quotes from this page (`make results` rewrites its "
                  "block): mean ± sd over the finished seeds.", "", readme_block(ev), ""]
    for title, text in PAGES.get(grid.name, lambda _: [])(ev) + evidence_sections(ev):
        parts += [f"## {title}", "", text, ""]
    return "\n".join(parts)


def write(ev: GridEvidence, folder: str | Path = "docs/results") -> Path:
    out = Path(folder) / f"{ev.grid.name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page(ev))
    write_index(out.parent)
    if out.parent.resolve() == (PROJECT_DIR / "docs" / "results").resolve():
        for (doc, name), block in DOC_BLOCKS.items():
            if name == ev.grid.name and (PROJECT_DIR / doc).is_file():
                update_block(PROJECT_DIR / doc, f"docs/results/{out.name}", block(ev))
    return out


def write_index(folder: str | Path) -> Path:
    """README.md of the results folder: every page in it, by its title, so the folder reads as a table of contents."""
    folder = Path(folder)
    rows = []
    for p in sorted(folder.glob("*.md")):
        if p.name == "README.md":
            continue
        title = next((line.lstrip("# ").strip() for line in p.read_text(encoding="utf-8").splitlines()
                      if line.startswith("# ")), p.stem)
        rows.append(f"| [{p.name}]({p.name}) | {title.replace('|', '/')} |")
    text = ("# Results\n\nEvery page here is generated from a run (`make results` for the grids, `make bench` and the "
            "scripts in benchmarks/ for the rest); none is edited by hand. This index is rewritten with each grid page.\n\n"
            "| page | what it holds |\n|---|---|\n" + "\n".join(rows) + "\n")
    out = folder / "README.md"
    atomic_write_text(out, text)
    return out
