"""Post-training choices scored from stored epoch predictions equal the same configuration trained as a run."""
import pytest

from aura_core import epoch_predictions as E
from aura_core import post_training as PT
from conftest import run_mini


def test_a_choice_may_only_change_post_training_keys():
    from aura_core.params import Params, ParamError
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
    q, run_b, tuned_b, stress_b = run_mini(fixture_data, tiny_encoder, tmp_path / "b", **base, **other)
    v = PT.view(run_dir, p, other)
    assert v["epoch"] == tuned_b["selected_epoch"] and v["threshold"] == tuned_b["threshold"]
    assert scores(v) == scores(stress_b)                            # trained once, decided afterwards: the same
    table = PT.views_table(run_dir, p, {"threshold": [0.5, "tuned"], "selection": ["last", "best"]})
    assert len(table) == 4 and table.loc[0, "L1"] == stress["tiers"]["olid"]["metrics"]["macro_f1"]
