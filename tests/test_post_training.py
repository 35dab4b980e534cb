"""Post-training choices scored from stored epoch predictions equal the same configuration trained as a run."""
import numpy as np
import pandas as pd
import pytest
from conftest import run_mini

from aura_core.base.results import StressScores
from aura_core.data.tiers import load_tiers
from aura_core.running import pipeline
from aura_core.scoring import post_training as PT
from aura_core.scoring import scorers
from aura_core.training import epoch_predictions as E


def test_a_choice_may_only_change_post_training_keys():
    from aura_core.base.params import ParamError, Params
    p = Params()
    assert PT.with_choice(p, {"threshold": "tuned", "selection": "best"}).threshold == "tuned"
    with pytest.raises(ValueError, match=r"\['epochs'\] change training"):
        PT.with_choice(p, {"epochs": 2})
    with pytest.raises(ParamError, match="'validation': 'both' is not one of"):
        PT.with_choice(p, {"validation": "both"})
    assert PT.choices({"threshold": [0.5, "tuned"], "selection": ["last", "best"]}) == [
        {"threshold": 0.5, "selection": "last"}, {"threshold": 0.5, "selection": "best"},
        {"threshold": "tuned", "selection": "last"}, {"threshold": "tuned", "selection": "best"}]


def scores(stress_or_view):
    if isinstance(stress_or_view, StressScores):   # what 04 returns
        s = stress_or_view
        return ({k: t.metrics for k, t in s.tiers.items() if t.metrics is not None}, s.stored_delta_f1,
                {k: v for k, v in s.emotion.items() if k != "subsampled"})
    return ({k: e["metrics"] for k, e in stress_or_view["tiers"].items() if "metrics" in e},
            stress_or_view["delta_f1"],
            {k: v for k, v in stress_or_view["emotion_goemotions_test"].items() if k != "subsampled"})


@pytest.mark.slow
def test_a_view_equals_the_configuration_trained_as_its_own_run(fixture_data, tiny_encoder, tmp_path):
    base = dict(deterministic=True, epochs=3, seed=3)
    p, run_dir, tuned, stress = run_mini(fixture_data, tiny_encoder, tmp_path / "a", **base)
    assert E.epochs(run_dir) == [1, 2, 3]
    assert scores(PT.view(run_dir, p)) == scores(stress)          # its own choice: 04's numbers, metric for metric
    other = {"selection": "best", "validation": "separate", "threshold": "tuned"}
    q, run_b, tuned_b, _ = run_mini(fixture_data, tiny_encoder, tmp_path / "b", **base, **other)
    stress_b = pipeline.stress_test(q, run_b, scorers.load_scorer(run_b, q).checkpoint)  # its weights, predicted again
    v = PT.view(run_dir, p, other)
    assert v["epoch"] == tuned_b["selected_epoch"] and v["threshold"] == tuned_b["threshold"]
    assert scores(v) == scores(stress_b)                            # trained once, decided afterwards: the same
    views = [PT.view(run_dir, p, c) for c in PT.choices({"threshold": [0.5, "tuned"], "selection": ["last", "best"]})]
    assert len(views) == 4 and views[0]["tiers"]["olid"]["metrics"] == stress.tiers["olid"].metrics


@pytest.mark.slow
def test_03_and_04_read_the_selected_epochs_stored_predictions_as_the_checkpoint_gives_them(fixture_data, tiny_encoder,
                                                                                            tmp_path):
    p, run_dir, tuned, stress = run_mini(fixture_data, tiny_encoder, tmp_path, deterministic=True, epochs=3, seed=3,
                                         selection="best", threshold="tuned", validation="separate")
    stored = scorers.load_scorer(run_dir, p)
    assert isinstance(stored, scorers.StoredEpochScorer) and stored.epoch == tuned["selected_epoch"]
    dev = pipeline.prepared(p, run_dir).dev
    again = pipeline.tune(p, run_dir, stored, dev), pipeline.stress_test(p, run_dir, stored)
    assert stored._model_scorer is None                      # every set came from the stored files: no second pass
    checkpoint = stored.checkpoint
    fresh = pipeline.tune(p, run_dir, checkpoint, dev), pipeline.stress_test(p, run_dir, checkpoint)
    assert again[0] == fresh[0] == tuned                     # threshold, validation metrics: metric for metric
    assert scores(again[1]) == scores(fresh[1]) == scores(stress)
    assert again[1].shortcut == fresh[1].shortcut
    # rows that are not the stored rows (a tier re-cut after training) are predicted by the checkpoint
    tier = next(t for t in load_tiers(p) if t.frame is not None)
    half = tier.frame.iloc[::2]
    np.testing.assert_array_equal(stored.predict(half, tier.key)["toxicity"][:, 1],
                                  checkpoint.predict(half, tier.key)["toxicity"][:, 1])
    assert stored.stored(half, tier.key) is None and stored.stored(tier.frame, tier.key) is not None


def test_a_view_is_scored_once_until_the_files_it_reads_change(tmp_path, monkeypatch):
    from aura_core.base.params import Params
    rng = np.random.default_rng(0)
    run, p = tmp_path / "run", Params(tiers=["olid"], extra_tiers=[], validation="paired")
    (run / "predictions").mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    for epoch in (1, 2):
        dev = pd.DataFrame({"source": ["olid"] * 20 + ["goemotions"] * 20, "toxicity": rng.integers(0, 2, 40),
                            "emotion": rng.integers(0, 7, 40), "p_toxic": rng.random(40),
                            "emotion_pred": rng.integers(0, 7, 40)})
        E.write(run, epoch, E.DEV, dev, {"toxicity": np.c_[1 - dev["p_toxic"], dev["p_toxic"]]})
        olid = pd.DataFrame({"id": [f"r{i}" for i in range(30)], "label": rng.integers(0, 2, 30)})
        E.write(run, epoch, "olid", olid, {"toxicity": np.c_[np.zeros(30), rng.random(30)]})
    original, calls = PT.selected_epoch, []
    monkeypatch.setattr(PT, "selected_epoch", lambda *a: calls.append(a) or original(*a))
    first = PT.view(run, p, {"selection": "best"})
    first["tiers"]["olid"]["metrics"]["macro_f1"] = -1.0                  # a caller's change stays its own
    again = PT.view(run, p, {"selection": "best"})
    assert len(calls) == 1 and again["tiers"]["olid"]["metrics"]["macro_f1"] >= 0
    PT.view(run, p, {"selection": "last"})
    assert len(calls) == 2                                                 # another choice: scored
    E.write(run, again["epoch"], "olid", olid, {"toxicity": np.c_[np.zeros(30), 1 - olid["label"].to_numpy()]})
    changed = PT.view(run, p, {"selection": "best"})
    assert len(calls) == 3 and changed["tiers"]["olid"]["metrics"]["macro_f1"] == 0.0   # new predictions: re-scored


SPACE = {"threshold": [0.5, "tuned"], "validation": ["paired", "separate"], "selection": ["last", "best"]}


def test_kept_dev_metrics_are_what_each_choice_computes_afresh(tmp_path):
    """selected_epoch keeps each epoch's dev metrics per (file version, the settings dev_metrics reads): under every
    choice they equal dev_metrics computed from the file, and a rewritten dev file is validated again."""
    import dataclasses

    from aura_core.base.params import Params
    from aura_core.training import validation as V
    rng = np.random.default_rng(1)
    run = tmp_path / "run"

    def write_dev(epoch):
        dev = pd.DataFrame({"source": ["olid"] * 25 + ["goemotions"] * 25, "toxicity": rng.integers(0, 2, 50),
                            "emotion": rng.integers(0, 7, 50), "p_toxic": rng.random(50)})
        E.write(run, epoch, E.DEV, dev, {"toxicity": np.c_[1 - dev["p_toxic"], dev["p_toxic"]],
                                         "emotion": rng.random((50, 7))})
    for epoch in (1, 2, 3):
        write_dev(epoch)
    base = Params(tiers=["olid"], extra_tiers=[])

    def afresh(q, epoch):
        dev = E.read(run, epoch, E.DEV)
        return V.dev_metrics(dev, dev["p_toxic"].to_numpy(), dev["emotion_pred"].to_numpy(), q)
    for choice in PT.choices({**SPACE, "threshold": [0.3, 0.5, "tuned"]}):
        q = dataclasses.replace(base, **choice)
        _, val = V.selected_epoch(run, q)
        assert val == {e: afresh(q, e) for e in (1, 2, 3)}, choice
    q = dataclasses.replace(base, threshold=0.3)
    before = V.selected_epoch(run, q)[1][2]
    write_dev(2)
    after = V.selected_epoch(run, q)[1][2]
    assert after == afresh(q, 2) and after != before



@pytest.mark.slow
def test_selectable_epochs_store_bit_for_bit_what_every_epoch_stores_and_every_view_is_the_same(
        fixture_data, tiny_encoder, tmp_path):
    from aura_core.training.validation import selectable_epochs
    base = dict(deterministic=True, epochs=3, seed=5)
    p, every, _, _ = run_mini(fixture_data, tiny_encoder, tmp_path / "every", **base)
    q, some, _, stress = run_mini(fixture_data, tiny_encoder, tmp_path / "some", score_epochs="selectable", **base)
    assert E.epochs(some) == E.epochs(every) == [1, 2, 3]            # dev: every epoch, both ways
    kept = E.scored_epochs(some)
    assert kept == selectable_epochs(some, q) and 3 in kept and E.scored_epochs(every) == [1, 2, 3]
    for epoch in (1, 2, 3):
        names = sorted(f.name for f in E.folder(every, epoch).glob("*.csv"))
        stored = sorted(f.name for f in E.folder(some, epoch).glob("*.csv"))
        assert stored == (names if epoch in kept else ["dev.csv"])
        for name in stored:                                           # the same bytes: same weights, same inference
            assert (E.folder(some, epoch) / name).read_bytes() == (E.folder(every, epoch) / name).read_bytes()
    assert not list((some / "checkpoints").glob("epoch*.safetensors"))  # the kept epoch weights are dropped
    for choice in PT.choices(SPACE):                                  # every view of the factorial's space: the same
        assert scores(PT.view(some, q, choice)) == scores(PT.view(every, p, choice)), choice
    assert scores(PT.view(some, q)) == scores(stress)


def test_a_view_of_an_epoch_whose_test_predictions_were_not_stored_is_an_error(tmp_path):
    from aura_core.base.params import Params
    from aura_core.training.validation import selectable_epochs
    run, p = tmp_path / "run", Params(tiers=["olid"], extra_tiers=[], validation="paired")
    (run / "predictions").mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    y = np.array([0, 1] * 20)
    # epoch 1 separates the classes at 0.5, epoch 2 only at 0.8: best at 0.5 is epoch 1, best at 0.8 is epoch 2
    for epoch, p_toxic in ((1, np.where(y == 1, 0.6, 0.4)), (2, np.where(y == 1, 0.9, 0.7)), (3, np.full(40, 0.6))):
        dev = pd.DataFrame({"source": ["olid", "goemotions"] * 20, "toxicity": y, "emotion": 0, "p_toxic": p_toxic})
        E.write(run, epoch, E.DEV, dev, {"toxicity": np.c_[1 - p_toxic, p_toxic]})
    assert selectable_epochs(run, p) == [1, 3]                      # last; best at 0.5 under either validation
    assert selectable_epochs(run, Params(threshold=0.8)) == [1, 2, 3]  # a trained fixed threshold: its own best too
    olid = pd.DataFrame({"id": [f"r{i}" for i in range(40)], "label": y})
    for epoch in (1, 3):
        E.write(run, epoch, "olid", olid, {"toxicity": np.c_[1 - y * 0.8, y * 0.8]})
    assert E.scored_epochs(run) == [1, 3]
    assert PT.view(run, p, {"selection": "best", "threshold": "tuned"})["epoch"] == 1
    with pytest.raises(ValueError, match=r"selects epoch 2, whose test-set predictions were not stored .*\[1, 3\]"):
        PT.view(run, p, {"selection": "best", "threshold": 0.8})
