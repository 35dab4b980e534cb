import pytest
import yaml

from aura_core.base import params as P


def write(path, obj):
    path.write_text(yaml.safe_dump(obj))
    return path


def test_extends_chain_and_overrides(tmp_path):
    write(tmp_path / "base.yaml", {"epochs": 5, "batch_size": 16, "name": "base"})
    write(tmp_path / "mid.yaml", {"extends": "base.yaml", "epochs": 3})
    child = write(tmp_path / "child.yaml", {"extends": "mid.yaml", "name": "child"})
    p = P.load(child, ["batch_size=8", "lr_encoder=3e-5", "eval_max_rows=null"])
    assert (p.name, p.epochs, p.batch_size, p.lr_encoder, p.eval_max_rows) == ("child", 3, 8, 3e-5, None)
    assert p.claims == str(tmp_path / "claims.yaml")  # relative claims resolved against the profile's folder


def test_a_profile_is_parsed_once_per_version_and_a_change_is_read(tmp_path, monkeypatch):
    """Profiles are parsed once per file version (a grid's tables load them a thousand times): an edited profile or
    parent is read again, and a caller's change to what load returns stays its own."""
    base = write(tmp_path / "base.yaml", {"epochs": 5, "batch_size": 16})
    child = write(tmp_path / "child.yaml", {"extends": "base.yaml", "epochs": 3})
    parses, original = [], yaml.safe_load
    monkeypatch.setattr(P.yaml, "safe_load", lambda text: parses.append(text) or original(text))
    first = P.read_profile(child)
    first["epochs"] = 99
    assert P.read_profile(child) == {"epochs": 3, "batch_size": 16} and len(parses) == 2
    write(base, {"epochs": 5, "batch_size": 32, "name": "edited parent"})
    assert P.load(child).batch_size == P.load(child).batch_size == 32
    assert sum("edited parent" in text for text in parses) == 1
    child.write_text("epochs: [not closed\n")
    with pytest.raises(P.ParamError, match="child.yaml: not valid YAML"):
        P.load(child)


def test_unknown_key_lists_valid_keys_and_suggests(tmp_path):
    f = write(tmp_path / "p.yaml", {"batchsize": 4})
    with pytest.raises(P.ParamError) as e:
        P.load(f)
    msg = str(e.value)
    assert "unknown param 'batchsize'" in msg and "did you mean 'batch_size'" in msg and "lr_encoder" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("override, fragment", [
    ("batch_size=0", "'batch_size': 0 is out of range"),
    ("lr_encoder=-1e-5", "'lr_encoder'"),
    ("threshold=1.5", "'threshold': 1.5 is out of range"),
    ("epochs=two", "expected int, got str"),
    ("weighting=kendal", "not one of"),
    ("tiers=[olid, reddit]", "unknown tier 'reddit'"),
    ("tiers=olid", "'tiers': expected a list"),
    ("tasks=[toxicity, sentiment]", "unknown task 'sentiment'"),
    ("selection_metric=val_tox_f1", "'selection_metric': 'val_tox_f1' is not one of"),
    ("reference_runs=[run1]", "'reference_runs[0]': expected dict"),
    ("allow_hub=3", "expected bool"),
])
def test_bad_values_name_the_key(tmp_path, override, fragment):
    f = write(tmp_path / "p.yaml", {})
    with pytest.raises(P.ParamError) as e:
        P.load(f, [override])
    assert fragment in str(e.value)


def test_int_given_for_float_is_accepted_but_bool_is_not_an_int(tmp_path):
    f = write(tmp_path / "p.yaml", {"threshold": 1, "dropout": 0})
    assert P.load(f).threshold == 1.0
    with pytest.raises(P.ParamError):
        P.load(f, ["epochs=true"])


def test_extra_tier_spec_is_checked(tmp_path):
    f = write(tmp_path / "p.yaml", {"extra_tiers": [{"name": "X", "path": "x.csv", "toxic_values": ["1"], "colour": 1}]})
    with pytest.raises(P.ParamError, match="unknown param 'colour'"):
        P.load(f)
    f = write(tmp_path / "q.yaml", {"extra_tiers": [{"name": "X", "path": "x.csv"}]})
    with pytest.raises(P.ParamError, match="required"):
        P.load(f)


def test_circular_extends_and_missing_file(tmp_path):
    write(tmp_path / "a.yaml", {"extends": "b.yaml"})
    write(tmp_path / "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(P.ParamError, match="circular"):
        P.load(tmp_path / "a.yaml")
    with pytest.raises(P.ParamError, match="not found"):
        P.load(tmp_path / "nope.yaml")


def test_resolved_params_round_trip(tmp_path):
    p = P.load(write(tmp_path / "p.yaml", {"epochs": 2}), ["seed=7"])
    P.dump(p, tmp_path / "run" / "params.yaml")
    assert P.load(tmp_path / "run" / "params.yaml") == p


def test_shipped_profiles_resolve():
    from conftest import REPO
    for name in ("base", "paper", "cpu", "smoke"):
        p = P.load(REPO / "params" / f"{name}.yaml")
        assert p.batch_size == 16 and p.grad_accum == 2 and p.lr_encoder == 2e-5 and p.lr_heads == 1e-4
    assert P.load(REPO / "params" / "paper.yaml").encoder == "bert-base-uncased"
    assert P.load(REPO / "params" / "paper.yaml").epochs == 5


def test_changed_keys_ignore_where_inputs_live_and_the_claims_a_report_prints(tmp_path):
    """A grid continued from a clone, a worktree or another machine resolves claims.yaml and data_dir elsewhere; the
    cells computed the same thing, so that alone is no change. Anything that enters training or evaluation is."""
    here, there = tmp_path / "here", tmp_path / "there"
    for d, claimed in ((here, 0.79), (there, 0.80)):
        d.mkdir()
        write(d / "claims.yaml", {"claims": {"A": {"L1": claimed}}})
        write(d / "p.yaml", {"epochs": 2})
    a = P.to_dict(P.load(here / "p.yaml"))
    b = P.to_dict(P.load(there / "p.yaml"))
    assert a["claims"] != b["claims"] and P.changed_keys(a, b) == []
    assert P.changed_keys(a, {**b, "data_dir": "/elsewhere"}) == []
    assert P.changed_keys(a, P.to_dict(P.load(there / "p.yaml", ["epochs=3", "seed=5"]))) == ["epochs", "seed"]
    (here / "claims.yaml").unlink()  # the original checkout is gone: still the same run
    assert P.changed_keys(a, b) == []


def test_selection_metric_needs_the_head_it_names(tmp_path):
    f = write(tmp_path / "p.yaml", {"tasks": ["toxicity"], "weighting": "equal", "selection": "best"})
    assert P.load(f).selection_metric == "val_tox_macro_f1"
    with pytest.raises(P.ParamError, match="'selection_metric': 'val_emo_macro_f1' needs the emotion head"):
        P.load(f, ["selection_metric=val_emo_macro_f1"])


def test_a_weighting_registered_in_losses_is_a_valid_param(tmp_path, monkeypatch):
    """Adding a method = one class + one registry entry: params and the trainer follow the registry."""
    import torch

    from aura_core.training import losses

    class Halved(losses.LossWeighting):
        def forward(self, task_losses):
            return 0.5 * sum(task_losses.values())
    f = write(tmp_path / "p.yaml", {"weighting": "halved"})
    with pytest.raises(P.ParamError, match="'weighting': 'halved' is not one of"):
        P.load(f)
    monkeypatch.setitem(losses.WEIGHTINGS, "halved", Halved)
    p = P.load(f)
    w = losses.weighting_from_params(p, p.tasks)
    assert isinstance(w, Halved) and w({"toxicity": torch.tensor(2.0), "emotion": torch.tensor(4.0)}).item() == 3.0
