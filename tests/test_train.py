import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TASKS, frames, tiny_params

from aura_core.training import checkpoints
from aura_core.training import train as T
from aura_core.training.batching import PadCollator, TokenizedRows
from aura_core.training.losses import WEIGHTINGS
from aura_core.training.model import AuraModel, EncoderError, load_tokenizer
from aura_core.training.paradigms import IGNORE


def test_paired_frame_adds_the_seed_pseudo_labels():
    df = frames(4)
    assert (df.loc[df.source == "olid", "emotion"] == 6).all()
    assert (df.loc[df.source == "goemotions", "toxicity"] == 0).all()
    assert df.loc[df.source == "olid", "toxicity"].tolist() == [0, 1, 0, 1]


def test_collator_pads_per_batch_not_to_max_length(tiny_encoder):
    tok = load_tokenizer(tiny_encoder)
    ds = TokenizedRows(["a", "the tweet is good"], {"toxicity": np.array([0, 1])}, tok, max_length=32)
    batch = PadCollator(ds.pad_id)([ds[0], ds[1]])
    assert batch["input_ids"].shape == (2, len(ds.input_ids[1]))
    assert batch["attention_mask"].sum(1).tolist() == [len(ds.input_ids[0]), len(ds.input_ids[1])]
    assert batch["labels"]["toxicity"].tolist() == [0, 1]


def test_optimizer_groups_put_s_in_its_own_group_without_decay(tiny_encoder):
    p = tiny_params(tiny_encoder, lr_loss_weights=3e-3)
    model, w = AuraModel(tiny_encoder), WEIGHTINGS["kendall"](TASKS)
    opt = T.build_optimizer(model, w, p)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["loss_weights"]["params"][0] is w.log_vars
    assert groups["loss_weights"]["lr"] == 3e-3 and groups["loss_weights"]["weight_decay"] == 0.0
    assert groups["encoder"]["lr"] == p.lr_encoder and groups["heads"]["lr"] == p.lr_heads
    n_params = sum(len(g["params"]) for g in opt.param_groups)
    assert n_params == len(list(model.parameters())) + 1


@pytest.mark.slow
def test_training_steps_lower_the_loss_on_a_fixed_batch(tiny_encoder):
    torch.manual_seed(0)
    p = tiny_params(tiny_encoder, lr_encoder=1e-3, lr_heads=1e-2)
    tok = load_tokenizer(tiny_encoder)
    model, w = AuraModel(tiny_encoder, dropout=0.0), WEIGHTINGS["kendall"](TASKS)
    df = frames(4)
    ds = TokenizedRows.from_frame(df, TASKS, tok, 32)
    batch = PadCollator(ds.pad_id)([ds[i] for i in range(len(ds))])
    opt = T.build_optimizer(model, w, p)

    def loss():
        return w(T.task_losses(model(batch["input_ids"], batch["attention_mask"]), batch["labels"]))
    before = loss().item()
    for _ in range(5):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < before


def test_task_losses_skip_a_task_without_labels():
    logits = {"toxicity": torch.randn(3, 2), "emotion": torch.randn(3, 7)}
    labels = {"toxicity": torch.tensor([0, 1, IGNORE]), "emotion": torch.full((3,), IGNORE)}
    out = T.task_losses(logits, labels)
    assert set(out) == {"toxicity"} and math.isfinite(out["toxicity"].item())


@pytest.mark.slow
def test_train_writes_step_log_checkpoints_and_epoch_table(tiny_encoder, tmp_path):
    p = tiny_params(tiny_encoder)
    df = frames(12)                      # 24 rows → 6 batches of 4 → 3 optimizer steps per epoch
    res = T.train(p, tmp_path, df, frames(4))
    steps = pd.read_csv(tmp_path / "steps.csv")
    assert len(steps) == res.steps == 6 and steps["epoch"].tolist() == [1, 1, 1, 2, 2, 2]
    for col in ("total", "loss_toxicity", "loss_emotion", "s_toxicity", "sigma_toxicity", "weight_toxicity",
                "s_emotion", "sigma_emotion", "weight_emotion", "lr_encoder", "lr_heads", "lr_loss_weights"):
        assert col in steps and steps[col].notna().all(), col
    assert np.allclose(steps["weight_toxicity"], 0.5 * np.exp(-steps["s_toxicity"]), rtol=1e-5)
    assert (tmp_path / "checkpoints/last.safetensors").read_bytes()[:8] != b"PK\x03\x04"  # not a pickle zip
    assert list(res.epochs["epoch"]) == [1, 2] and "val_tox_macro_f1" in res.epochs
    assert res.selected_epoch == 2 and res.checkpoint.name == "last.safetensors"


def test_checkpoint_round_trip_reproduces_outputs(tiny_encoder, tmp_path):
    model, w = AuraModel(tiny_encoder).eval(), WEIGHTINGS["kendall"](TASKS, 0.7)
    checkpoints.save_weights(tmp_path / "c.safetensors", model, w)
    other, w2 = AuraModel(tiny_encoder).eval(), WEIGHTINGS["kendall"](TASKS)
    with torch.no_grad():
        for prm in other.parameters():
            prm.add_(1.0)
    checkpoints.load_weights(tmp_path / "c.safetensors", other, w2)
    ids = torch.tensor([[2, 5, 6, 3]])
    mask = torch.ones_like(ids)
    assert torch.allclose(model(ids, mask)["toxicity"], other(ids, mask)["toxicity"])
    assert w2.log_vars.tolist() == pytest.approx([0.7, 0.7])


def test_weight_files_keep_only_the_epochs_they_are_told_to(tiny_encoder, tmp_path):
    model, w = AuraModel(tiny_encoder).eval(), WEIGHTINGS["kendall"](TASKS)
    files = checkpoints.WeightFiles(tmp_path)
    for epoch in (1, 2, 3):
        files.save(epoch, model, w)
    files.save("last", model, w)
    files.keep_epochs({2})
    assert files.epochs() == [2] and files.path("last").is_file()     # last and best are never per-epoch files
    assert files.selected("best").name == "best.safetensors" and files.selected("last") == files.path("last")
    files.keep_epochs()
    assert files.epochs() == [] and files.folder == tmp_path / "checkpoints"


@pytest.mark.slow
def test_best_epoch_selection_picks_the_best_checkpoint(tiny_encoder, tmp_path, monkeypatch):
    scripted = iter([0.40, 0.70, 0.55])
    monkeypatch.setattr(T, "validate", lambda *a, **k: {"val_tox_macro_f1": next(scripted), "val_emo_macro_f1": 0.0})
    saved = {}
    real_save = checkpoints.save_weights

    def spy(path, model, w):
        real_save(path, model, w)
        saved.setdefault(path.name, []).append(model.heads["toxicity"][1].weight.detach().clone())
    monkeypatch.setattr(checkpoints, "save_weights", spy)
    res = T.train(tiny_params(tiny_encoder, epochs=3, selection="best"), tmp_path, frames(8), frames(4))
    assert res.selected_epoch == 2 and res.checkpoint.name == "best.safetensors"
    assert len(saved["best.safetensors"]) == 2                       # improved at epochs 1 and 2, not 3
    assert torch.equal(saved["best.safetensors"][-1], saved["last.safetensors"][1])  # = epoch 2's weights


def test_encoder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(EncoderError, match="not a model folder"):
        AuraModel(str(tmp_path))
    with pytest.raises(EncoderError, match="not installed"):
        AuraModel("pkg:no_such_package_xyz")
