"""Scoring without training: the tier registry, the three scorers, `aura evaluate` and `aura grid --rescore`."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from aura_core.base.io import read_json
from aura_core.base.params import ParamError, load
from aura_core.base.run_folder import RunFolder
from aura_core.data import tiers
from aura_core.running import pipeline
from aura_core.scoring import scorers
from aura_core.training.epoch_predictions import GOEMOTIONS_TEST


def profile(tmp_path, fixture_data, tiny_encoder, **over):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "data_dir": str(fixture_data), "encoder": tiny_encoder,
                                    "allow_hub": False, "epochs": 1, "batch_size": 8, "olid_dev_fraction": 0.3,
                                    "max_length": 32, "device": "cpu",
                                    "claims": str(REPO / "params" / "claims.yaml"), **over}))
    return path


def test_levels_claims_first_then_extra_tiers(fixture_data, tiny_encoder, tmp_path):
    p = load(profile(tmp_path, fixture_data, tiny_encoder, extra_tiers=[
        {"name": "Forum", "path": "forum/posts.csv", "toxic_values": ["hate"], "drop_values": ["relation", "idk/skip"]}]))
    assert tiers.levels(p) == [("olid", "L1"), ("partners_jigsaw", "L2"), ("partners_toxigen", "L3"),
                               ("toxigen", "X1"), ("Forum", "X2")]
    p.tiers = ["olid", "toxigen"]
    assert tiers.levels(p) == [("olid", "L1"), ("toxigen", "L2"), ("Forum", "X1")]
    loaded = {t.key: t for t in tiers.load_tiers(p)}
    # the annotated *train* split named as such, and marked as not the partners' L2 rows
    assert loaded["toxigen"].name == "ToxiGen annotated train (mean_gt_2.75)"
    assert loaded["toxigen"].provenance["partners_rows"] is False
    assert "not the file the partners scored as L2" in loaded["toxigen"].provenance["note"]


def test_default_tiers_name_their_files_and_hold_the_partners_rows(fixture_data, tiny_encoder, tmp_path):
    p = load(profile(tmp_path, fixture_data, tiny_encoder))
    loaded = {t.key: t for t in tiers.load_tiers(p)}
    l2, l3 = loaded["partners_jigsaw"], loaded["partners_toxigen"]
    assert (l2.level, l2.name) == ("L2", "Civil Comments sample (partners' 'Jigsaw')")
    assert l2.provenance["file"] == "$AURA_DATA_DIR/aura_stress/jigsaw_test.json"   # never this machine's path
    assert l2.provenance["partners_rows"] and "note" not in l2.provenance
    assert l3.frame["target_group"].tolist() == ["asian", "black", "black", "women"]
    assert l2.frame["text_sha1"].iloc[0] == tiers.text_sha1("you idiot")
    assert "id:0" in l2.keys_in_file and f"sha1:{tiers.text_sha1('you idiot')}" in l2.keys_in_file
    assert "toxicity_score" in l2.frame    # extra fields travel with the rows


def test_absent_partners_file_is_listed_with_its_reason(fixture_data, tiny_encoder, tmp_path):
    shutil.rmtree(fixture_data / "aura_stress")
    loaded = {t.key: t for t in tiers.load_tiers(load(profile(tmp_path, fixture_data, tiny_encoder)))}
    assert loaded["partners_jigsaw"].frame is None
    assert loaded["partners_jigsaw"].reason.startswith("not available: aura_stress: missing $AURA_DATA_DIR/")


@pytest.mark.parametrize("labels, choice, expected", [
    ({0: "non-toxic", 1: "toxic"}, None, 1), ({0: "NOT", 1: "OFF"}, None, 1), ({0: "hate", 1: "normal"}, None, 0),
    ({0: "LABEL_0", 1: "LABEL_1"}, "1", 1), ({0: "a", 1: "b", 2: "c"}, "c", 2)])
def test_toxic_output_from_the_config_or_the_param(labels, choice, expected):
    assert scorers.toxic_index(labels, len(labels), choice, "cfg") == expected


def test_toxic_output_that_cannot_be_told_is_an_error():
    with pytest.raises(ParamError, match="cannot tell which output is toxic .* --set toxic_output="):
        scorers.toxic_index({0: "LABEL_0", 1: "LABEL_1"}, 2, None, "m/config.json")
    with pytest.raises(ParamError, match="toxic_output 'evil' is neither a label nor an index"):
        scorers.toxic_index({0: "LABEL_0", 1: "LABEL_1"}, 2, "evil", "m/config.json")


def write_predictions(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("rows, fragment", [
    ([{"tier": "olid", "id": "101", "p_toxic": 1.5}], "p.csv:2: p_toxic '1.5' is not a probability"),
    ([{"tier": "olid", "id": "101", "p_toxic": 0.1}, {"tier": "olid", "id": "101", "p_toxic": 0.2}],
     "p.csv:3: a second prediction for tier 'olid' row 'id:101'"),
    ([{"tier": "olid", "p_toxic": 0.1}], "needs columns tier, p_toxic and id or text_sha1"),
])
def test_bad_prediction_files(tmp_path, rows, fragment):
    with pytest.raises(ParamError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        scorers.PredictionFileScorer(write_predictions(tmp_path / "p.csv", rows))


def test_prediction_rows_unknown_missing_or_of_an_undeclared_tier(tmp_path, fixture_data, tiny_encoder):
    p = load(profile(tmp_path, fixture_data, tiny_encoder))
    olid = {t.key: t for t in tiers.load_tiers(p)}["olid"]
    s = scorers.PredictionFileScorer(write_predictions(tmp_path / "p.csv", [
        {"tier": "olid", "id": "101", "p_toxic": 0.9}, {"tier": "olid", "id": "999", "p_toxic": 0.1}]))
    with pytest.raises(ParamError, match=r"p.csv:3: 1 prediction\(s\) for tier 'olid' match no row of it, first 'id:999'"):
        s.predict(olid.frame, "olid", olid.keys_in_file)
    s = scorers.PredictionFileScorer(write_predictions(tmp_path / "p.csv", [{"tier": "olid", "id": "101", "p_toxic": 0.9}]))
    with pytest.raises(ParamError, match="tier 'olid': no prediction for 2 of 3 rows, first id 102"):
        s.predict(olid.frame, "olid", olid.keys_in_file)
    s = scorers.PredictionFileScorer(write_predictions(tmp_path / "p.csv", [{"tier": "OLID", "id": "101", "p_toxic": 0.9}]))
    with pytest.raises(ParamError, match="p.csv:2: tier 'OLID' is not a declared tier"):
        s.check_sets(p.tiers)
    # rows may be keyed by the hash of their text instead of their id
    by_hash = [{"tier": "olid", "text_sha1": h, "p_toxic": 0.5} for h in olid.frame["text_sha1"]]
    s = scorers.PredictionFileScorer(write_predictions(tmp_path / "p.csv", by_hash))
    assert s.predict(olid.frame, "olid", olid.keys_in_file)["toxicity"][:, 1].tolist() == [0.5, 0.5, 0.5]


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


@pytest.mark.slow
def test_a_prediction_file_of_a_run_reproduces_its_scores(mini_run, tmp_path):
    """Scores made elsewhere enter the same tables: the run's own probabilities, sent back as a file, give the run's
    metrics, CIs, anatomy and shortcut probe exactly."""
    p, run_dir, tuned, stress = mini_run()
    rows = []
    for key in [*stress.tiers, GOEMOTIONS_TEST]:
        pred = pd.read_csv(run_dir / "predictions" / f"{key}.csv", dtype={"id": str})
        rows += [{"tier": key, "id": i, "p_toxic": x} for i, x in zip(pred["id"], pred["p_toxic"])]
    pred_file = write_predictions(tmp_path / "preds.csv", rows)
    out = tmp_path / "from_file"
    out.mkdir()
    (out / "params.yaml").write_text((run_dir / "params.yaml").read_text())
    (out / RunFolder.MODEL).write_text(json.dumps({"kind": "predictions", "path": str(pred_file),
                                                      "description": "predictions file preds.csv"}))
    scorer = scorers.load_scorer(out, p)
    assert pipeline.tune(p, out, scorer, pipeline.prepared(p, out).dev)["threshold"] == tuned["threshold"] == 0.5
    again = pipeline.stress_test(p, out, scorer)
    for key, t in stress.tiers.items():
        assert again.tiers[key].metrics == t.metrics, key     # the CSV round trip keeps every digit
        assert again.tiers[key].anatomy == t.anatomy
    # the model's float32 probabilities come back as float64: means agree to float32 precision
    assert flat(again.shortcut) == pytest.approx(flat(stress.shortcut), rel=1e-6, abs=1e-7)
    assert again.delta_f1 == stress.delta_f1
    assert again.emotion == {"not_applicable": "predictions file preds.csv has no emotion output"}


def test_tuned_threshold_needs_validation_predictions(tmp_path, fixture_data, tiny_encoder):
    p = load(profile(tmp_path, fixture_data, tiny_encoder, threshold="tuned"))
    s = scorers.PredictionFileScorer(write_predictions(tmp_path / "p.csv", [{"tier": "olid", "id": "1", "p_toxic": .1}]))
    with pytest.raises(ParamError, match="threshold = tuned needs validation predictions"):
        pipeline.tune(p, tmp_path, s, None)


def aura(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "aura_core.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.mark.slow
def test_evaluate_a_hugging_face_classifier(tmp_path, fixture_data, tiny_encoder):
    """A randomly initialised BertForSequenceClassification saved in the Hugging Face layout, scored by the same
    notebooks as an AURA run: every tier, with P(toxic) = softmax over its outputs at the 'toxic' label."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    cfg = BertConfig.from_pretrained(tiny_encoder, num_labels=2, id2label={0: "non-toxic", 1: "toxic"},
                                     label2id={"non-toxic": 0, "toxic": 1})
    hf = tmp_path / "hf_model"
    clf = BertForSequenceClassification(cfg).eval()
    clf.save_pretrained(hf)
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(hf)
    prof = profile(tmp_path, fixture_data, tiny_encoder, threshold="tuned", validation="separate")
    r = aura("evaluate", hf, "--out", tmp_path / "ev", "--profile", prof)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    m = read_json(tmp_path / "ev/metrics.json")
    assert "train" not in m and m["tune"]["rule"] == "tuned on the separate validation set"
    assert m["stress"]["scored"] == "Hugging Face model hf_model (toxic output: toxic)"
    assert [e["level"] for e in m["stress"]["tiers"].values()] == ["L1", "L2", "L3", "X1"]
    assert all(e["available"] for e in m["stress"]["tiers"].values())
    assert "no emotion output" in m["stress"]["emotion_goemotions_test"]["not_applicable"]
    assert m["stress"]["shortcut"]["shortcut_gap"] is not None    # P(toxic) on GoEmotions test needs no emotion head
    tok = AutoTokenizer.from_pretrained(hf)
    pred = pd.read_csv(tmp_path / "ev/predictions/partners_jigsaw.csv")
    texts = [r["text"] for r in json.loads((fixture_data / "aura_stress/jigsaw_test.json").read_text())]
    with torch.no_grad():
        expected = torch.softmax(clf(**tok(texts, return_tensors="pt", padding=True)).logits, -1)[:, 1].numpy()
    assert pred["p_toxic"].to_numpy() == pytest.approx(np.clip(expected, 1e-7, 1 - 1e-7), abs=1e-5)
    assert (tmp_path / "ev/html/05_compare.html").is_file() and (tmp_path / "ev/index.html").is_file()
    assert read_json(tmp_path / "ev/model.json")["kind"] == "hf"


@pytest.mark.slow
def test_grid_rescore_adds_a_tier_and_changes_nothing_else(tmp_path, fixture_data, tiny_encoder):
    """A finished cell re-scored after a tier was added: the new tier appears, every earlier number, the checkpoint
    and the training record stay as they were; the plain re-run sees the cell as finished, not stale. The cell then
    serves `aura evaluate` on a run folder, which scores it identically."""
    base = profile(tmp_path, fixture_data, tiny_encoder, tiers=["olid", "partners_jigsaw", "partners_toxigen"])
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({"name": "tg", "base": "p.yaml", "seeds": [5],
                                                     "configs": [{"label": "paired", "set": {}}]}))
    r = aura("grid", tmp_path / "g.yaml", "--root", tmp_path / "out")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    cell = tmp_path / "out/tg/paired__seed5"
    before = read_json(cell / "metrics.json")
    ckpt = cell / read_json(cell / "train.json")["checkpoint"]
    ckpt_bytes = ckpt.read_bytes()
    assert set(before["stress"]["tiers"]) == {"olid", "partners_jigsaw", "partners_toxigen"}

    base.write_text(yaml.safe_dump({**yaml.safe_load(base.read_text()),
                                    "tiers": ["olid", "partners_jigsaw", "partners_toxigen", "jigsaw"]}))
    r = aura("grid", tmp_path / "g.yaml", "--root", tmp_path / "out", "--dry-run")
    assert r.returncode == 0 and "1 finished, 0 to run" in r.stdout, r.stderr[-2000:]   # tiers are not stale
    r = aura("grid", tmp_path / "g.yaml", "--root", tmp_path / "out", "--rescore")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "re-scored" in r.stdout and "changed: tiers" in r.stdout
    after = read_json(cell / "metrics.json")
    assert after["stress"]["tiers"]["jigsaw"]["level"] == "X1" and after["stress"]["tiers"]["jigsaw"]["available"]
    for key, e in before["stress"]["tiers"].items():
        assert after["stress"]["tiers"][key] == e, key
    for section in ("data", "train", "tune"):
        assert after[section] == before[section], section
    assert after["stress"]["shortcut"] == before["stress"]["shortcut"]
    assert ckpt.read_bytes() == ckpt_bytes
    assert read_json(cell / "rescore.json")["history"][-1]["changed"] == ["tiers"]
    assert (tmp_path / "out/tg/compare/05_compare.html").is_file()
    summary = pd.read_csv(tmp_path / "out/tg/summary.csv")
    assert summary["status"].tolist() == ["finished"]
    r = aura("grid", tmp_path / "g.yaml", "--root", tmp_path / "out", "--rescore")   # again: nothing to do
    assert r.returncode == 0 and "up to date" in r.stdout and read_json(cell / "metrics.json") == after

    # a training key changed is not a re-score
    base.write_text(yaml.safe_dump({**yaml.safe_load(base.read_text()), "epochs": 2}))
    r = aura("grid", tmp_path / "g.yaml", "--root", tmp_path / "out", "--rescore")
    assert r.returncode == 2 and "(epochs)" in r.stderr and r.stderr.count("\n") == 1

    # aura evaluate on the run folder: the same model, the same numbers; training keys refused
    r = aura("evaluate", cell, "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    ev = read_json(tmp_path / "ev/metrics.json")
    assert ev["train"] == after["train"] and ev["tune"]["threshold"] == after["tune"]["threshold"]
    for key, e in after["stress"]["tiers"].items():
        got = ev["stress"]["tiers"][key]["metrics"]
        assert {k: got[k] for k in ("n", "macro_f1", "pred_pos_rate")} == \
            pytest.approx({k: e["metrics"][k] for k in ("n", "macro_f1", "pred_pos_rate")}), key
    r = aura("evaluate", cell, "--out", tmp_path / "ev2", "--set", "epochs=9")
    assert r.returncode == 2 and "--set epochs: changes how the model was trained" in r.stderr
