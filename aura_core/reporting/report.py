"""index.html of a run folder: the headline table, tier status and links to every artefact
(templates/run_index/index.html.j2, autoescaped)."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from aura_core import PACKAGE_DIR
from aura_core.base.io import atomic_write_text
from aura_core.base.run_folder import RunFolder
from aura_core.evidence.compare import (
    claims_table,
    format_scores,
    format_table,
    load_claims,
    load_reference_runs,
    runs_table,
)
from aura_core.reporting.tables import legend

HEADLINE_PARAMS = ["encoder", "paradigm", "task_sampling", "weighting", "validation", "threshold", "selection",
                   "selection_metric", "preprocess", "emotion_multilabel", "emotion_target", "seed", "deterministic",
                   "epochs", "batch_size", "grad_accum", "olid_train_rows", "goemotions_train_rows", "eval_max_rows",
                   "toxigen_label_rule"]

TEMPLATES = PACKAGE_DIR / "templates" / "run_index"
FILES = (RunFolder.PARAMS, RunFolder.METRICS, RunFolder.STEPS, RunFolder.EPOCHS, RunFolder.TRAIN, RunFolder.RUN)


def _table(df) -> Markup:
    return Markup(df.to_html(index=False, border=0, na_rep="—", escape=True))


def write_index(run_dir: str | Path) -> Path:
    run = RunFolder(run_dir)
    p = run.read_params()
    metrics = run.read_metrics()
    stress = metrics.get("stress")
    scores = run.stress() if stress else None
    claims = load_claims(p.claims)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)
    page = env.get_template("index.html.j2").render(
        p=p, stress=stress, tune=metrics.get("tune"), train=metrics.get("train", {}),
        claims_table=_table(format_table(claims_table(claims, scores))),
        legend=_table(legend(scores)) if scores else None,
        runs_table=_table(format_scores(runs_table(claims, metrics, load_reference_runs(p.reference_runs)))),
        note_l2_l3=claims.get("published", {}).get("note_l2_l3", ""),
        switches=[(k, str(getattr(p, k))) for k in HEADLINE_PARAMS],
        missing=[t for t in scores.tiers.values() if not t.available] if scores else [],
        notebooks=[nb.stem for nb in sorted(run.html.glob("*.html"))],
        figures=[fig.stem for fig in sorted(run.figures.glob("*.png"))],
        files=[f for f in FILES if (run / f).exists()])
    path = run.index
    atomic_write_text(path, page)
    return path
