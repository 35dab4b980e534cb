"""What a run's stress test scored, as objects every stage shares instead of string-keyed dict paths.

metrics.json stays the storage format: `StressScores.from_json(metrics["stress"])` reads every stress section written
since the partners' tiers existed, `to_json()` writes back exactly what it read, and a section from before then is
named as such instead of failing on a missing key somewhere downstream. The rules that used to be re-derived by each
reader live here once: ΔF1 (`delta_f1`) and whether a tier's rows are the partners' own (`TierScore.partners_rows`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

LEVELS = ("L1", "L2", "L3")   # the claimed levels: OLID test, the partners' L2 and L3 rows
DELTA = ("L1", "L3")          # ΔF1 = L1 − L3, the generalisation gap the partners report


class OlderMetricsError(ValueError):
    """A metrics.json written before the partners' tiers existed (no per-tier level): re-score it."""


def delta_f1(f1: Mapping[str, Any]) -> Any:
    """ΔF1 = L1 − L3 from macro-F1 by level: numbers, or per-seed / per-draw arrays (element-wise); None when either
    level is missing."""
    a, b = (f1.get(level) for level in DELTA)
    if a is None or b is None:
        return None
    if np.isscalar(a) and np.isscalar(b):
        return a - b
    return np.subtract(np.asarray(a, float), np.asarray(b, float))


def claim_side(claim: float, low: float | None, high: float | None) -> str:
    """Where a claimed number lies against an interval (a CI, a seed range, a one-run prediction interval): "inside"
    (bounds included), "above" or "below"; "outside" when there is no interval to hold it."""
    if low is None or high is None:
        return "outside"
    return "inside" if low <= claim <= high else ("above" if claim > high else "below")


@dataclass
class TierPredictions:
    """One tier's scored rows in a run or a view: the labels, the 0/1 predictions at its threshold, and the rows
    themselves (id, p_toxic and the tier's own columns, e.g. target_group), in the same order."""
    labels: np.ndarray
    predicted: np.ndarray
    rows: pd.DataFrame

    @classmethod
    def at_threshold(cls, rows: pd.DataFrame, threshold: float) -> "TierPredictions":
        return cls(rows["label"].to_numpy(), (rows["p_toxic"].to_numpy() >= threshold).astype(int), rows)


TIER_FIELDS = ("level", "name", "available", "reason", "provenance", "metrics", "anatomy", "errors")


@dataclass
class TierScore:
    """One tier as 04 (or a post-training view) scored it: which level it stands for, where its rows come from
    (provenance), and, when it was available, its metrics at the run's threshold, their CI and the error anatomy."""
    key: str
    level: str
    name: str = ""
    available: bool = True
    reason: str = ""
    provenance: dict = field(default_factory=dict)
    metrics: dict | None = None
    anatomy: dict | None = None
    errors: Any = None
    present: tuple[str, ...] = TIER_FIELDS   # the fields the JSON held: to_json writes back exactly those

    @classmethod
    def from_json(cls, key: str, entry: Mapping, where: str = "a metrics file") -> "TierScore":
        if "level" not in entry:
            raise OlderMetricsError(f"{where}: stress.tiers.{key} has no 'level': it was scored before the partners' "
                                    f"tiers existed; score the run again (aura grid --rescore, or aura evaluate)")
        known = {k: entry[k] for k in TIER_FIELDS if k in entry}
        return cls(key=key, **known, present=tuple(k for k in entry if k in TIER_FIELDS))

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.present}

    @property
    def macro_f1(self) -> float | None:
        return self.metrics.get("macro_f1") if self.available and self.metrics else None

    @property
    def macro_f1_ci(self) -> tuple[float, float] | None:
        ci = self.metrics.get("macro_f1_ci") if self.available and self.metrics else None
        return tuple(ci) if ci else None

    @property
    def partners_rows(self) -> bool:
        """Were these the rows the partners scored (so the level can be set beside their numbers)? Runs scored before
        provenance recorded it said so by the absence of a note (a note named rows other than theirs)."""
        return bool(self.provenance.get("partners_rows", not self.provenance.get("note")))


@dataclass
class StressScores:
    """A run's stress section: the threshold it was scored at, each tier's TierScore, and the rest of the section
    (emotion F1, domain-shortcut probe, summary, a view's choice) kept as it was written."""
    threshold: float
    tiers: dict[str, TierScore]
    rest: dict = field(default_factory=dict)
    order: tuple[str, ...] = ()   # the section's keys as written, so to_json writes them back in that order

    @classmethod
    def from_json(cls, stress: Mapping, where: str = "a metrics file") -> "StressScores":
        if "tiers" not in stress or "threshold" not in stress:
            raise OlderMetricsError(f"{where}: its stress section has no tiers or threshold: it was written before "
                                    f"the partners' tiers existed; score the run again")
        tiers = {k: TierScore.from_json(k, e, where) for k, e in stress["tiers"].items()}
        return cls(stress["threshold"], tiers, {k: v for k, v in stress.items() if k not in ("threshold", "tiers")},
                   tuple(stress))

    def to_json(self) -> dict:
        own = {"threshold": self.threshold, "tiers": {k: t.to_json() for k, t in self.tiers.items()}}
        keys = list(self.order) + [k for k in [*own, *self.rest] if k not in self.order]
        return {k: own[k] if k in own else self.rest[k] for k in keys}

    def available(self) -> list[TierScore]:
        return [t for t in self.tiers.values() if t.available]

    def f1(self) -> dict[str, float]:
        """Macro-F1 by level, for the tiers that were scored."""
        return {t.level: t.macro_f1 for t in self.available()}

    @property
    def delta_f1(self) -> float | None:
        return delta_f1(self.f1())

    @property
    def emotion(self) -> dict:
        """The emotion head's GoEmotions-test scores, or {"not_applicable": why} ({} in a section without it)."""
        return self.rest.get("emotion_goemotions_test") or {}

    @property
    def emotion_f1(self) -> float | None:
        """The emotion head's GoEmotions-test macro-F1 (None: single-task run, or a scorer without that head)."""
        return self.emotion.get("macro_f1")

    @property
    def shortcut(self) -> dict:
        """The domain-shortcut probe (anatomy.shortcut_probe); {} when the section has none."""
        return self.rest.get("shortcut") or {}

    @property
    def scored(self) -> str:
        """What was scored: this run's checkpoint, or the model / predictions file `aura evaluate` was given."""
        return self.rest.get("scored", "")

    @property
    def summary(self) -> dict:
        """anatomy.run_summary: the shortcut gap and each level's predicted/true positive rate."""
        return self.rest.get("summary") or {}

    @property
    def stored_delta_f1(self) -> float | None:
        """ΔF1 as the section stored it (equal to `delta_f1` for every section this project writes)."""
        return self.rest.get("delta_f1")

    def comparable_levels(self) -> set[str]:
        """The levels scored on the partners' own rows: only these can be set beside their claimed numbers."""
        return {t.level for t in self.available() if t.partners_rows}


RUN_COLUMNS = [*LEVELS, "ΔF1", "emotion"]


@dataclass
class RunMetrics:
    """A run's metrics.json: the stress section as StressScores (None until 04 has run) and every other section (data,
    tune, train) as written."""
    stress: StressScores | None
    sections: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, metrics: Mapping, where: str = "a metrics file") -> "RunMetrics":
        stress = StressScores.from_json(metrics["stress"], where) if "stress" in metrics else None
        return cls(stress, {k: v for k, v in metrics.items() if k != "stress"})

    @property
    def selected_epoch(self) -> int | None:
        return self.sections.get("train", {}).get("selected_epoch")

    def headline(self) -> dict:
        """L1/L2/L3 macro-F1, ΔF1 (as 04 stored it) and the emotion head's GoEmotions-test macro-F1."""
        if self.stress is None:
            return {k: None for k in RUN_COLUMNS}
        f1 = self.stress.f1()
        return {**{k: f1.get(k) for k in LEVELS}, "ΔF1": self.stress.stored_delta_f1, "emotion": self.stress.emotion_f1}

    def cell_row(self) -> dict:
        """The headline with what a grid's cell table adds: threshold, shortcut gap, predicted/true positive rate per
        level, the selected epoch."""
        s = self.stress
        summary = s.summary if s else {}
        return {**self.headline(), "threshold": s.threshold if s else None,
                "shortcut_gap": summary.get("shortcut_gap"),
                **{f"pred/true {lv}": r for lv, r in summary.get("pred_over_true_pos_rate", {}).items()},
                "selected_epoch": self.selected_epoch}


def run_scores(metrics: Mapping) -> dict:
    """RunMetrics.headline of a metrics.json as read."""
    return RunMetrics.from_json(metrics).headline()
