import numpy as np
import pytest
import xarray as xr

from grokrepro.claims.lmn_compression import (DoubleDescentParams, DropParams, LinearityParams,
                                              lmn_double_descent_after_generalisation, lmn_falls_while_generalising,
                                              lmn_linear_in_test_loss)
from grokrepro.spec.schema import Check

STEPS = np.arange(0, 10001, 50)
SEEDS = [1, 2, 3]


def curves(runs):
    """runs: list of dicts with seed, task, weight_decay, t_fit, t_gen and lmn/test_loss/param_norm arrays."""
    n = len(runs)

    def stack(key, default):
        return np.array([r.get(key, default) for r in runs], dtype=float)

    train_acc = np.array([np.where(STEPS >= r["t_fit"], 1.0, 0.1) for r in runs])
    test_acc = np.array([np.where(STEPS >= r["t_gen"], 1.0, 0.0) for r in runs])
    lmn = stack("lmn", np.full(len(STEPS), 5.0))
    lmn[:, 1::2] = np.nan  # probed at every other logged step, like a real probe
    return xr.Dataset(
        {"train_acc": (("run", "step"), train_acc), "test_acc": (("run", "step"), test_acc),
         "lmn": (("run", "step"), lmn), "test_loss": (("run", "step"), stack("test_loss", np.zeros(len(STEPS)))),
         "param_norm": (("run", "step"), stack("param_norm", np.ones(len(STEPS)))),
         "diverged_at": ("run", np.full(n, -1)), "stopped_at": ("run", np.full(n, -1))},
        coords={"run": [f"r{i}" for i in range(n)], "step": STEPS, "seed": ("run", [r["seed"] for r in runs]),
                "task": ("run", [r.get("task", "add") for r in runs]),
                "weight_decay": ("run", [r.get("weight_decay", 0.2) for r in runs])})


def falling(start, end, t0=100, t1=5000):
    return np.interp(STEPS, [t0, t1], [start, end])


M1 = Check(name="M1", kind="lmn_falls_while_generalising", statement="s", where={"weight_decay": 0.2})
M1_PARAMS = DropParams(control={"weight_decay": 0.0})


def m1_runs(treated_lmn, control_lmn, control_gen=np.inf):
    return ([{"seed": s, "t_fit": 100, "t_gen": 5000, "lmn": treated_lmn} for s in SEEDS]
            + [{"seed": s, "weight_decay": 0.0, "t_fit": 100, "t_gen": control_gen, "lmn": control_lmn} for s in SEEDS])


def test_m1_passes_when_lmn_falls_only_while_generalising():
    result = lmn_falls_while_generalising(curves(m1_runs(falling(7, 4), falling(7, 7))), M1, M1_PARAMS)
    assert result.status == "pass" and result.value == pytest.approx(3 / 7, rel=0.01)


def test_m1_fails_when_lmn_does_not_fall():
    result = lmn_falls_while_generalising(curves(m1_runs(falling(7, 6.8), falling(7, 7))), M1, M1_PARAMS)
    assert result.status == "fail"


def test_m1_fails_when_the_control_falls_as_much():
    result = lmn_falls_while_generalising(curves(m1_runs(falling(7, 4), falling(7, 4))), M1, M1_PARAMS)
    assert result.status == "fail"


def test_m1_is_inconclusive_when_the_control_generalises():
    result = lmn_falls_while_generalising(curves(m1_runs(falling(7, 4), falling(7, 7), control_gen=3000)),
                                          M1, M1_PARAMS)
    assert result.status == "inconclusive"


M2 = Check(name="M2", kind="lmn_linear_in_test_loss", statement="s", where={"weight_decay": 0.2})


def m2_runs(lmn_of_loss, norm_of_loss):
    rng = np.random.default_rng(0)
    runs = []
    for seed in SEEDS:
        loss = np.interp(STEPS, [100, 5000], [12.0, 0.5])
        noise = 0.02 * rng.standard_normal((2, len(STEPS)))
        runs.append({"seed": seed, "t_fit": 100, "t_gen": 5000, "test_loss": loss,
                     "lmn": lmn_of_loss(loss) + noise[0], "param_norm": norm_of_loss(loss) + 8 * noise[1]})
    return runs


def test_m2_passes_when_loss_is_linear_in_lmn_but_not_in_norm():
    runs = m2_runs(lambda loss: 4 + 0.25 * loss, lambda loss: 30 + 20 * np.tanh(loss / 3))
    result = lmn_linear_in_test_loss(curves(runs), M2, LinearityParams())
    assert result.status == "pass" and result.value < 0.5


def test_m2_fails_when_the_norm_is_as_linear_as_lmn():
    runs = m2_runs(lambda loss: 4 + 0.25 * loss, lambda loss: 30 + 2 * loss)
    result = lmn_linear_in_test_loss(curves(runs), M2, LinearityParams())
    assert result.status == "fail" and result.value > 0.5


def test_m2_fails_when_lmn_is_curved():
    runs = m2_runs(lambda loss: 4 + 0.02 * loss**2, lambda loss: 30 + 20 * np.tanh(loss / 3))
    assert not lmn_linear_in_test_loss(curves(runs), M2, LinearityParams()).passed


def test_m2_needs_enough_points():
    runs = m2_runs(lambda loss: loss, lambda loss: loss)[:2]
    assert lmn_linear_in_test_loss(curves(runs), M2, LinearityParams()).status == "inconclusive"


M3 = Check(name="M3", kind="lmn_double_descent_after_generalisation", statement="s", where={"task": "xor"})


def test_m3_passes_on_a_rise_and_fall_after_generalisation():
    lmn = np.interp(STEPS, [0, 2000, 5000, 10000], [8, 10, 15, 12])
    runs = [{"seed": s, "task": "xor", "t_fit": 100, "t_gen": 2000, "lmn": lmn} for s in SEEDS]
    result = lmn_double_descent_after_generalisation(curves(runs), M3, DoubleDescentParams())
    assert result.status == "pass"


def test_m3_fails_when_lmn_only_falls_after_generalisation():
    lmn = np.interp(STEPS, [0, 2000, 10000], [8, 10, 5])
    runs = [{"seed": s, "task": "xor", "t_fit": 100, "t_gen": 2000, "lmn": lmn} for s in SEEDS]
    assert lmn_double_descent_after_generalisation(curves(runs), M3, DoubleDescentParams()).status == "fail"


def m1_runs_per_seed(control_gen_by_seed):
    """Treated runs whose LMN falls 7 -> 4 and flat controls; the control of a seed may generalise."""
    return ([{"seed": s, "t_fit": 100, "t_gen": 5000, "lmn": falling(7, 4)} for s in control_gen_by_seed]
            + [{"seed": s, "weight_decay": 0.0, "t_fit": 100, "t_gen": gen, "lmn": falling(7, 7)}
               for s, gen in control_gen_by_seed.items()])


def test_m1_leaves_out_seeds_whose_control_is_invalid_rather_than_failing_them():
    # Seeds 4 and 5 have no valid negative control (it generalised); the other three hold.
    runs = m1_runs_per_seed({1: np.inf, 2: np.inf, 3: np.inf, 4: 3000, 5: 3000})
    result = lmn_falls_while_generalising(curves(runs), M1, M1_PARAMS)
    assert result.status == "pass" and result.seed_fraction == 1.0 and result.n_runs == 6
    assert "seed 4 left out: its control generalised" in result.detail


def test_m1_is_inconclusive_when_too_few_seeds_have_a_valid_control():
    runs = m1_runs_per_seed({1: np.inf, 2: 3000, 3: 3000})
    result = lmn_falls_while_generalising(curves(runs), M1, M1_PARAMS)
    assert result.status == "inconclusive" and "1 seeds with a valid non-generalising control" in result.detail
    # a diverged control is no control either
    data = curves(m1_runs_per_seed({1: np.inf, 2: np.inf, 3: np.inf}))
    data["diverged_at"][3:5] = 40  # the controls of seeds 1 and 2
    result = lmn_falls_while_generalising(data, M1, M1_PARAMS)
    assert result.status == "inconclusive" and "seed 1 left out: no healthy control run" in result.detail
