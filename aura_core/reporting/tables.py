"""What the notebooks display from a run's metrics.json sections: data cards, the tier table, the emotion line, the
legend of the levels."""
from __future__ import annotations

import pandas as pd

from aura_core.base.results import StressScores
from aura_core.base.run_folder import RunFolder
from aura_core.grids.cells import first_baseline_cell
from aura_core.grids.spec import Grid


def cards_table(cards: list[dict]) -> pd.DataFrame:
    """One row per data card (01): rows, classes, lengths, what a rule removed, subsampling, source file."""
    rows = []
    for c in cards:
        rows.append({"dataset": c["dataset"], "rows": c["rows"],
                     "classes": ", ".join(f"{k} {v}" for k, v in c["classes"].items()),
                     "positive rate": "—" if c["positive_rate"] is None else round(c["positive_rate"], 3),
                     "words median / p95": f"{c['words_median']:.0f} / {c['words_p95']:.0f}",
                     "removed by a rule": "; ".join(f"{k}: {v}" for k, v in c["dropped"].items()) or "none",
                     "subsampled": c["subsampled"] or "no", "source": c["source"], "split": c["split"]})
    return pd.DataFrame(rows).set_index("dataset")


def emotion_summary(scores: StressScores) -> str:
    emo = scores.emotion
    if "not_applicable" in emo:
        return f"Emotion head: not applicable ({emo['not_applicable']})."
    ci = emo.get("macro_f1_ci")
    ci_text = f" [95% CI {ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    single = (f"Emotion head, GoEmotions test ({emo['n']} rows): 7-class single-label macro-F1 "
              f"**{emo['macro_f1']:.4f}**{ci_text} (argmax against each row's first class), accuracy "
              f"{emo['accuracy']:.4f}.")
    ml = emo.get("multilabel")
    if not ml:
        return single + (" (The official GoEmotions protocol is multi-label, sigmoid at 0.3; this 7-way softmax score "
                         "is not directly comparable to published GoEmotions numbers: train with emotion_target: "
                         "multilabel for that score.)")
    ci = ml.get("macro_f1_ci")
    ci_text = f" [{ml['ci_level']:.0%} CI {ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return single + (f" Multi-label (GoEmotions protocol: a class when its sigmoid ≥ {ml['threshold']:g}, every "
                     f"label of a row): macro-F1 **{ml['macro_f1']:.4f}**{ci_text}, micro-F1 {ml['micro_f1']:.4f}, "
                     f"exact match {ml['exact_match']:.4f}; {ml['rows_with_no_class']} rows predicted no class.")


def tier_table(scores: StressScores) -> pd.DataFrame:
    """One row per tier (04): macro-F1 with its CI, toxic F1, accuracy, ROC-AUC, positive rates, or why not scored."""
    rows = []
    for t in scores.tiers.values():
        m = t.metrics or {}
        ci = m.get("macro_f1_ci")
        rows.append({"level": t.level, "tier": t.name, "rows": m.get("n"),
                     "macro-F1": m.get("macro_f1"), "95% CI": f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else None,
                     "toxic F1": m.get("pos_f1"), "accuracy": m.get("accuracy"),
                     "ROC-AUC": m.get("roc_auc"), "true pos. rate": m.get("true_pos_rate"),
                     "pred. pos. rate": m.get("pred_pos_rate"),
                     "status": "ok" if t.available else t.reason})
    return pd.DataFrame(rows)


def provenance_table(scores: StressScores) -> pd.DataFrame:
    """Where every tier's rows come from (file, split, label rule, rows, what the rules removed), or why absent."""
    return pd.DataFrame({f"{t.level} {t.name}": (t.provenance if t.available else {"status": t.reason})
                         for t in scores.tiers.values()}).T


def tier_legend(grid: Grid) -> pd.DataFrame:
    """A grid's legend, as the baseline's first finished seed was scored (all cells share the tiers)."""
    first = first_baseline_cell(grid)
    return legend(RunFolder(first.dir).stress()) if first else pd.DataFrame()


def legend(scores: StressScores) -> pd.DataFrame:
    """level → tier → file → rows: what every level in a table stands for."""
    rows = []
    for t in scores.tiers.values():
        prov = t.provenance
        rows.append({"level": t.level, "tier": t.name, "key": t.key,
                     "file": prov.get("file", "") if t.available else t.reason,
                     "rows": prov.get("rows"), "toxic": prov.get("toxic"), "label rule": prov.get("label_rule", ""),
                     "partners' rows": prov.get("partners_rows") if t.available else None})
    return pd.DataFrame(rows)
