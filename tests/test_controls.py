"""The controls: single-task baseline, the emotion head's own score, published reference rows."""
import shutil
from dataclasses import replace

import pandas as pd
import pytest
from conftest import REPO, make_fixture_data, run_mini
from sklearn.metrics import f1_score

from aura_core.base.io import read_json
from aura_core.base.params import dump
from aura_core.data import loaders as D
from aura_core.evidence.compare import format_scores, load_claims, load_reference_runs, runs_table
from aura_core.reporting import tables
from aura_core.reporting.report import write_index
from aura_core.running import pipeline
from aura_core.scoring import scorers

pytestmark = pytest.mark.slow  # every test here trains or runs the notebooks


@pytest.fixture(scope="module")
def single_task(tmp_path_factory, tiny_encoder):
    """The single-task control, trained once for this module, on data without a GoEmotions folder and with the
    GoEmotions loader made to fail: it must not read that dataset at all."""
    data = make_fixture_data(tmp_path_factory.mktemp("single") / "data")
    shutil.rmtree(data / "goemotions")

    def forbidden(*a, **k):
        raise AssertionError("the single-task control must not read GoEmotions")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(D, "load_goemotions", forbidden)
        return run_mini(data, tiny_encoder, tmp_path_factory.mktemp("single_run"), tasks=["toxicity"],
                        weighting="equal")


@pytest.fixture(scope="module")
def multitask(tmp_path_factory, tiny_encoder):
    """The default multi-task run on the fixture data, trained once for this module."""
    data = make_fixture_data(tmp_path_factory.mktemp("multi") / "data")
    return run_mini(data, tiny_encoder, tmp_path_factory.mktemp("multi_run"))


def test_single_task_has_no_emotion_parameters_and_reads_no_goemotions_file(single_task):
    p, run_dir, tuned, stress = single_task
    model = scorers.load_scorer(run_dir, p).model
    assert list(model.heads) == ["toxicity"]
    assert not [n for n, _ in model.named_parameters() if "emotion" in n]
    assert "not_applicable" in stress.emotion and stress.emotion_f1 is None
    assert "paired_dev_emotion" not in tuned and stress.tiers["olid"].available
    assert set(pipeline.prepared(p, run_dir).train["source"]) == {"olid"}
    assert "not applicable" in tables.emotion_summary(stress)


def test_multitask_run_reports_the_emotion_head(multitask):
    p, run_dir, tuned, stress = multitask
    emo = stress.emotion
    pred = pd.read_csv(run_dir / "predictions" / "goemotions_test.csv")  # what the head predicted, row by row
    assert emo["n"] == 7 == len(pred) and len(emo["per_class_f1"]) == 7
    assert emo["macro_f1"] == pytest.approx(f1_score(pred["label"], pred["emotion_pred"], average="macro",
                                                     labels=range(7), zero_division=0))
    assert emo["macro_f1_ci"][0] <= emo["macro_f1"] <= emo["macro_f1_ci"][1]
    assert "not directly comparable" in tables.emotion_summary(stress)


def test_reference_rows_render_with_their_sources(single_task, multitask, tmp_path):
    shutil.copytree(single_task[1], tmp_path / "control")
    shutil.copytree(multitask[1], tmp_path / "run")
    refs = [{"label": "single-task control", "path": str(tmp_path / "control")},
            {"label": "ghost", "path": str(tmp_path / "nope")}]
    p2 = replace(multitask[0], reference_runs=refs)
    dump(p2, tmp_path / "run" / "params.yaml")
    run_dir = tmp_path / "run"
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
