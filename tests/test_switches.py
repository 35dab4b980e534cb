"""The candidate causes of the discrepancy, each a switch: tested for what it computes."""
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TASKS, frames, tiny_params

from aura_core.data.preprocess import normalise_tweet
from aura_core.data.tiers import load_tiers
from aura_core.measures.metrics import macro_f1_by_threshold, toxicity_metrics, tune_threshold
from aura_core.running import pipeline
from aura_core.training import train as T
from aura_core.training import validation
from aura_core.training.batching import TaskBatchSampler
from aura_core.training.losses import WEIGHTINGS
from aura_core.training.paradigms import IGNORE, masked_frame, training_frame

# ---- paradigms --------------------------------------------------------------------------------------------------------

def sampler(rule, n_tox=50, n_emo=150, b=10, **kw):
    return TaskBatchSampler({"toxicity": np.arange(n_tox), "emotion": np.arange(n_tox, n_tox + n_emo)}, b, rule,
                            seed=3, **kw)


def batch_tasks(s):
    return ["toxicity" if batch[0] < 50 else "emotion" for batch in s]


@pytest.mark.parametrize("rule", ["proportional", "round_robin", "temperature"])
def test_interleaved_batches_are_single_task_and_epoch_length_is_the_rule(rule):
    s = sampler(rule)
    batches = list(s)
    assert len(batches) == len(s) == 5 + 15
    for batch in batches:
        assert len({i < 50 for i in batch}) == 1          # one task per batch


def test_proportional_visits_every_row_once_per_epoch_in_shuffled_order():
    s = sampler("proportional")
    e1, e2 = list(s), list(s)
    assert sorted(i for b in e1 for i in b) == list(range(200))
    assert Counter(batch_tasks(e1)) == {"toxicity": 5, "emotion": 15}
    assert batch_tasks(e1) != batch_tasks(e2)             # a new order every epoch


def test_round_robin_alternates_and_cycles_the_smaller_task():
    tasks = batch_tasks(sampler("round_robin"))
    assert tasks[:4] == ["toxicity", "emotion", "toxicity", "emotion"]
    assert Counter(tasks) == {"toxicity": 10, "emotion": 10}  # toxicity's 5 batches are cycled twice


@pytest.mark.parametrize("T_, expected", [(1.0, 0.25), (2.0, 50 ** 0.5 / (50 ** 0.5 + 150 ** 0.5)), (1e6, 0.5)])
def test_temperature_sampling_matches_n_to_the_one_over_T(T_, expected):
    s = sampler("temperature", temperature=T_)
    assert s.probs[0] == pytest.approx(expected, rel=1e-4)
    counts = Counter(t for _ in range(200) for t in batch_tasks(s))
    assert counts["toxicity"] / sum(counts.values()) == pytest.approx(expected, abs=0.02)


def test_masked_frame_carries_no_pseudo_labels():
    olid = pd.DataFrame({"text": ["a", "b"], "label": [1, 0]})
    ge = pd.DataFrame({"text": ["c"], "label": [4]})
    df = masked_frame(olid, ge)
    assert df["toxicity"].tolist() == [1, 0, IGNORE] and df["emotion"].tolist() == [IGNORE, IGNORE, 4]
    assert training_frame("interleaved", olid, ge).equals(df)
    assert training_frame("paired", olid, ge)["emotion"].tolist() == [6, 6, 4]


def test_masked_loss_ignores_unlabelled_rows_and_is_finite_without_a_task():
    torch.manual_seed(0)
    logits = {"toxicity": torch.randn(4, 2), "emotion": torch.randn(4, 7)}
    labels = {"toxicity": torch.tensor([1, 0, IGNORE, IGNORE]), "emotion": torch.tensor([IGNORE, IGNORE, 3, 5])}
    out = T.task_losses(logits, labels)
    ref = torch.nn.functional.cross_entropy(logits["toxicity"][:2], labels["toxicity"][:2])
    assert out["toxicity"].item() == pytest.approx(ref.item())
    only_olid = {"toxicity": torch.tensor([1, 0, 1, 0]), "emotion": torch.full((4,), IGNORE)}
    out = T.task_losses(logits, only_olid)
    total = WEIGHTINGS["kendall"](TASKS)(out)
    assert set(out) == {"toxicity"} and math.isfinite(total.item())
    # what PyTorch itself does on zero labelled rows: the reason the task is left out
    assert math.isnan(torch.nn.functional.cross_entropy(logits["emotion"], only_olid["emotion"]).item())


@pytest.mark.slow
@pytest.mark.parametrize("paradigm", ["masked", "interleaved"])
def test_training_runs_for_every_paradigm(tiny_encoder, tmp_path, paradigm):
    olid = pd.DataFrame({"text": [f"nasty idiot {i}" if i % 2 else f"calm {i}" for i in range(10)],
                         "label": [i % 2 for i in range(10)]})
    ge = pd.DataFrame({"text": [f"so sad {i}" for i in range(6)], "label": [4] * 6})
    res = T.train(tiny_params(tiny_encoder, paradigm=paradigm, epochs=1), tmp_path, training_frame(paradigm, olid, ge),
                  frames(4))
    steps = pd.read_csv(tmp_path / "steps.csv")
    # masked: 16 mixed rows → 4 batches; interleaved: ceil(10/4) + ceil(6/4) = 5 single-task batches (grad_accum 2)
    assert np.isfinite(steps["total"]).all() and res.steps == {"masked": 2, "interleaved": 3}[paradigm]


# ---- weightings -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("s, L", [(0.0, 0.8), (-2.0, 1.7), (1.5, 0.2)])
def test_kendall_positive_formula_gradient_and_positivity(s, L):
    w = WEIGHTINGS["kendall_positive"](["toxicity"])
    with torch.no_grad():
        w.log_vars.fill_(s)
    total = w({"toxicity": torch.tensor(L)})
    sigma2 = math.exp(s)
    assert total.item() == pytest.approx(L / (2 * sigma2) + math.log(1 + sigma2), rel=1e-6)
    assert total.item() > 0
    total.backward()
    assert w.log_vars.grad.item() == pytest.approx(-0.5 * math.exp(-s) * L + 1 / (1 + math.exp(-s)), rel=1e-5, abs=1e-6)


def test_kendall_total_can_go_negative_but_kendall_positive_cannot():
    losses = {"toxicity": torch.tensor(0.05), "emotion": torch.tensor(0.05)}
    k, kp = WEIGHTINGS["kendall"](TASKS, -3.0), WEIGHTINGS["kendall_positive"](TASKS, -3.0)
    assert k(losses).item() < 0 < kp(losses).item()     # the report's negative epoch losses come from log σ < 0


def test_fixed_and_equal_weightings_and_their_gradients():
    a, b = torch.tensor(0.7, requires_grad=True), torch.tensor(1.3, requires_grad=True)
    total = WEIGHTINGS["fixed"](TASKS, weights={"toxicity": 2.0, "emotion": 0.25})({"toxicity": a, "emotion": b})
    assert total.item() == pytest.approx(2.0 * 0.7 + 0.25 * 1.3)
    total.backward()
    assert (a.grad.item(), b.grad.item()) == (2.0, 0.25)
    assert WEIGHTINGS["equal"](TASKS)({"toxicity": torch.tensor(1.0), "emotion": torch.tensor(2.0)}).item() == 3.0
    with pytest.raises(ValueError, match="no weight"):
        WEIGHTINGS["fixed"](TASKS, weights={"toxicity": 1.0})


# ---- threshold, validation, selection --------------------------------------------------------------------------------

def test_tuned_threshold_maximises_macro_f1_on_a_constructed_example():
    # negatives at 0.1..0.4, positives at 0.3..0.6: the best cut is 0.35 < t <= 0.4 → the score 0.4 (3 of 4 right)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.3, 0.4, 0.5, 0.6])
    t = tune_threshold(y, p)
    assert t == pytest.approx(0.4)
    grid = np.linspace(0, 1, 1001)
    assert toxicity_metrics(y, p, t)["macro_f1"] == pytest.approx(max(toxicity_metrics(y, p, g)["macro_f1"] for g in grid))
    assert toxicity_metrics(y, p, t)["macro_f1"] > toxicity_metrics(y, p, 0.5)["macro_f1"]


def test_threshold_curve_has_one_point_per_distinct_score():
    t, f1 = macro_f1_by_threshold(np.array([0, 1, 1]), np.array([0.2, 0.2, 0.9]))
    assert t.tolist() == [0.2, 0.9] and f1[0] == pytest.approx((0 + 0.8) / 2)


@pytest.mark.slow
def test_threshold_is_tuned_on_validation_rows_only_and_used_by_every_tier(mini_run, monkeypatch):
    seen = []
    real = validation.tune_threshold
    monkeypatch.setattr(validation, "tune_threshold", lambda y, p: seen.append(len(y)) or real(y, p))
    p, run_dir, tuned, stress = mini_run(threshold="tuned", validation="separate",
                                         tiers=["olid", "partners_jigsaw", "partners_toxigen", "jigsaw", "toxigen"])
    assert seen == [6]                                   # the 6 OLID dev rows, nothing from any test tier
    assert tuned["rule"] == "tuned on the separate validation set"
    assert len(stress.tiers) == 5
    for tier in stress.tiers.values():
        assert tier.metrics["threshold"] == tuned["threshold"]
    assert stress.tiers["jigsaw"].provenance["removed_by_rules"] == {"unscored rows (test_labels.csv -1)": 1}


@pytest.mark.slow
def test_validation_switch_picks_the_rows(mini_run):
    p, run_dir, tuned, _ = mini_run(validation="paired")
    assert tuned["validation_at_threshold"]["n"] == 6 + 7      # OLID dev + GoEmotions dev (counted non-toxic)
    epochs = pd.read_csv(run_dir / "epochs.csv")
    assert (epochs["val_tox_macro_f1"] == epochs["val_tox_macro_f1_paired"]).all()


@pytest.mark.slow
def test_preprocess_switch_reaches_training_and_every_tier(mini_run):
    p, run_dir, *_ = mini_run(preprocess="tweet")
    prep = pipeline.prepared(p, run_dir)
    assert not prep.train["text"].str.contains("@USER @USER").any()
    assert "she should ask" in " ".join(prep.train["text"]).lower()
    tiers = {t.key: t for t in load_tiers(p)}
    assert tiers["olid"].frame.attrs["preprocess"] == "tweet" and tiers["toxigen"].frame.attrs["preprocess"] == "tweet"


# ---- preprocessing, determinism ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, clean", [
    ("@USER @USER @USER you are wrong", "@USER you are wrong"),
    ("read this https://t.co/AbC123 and www.example.com/x", "read this URL and URL"),
    ("#DumpNike #MAGA #Trump2020 #lock_them_up", "Dump Nike MAGA Trump 2020 lock them up"),
    ("so funny 😂", "so funny face with tears of joy"),
    ("snake_case stays: a_b", "snake_case stays: a_b"),
    ("plain text", "plain text"),
])
def test_tweet_normalisation(raw, clean):
    assert normalise_tweet(raw) == clean


@pytest.mark.slow
def test_deterministic_runs_give_identical_step_logs_and_metrics(tiny_encoder, tmp_path):
    outs = []
    for k in range(2):
        res = T.train(tiny_params(tiny_encoder, deterministic=True, seed=11), tmp_path / str(k), frames(12), frames(4))
        outs.append((pd.read_csv(tmp_path / str(k) / "steps.csv").drop(columns="elapsed_s"), res.epochs))
    pd.testing.assert_frame_equal(outs[0][0], outs[1][0], check_exact=True)
    pd.testing.assert_frame_equal(outs[0][1], outs[1][1], check_exact=True)
    other = T.train(tiny_params(tiny_encoder, deterministic=True, seed=12), tmp_path / "x", frames(12), frames(4))
    assert not other.epochs["train_loss"].equals(outs[0][1]["train_loss"])
