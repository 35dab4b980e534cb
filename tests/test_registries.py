"""One mechanism per kind of choice: a paradigm, a ToxiGen label rule, a tier, a scorer kind and a factor are each
one registry entry, and adding one there is all it takes for params, loading, scoring and the answers to accept it.
Param roles live in the fields' metadata, and the lists read from it behave as the roles say."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from aura_core.base import factors, params
from aura_core.base.params import ParamError, Params, keys_with, load
from aura_core.data import loaders as D
from aura_core.data import tiers
from aura_core.scoring import scorers
from aura_core.training import paradigms


def profile(tmp_path, data, **over):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "reg", "data_dir": str(data), "allow_hub": False, **over}))
    return path


def test_a_registered_paradigm_is_a_param_value_and_builds_its_rows(fixture_data, tmp_path, monkeypatch):
    with pytest.raises(ParamError, match=r"'olid_only' is not one of \['interleaved', 'masked', 'paired'\]"):
        load(profile(tmp_path, fixture_data, paradigm="olid_only"))
    olid_rows = lambda olid, ge: paradigms.masked_frame(olid, ge.iloc[:0])   # noqa: E731 (a toy paradigm)
    monkeypatch.setitem(paradigms.PARADIGMS, "olid_only", paradigms.Paradigm(olid_rows, False, False, "OLID only"))
    p = load(profile(tmp_path, fixture_data, paradigm="olid_only"))
    olid = pd.DataFrame({"text": ["a", "b"], "label": [1, 0]})
    ge = pd.DataFrame({"text": ["c"], "label": [3]})
    rows = paradigms.training_frame(p.paradigm, olid, ge)
    assert rows["source"].tolist() == ["olid", "olid"] and (rows["emotion"] == paradigms.IGNORE).all()


def test_the_paradigm_entries_say_what_training_does_with_them():
    olid = pd.DataFrame({"text": ["a"], "label": [1]})
    ge = pd.DataFrame({"text": ["c"], "label": [3]})
    paired = paradigms.training_frame("paired", olid, ge)
    assert paired["emotion"].tolist() == [D.NEUTRAL, 3] and paired["toxicity"].tolist() == [1, 0]
    masked = paradigms.training_frame("masked", olid, ge)
    assert masked["emotion"].tolist() == [paradigms.IGNORE, 3]
    assert [k for k, v in paradigms.PARADIGMS.items() if v.single_task_batches] == ["interleaved"]
    assert [k for k, v in paradigms.PARADIGMS.items() if v.pseudo_labels] == ["paired"]


def test_a_registered_toxigen_label_rule_labels_the_tier(fixture_data, tmp_path, monkeypatch):
    with pytest.raises(ParamError, match="'ai_only' is not one of"):
        load(profile(tmp_path, fixture_data, toxigen_label_rule="ai_only"))
    monkeypatch.setitem(D.TOXIGEN_LABEL_RULES, "ai_only", lambda r: int(float(r["toxicity_ai"]) > 2.5))
    p = load(profile(tmp_path, fixture_data, toxigen_label_rule="ai_only"))
    df = D.load_toxigen(fixture_data, p.toxigen_label_rule, allow_hub=False)
    assert df["label"].tolist() == [1, 0, 0] and df.attrs["label_rule"] == "ai_only"   # toxicity_ai 5, 1, 2.5
    assert D.load_toxigen(fixture_data, "human_ge_3", allow_hub=False)["label"].tolist() == [1, 0, 1]  # human 3


def test_a_toxigen_row_a_rule_cannot_read_names_its_line(fixture_data):
    path = fixture_data / "toxigen" / "annotated_train.csv"
    path.write_text(path.read_text().replace(",5,5,5,human,hate,", ",5,five,5,human,hate,"))
    with pytest.raises(D.DataError, match=r"annotated_train.csv:2: toxicity_ai/toxicity_human 'five'/'5' are not "):
        D.load_toxigen(fixture_data, "prompt_label", allow_hub=False)   # numbers checked whatever the rule


def test_a_registered_tier_is_a_param_value_and_is_loaded(fixture_data, tmp_path, monkeypatch):
    with pytest.raises(ParamError, match=r"unknown tier 'forum'; expected one of \["):
        load(profile(tmp_path, fixture_data, tiers=["olid", "forum"]))
    forum = tiers.BuiltinTier(
        "forum", lambda df, p: f"Forum posts ({'loaded' if df is not None else 'absent'})", lambda p: "hate = 1",
        lambda root, p: D.load_generic(root, params.TierSpec(name="forum", path="forum/posts.csv",
                                                             text_column="text", toxic_values=["hate"],
                                                             nontoxic_values=["noHate"],
                                                             drop_values=["relation", "idk/skip"])),
        lambda df, p: False)
    monkeypatch.setitem(tiers.BUILTIN, "forum", forum)
    p = load(profile(tmp_path, fixture_data, tiers=["olid", "forum"]))
    loaded = {t.key: t for t in tiers.load_tiers(p)}
    assert loaded["forum"].level == "L2" and loaded["forum"].name == "Forum posts (loaded)"
    assert loaded["forum"].frame["label"].tolist() == [0, 1, 0]
    assert loaded["forum"].provenance["label_rule"] == "hate = 1" and not loaded["forum"].provenance["partners_rows"]


def test_a_registered_scorer_kind_scores_a_run_folder(tmp_path, monkeypatch):
    class Constant(scorers.Scorer):
        description, tasks = "always 0.7", ("toxicity",)

        def covers(self, name):
            return True

        def predict(self, frame, name, keys_in_file=None):
            return {"toxicity": np.tile([0.3, 0.7], (len(frame), 1))}

    (tmp_path / "model.json").write_text(json.dumps({"kind": "constant", "description": "c"}))
    with pytest.raises(ParamError, match=r"model.json: unknown kind 'constant'; expected one of \["):
        scorers.load_scorer(tmp_path, Params())
    monkeypatch.setitem(scorers.SCORER_KINDS, "constant", lambda run, info, p: Constant())
    scorer = scorers.load_scorer(tmp_path, Params())
    assert scorer.predict(pd.DataFrame({"text": ["x", "y"]}), "olid")["toxicity"][:, 1].tolist() == [0.7, 0.7]


def test_the_factor_registry_gives_every_view_its_readers_use():
    assert factors.QUESTIONS[0] == (("paradigm", "batch_composition"), factors.QUESTION_TEXT[1])
    assert [keys for keys, _ in factors.QUESTIONS][1:] == [("pseudo_labels",), ("validation",), ("preprocess",),
                                                           ("threshold",), ("seed",), ("selection",)]
    assert factors.SHAPLEY_PARAMS["pseudo_labels"] == "paradigm" and "seed" not in factors.SHAPLEY_PARAMS
    assert factors.factor_name("paradigm", "masked") == "pseudo_labels"
    assert factors.factor_name("paradigm", "interleaved") == factors.factor_name("paradigm", None) == "paradigm"
    assert all(title for _, title in factors.UNASKED) and "focal_loss" in dict(factors.UNASKED)
    assert len({f.key for f in factors.FACTORS}) == len(factors.FACTORS)   # one entry per key


def test_param_roles_come_from_the_fields_and_act_as_named():
    by_field = {f.name: set(f.metadata.get("roles", ())) for f in dataclasses.fields(Params)}
    for role in params.ROLES:
        assert set(keys_with(role)) == {k for k, r in by_field.items() if role in r}
    assert params.POST_TRAINING_KEYS and set(params.POST_TRAINING_KEYS) == {"selection", "validation", "threshold"}
    assert set(params.EVALUATION_ONLY) <= set(params.SCORING_KEYS) and "selection" not in params.SCORING_KEYS
    with pytest.raises(KeyError, match="unknown param role 'computd'"):
        keys_with("computd")
    with pytest.raises(KeyError, match=r"param role\(s\) \['evalution_only'\] unknown"):
        params._p(1, "a typo in a role", roles=("evalution_only",))
    a, b = params.to_dict(Params()), params.to_dict(Params())
    b.update(data_dir="/elsewhere", keep_checkpoints="none", tiers=["olid"], lr_heads=1e-3)
    assert params.changed_keys(a, b) == ["lr_heads", "tiers"]         # not-computed keys never make two runs differ
    assert params.training_changes(a, b) == ["lr_heads"]              # an evaluation-only key needs a re-score only
