"""The learned-weight convention: which quantity Partner B's weights can be, from how far s can move."""
import numpy as np
import pytest

from aura_core.evidence import weight_convention as W


def test_the_two_conventions_start_at_half_and_one():
    assert W.weight(0.0, "half_inverse_variance") == pytest.approx(0.5)
    assert W.weight(0.0, "inverse_variance") == pytest.approx(1.0)
    for conv, (_, to_w, to_s) in W.CONVENTIONS.items():
        assert to_w(to_s(1.1)) == pytest.approx(1.1)


def test_onecycle_schedule_matches_torch_and_its_reach_adds_up():
    lrs = W.onecycle_lrs(1e-4, 1000, 0.3)
    assert lrs[0] == pytest.approx(1e-4 / 25) and lrs.max() == pytest.approx(1e-4, rel=1e-3)
    assert int(np.argmax(lrs)) == pytest.approx(300, abs=2)
    assert W.reach_by_epoch(np.full(10, 0.01), 5) == pytest.approx([0.05, 0.10])


def test_a_constructed_schedule_tells_the_conventions_apart():
    """Constant lr 1e-4, 1,770 steps per epoch: 1/σ² = 1.10 needs |Δs| = 0.095 ≤ 0.177 (reachable); 1/(2σ²) = 1.10
    needs 0.788 (not reachable in one epoch, nor in five: 0.885 < 1.371 for 1.97)."""
    reach = W.reach_by_epoch(np.full(5 * 1770, 1e-4), 1770)
    reported = [{"epoch": 1, "weight_toxicity": 1.10}, {"epoch": 5, "weight_toxicity": 1.97}]
    t = W.check(reported, reach).set_index(["epoch", "key"])
    assert t.loc[(1, "inverse_variance"), "|s − s0| needed"] == pytest.approx(np.log(1.1))
    assert t.loc[(1, "half_inverse_variance"), "|s − s0| needed"] == pytest.approx(np.log(2.2))
    assert t.loc[(1, "inverse_variance"), "reachable"] and not t.loc[(1, "half_inverse_variance"), "reachable"]
    assert t.loc[(5, "inverse_variance"), "reachable"] and not t.loc[(5, "half_inverse_variance"), "reachable"]
    v = W.verdict(W.check(reported, reach), "lr 1e-4")
    assert "1/σ² = exp(−s): consistent" in v and "1/(2σ²) = ½·exp(−s): not reachable" in v and "epoch 1 needs" in v


def test_a_slow_schedule_rules_out_both():
    reach = W.reach_by_epoch(np.full(100, 1e-4), 100)        # 0.01 of movement: neither 0.095 nor 0.788
    v = W.verdict(W.check([{"epoch": 1, "weight_toxicity": 1.10}], reach), "a short run")
    assert v.count("not reachable") == 2
