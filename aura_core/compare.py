"""The claimed-vs-reproduced table: Partner A (claimed), Partner B (reproduced), this run."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml


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


def claims_table(claims: dict, stress: dict | None, emotion: dict | None = None) -> pd.DataFrame:
    """One row per claimed tier, ΔF1 (L1 − L3), then any extra tier and the emotion head (no claims for those)."""
    ours = {}
    notes = {}
    if stress:
        for e in stress["tiers"].values():
            if e["available"]:
                ours[e["level"]] = e["metrics"]["macro_f1"]
                prov = e["provenance"]
                notes[e["level"]] = "; ".join(x for x in (
                    f"{prov['rows']} rows", prov.get("note", ""),
                    f"subsample: {prov['subsampled']}" if prov.get("subsampled") else "") if x)
            else:
                notes[e["level"]] = e["reason"]
    rows = []
    for level, c in claims["tiers"].items():
        rows.append({"level": level, "dataset": c["dataset"], "Partner A (claimed)": c["partner_a"],
                     "Partner B (reproduced)": c["partner_b"], "this run": ours.get(level), "note": notes.get(level, "")})
    tiers = {r["level"]: r for r in rows}
    if "L1" in tiers and "L3" in tiers:
        def delta(col):
            a, b = tiers["L1"][col], tiers["L3"][col]
            return None if a is None or b is None else a - b
        rows.append({"level": "ΔF1", "dataset": "L1 − L3", "Partner A (claimed)": delta("Partner A (claimed)"),
                     "Partner B (reproduced)": delta("Partner B (reproduced)"), "this run": delta("this run"),
                     "note": "lower = less degradation under shift"})
    if stress:
        for e in stress["tiers"].values():
            if e["level"] not in claims["tiers"]:
                rows.append({"level": e["level"], "dataset": e["name"], "Partner A (claimed)": None,
                             "Partner B (reproduced)": None,
                             "this run": e["metrics"]["macro_f1"] if e["available"] else None,
                             "note": "extra tier (no claim)" if e["available"] else e["reason"]})
    if emotion:
        rows.append({"level": "emotion", "dataset": "GoEmotions test (7-class macro-F1)", "Partner A (claimed)": None,
                     "Partner B (reproduced)": None, "this run": emotion["macro_f1"], "note": "no claim in the report"})
    df = pd.DataFrame(rows)
    df["this − A"] = [None if x is None or a is None else x - a
                      for x, a in zip(df["this run"], df["Partner A (claimed)"])]
    df["this − B"] = [None if x is None or b is None else x - b
                      for x, b in zip(df["this run"], df["Partner B (reproduced)"])]
    return df[["level", "dataset", "Partner A (claimed)", "Partner B (reproduced)", "this run", "this − A", "this − B",
               "note"]]


def format_table(df: pd.DataFrame) -> pd.DataFrame:
    """Numbers to 4 decimals, gaps signed, missing as '—' (for display and index.html)."""
    out = df.copy().astype(object)
    for col in ("Partner A (claimed)", "Partner B (reproduced)", "this run"):
        out[col] = [("—" if v is None or pd.isna(v) else f"{v:.4f}") for v in df[col]]
    for col in ("this − A", "this − B"):
        out[col] = [("—" if v is None or pd.isna(v) else f"{v:+.4f}") for v in df[col]]
    return out
