import pytest

"""Speed-ups that must not change what is computed: token cache, length grouping, inference batching, bf16."""
import numpy as np
import torch

from aura_core.training.batching import LengthGroupedSampler, tokenize_cached
from aura_core.training.evaluate import predict
from aura_core.training.model import AuraModel, load_tokenizer


def test_length_grouped_batches_cover_every_row_once_with_less_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=1000).tolist()
    s = LengthGroupedSampler(lengths, batch_size=16, seed=1, group=10)
    e1, e2 = list(s), list(s)
    assert sorted(i for b in e1 for i in b) == list(range(1000)) and len(e1) == len(s) == 63
    assert [b[0] for b in e1] != [b[0] for b in e2]                      # reshuffled every epoch

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    shuffled = [list(range(1000))[i:i + 16] for i in range(0, 1000, 16)]
    assert padding(e1) < 0.2 * padding(shuffled)
    assert [b for b in LengthGroupedSampler(lengths, 16, seed=1, group=10)] == e1   # seeded


def test_token_cache_returns_the_same_ids_without_tokenizing_again(tiny_encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("AURA_TOKEN_CACHE", str(tmp_path / "cache"))
    tok = load_tokenizer(tiny_encoder)
    texts = ["the tweet is good", "you idiot", "a"]
    first = tokenize_cached(texts, tok, 32)
    assert first == tok(texts, truncation=True, max_length=32)["input_ids"]
    assert len(list((tmp_path / "cache").iterdir())) == 1

    def refuse(*a, **k):
        raise AssertionError("tokenizer called despite a cache hit")
    with monkeypatch.context() as m:
        m.setattr(type(tok), "__call__", refuse)
        assert tokenize_cached(texts, tok, 32) == first
    tokenize_cached(texts, tok, 3)                      # another max length → another key
    tokenize_cached(texts[:2], tok, 32)                 # other texts → another key
    assert len(list((tmp_path / "cache").iterdir())) == 3
    monkeypatch.setenv("AURA_TOKEN_CACHE", "off")
    assert tokenize_cached(texts, tok, 32) == first


def test_bf16_inference_stays_close_to_fp32(tiny_encoder):
    tok, model = load_tokenizer(tiny_encoder), AuraModel(tiny_encoder).eval()
    texts = ["the tweet is good and calm", "you idiot", "so sad really", "wow"] * 5
    fp32 = predict(model, tok, texts, batch_size=8)
    bf16 = predict(model, tok, texts, batch_size=8, amp_dtype=torch.bfloat16)
    assert np.abs(fp32["toxicity"] - bf16["toxicity"]).max() < 0.02


@pytest.mark.slow
def test_fused_adamw_takes_the_per_tensor_loops_steps(tiny_encoder, tmp_path):
    """fused_adamw is a speed switch only: the same training, equal up to float rounding."""
    import pandas as pd

    from aura_core.training import train as T
    from aura_core.training.paradigms import paired_frame
    olid = pd.DataFrame({"text": [f"nasty tweet {i} idiot" if i % 2 else f"calm tweet {i}" for i in range(16)],
                         "label": [i % 2 for i in range(16)]})
    ge = pd.DataFrame({"text": [f"so sad {i}" if i % 3 else f"wow joy {i}" for i in range(16)],
                       "label": [4 if i % 3 else 3 for i in range(16)]})
    df = paired_frame(olid, ge)
    logs = {}
    for fused in (False, True):
        p = T.Params(encoder=tiny_encoder, epochs=2, batch_size=4, grad_accum=1, max_length=32, eval_batch_size=8,
                     device="cpu", seed=0, lr_encoder=1e-3, lr_heads=1e-2, fused_adamw=fused)
        T.train(p, tmp_path / str(fused), df, df)
        logs[fused] = pd.read_csv(tmp_path / str(fused) / "steps.csv")
    assert len(logs[True]) == len(logs[False]) == 16
    assert not np.allclose(logs[True]["total"].iloc[0], logs[True]["total"].iloc[-1])  # it did train
    np.testing.assert_allclose(logs[True]["total"], logs[False]["total"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logs[True]["s_toxicity"], logs[False]["s_toxicity"], atol=1e-6)


def test_interleaved_batches_can_be_length_grouped_and_stay_single_task():
    from aura_core.training.batching import TaskBatchSampler
    rng = np.random.default_rng(1)
    lengths = rng.integers(5, 120, size=600)
    rows = {"toxicity": np.arange(0, 400), "emotion": np.arange(400, 600)}
    grouped = list(TaskBatchSampler(rows, 16, "proportional", seed=3, lengths=lengths))
    plain = list(TaskBatchSampler(rows, 16, "proportional", seed=3))
    assert len(grouped) == len(plain) == 25 + 13
    assert sorted(i for b in grouped for i in b) == list(range(600))          # every row once per epoch
    assert all(set(b) <= set(rows["toxicity"]) or set(b) <= set(rows["emotion"]) for b in grouped)

    def padding(batches):
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches)
    assert padding(grouped) < 0.3 * padding(plain)
