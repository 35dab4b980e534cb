import numpy as np
import pytest
from sklearn.metrics import f1_score

from aura_core.measures.metrics import emotion_metrics, toxicity_metrics
from aura_core.training.evaluate import predict
from aura_core.training.model import AuraModel, load_tokenizer


def test_toxicity_metrics_on_a_constructed_example():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.2, 0.7, 0.4, 0.9])
    m = toxicity_metrics(y, p, threshold=0.5)       # predictions 0 1 0 1 0 1 → 2 TP, 1 FP, 1 FN
    assert m["pos_f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["roc_auc"] == pytest.approx(8 / 9)
    assert m["pred_pos_rate"] == 0.5 and m["true_pos_rate"] == 0.5
    assert toxicity_metrics(y, p, threshold=0.65)["pos_f1"] == pytest.approx(f1_score(y, p >= 0.65))
    assert toxicity_metrics(np.zeros(3), np.array([0.1, 0.2, 0.9]))["roc_auc"] is None


def test_emotion_metrics_macro_over_all_seven_classes():
    y = np.array([0, 1, 6, 6])
    probs = np.eye(7)[[0, 1, 6, 3]]
    m = emotion_metrics(y, probs)
    assert m["per_class_f1"][0] == 1.0 and m["per_class_f1"][6] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((1 + 1 + 2 / 3) / 7)


def test_predict_restores_input_order_after_length_sorting(tiny_encoder):
    tok, model = load_tokenizer(tiny_encoder), AuraModel(tiny_encoder).eval()
    texts = ["the tweet is good and calm and fine", "a", "you are not", "bad", "i love this tweet so"]
    batched = predict(model, tok, texts, batch_size=2, max_length=32)
    single = [predict(model, tok, [t], batch_size=1, max_length=32)["toxicity"][0] for t in texts]
    assert np.allclose(batched["toxicity"], np.stack(single), atol=1e-5)
    assert batched["emotion"].shape == (5, 7) and np.allclose(batched["emotion"].sum(1), 1, atol=1e-5)
