"""The controls: single-task baseline, the emotion head's own score, published reference rows."""
import shutil

import pytest

from aura_core import data as D
from aura_core import pipeline, scoring
from aura_core.compare import format_scores, load_claims, load_reference_runs, runs_table
from aura_core.io import read_json
from aura_core.report import write_index
from conftest import REPO


def test_single_task_has_no_emotion_parameters_and_reads_no_goemotions_file(mini_run, fixture_data, monkeypatch):
    shutil.rmtree(fixture_data / "goemotions")

    def forbidden(*a, **k):
        raise AssertionError("the single-task control must not read GoEmotions")
    monkeypatch.setattr(D, "load_goemotions", forbidden)
    p, run_dir, tuned, stress = mini_run(tasks=["toxicity"], weighting="equal")
    model = scoring.load_scorer(run_dir, p).model
    assert list(model.heads) == ["toxicity"]
    assert not [n for n, _ in model.named_parameters() if "emotion" in n]
    assert "not_applicable" in stress["emotion_goemotions_test"]
    assert "paired_dev_emotion" not in tuned and stress["tiers"]["olid"]["available"]
    assert set(pipeline.prepare(p).train["source"]) == {"olid"}
    assert "not applicable" in pipeline.emotion_summary(stress)


def test_multitask_run_reports_the_emotion_head(mini_run):
    p, run_dir, tuned, stress = mini_run()
    emo = stress["emotion_goemotions_test"]
    assert emo["n"] == 7 and 0.0 <= emo["macro_f1"] <= 1.0 and len(emo["per_class_f1"]) == 7
    assert "not directly comparable" in pipeline.emotion_summary(stress)


def test_reference_rows_render_with_their_sources(mini_run, tmp_path):
    p, control_dir, _, _ = mini_run(tasks=["toxicity"], weighting="equal")
    shutil.copytree(control_dir, tmp_path / "control")
    p2, run_dir, _, _ = mini_run(reference_runs=[{"label": "single-task control", "path": str(tmp_path / "control")},
                                                 {"label": "ghost", "path": str(tmp_path / "nope")}])
    claims = load_claims(REPO / "params" / "claims.yaml")
    table = runs_table(claims, read_json(run_dir / "metrics.json"), load_reference_runs(p2.reference_runs))
    rows = table.set_index("source")
    assert rows.loc["single-task control", "L1"] == read_json(tmp_path / "control" / "metrics.json")["stress"]["tiers"]["olid"]["metrics"]["macro_f1"]
    assert "tasks: ['toxicity']" in rows.loc["single-task control", "note"]
    assert rows.loc["ghost", "note"].startswith("not found")
    assert rows.loc["OffensEval 2019 best: NULI (BERT-base)", "L1"] == 0.829
    assert "Zampieri" in rows.loc["OffensEval 2019 best: NULI (BERT-base)", "note"]
    assert rows.loc["TweetEval 'offensive', RoBERTa-base", "L1"] == 0.795
    assert format_scores(table).set_index("source").loc["BERT-base (Caselli et al. 2021)", "L3"] == "—"
    assert rows.loc["Partner A (claimed)", "ΔF1"] == pytest.approx(0.7917 - 0.5168)
    html = write_index(run_dir).read_text()
    assert "single-task control" in html and "Caselli" in html and "No published comparator" in html


def test_single_task_runs_through_all_five_notebooks(fixture_data, tiny_encoder, tmp_path):
    import subprocess
    import sys

    import yaml
    shutil.rmtree(fixture_data / "goemotions")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({
        "name": "st", "data_dir": str(fixture_data), "encoder": tiny_encoder, "allow_hub": False, "epochs": 1,
        "batch_size": 8, "olid_dev_fraction": 0.3, "tasks": ["toxicity"], "weighting": "equal",
        "claims": str(REPO / "params" / "claims.yaml")}))
    r = subprocess.run([sys.executable, "-m", "aura_core.cli", "run", str(tmp_path / "p.yaml"), "--out",
                        str(tmp_path / "run")], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "not applicable" in (tmp_path / "run" / "html" / "04_stress_test.html").read_text()
