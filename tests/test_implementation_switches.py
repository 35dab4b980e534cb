"""Implementation choices the partners never wrote down (issue: the choices nobody wrote down): each switch against
its formula on a constructed batch, and the optimizer groups the weight-decay scope names."""
import numpy as np
import pytest
import torch
from conftest import TASKS, tiny_params
from torch.nn import functional as F

from aura_core.training import train as T
from aura_core.training.losses import WEIGHTINGS
from aura_core.training.model import AuraModel, EncoderError
from aura_core.training.paradigms import IGNORE

Y = torch.tensor([0, 1, 1, IGNORE, 0, 1, 1])
LOGITS = torch.tensor([[2.0, -1.0], [0.3, 0.1], [-1.0, 2.0], [5.0, 5.0], [0.0, 0.0], [1.0, -0.5], [0.2, 0.9]])


def test_class_weights_are_inverse_frequency_and_refuse_a_missing_class():
    w = T.toxicity_class_weights(np.array([0, 0, 0, 1, IGNORE]), "inverse_frequency")
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))
    assert T.toxicity_class_weights(np.array([0, 1]), "none") is None
    with pytest.raises(ValueError, match="no row of class 1"):
        T.toxicity_class_weights(np.array([0, 0, IGNORE]), "inverse_frequency")


def test_weighted_cross_entropy_is_torchs_weighted_mean():
    w = torch.tensor([0.7, 1.9])
    ours = T.toxicity_loss(LOGITS, Y, "cross_entropy", class_weights=w)
    keep = Y != IGNORE
    assert torch.allclose(ours, F.cross_entropy(LOGITS[keep], Y[keep], weight=w))
    assert torch.allclose(T.task_losses({"toxicity": LOGITS}, {"toxicity": Y}, class_weights=w)["toxicity"], ours)


def test_weighted_focal_and_sigmoid_losses_follow_their_formulas():
    w, keep = torch.tensor([0.5, 2.0]), Y != IGNORE
    y, logits = Y[keep], LOGITS[keep]
    p_true = torch.softmax(logits, -1).gather(1, y[:, None])[:, 0]
    focal = -(w[y] * (1 - p_true) ** 2 * torch.log(p_true)).sum() / w[y].sum()
    assert torch.allclose(T.toxicity_loss(LOGITS, Y, "focal", 2.0, w), focal)
    one = LOGITS[:, :1]
    bce = F.binary_cross_entropy_with_logits(one[keep][:, 0], y.float(), weight=w[y], reduction="sum") / w[y].sum()
    assert torch.allclose(T.toxicity_loss(one, Y, "cross_entropy", class_weights=w), bce)


@pytest.mark.parametrize("scope", ["matrices", "all"])
def test_weight_decay_lands_exactly_on_the_parameters_its_scope_names(scope, tiny_encoder):
    p = tiny_params(tiny_encoder, weight_decay_scope=scope, weight_decay=0.05)
    model, w = AuraModel(tiny_encoder), WEIGHTINGS["kendall"](TASKS)
    opt = T.build_optimizer(model, w, p)
    decayed = {id(t) for g in opt.param_groups if g["weight_decay"] > 0 for t in g["params"]}
    names = {id(t): n for n, t in model.named_parameters()} | {id(w.log_vars): "log_vars"}
    bias_or_norm = {i for i, n in names.items() if n.endswith("bias") or "LayerNorm" in n}
    if scope == "all":
        assert decayed == set(names)                                      # every parameter, s_i included
    else:
        assert decayed == set(names) - bias_or_norm - {id(w.log_vars)}
    assert all(g["weight_decay"] in (0.0, 0.05) for g in opt.param_groups)


def test_pooler_pooling_is_berts_pooler_output(tiny_encoder):
    model = AuraModel(tiny_encoder, TASKS, "pooler", unpad=False).eval()
    ids = torch.tensor([[2, 7, 8, 3, 0], [2, 9, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        out = model(ids, mask)
        pooled = model.encoder(input_ids=ids, attention_mask=mask).pooler_output
    assert torch.allclose(out["toxicity"], model.heads["toxicity"](pooled), atol=1e-6)


def test_pooler_pooling_on_an_encoder_without_a_pooler_is_one_clear_error(tmp_path):
    from transformers import DistilBertConfig, DistilBertModel
    d = tmp_path / "distil"
    DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32)).save_pretrained(d)
    with pytest.raises(EncoderError, match="has no pooler layer"):
        AuraModel(str(d), TASKS, "pooler")


def test_the_three_switches_train_together_and_reload(tiny_encoder, tmp_path):
    from conftest import frames

    from aura_core.training.checkpoints import load_weights
    from aura_core.training.evaluate import predict
    from aura_core.training.model import build_model, load_tokenizer
    p = tiny_params(tiny_encoder, epochs=1, pooling="pooler", toxicity_class_weights="inverse_frequency",
                    weight_decay_scope="all", epoch_predictions=False)
    res = T.train(p, tmp_path / "run", frames(12), frames(4))
    assert res.steps > 0
    model, w = build_model(p, torch.device("cpu")), WEIGHTINGS["kendall"](TASKS)
    load_weights(res.checkpoint, model, w)
    again = build_model(p, torch.device("cpu"))
    load_weights(res.checkpoint, again, WEIGHTINGS["kendall"](TASKS))
    tok, texts = load_tokenizer(tiny_encoder), ["calm tweet", "nasty tweet idiot", "so sad"]
    a, b = predict(model, tok, texts, 8, 32), predict(again, tok, texts, 8, 32)
    assert np.allclose(a["toxicity"], b["toxicity"]) and not np.allclose(a["toxicity"][0], a["toxicity"][1])
