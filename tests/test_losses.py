import math

import pytest
import torch
from conftest import REPO

from aura_core.training.losses import WEIGHTINGS, EqualWeighting, KendallWeighting


@pytest.mark.parametrize("s_tox, s_emo, l_tox, l_emo", [(0.0, 0.0, 0.7, 1.9), (-1.2, 0.4, 0.3, 2.5), (2.0, -3.0, 1.0, 0.1)])
def test_kendall_equals_the_seed_formula_and_its_gradient(s_tox, s_emo, l_tox, l_emo):
    w = KendallWeighting(["toxicity", "emotion"])
    with torch.no_grad():
        w.log_vars.copy_(torch.tensor([s_tox, s_emo]))
    total = w({"toxicity": torch.tensor(l_tox), "emotion": torch.tensor(l_emo)})
    sig1, sig2 = math.exp(s_tox / 2), math.exp(s_emo / 2)
    expected = l_tox / (2 * sig1 ** 2) + l_emo / (2 * sig2 ** 2) + math.log(sig1) + math.log(sig2)
    assert total.item() == pytest.approx(expected, rel=1e-6)
    total.backward()
    # d/ds [½ e^{-s} L + ½ s] = −½ e^{-s} L + ½
    grad = [-0.5 * math.exp(-s_tox) * l_tox + 0.5, -0.5 * math.exp(-s_emo) * l_emo + 0.5]
    assert w.log_vars.grad.tolist() == pytest.approx(grad, rel=1e-5, abs=1e-6)
    logged = w.log_values()
    assert logged["weight_toxicity"] == pytest.approx(1 / (2 * sig1 ** 2), rel=1e-6)
    assert logged["sigma_emotion"] == pytest.approx(sig2, rel=1e-6)


def test_kendall_absent_task_contributes_nothing():
    w = KendallWeighting(["toxicity", "emotion"], init_log_var=0.5)
    total = w({"toxicity": torch.tensor(2.0)})
    assert total.item() == pytest.approx(0.5 * math.exp(-0.5) * 2.0 + 0.25)
    total.backward()
    assert w.log_vars.grad[1].item() == 0.0


def test_equal_weighting_and_factory():
    assert EqualWeighting(["a", "b"])({"a": torch.tensor(1.5), "b": torch.tensor(2.0)}).item() == 3.5
    assert isinstance(WEIGHTINGS["kendall"](["a"], 0.3), KendallWeighting)
    assert WEIGHTINGS["kendall"](["a"], 0.3).log_vars.item() == pytest.approx(0.3)
    from aura_core.base.params import ParamError, load  # an unregistered name is refused when the params load
    with pytest.raises(ParamError, match=r"weighting.*kendall"):
        load(REPO / "params" / "smoke.yaml", {"weighting": "nope"})
