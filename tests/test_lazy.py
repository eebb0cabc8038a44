"""Kumar et al.'s lazy quadratic network: exact population loss, eNTK, kernel alignment."""

import numpy as np
import pytest
import torch

from grokrepro.metrics.kernels import centred_alignment, kernel_regression_predictions
from grokrepro.metrics.population import lazy_quadratic_terms
from grokrepro.models.lazy import LazyQuadratic
from grokrepro.train.probes import empirical_ntk


def random_net(dim=6, width=9, alpha=1.7, epsilon=0.4, seed=0, centred=True):
    torch.manual_seed(seed)
    net = LazyQuadratic(dim, width, alpha, epsilon, centred=centred)
    with torch.no_grad():
        net.weight.add_(0.5 * torch.randn_like(net.weight))  # move away from θ₀
    return net


def test_decomposition_equals_the_population_loss():
    net = random_net()
    torch.manual_seed(1)
    beta = torch.randn(6)
    x = torch.randn(2_000_000, 6, dtype=torch.float64) / np.sqrt(6)
    with torch.no_grad():
        net = net.double()
        monte_carlo = ((net(x) - 0.5 * (x @ beta.double()) ** 2) ** 2).mean().item()
    terms = lazy_quadratic_terms(net.weight[None], net.initial_weight[None], net.alpha[None], net.epsilon[None],
                                 beta[None])
    analytic = terms["population_loss"].item()
    parts = sum(terms[k].item() for k in ("variance_error", "misalignment", "linear_power"))
    assert parts == pytest.approx(analytic)
    assert monte_carlo == pytest.approx(analytic, rel=0.01)


def test_decomposition_detects_a_wrong_model():
    net = random_net()
    beta = torch.randn(6)
    terms = lazy_quadratic_terms(net.weight[None], net.initial_weight[None], net.alpha[None], net.epsilon[None],
                                 beta[None])
    wrong = lazy_quadratic_terms(net.weight[None], net.initial_weight[None], 2 * net.alpha[None],
                                 net.epsilon[None], beta[None])
    assert wrong["population_loss"].item() != pytest.approx(terms["population_loss"].item(), rel=0.01)


@pytest.mark.parametrize("centred", [True, False])
def test_the_models_closed_form_entk_is_the_torch_func_one(centred):
    net = random_net(centred=centred).double()
    x, x_other = torch.randn(4, 6, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(net.ntk(x), empirical_ntk(net, x))
    torch.testing.assert_close(net.ntk(x, x_other), empirical_ntk(net, x, x_other))


def test_entk_matches_closed_form_and_finite_differences():
    net = LazyQuadratic(5, 7, alpha=1.3, epsilon=0.6, centred=False)
    x = torch.randn(4, 5, dtype=torch.float64)
    net = net.double()
    kernel = empirical_ntk(net, x)
    w = net.weight.detach()
    mean_w, second = w.mean(0), w.T @ w / 7
    closed = (1.3**2 / 7) * (x @ x.T) * (1 + 0.6 * (x @ mean_w)[:, None] + 0.6 * (x @ mean_w)[None, :]
                                         + 0.36 * x @ second @ x.T)
    torch.testing.assert_close(kernel, closed)
    # finite differences of the output with respect to every weight
    step, grads = 1e-6, []
    for i in range(w.numel()):
        bumped = w.clone().flatten()
        bumped[i] += step
        up = net.unscaled(bumped.view_as(w), x)
        bumped[i] -= 2 * step
        down = net.unscaled(bumped.view_as(w), x)
        grads.append(net.alpha * (up - down) / (2 * step))
    jacobian = torch.stack(grads, dim=1)
    torch.testing.assert_close(kernel, jacobian @ jacobian.T, rtol=1e-5, atol=1e-8)


def test_centred_model_starts_at_zero():
    net = random_net()
    with torch.no_grad():
        net.weight.copy_(net.initial_weight)
    assert torch.all(net(torch.randn(3, 6)) == 0)


def test_alignment_and_kernel_regression():
    y = torch.randn(30, dtype=torch.float64)
    centred = y - y.mean()
    assert centred_alignment(torch.outer(centred, centred), y) == pytest.approx(1.0)
    assert abs(centred_alignment(torch.eye(30, dtype=torch.float64), y)) < 0.3
    x = torch.randn(30, 3, dtype=torch.float64)
    kernel = x @ x.T + 1e-3 * torch.eye(30, dtype=torch.float64)
    prediction = kernel_regression_predictions(kernel, kernel, y)
    torch.testing.assert_close(prediction, y, rtol=1e-4, atol=1e-4)


def regression_curves(amounts_by_alpha, seeds=(1, 2, 3)):
    """Train loss drops at step 100; test loss drops at 100 + amount (inf: never)."""
    import xarray as xr

    steps = np.arange(0, 40001, 50)
    rows_train, rows_test, alphas, seed_coord = [], [], [], []
    for alpha, amount in amounts_by_alpha.items():
        for seed in seeds:
            rows_train.append(np.where(steps >= 100, 0.001, 0.4))
            rows_test.append(np.where(steps >= 100 + amount, 0.001, 0.3))
            alphas.append(alpha)
            seed_coord.append(seed)
    n = len(rows_train)
    return xr.Dataset({"train_loss": (("run", "step"), np.array(rows_train)),
                       "test_loss": (("run", "step"), np.array(rows_test)),
                       "diverged_at": ("run", np.full(n, -1))},
                      coords={"run": [f"r{i}" for i in range(n)], "step": steps, "seed": ("run", seed_coord),
                              "alpha": ("run", alphas)})


def l1(curves):
    from grokrepro.claims.lazy_to_rich import AlphaParams, grokking_rises_with_alpha
    from grokrepro.spec.schema import Check

    check = Check(name="L1", kind="grokking_rises_with_alpha", statement="s")
    return grokking_rises_with_alpha(curves, check, AlphaParams())


def test_l1_passes_when_the_delay_grows_with_alpha():
    result = l1(regression_curves({0.25: 0, 0.5: 700, 1.0: 2000, 2.0: 5000, 4.0: 23000, 8.0: np.inf}))
    assert result.status == "pass" and result.value == pytest.approx(1.0)


def test_l1_fails_when_alpha_does_not_change_the_delay():
    result = l1(regression_curves({0.25: 3000, 0.5: 3000, 1.0: 3000, 2.0: 3000, 4.0: 3000}))
    assert result.status == "fail"


def test_l1_fails_when_the_smallest_alpha_also_groks():
    result = l1(regression_curves({0.25: 5000, 0.5: 6000, 1.0: 7000, 2.0: 8000, 4.0: 9000}))
    assert not result.passed


def test_regression_group_trains_with_sgd_and_alpha_scaled_rate():
    from grokrepro.spec import expand_runs
    from grokrepro.tasks import make_dataset
    from grokrepro.train import EnsembleTrainer
    from helpers import resolved, tiny_spec

    raw = tiny_spec(task={"kind": "gaussian_regression", "dim": 5, "n_train": 20, "n_test": 30},
                    model={"kind": "lazy_quadratic", "width": 8, "epsilon": 0.3},
                    optimizer={"kind": "sgd", "lr": 2.0, "lr_alpha_power": -2},
                    train={"steps": 50, "log_every": 10, "log_points": 0,
                           "probes": [{"kind": "kernel_terms", "every": 10}, {"kind": "ntk_alignment", "every": 50},
                                      {"kind": "kernel_regression", "every": 50}]},
                    sweep={"model.alpha": [0.5, 2.0]}, checks=[{"name": "L1", "kind": "grokking_rises_with_alpha",
                                                                 "statement": "s"}])
    runs = expand_runs(resolved(raw))
    datasets = [make_dataset(r.task, r.split_seed) for r in runs]
    trainer = EnsembleTrainer(runs, datasets)
    assert trainer.lr.tolist() == pytest.approx([8.0, 8.0, 0.5, 0.5])
    result = trainer.run(progress=False)
    for k, data in enumerate(datasets):  # a centred model starts at zero: initial loss = mean(y²)
        assert result.metrics["train_loss"][k, 0] == pytest.approx(float(np.mean(data.labels[data.train_index] ** 2)), rel=1e-5)
    assert (result.metrics["train_loss"][:, -1] < result.metrics["train_loss"][:, 0]).all()
    assert "train_acc" not in result.metrics
    # the decomposition's population loss at step 0 equals E[y²] = ¾(|β|²/D)²
    for k, data in enumerate(datasets):
        beta = data.extras["beta"]
        assert result.metrics["population_loss"][k, 0] == pytest.approx(0.75 * (beta @ beta / 5) ** 2, rel=1e-4)
    assert np.isfinite(result.metrics["ntk_alignment"][:, 0]).all()
    assert np.isfinite(result.metrics["kernel_test_loss"][:, 0]).all()


STEPS = np.arange(0, 40001, 100)


def lazy_curves(runs):
    """runs: dicts with seed, t_train, t_test and optional plateau (test loss before t_test), kernel,
    alignment (start, at t_lin, end), n_train, alpha, departure (step where the network leaves its linearised
    network; default 10 x t_lin)."""
    import xarray as xr

    n = len(runs)
    train = np.array([np.where(STEPS >= r["t_train"], 0.001, 0.4) for r in runs])
    test = np.array([np.where(STEPS >= r["t_test"], 0.001, np.where(STEPS == 0, 0.3, r.get("plateau", 0.2)))
                     for r in runs])
    # the linearised network: its test loss peaks at T_LIN, then falls slowly towards the kernel line
    linearised_test = np.tile(np.interp(STEPS, [0, T_LIN, STEPS[-1]], [0.3, 0.45, 0.3]), (n, 1))
    linearised_train = np.tile(np.interp(STEPS, [0, T_LIN, STEPS[-1]], [0.4, 0.35, 0.3]), (n, 1))
    for k, r in enumerate(runs):
        lazy = STEPS < r.get("departure", 10 * T_LIN)
        train[k, lazy], test[k, lazy] = linearised_train[k, lazy], linearised_test[k, lazy]
    kernel = np.full((n, len(STEPS)), np.nan)
    kernel[:, 0] = [r.get("kernel", 0.2) for r in runs]
    alignment = np.full((n, len(STEPS)), np.nan)
    for k, r in enumerate(runs):
        start, lazy_end, end = r.get("alignment", (0.1, 0.1, 0.1))
        t_test = r["t_test"] if np.isfinite(r["t_test"]) else STEPS[-1]
        alignment[k] = np.interp(STEPS, [0, T_LIN, t_test, STEPS[-1]], [start, lazy_end, end, end])
    alignment[:, STEPS % 500 != 0] = np.nan  # measured sparsely, as the probe is
    return xr.Dataset({"train_loss": (("run", "step"), train), "test_loss": (("run", "step"), test),
                       "linearised_train_loss": (("run", "step"), linearised_train),
                       "linearised_test_loss": (("run", "step"), linearised_test),
                       "kernel_test_loss": (("run", "step"), kernel), "ntk_alignment": (("run", "step"), alignment),
                       "diverged_at": ("run", np.full(n, -1))},
                      coords={"run": [f"r{i}" for i in range(n)], "step": STEPS,
                              "seed": ("run", [r["seed"] for r in runs]),
                              "n_train": ("run", [r.get("n_train", 100) for r in runs]),
                              "alpha": ("run", [r.get("alpha", 1.0) for r in runs])})


def run_check(kind, curves, **params):
    from grokrepro.claims.registry import CHECKS
    from grokrepro.spec.schema import Check

    check = Check(name="X", kind=kind, statement="s", params=params)
    return CHECKS[kind].function(curves, check, CHECKS[kind].params_model.model_validate(params))


T_LIN = 700
LAZY_THEN_RICH = {"t_train": 9000, "t_test": 20000, "alignment": (0.1, 0.1002, 0.122)}
RICH_AT_ONCE = {"t_train": 300, "t_test": 800, "departure": 100, "alignment": (0.1, 0.5, 0.6)}


def test_l2_passes_when_the_network_tracks_its_linearisation_then_beats_the_kernel():
    result = run_check("lazy_phase_tracks_linearised", lazy_curves([{"seed": s, **LAZY_THEN_RICH} for s in (1, 2, 3)]))
    assert result.status == "pass" and result.value == pytest.approx(0.0)
    assert "up to the linearised test-loss peak at step 700" in result.detail


def test_l2_fails_when_the_network_leaves_its_linearisation_at_once():
    result = run_check("lazy_phase_tracks_linearised", lazy_curves([{"seed": s, **RICH_AT_ONCE} for s in (1, 2, 3)]))
    assert result.status == "fail" and result.value > 0.1 and "beyond 10%" in result.detail


def test_l2_fails_when_the_network_never_beats_kernel_regression():
    runs = [{"seed": s, **LAZY_THEN_RICH, "t_test": np.inf, "plateau": 0.19, "departure": 5000} for s in (1, 2, 3)]
    result = run_check("lazy_phase_tracks_linearised", lazy_curves(runs))
    assert result.status == "fail" and "not below 0.8x" in result.detail


def test_l2_without_a_linearised_curve_is_inconclusive():
    curves = lazy_curves([{"seed": s, **LAZY_THEN_RICH} for s in (1, 2, 3)]).drop_vars("linearised_test_loss")
    result = run_check("lazy_phase_tracks_linearised", curves)
    assert result.status == "inconclusive" and "linearised_test_loss" in result.detail


def test_l3_passes_when_alignment_is_flat_in_the_kernel_phase_and_rises_by_t_test():
    result = run_check("alignment_flat_then_rises", lazy_curves([{"seed": s, **LAZY_THEN_RICH} for s in (1, 2, 3)]))
    assert result.status == "pass" and result.value == pytest.approx(0.22)


def test_l3_fails_when_alignment_rises_in_the_kernel_phase():
    result = run_check("alignment_flat_then_rises", lazy_curves([{"seed": s, **RICH_AT_ONCE} for s in (1, 2, 3)]))
    assert result.status == "fail" and "not flat" in result.detail


def test_l3_fails_when_alignment_stays_flat():
    runs = [{"seed": s, **LAZY_THEN_RICH, "alignment": (0.3, 0.3, 0.31)} for s in (1, 2, 3)]
    result = run_check("alignment_flat_then_rises", lazy_curves(runs))
    assert result.status == "fail" and "less than 10%" in result.detail


def test_l2_and_l3_record_their_rich_control_which_must_fail(tmp_path):
    from grokrepro.claims.evaluate import evaluate
    from grokrepro.metrics.curves import write_atomic
    from grokrepro.spec import load_spec
    from helpers import tiny_spec, write_spec

    checks = [{"name": name, "kind": kind, "statement": "s", "where": {"alpha": 1.0},
               "control": {"where": {"alpha": 0.03125}, "why": "rich at once"}}
              for name, kind in (("L2", "lazy_phase_tracks_linearised"), ("L3", "alignment_flat_then_rises"))]
    raw = tiny_spec(task={"kind": "gaussian_regression", "dim": 5, "n_train": 20, "n_test": 30},
                    model={"kind": "lazy_quadratic", "width": 8, "epsilon": 0.3},
                    optimizer={"kind": "sgd", "lr": 2.0, "lr_alpha_power": -2},
                    sweep={"model.alpha": [0.03125, 1.0]}, checks=checks)
    raw["seeds"] = {"development": [0], "verdict": [1, 2, 3]}
    spec = load_spec(write_spec(tmp_path, raw), "default")
    runs = [{"seed": s, **LAZY_THEN_RICH} for s in (1, 2, 3)]
    runs += [{"seed": s, **RICH_AT_ONCE, "alpha": 0.03125} for s in (1, 2, 3)]
    write_atomic(as_merged(lazy_curves(runs)), tmp_path / "curves.nc")
    verdict = evaluate(spec, "sha", tmp_path / "curves.nc")
    for check in verdict["checks"]:
        assert check["status"] == "pass", check
        assert check["control"]["where"] == {"alpha": 0.03125} and check["control"]["passed"] is False
    # a lazy control would pass L2 too: the check could not tell rich from lazy and is not discriminating
    write_atomic(as_merged(lazy_curves([{"seed": s, **LAZY_THEN_RICH, "alpha": a} for s in (1, 2, 3)
                                        for a in (0.03125, 1.0)])), tmp_path / "curves.nc")
    verdict = evaluate(spec, "sha", tmp_path / "curves.nc")
    assert {c["status"] for c in verdict["checks"]} == {"not_discriminating"}


def as_merged(curves):
    """The synthetic curves with what a merged curves file carries besides (stop times, budgets)."""
    n = curves.sizes["run"]
    return curves.assign(stopped_at=("run", np.full(n, -1))).assign_coords(
        budget_steps=("run", np.full(n, STEPS[-1])), epsilon=("run", np.full(n, 0.3)))


def tiny_problem(centred, seed=0, dim=5, width=8, n_train=20, n_test=30):
    torch.manual_seed(seed)
    net = LazyQuadratic(dim, width, alpha=1.3, epsilon=0.4, centred=centred).double()
    x, x_test = (torch.randn(n, dim, dtype=torch.float64) / np.sqrt(dim) for n in (n_train, n_test))
    beta = torch.randn(dim, dtype=torch.float64)
    return net, x, 0.5 * (x @ beta) ** 2, x_test, 0.5 * (x_test @ beta) ** 2


@pytest.mark.parametrize("centred", [True, False])
def test_closed_form_linearised_losses_equal_training_the_torch_func_linearisation(centred):
    from grokrepro.metrics.linearised import LinearisedTwin, closed_form_losses

    net, x, y, x_test, y_test = tiny_problem(centred)
    lr, steps = 3.0, [0, 1, 2, 10, 50, 120, 400]
    with torch.no_grad():
        start, start_test = net(x), net(x_test)
    closed = closed_form_losses(empirical_ntk(net, x), empirical_ntk(net, x_test, x), start, start_test, y, y_test,
                                lr, steps)
    twin = LinearisedTwin(net, x, y, lr)
    trained = []
    for step in steps:
        twin.advance(step)
        trained.append(twin.losses(x_test, y_test))
    np.testing.assert_allclose(np.array(trained), np.stack(closed, axis=1), rtol=1e-12)
    assert trained[-1][0] < 0.5 * trained[0][0]  # it did train


def test_the_linearised_network_ends_at_kernel_regression():
    from grokrepro.metrics.linearised import LinearisedSpectrum

    net, x, y, x_test, y_test = tiny_problem(True)
    kernel, cross = empirical_ntk(net, x), empirical_ntk(net, x_test, x)
    spectrum = LinearisedSpectrum(kernel, cross, torch.zeros(20), torch.zeros(30), y, y_test, lr=3.0)
    train, test = spectrum.predictions(10**7)
    torch.testing.assert_close(train, y.double())
    torch.testing.assert_close(test, kernel_regression_predictions(kernel, cross, y).double())


def test_the_twin_trains_a_linearised_network_with_weight_decay_as_the_trainer_does():
    from grokrepro.metrics.linearised import LinearisedTwin

    net, x, y, x_test, y_test = tiny_problem(True)
    twin = LinearisedTwin(net, x, y, lr=1.0, weight_decay=0.1)
    twin.advance(1)
    # one step by hand: θ₁ = (1 − ηλ)θ₀ − η∇, and the linear model's gradient at θ₀ is the network's
    net.zero_grad()
    ((net(x) - y) ** 2).mean().backward()
    expected = (1 - 0.1) * twin.initial["weight"] - net.weight.grad
    torch.testing.assert_close(twin.initial["weight"] + twin.offset["weight"], expected)


def test_the_probe_logs_the_linearised_curve_through_the_trainer():
    from grokrepro.spec import expand_runs
    from grokrepro.tasks import make_dataset
    from grokrepro.train import EnsembleTrainer
    from helpers import resolved, tiny_spec

    raw = tiny_spec(task={"kind": "gaussian_regression", "dim": 5, "n_train": 20, "n_test": 30},
                    model={"kind": "lazy_quadratic", "width": 8, "epsilon": 0.3},
                    optimizer={"kind": "sgd", "lr": 2.0, "lr_alpha_power": -2},
                    train={"steps": 40, "log_every": 10, "log_points": 0,
                           "probes": [{"kind": "linearised_curve", "every": 10}]},
                    sweep={"model.alpha": [0.03125, 128.0]}, checks=[{"name": "L2", "kind": "lazy_phase_tracks_linearised",
                                                                  "statement": "s"}])
    runs = expand_runs(resolved(raw))
    datasets = [make_dataset(r.task, r.split_seed) for r in runs]
    result = EnsembleTrainer(runs, datasets).run(progress=False)
    metrics = result.metrics
    for name in ("train_loss", "test_loss"):
        linearised = metrics[f"linearised_{name}"]
        assert np.isfinite(linearised).all()
        np.testing.assert_allclose(linearised[:, 0], metrics[name][:, 0], rtol=1e-5)  # both start at θ₀
        # the linearised curve does not depend on alpha under eta_0 / alpha^2; a very lazy network follows it
        # (to ~eps / alpha), a rich one leaves it
        lazy = np.array([r.model.alpha == 128.0 for r in runs])
        np.testing.assert_allclose(linearised[lazy], metrics[name][lazy], rtol=2e-2)
        np.testing.assert_allclose(linearised[lazy], linearised[~lazy], rtol=1e-4)
        assert np.abs(metrics[name][~lazy, -1] / linearised[~lazy, -1] - 1).min() > 0.1


GOLDILOCKS = {"small": 50, "middle": 120, "large": 500}


def goldilocks_runs(small_t_test, middle_t_test, large_t_test):
    return [dict(seed=s, n_train=n, t_train=300, t_test=t)
            for s in (1, 2, 3) for n, t in ((50, small_t_test), (120, middle_t_test), (500, large_t_test))]


def test_l4_passes_on_goldilocks_sizes():
    curves = lazy_curves(goldilocks_runs(np.inf, 10000, 400))
    assert run_check("goldilocks_dataset_size", curves, **GOLDILOCKS).status == "pass"


def test_l4_fails_when_small_data_also_generalises():
    curves = lazy_curves(goldilocks_runs(5000, 10000, 400))
    assert run_check("goldilocks_dataset_size", curves, **GOLDILOCKS).status == "fail"


def test_l4_fails_when_the_middle_size_does_not_grok():
    curves = lazy_curves(goldilocks_runs(np.inf, 400, 400))
    assert run_check("goldilocks_dataset_size", curves, **GOLDILOCKS).status == "fail"


def test_l4_a_missing_small_size_run_is_no_evidence_of_never_generalising():
    # Seed 3 has no small-P run (never trained or left out): its small P must not count as "never generalised".
    runs = [r for r in goldilocks_runs(np.inf, 10000, 400) if not (r["seed"] == 3 and r["n_train"] == 50)]
    result = run_check("goldilocks_dataset_size", lazy_curves(runs), **GOLDILOCKS)
    assert result.status == "inconclusive" and "seed 3: no run at the small size" in result.detail
    only_large = [r for r in goldilocks_runs(np.inf, 10000, 400) if r["n_train"] != 50]
    only_large += [dict(seed=9, n_train=50, t_train=300, t_test=np.inf)]  # the size exists, for another seed
    result = run_check("goldilocks_dataset_size", lazy_curves(only_large), **GOLDILOCKS)
    assert result.status == "inconclusive" and not result.passed


def test_a_run_that_never_fits_has_no_amount_of_grokking():
    from grokrepro.claims.lazy_to_rich import amount_of_grokking

    amount = amount_of_grokking(np.array([100.0, 100.0, np.inf, np.inf]), np.array([300.0, np.inf, 300.0, np.inf]))
    assert amount[0] == 200 and amount[1] == np.inf  # fit but never generalised: censored, later than any
    assert np.isnan(amount[2:]).all()


def never_fitting(curves, alpha):
    """The runs at this alpha never bring the train loss below 10 % of its start."""
    curves["train_loss"][curves["alpha"].values == alpha] = 0.4
    return curves


def test_l1_does_not_rank_a_run_that_never_fits_as_the_most_grokking():
    # Ranked as +inf, the never-fitting alpha 8 would complete the rising trend and pass the check.
    amounts = {0.25: 0, 0.5: 700, 1.0: 2000, 2.0: 5000, 4.0: 23000, 8.0: np.inf}
    result = l1(never_fitting(regression_curves(amounts), 8.0))
    assert result.status == "inconclusive" and "at alpha 8: never fit the training set" in result.detail
    # Ranked as +inf, a never-fitting smallest alpha would break the trend and fail it.
    result = l1(never_fitting(regression_curves({**amounts, 8.0: 30000}), 0.25))
    assert result.status == "inconclusive"


def test_l4_a_middle_size_that_never_fits_is_unknown_not_a_failure():
    curves = lazy_curves(goldilocks_runs(np.inf, 10000, 400))
    middle_seed_1 = (curves["n_train"].values == 120) & (curves["seed"].values == 1)
    curves["train_loss"][middle_seed_1] = 0.4
    result = run_check("goldilocks_dataset_size", curves, **GOLDILOCKS)
    assert result.status == "inconclusive" and "seed 1: the middle size never fit" in result.detail


def test_figures_draw_from_curves_and_verdict(tmp_path):
    from grokrepro.figures import figure_names
    from grokrepro.figures import lazy_to_rich as figures
    from grokrepro.figures.common import save

    runs = [{"seed": s, "t_train": 500, "t_test": 500 + 1000 * a, "alpha": a, "alignment": (0.1, 0.1, 0.2)}
            for s in (1, 2) for a in (0.5, 1.0, 2.0)]
    runs += [{"seed": s, "t_train": 500, "t_test": np.inf, "alpha": 4.0} for s in (1, 2)]
    runs += [{"seed": s, "t_train": 500, "t_test": t, "n_train": n} for s in (1, 2)
             for n, t in ((30, np.inf), (300, 600))]
    curves = lazy_curves(runs)
    curves = curves.assign_coords(epsilon=("run", np.full(curves.sizes["run"], 0.02)),
                                  budget_steps=("run", np.full(curves.sizes["run"], STEPS[-1])))
    for name in figures.TERMS:
        curves[name] = curves["test_loss"] / 3
    curves["population_loss"] = curves["test_loss"]
    verdict = {"checks": [{"name": "L1", "where": {"n_train": 100}, "params": {"relative_threshold": 0.1}},
                          {"name": "L2", "where": {"alpha": 1.0, "n_train": 100}},
                          {"name": "L4", "where": {"alpha": 1.0}}]}
    assert figure_names("lazy_to_rich")[:len(figures.FIGURES)] == figures.FIGURES
    for name in figures.FIGURES:
        save(figures.DRAW[name](curves, verdict), tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


@pytest.mark.parametrize("centred", [True, False])
def test_the_gram_form_is_the_same_function_and_gradient(centred):
    """form: gram (sufficient statistics) against the feature form, in float64, after the weights have moved."""
    from grokrepro.models.lazy import LazyQuadratic

    torch.manual_seed(0)
    features = LazyQuadratic(7, 11, alpha=0.5, epsilon=0.3, centred=centred).double()
    gram = LazyQuadratic(7, 11, alpha=0.5, epsilon=0.3, centred=centred, form="gram").double()
    gram.load_state_dict(features.state_dict())
    with torch.no_grad():
        for model in (features, gram):
            model.weight.add_(0.1 * torch.randn(11, 7, generator=torch.Generator().manual_seed(1)).double())
    inputs = torch.randn(13, 7, dtype=torch.float64)
    out_features, out_gram = features(inputs), gram(inputs)
    torch.testing.assert_close(out_gram, out_features, rtol=1e-12, atol=1e-12)
    (grad_features,) = torch.autograd.grad(out_features.square().sum(), features.weight)
    (grad_gram,) = torch.autograd.grad(out_gram.square().sum(), gram.weight)
    torch.testing.assert_close(grad_gram, grad_features, rtol=1e-12, atol=1e-12)


def test_the_gram_form_keeps_run_ids_of_specs_that_do_not_ask_for_it():
    from grokrepro.models.kinds.lazy_quadratic import LazyQuadratic as LazyQuadraticSpec

    assert "form" not in LazyQuadraticSpec(kind="lazy_quadratic", width=3).model_dump()
    assert LazyQuadraticSpec(kind="lazy_quadratic", width=3, form="gram").model_dump()["form"] == "gram"
