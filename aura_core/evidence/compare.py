"""The claimed-vs-reproduced table: Partner A (claimed), Partner B (reproduced), this run."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from aura_core.base.results import DELTA, LEVELS, RUN_COLUMNS, StressScores, delta_f1, run_scores
from aura_core.base.run_folder import RunFolder


def load_claims(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"claims file {path} not found (param 'claims')")
    claims = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("tiers", "partner_b_epochs"):
        if key not in claims:
            raise ValueError(f"{path}: missing key '{key}'")
    for level, c in claims["tiers"].items():
        for k in ("dataset", "partner_a", "partner_b"):
            if k not in c:
                raise ValueError(f"{path}: tiers.{level}: missing key '{k}'")
    return claims


def claims_table(claims: dict, scores: StressScores | None) -> pd.DataFrame:
    """One row per claimed tier, ΔF1 (L1 − L3), then any extra tier and the emotion head (no claims for those);
    scores None: a run not stress-tested yet (the claims alone)."""
    ours, notes, scored_on = {}, {}, {}
    scored = list(scores.tiers.values()) if scores else []
    emotion = scores.emotion if scores else {}
    for t in scored:
        if t.available:
            ours[t.level] = t.macro_f1
            prov, ci = t.provenance, t.macro_f1_ci
            notes[t.level] = "; ".join(x for x in (
                f"95% CI [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "",
                f"{prov['rows']} rows of {prov.get('file') or t.name}", prov.get("note", ""),
                f"subsample: {prov['subsampled']}" if prov.get("subsampled") else "") if x)
        else:
            notes[t.level] = t.reason
        scored_on[t.level] = t.name
    rows = []
    for level, c in claims["tiers"].items():
        # the partners' name for the level beside the file this run scored as that level
        dataset = c["dataset"] if scored_on.get(level, c["dataset"]) == c["dataset"] else \
            f"{c['dataset']} (scored here: {scored_on[level]})"
        rows.append({"level": level, "dataset": dataset, "Partner A (claimed)": c["partner_a"],
                     "Partner B (reproduced)": c["partner_b"], "this run": ours.get(level), "note": notes.get(level, "")})
    tiers = {r["level"]: r for r in rows}
    if all(level in tiers for level in DELTA):
        def delta(col):
            return delta_f1({level: tiers[level][col] for level in DELTA})
        rows.append({"level": "ΔF1", "dataset": "L1 − L3", "Partner A (claimed)": delta("Partner A (claimed)"),
                     "Partner B (reproduced)": delta("Partner B (reproduced)"), "this run": delta("this run"),
                     "note": "lower = less degradation under shift"})
    for t in scored:
        if t.level not in claims["tiers"]:
            rows.append({"level": t.level, "dataset": t.name, "Partner A (claimed)": None,
                         "Partner B (reproduced)": None, "this run": t.macro_f1,
                         "note": "extra tier (no claim)" if t.available else t.reason})
    if "macro_f1" in emotion:
        rows.append({"level": "emotion", "dataset": "GoEmotions test (7-class macro-F1)", "Partner A (claimed)": None,
                     "Partner B (reproduced)": None, "this run": emotion["macro_f1"], "note": "no claim in the report"})
    df = pd.DataFrame(rows)
    df["this − A"] = [None if x is None or a is None else x - a
                      for x, a in zip(df["this run"], df["Partner A (claimed)"])]
    df["this − B"] = [None if x is None or b is None else x - b
                      for x, b in zip(df["this run"], df["Partner B (reproduced)"])]
    return df[["level", "dataset", "Partner A (claimed)", "Partner B (reproduced)", "this run", "this − A", "this − B",
               "note"]]


def format_numbers(df: pd.DataFrame, columns, signed=()) -> pd.DataFrame:
    """Numbers to 4 decimals (signed columns with +/−), missing as '—': for display and index.html."""
    out = df.copy().astype(object)
    for col in [*columns, *signed]:
        fmt = "{:+.4f}" if col in signed else "{:.4f}"
        out[col] = ["—" if v is None or pd.isna(v) else fmt.format(v) for v in df[col]]
    return out


def format_table(df: pd.DataFrame) -> pd.DataFrame:
    return format_numbers(df, ("Partner A (claimed)", "Partner B (reproduced)", "this run"), ("this − A", "this − B"))


def load_reference_runs(refs: list[dict]) -> list[tuple[str, dict | None, str]]:
    """(label, metrics or None, note) per reference run; a missing run is reported, never dropped."""
    out = []
    for ref in refs:
        run = RunFolder(ref["path"])
        path = run.metrics
        if path.is_file():
            tasks = yaml.safe_load(run.params.read_text(encoding="utf-8")).get("tasks") if run.has_params() else "?"
            out.append((ref["label"], run.read_metrics(), f"run {ref['path']} (tasks: {tasks})"))
        else:
            out.append((ref["label"], None, f"not found: {path}"))
    return out


def runs_table(claims: dict, this: dict, references: list[tuple[str, dict | None, str]] = ()) -> pd.DataFrame:
    """One row per source of numbers: the partners, this run, reference runs (e.g. the single-task control) and the
    published rows with their sources. Empty cells mean "no such number", and the note says why."""
    tiers = claims["tiers"]
    rows = []
    for who, key in (("Partner A (claimed)", "partner_a"), ("Partner B (reproduced)", "partner_b")):
        r = {lvl: tiers[lvl][key] for lvl in LEVELS if lvl in tiers}
        r["ΔF1"] = delta_f1(r)
        rows.append({"source": who, **r, "emotion": None, "note": "comparison report"})
    rows.append({"source": "this run", **run_scores(this), "note": ""})
    for label, metrics, note in references:
        rows.append({"source": label, **(run_scores(metrics) if metrics else {}), "note": note})
    pub = claims.get("published", {})
    for r in pub.get("rows", []):
        rows.append({"source": r["label"], "L1": r.get("L1"), "L2": r.get("L2"), "L3": r.get("L3"), "ΔF1": None,
                     "emotion": None, "note": f"published: {r['source']}"})
    df = pd.DataFrame(rows, columns=["source", *RUN_COLUMNS, "note"])
    return df


def format_scores(df: pd.DataFrame) -> pd.DataFrame:
    return format_numbers(df, RUN_COLUMNS)
