"""Causes the comparison report never asks about, each a switch: the uncertainty loss without ½, focal loss, a one-logit
sigmoid toxicity head, one learning rate for every parameter."""
import math

import pytest
import torch
from conftest import TASKS, frames, tiny_params
from torch import nn

from aura_core.training import train as T
from aura_core.training.evaluate import class_probabilities, predict
from aura_core.training.losses import WEIGHTINGS
from aura_core.training.model import AuraModel, load_tokenizer
from aura_core.training.paradigms import IGNORE


def test_kendall_exp_is_the_unhalved_form_and_reports_exp_minus_s():
    w = WEIGHTINGS["kendall_exp"](TASKS, init_log_var=0.3)
    a, b = torch.tensor(0.8), torch.tensor(1.7)
    total = w({"toxicity": a, "emotion": b})
    assert total.item() == pytest.approx(math.exp(-0.3) * 0.8 + 0.3 + math.exp(-0.3) * 1.7 + 0.3, rel=1e-6)
    total.backward()   # d/ds (e^{-s} L + s) = 1 − e^{-s} L
    assert w.log_vars.grad.tolist() == pytest.approx([1 - math.exp(-0.3) * 0.8, 1 - math.exp(-0.3) * 1.7], rel=1e-5)
    assert w.log_values()["weight_toxicity"] == pytest.approx(math.exp(-0.3))
    seed = WEIGHTINGS["kendall"](TASKS, init_log_var=0.3)
    assert seed.log_values()["weight_toxicity"] == pytest.approx(0.5 * math.exp(-0.3))   # the report's: half of it


def test_focal_loss_is_cross_entropy_at_gamma_0_and_discounts_easy_rows():
    torch.manual_seed(0)
    logits, y = torch.randn(10, 2), torch.tensor([0, 1, 1, 0, IGNORE, 1, 0, 0, 1, IGNORE])
    keep = y != IGNORE
    ce = nn.functional.cross_entropy(logits[keep], y[keep])
    assert T.toxicity_loss(logits, y, "focal", gamma=0.0).item() == pytest.approx(ce.item(), rel=1e-6)
    assert T.toxicity_loss(logits, y, "cross_entropy").item() == pytest.approx(ce.item(), rel=1e-6)
    p_true = torch.softmax(logits[keep], -1).gather(1, y[keep][:, None])[:, 0]
    manual = (-(1 - p_true) ** 2 * p_true.log()).mean()
    assert T.toxicity_loss(logits, y, "focal", gamma=2.0).item() == pytest.approx(manual.item(), rel=1e-6)
    easy = torch.tensor([[4.0, -4.0]])   # confidently right: focal loss is a tiny fraction of cross-entropy
    assert T.toxicity_loss(easy, torch.tensor([0]), "focal").item() < 1e-3 * T.toxicity_loss(easy, torch.tensor([0])).item()


def test_sigmoid_head_is_binary_cross_entropy_and_predicts_two_columns(tiny_encoder):
    logits, y = torch.tensor([[0.3], [-1.2], [2.0], [0.0]]), torch.tensor([1, 0, IGNORE, 0])
    bce = nn.functional.binary_cross_entropy_with_logits(logits[[0, 1, 3], 0], y[[0, 1, 3]].float())
    assert T.task_losses({"toxicity": logits}, {"toxicity": y})["toxicity"].item() == pytest.approx(bce.item(), rel=1e-6)
    probs = class_probabilities(logits)
    assert probs.shape == (4, 2) and torch.allclose(probs[:, 1], torch.sigmoid(logits[:, 0]))
    model = AuraModel(tiny_encoder, ("toxicity", "emotion"), toxicity_head="sigmoid")
    assert model.heads["toxicity"][1].out_features == 1 and model.heads["emotion"][1].out_features == 7
    out = predict(model, load_tokenizer(tiny_encoder), ["you idiot", "so sad"], 8, 32)
    assert out["toxicity"].shape == (2, 2) and out["toxicity"].sum(1) == pytest.approx([1.0, 1.0])


def test_single_learning_rate_puts_every_group_at_the_encoders(tiny_encoder):
    model, w = AuraModel(tiny_encoder), WEIGHTINGS["kendall"](TASKS)
    separate = T.build_optimizer(model, w, tiny_params(tiny_encoder))
    single = T.build_optimizer(model, w, tiny_params(tiny_encoder, learning_rates="single"))
    assert {g["name"]: g["lr"] for g in separate.param_groups}["heads"] == 1e-4
    assert {g["lr"] for g in single.param_groups} == {2e-5}
    assert [g["weight_decay"] for g in single.param_groups] == [g["weight_decay"] for g in separate.param_groups]


@pytest.mark.slow
@pytest.mark.parametrize("switch", [{"weighting": "kendall_exp"}, {"toxicity_loss": "focal"},
                                    {"toxicity_head": "sigmoid"}, {"learning_rates": "single"},
                                    {"toxicity_head": "sigmoid", "toxicity_loss": "focal"}])
def test_each_switch_trains_and_scores(tiny_encoder, tmp_path, switch):
    from aura_core.training.checkpoints import load_weights
    p = tiny_params(tiny_encoder, epochs=1, **switch)
    res = T.train(p, tmp_path, frames(12), frames(4))
    assert math.isfinite(res.epochs["train_loss"].iloc[0]) and 0 <= res.epochs["val_tox_macro_f1"].iloc[0] <= 1
    model = AuraModel(tiny_encoder, tuple(p.tasks), toxicity_head=p.toxicity_head)
    load_weights(res.checkpoint, model)   # the checkpoint loads into the head shape the params name
    steps = T.pd.read_csv(tmp_path / "steps.csv")
    if switch.get("weighting") == "kendall_exp":
        assert steps["weight_toxicity"].to_numpy() == pytest.approx(T.np.exp(-steps["s_toxicity"].to_numpy()), rel=1e-5)
    if switch.get("learning_rates") == "single":
        assert (steps["lr_heads"] == steps["lr_encoder"]).all() and (steps["lr_loss_weights"] == steps["lr_encoder"]).all()
    if switch.get("toxicity_loss") == "focal":   # the switch reaches training: the same first batch, a smaller loss
        T.train(tiny_params(tiny_encoder, epochs=1, **{**switch, "toxicity_loss": "cross_entropy"}), tmp_path / "ce",
                frames(12), frames(4))
        first = T.pd.read_csv(tmp_path / "ce" / "steps.csv")["loss_toxicity"].iloc[0]
        assert 0 < steps["loss_toxicity"].iloc[0] < first
