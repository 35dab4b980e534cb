"""report.html: the one file to mail to the other partner.

Self-contained (figures as data URIs, styles inline, no script, no request to any host), code hidden, no stderr
blocks, no path of the machine it ran on. It opens with the bottom line, then a table of contents and each executed
notebook's results as a section, and ends with a provenance footer (commit, params digest, versions, device, date,
wall time). The executed notebooks keep the code for JupyterLab users.
"""
from __future__ import annotations

import hashlib
import html
import os
import platform
import re
import subprocess
import time
from pathlib import Path

import nbformat
import yaml
from nbconvert.filters.markdown import markdown2html

from aura_core import PROJECT_DIR
from aura_core.base import environment
from aura_core.base.io import atomic_write_text, read_json
from aura_core.base.results import claim_side
from aura_core.base.run_folder import RunFolder
from aura_core.evidence.compare import claims_table, format_table, load_claims
from aura_core.reporting.tables import legend

CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.8em 0;font-size:13px;display:block;max-width:100%;overflow-x:auto}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3}img{max-width:100%}nav ol{columns:2}section{border-top:2px solid #ddd;margin-top:2em}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:12px}footer{margin-top:3em;font-size:12px;color:#555}
.bottom{background:#f4f8ff;border:1px solid #c9d8f0;padding:.5em 1em}"""


def _notebook_body(path: Path) -> str:
    """A notebook's outputs as HTML without its code, prompts or stderr streams."""
    from nbconvert import HTMLExporter
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.get("name") == "stderr")]
            if "parameters" in cell.metadata.get("tags", []) or "injected-parameters" in cell.metadata.get("tags", []):
                cell.outputs = []
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


def _scrub(text: str, secrets: list[str]) -> str:
    """Replace the local paths (run folder, data dir, project, home) that a page may still quote."""
    for s, shown in sorted(((s, shown) for s, shown in secrets if s), key=lambda x: -len(x[0])):
        text = text.replace(s, shown)
    return text


def _git_commit(repo: Path, generated: tuple[str, ...] = ()) -> str:
    """HEAD, and whether tracked files differ from it; `generated` paths (pages the same command is writing) do not
    count as uncommitted changes."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){path}" for path in generated)],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def provenance(run_dir: Path) -> dict:
    import torch
    import transformers
    run = RunFolder(run_dir)
    params = run.params.read_bytes() if run.has_params() else b""
    seconds = run.notebook_seconds()
    train = read_json(run.train_info) if run.train_info.is_file() else {}
    return {"project commit": _git_commit(PROJECT_DIR),
            "params digest (sha256 of params.yaml)": hashlib.sha256(params).hexdigest()[:16],
            "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(),
            "environment (requirements.lock)": environment.summary(),
            "device": train.get("device", "cuda" if torch.cuda.is_available() else "cpu"),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "wall time (notebooks)": f"{sum(seconds.values()) / 60:.1f} min" if seconds else "—"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def build(run_dir: str | Path, title: str, bottom_line: str, notebooks: list[Path], secrets: list[tuple[str, str]],
          out: Path | None = None) -> Path:
    """Write run_dir/report.html: bottom line, table of contents, one section per notebook, provenance footer."""
    run_dir = Path(run_dir)
    sections, toc = [], []
    for nb in notebooks:
        name = nb.stem
        anchor = _slug(name)
        toc.append(f"<li><a href='#{anchor}'>{html.escape(name.replace('_', ' '))}</a></li>")
        sections.append(f"<section id='{anchor}'>{_notebook_body(nb)}</section>")
    foot = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in provenance(run_dir).items())
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<div class='bottom' id='bottom-line'>{bottom_line}</div>"
            f"<nav><h2>Contents</h2><ol><li><a href='#bottom-line'>Bottom line</a></li>{''.join(toc)}"
            f"<li><a href='#provenance'>Provenance</a></li></ol></nav>{''.join(sections)}"
            f"<footer id='provenance'><h2>Provenance</h2><table>{foot}</table></footer></body></html>")
    path = out or RunFolder(run_dir).report
    atomic_write_text(path, _scrub(page, secrets))
    return path


def local_paths(run_dir: Path, data_dir: str | None = None, encoder: str | None = None) -> list[tuple[str, str]]:
    """(local string, what the page shows instead): the run folder, the data dir, a local encoder folder, the
    project and the home folder. Read from run_dir/params.yaml when data_dir and encoder are not given."""
    if data_dir is None and encoder is None and RunFolder(run_dir).has_params():
        saved = yaml.safe_load(RunFolder(run_dir).params.read_text()) or {}
        data_dir, encoder = saved.get("data_dir"), saved.get("encoder")
    project = PROJECT_DIR
    pairs = [(str(Path(run_dir).resolve()), "<run folder>"), (str(project), "<project>"),
             (os.path.expanduser("~"), "~")]
    if data_dir:
        pairs += [(str(Path(data_dir).resolve()), "$AURA_DATA_DIR"), (str(data_dir), "$AURA_DATA_DIR")]
    if encoder and Path(encoder).is_absolute():
        pairs += [(str(encoder), f"<encoder folder {Path(encoder).name}>")]
    return [(s, shown) for s, shown in pairs if len(s) > 1]


def run_bottom_line(run_dir: Path) -> str:
    """For one run: the claimed-vs-reproduced table with CIs and, per level, where the partners' numbers fall."""
    run = RunFolder(run_dir)
    p = run.read_params()
    scores = run.stress()
    claims = load_claims(p.claims)
    table = claims_table(claims, scores)
    lines = []
    for t in scores.available():
        c = claims["tiers"].get(t.level)
        if not c:
            continue
        f1, ci = t.macro_f1, t.macro_f1_ci
        if not t.partners_rows:
            lines.append(f"{t.level} ({t.name}): {f1:.3f}, on other rows than the partners' — level not comparable.")
            continue
        where = {who: ("inside" if claim_side(c[who], *(ci or (None, None))) == "inside" else "outside")
                 for who in ("partner_a", "partner_b")}
        lines.append(f"{t.level} ({t.name}): {f1:.3f} [95% CI {ci[0]:.3f}, {ci[1]:.3f}]; Partner B's "
                     f"{c['partner_b']:.3f} is {where['partner_b']} it, Partner A's {c['partner_a']:.3f} "
                     f"{where['partner_a']}.")
    return ("<h2>Bottom line</h2>"
            f"<p>One run (<code>{html.escape(p.name)}</code>, seed {p.seed}, encoder <code>{html.escape(p.encoder)}"
            f"</code>), scored on the partners' levels. CIs: bootstrap over test items (one seed: a grid gives the "
            f"spread over seeds).</p><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"
            + format_table(table).to_html(index=False, na_rep="—")
            + "<h3>The file behind each level</h3>" + legend(scores).to_html(index=False, na_rep="—"))


def write_run_report(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    p = RunFolder(run_dir).read_params()
    notebooks = sorted(RunFolder(run_dir).notebook_copies.glob("*.ipynb"))
    return build(run_dir, f"AURA reproduction report: {p.name}", run_bottom_line(run_dir), notebooks,
                 local_paths(run_dir))


def write_grid_report(compare_dir: str | Path, grid) -> Path:
    """A grid's report.html: the verdict and the seven answers 05_compare wrote (answers.write_bottom_line), then its
    grid view."""
    compare_dir = Path(compare_dir)
    compare = RunFolder(compare_dir)
    bottom = markdown2html(compare.bottom_line.read_text(encoding="utf-8"))
    return build(compare_dir, f"AURA diagnosis grid: {grid.name}", bottom, [compare.grid_notebook],
                 local_paths(compare_dir) + [(str(grid.root.resolve()), "<grids>")])
