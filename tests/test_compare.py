import pandas as pd
import pytest
from conftest import REPO

from aura_core.base.results import StressScores, TierScore
from aura_core.evidence.compare import claims_table, format_table, load_claims


def stress(l1=0.70, l3=0.45, jigsaw=False, emotion_f1=0.3):
    """A stress section built from the score objects (a schema change breaks it, as it breaks the readers)."""
    tiers = [TierScore("olid", "L1", "OLID", provenance={"rows": 860}, metrics={"macro_f1": l1}),
             TierScore("jigsaw", "L2", "Jigsaw", available=jigsaw,
                       reason="" if jigsaw else "not available: jigsaw: missing test.csv",
                       provenance={"rows": 10}, metrics={"macro_f1": 0.6} if jigsaw else None),
             TierScore("toxigen", "L3", "ToxiGen", provenance={"rows": 8960, "note": "annotated train rows"},
                       metrics={"macro_f1": l3}),
             TierScore("Stormfront", "X1", "Stormfront", provenance={"rows": 100}, metrics={"macro_f1": 0.5})]
    return StressScores(0.5, {t.key: t for t in tiers}, {"emotion_goemotions_test": {"macro_f1": emotion_f1}})


def test_shipped_claims_match_the_seed_report():
    c = load_claims(REPO / "params" / "claims.yaml")
    assert {k: (v["partner_a"], v["partner_b"]) for k, v in c["tiers"].items()} == {
        "L1": (0.7917, 0.7171), "L2": (0.7744, 0.6091), "L3": (0.5168, 0.4014)}
    # the report's ΔF1 values agree with its tier numbers
    assert c["tiers"]["L1"]["partner_a"] - c["tiers"]["L3"]["partner_a"] == pytest.approx(c["delta_f1"]["partner_a"], abs=6e-4)
    assert c["tiers"]["L1"]["partner_b"] - c["tiers"]["L3"]["partner_b"] == pytest.approx(c["delta_f1"]["partner_b"], abs=6e-4)
    assert [e["weight_toxicity"] for e in c["partner_b_epochs"]] == [1.10, 1.30, 1.53, 1.76, 1.97]


def test_claims_table_gaps_delta_and_unavailable_tier():
    c = load_claims(REPO / "params" / "claims.yaml")
    t = claims_table(c, stress()).set_index("level")
    assert t.loc["L1", "this − A"] == pytest.approx(0.70 - 0.7917)
    assert t.loc["L3", "this − B"] == pytest.approx(0.45 - 0.4014)
    assert t.loc["ΔF1", "this run"] == pytest.approx(0.25)
    assert t.loc["ΔF1", "Partner A (claimed)"] == pytest.approx(0.7917 - 0.5168)
    assert pd.isna(t.loc["L2", "this run"]) and "not available" in t.loc["L2", "note"]
    assert t.loc["X1", "dataset"] == "Stormfront" and t.loc["emotion", "this run"] == 0.3
    shown = format_table(t.reset_index()).set_index("level")
    assert shown.loc["L2", "this run"] == "—" and shown.loc["L1", "this − A"] == "-0.0917"


def test_claims_file_missing_key(tmp_path):
    (tmp_path / "c.yaml").write_text("tiers: {L1: {dataset: OLID, partner_a: 0.7}}\npartner_b_epochs: []\n")
    with pytest.raises(ValueError, match="tiers.L1: missing key 'partner_b'"):
        load_claims(tmp_path / "c.yaml")
