import numpy as np
import pytest
import xarray as xr

from grokrepro.claims.lmn_compression import (DoubleDescentParams, DropParams, NrmseParams, RatioParams,
                                              linear_fit_per_seed, lmn_double_descent_after_generalisation,
                                              lmn_falls_while_generalising, more_linear_than_reference)
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


M2A = Check(name="M2a", kind="linear_fit_per_seed", statement="s", where={"weight_decay": 0.2})
M2B = Check(name="M2b", kind="more_linear_than_reference", statement="s", where={"weight_decay": 0.2})


def decaying_loss(tau=1200.0):
    """Test loss falling from ~12 convexly in time over [t_fit, t_gen] = [100, 5000] (not linear in the step)."""
    return 0.3 + 12 * np.exp(-(STEPS - 100) / tau)


def m2_runs(lmn_of_loss, norm_of_loss, seeds=SEEDS, loss=None):
    rng = np.random.default_rng(0)
    runs = []
    for seed in seeds:
        test_loss = decaying_loss() if loss is None else loss
        noise = 0.01 * rng.standard_normal((2, len(STEPS)))
        runs.append({"seed": seed, "t_fit": 100, "t_gen": 5000, "test_loss": test_loss,
                     "lmn": lmn_of_loss(test_loss) + noise[0], "param_norm": norm_of_loss(test_loss) + noise[1]})
    return runs


def linear_lmn(loss):
    return 4 + 0.25 * loss


def curved_norm(loss):
    return 30 + 20 * np.tanh(loss / 3)


def test_m2a_passes_when_test_loss_is_linear_in_lmn():
    result = linear_fit_per_seed(curves(m2_runs(linear_lmn, curved_norm)), M2A, NrmseParams())
    assert result.status == "pass" and result.value < 0.01 and result.seed_fraction == 1.0
    assert result.detail.startswith("a linear fit of test loss on LMN leaves a residual RMS <= 0.1")


def test_m2a_fails_when_lmn_is_curved_in_test_loss():
    # LMN saturates as test loss falls: a linear fit leaves a residual of ~0.15 x the loss range
    result = linear_fit_per_seed(curves(m2_runs(lambda loss: 4 + 3 * np.tanh(loss / 1.5), curved_norm)),
                                 M2A, NrmseParams())
    assert result.status == "fail" and result.value > 0.1 and result.seed_fraction == 0.0
    assert result.detail.startswith("a linear fit of test loss on LMN does not leave")


def test_m2a_against_the_step_fails_on_a_convex_decay_and_passes_on_a_linear_one():
    convex = linear_fit_per_seed(curves(m2_runs(linear_lmn, curved_norm)), M2A, NrmseParams(against="step"))
    assert convex.status == "fail" and convex.value > 0.1
    linear = np.interp(STEPS, [100, 5000], [12.0, 0.3])
    steady = linear_fit_per_seed(curves(m2_runs(linear_lmn, curved_norm, loss=linear)), M2A,
                                 NrmseParams(against="step"))
    assert steady.status == "pass" and "on the training step" in steady.detail


def test_m2a_leaves_out_seeds_without_a_window_and_is_inconclusive_with_too_few():
    runs = m2_runs(linear_lmn, curved_norm)
    runs[0]["t_gen"] = np.inf  # seed 1 never generalises
    result = linear_fit_per_seed(curves(runs), M2A, NrmseParams())
    assert result.status == "inconclusive" and "seed 1 left out: test accuracy never reached 0.95" in result.detail
    result = linear_fit_per_seed(curves(runs), M2A, NrmseParams(min_seeds=2))
    assert result.status == "pass" and result.n_runs == 2


def test_m2b_passes_when_the_norm_is_curved_and_lmn_linear():
    result = more_linear_than_reference(curves(m2_runs(linear_lmn, curved_norm)), M2B, RatioParams())
    assert result.status == "pass" and result.value < 0.5
    assert result.detail.startswith("test loss is markedly more linear in LMN than in the L2 norm")


def test_m2b_fails_when_the_norm_is_as_linear_as_lmn():
    result = more_linear_than_reference(curves(m2_runs(linear_lmn, lambda loss: 30 + 2 * loss)), M2B, RatioParams())
    assert result.status == "fail" and result.value > 0.5
    assert result.detail.startswith("the L2 norm is about as linear in test loss as LMN here")


def test_m2b_does_not_depend_on_the_probing_density():
    # A curved norm gives the same per-seed ratio whether probed every 100 steps or every 200.
    data = curves(m2_runs(linear_lmn, lambda loss: 30 + 0.1 * loss**2))
    sparse = data.copy(deep=True)
    sparse["lmn"][:, 2::4] = np.nan
    dense, thin = (more_linear_than_reference(d, M2B, RatioParams()).value for d in (data, sparse))
    assert thin == pytest.approx(dense, rel=0.1)


def test_m2_control_is_computed_and_recorded_in_the_verdict(tmp_path):
    from grokrepro.claims.evaluate import evaluate
    from grokrepro.metrics.curves import write_atomic
    from grokrepro.spec import load_spec

    spec = load_spec("specs/lmn_compression.yaml", "default")
    data = curves(m2_runs(linear_lmn, curved_norm, seeds=spec.seeds.verdict))
    data = data.assign(train_loss=data["test_loss"] * 0).assign_coords(
        budget_steps=("run", np.full(data.sizes["run"], STEPS[-1])))
    write_atomic(data, tmp_path / "curves.nc")
    verdict = evaluate(spec, "sha", tmp_path / "curves.nc")
    checks = {c["name"]: c for c in verdict["checks"]}
    assert checks["M2a"]["status"] == "pass" and checks["M2b"]["status"] == "pass"
    control = checks["M2a"]["control"]
    assert control["where"] == {"task": "add", "weight_decay": 0.2} and control["passed"] is False
    assert control["value"] > 0.1 and "clock" in control["why"]
    assert checks["M2a"]["params"]["max_nrmse"] == 0.1 and checks["M2b"]["params"]["max_rms_ratio"] == 0.5


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


def test_m2_figure_draws_per_seed_fits(tmp_path):
    from grokrepro.figures.common import save
    from grokrepro.figures.lmn_compression import DRAW, FIGURES

    data = curves(m2_runs(linear_lmn, curved_norm))
    for name in FIGURES:
        save(DRAW[name](data, {}), tmp_path / f"{name}.png")
    assert (tmp_path / "lmn_vs_test_loss.png").stat().st_size > 0


def test_m2a_whose_control_passes_says_why_in_the_verdict_reason(tmp_path):
    # Test loss falling linearly in time: the clock fits as well as LMN, so M2a cannot tell them apart.
    from grokrepro.claims.evaluate import evaluate
    from grokrepro.metrics.curves import write_atomic
    from grokrepro.spec import load_spec

    spec = load_spec("specs/lmn_compression.yaml", "default")
    linear = np.interp(STEPS, [100, 5000], [12.0, 0.3])
    data = curves(m2_runs(linear_lmn, curved_norm, seeds=spec.seeds.verdict, loss=linear))
    data = data.assign(train_loss=data["test_loss"] * 0).assign_coords(
        budget_steps=("run", np.full(data.sizes["run"], STEPS[-1])))
    write_atomic(data, tmp_path / "curves.nc")
    verdict = evaluate(spec, "sha", tmp_path / "curves.nc")
    m2a = next(c for c in verdict["checks"] if c["name"] == "M2a")
    assert m2a["status"] == "not_discriminating" and m2a["control"]["passed"] is True
    assert "M2a not discriminating: a linear fit of test loss on LMN leaves" in verdict["reason"]
    assert "where it must fail (a linear fit of test loss on the training step leaves" in verdict["reason"]
