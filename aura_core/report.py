"""index.html of a run: the headline table, tier status and links to every artefact. All text is escaped."""
from __future__ import annotations

import html
from pathlib import Path

from .compare import claims_table, format_scores, format_table, load_claims, load_reference_runs, runs_table
from .io import atomic_write_text, read_json
from .params import load
from .tiers import legend

HEADLINE_PARAMS = ["encoder", "paradigm", "task_sampling", "weighting", "validation", "threshold", "selection",
                   "selection_metric", "preprocess", "emotion_multilabel", "seed", "deterministic", "epochs",
                   "batch_size", "grad_accum", "olid_train_rows", "goemotions_train_rows", "eval_max_rows",
                   "toxigen_label_rule"]

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:6px 0}.na{color:#a33}code{background:#f6f6f6}"""


def _table(df) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _decisions(metrics: dict) -> str:
    tune, train = metrics.get("tune", {}), metrics.get("train", {})
    if not tune:
        return ""
    return (f"<p>Threshold used on every tier: <b>{tune['threshold']:.3f}</b> ({html.escape(tune['rule'])}); "
            f"weights of epoch <b>{train.get('selected_epoch', '?')}</b> (selection: "
            f"{html.escape(str(train.get('selection', '?')))}).</p>")


def write_index(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    p = load(run_dir / "params.yaml")
    metrics = read_json(run_dir / "metrics.json")
    stress = metrics.get("stress")
    claims = load_claims(p.claims)
    table = format_table(claims_table(claims, stress, stress.get("emotion_goemotions_test") if stress else None))
    runs = format_scores(runs_table(claims, metrics, load_reference_runs(p.reference_runs)))
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>AURA-Repro: {e(p.name)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>AURA reproduction report: {e(p.name)}</h1>",
             f"<p>{e(p.description)}</p>" if p.description else "",
             "<h2>Claimed vs reproduced (toxicity macro-F1)</h2>", _table(table),
             f"<p>Scored: {e(stress['scored'])}.</p>" if stress and stress.get("scored") else "",
             _decisions(metrics),
             "<h2>The file behind each level</h2>" + _table(legend(stress["tiers"])) if stress else "",
             "<h2>Every source of numbers (macro-F1)</h2>", _table(runs),
             "<p>" + e(claims.get("published", {}).get("note_l2_l3", "")) + "</p>",
             "<h2>Switches of this run</h2><table>",
             "".join(f"<tr><th>{e(k)}</th><td><code>{e(str(getattr(p, k)))}</code></td></tr>" for k in HEADLINE_PARAMS),
             "</table>"]
    if stress:
        missing = [t for t in stress["tiers"].values() if not t["available"]]
        if missing:
            parts.append("<h2>Tiers not available</h2><ul>" + "".join(
                f"<li class='na'>{e(t['level'])} {e(t['name'])}: {e(t['reason'])}</li>" for t in missing) + "</ul>")
    parts.append("<h2>Notebooks</h2><ul>")
    for nb in sorted((run_dir / "html").glob("*.html")):
        parts.append(f"<li><a href='html/{e(nb.name)}'>{e(nb.stem)}</a> "
                     f"(<a href='notebooks/{e(nb.stem)}.ipynb'>ipynb</a>)</li>")
    parts.append("</ul><h2>Figures</h2>")
    for fig in sorted((run_dir / "figures").glob("*.png")):
        parts.append(f"<h3>{e(fig.stem)}</h3><img src='figures/{e(fig.name)}' alt='{e(fig.stem)}'>")
    parts.append("<h2>Files</h2><ul>" + "".join(
        f"<li><a href='{e(f)}'>{e(f)}</a></li>" for f in ("params.yaml", "metrics.json", "steps.csv", "epochs.csv",
                                                          "train.json", "run.json") if (run_dir / f).exists()) + "</ul>")
    parts.append("</body></html>")
    path = run_dir / "index.html"
    atomic_write_text(path, "\n".join(parts))
    return path
