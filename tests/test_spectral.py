"""Spectral features of early curves, and the spectral_prediction checks P1 and P2 on synthetic curves."""

import numpy as np
import pytest
import xarray as xr

from pydantic import ValidationError

from grokrepro.claims.spectral_prediction import (OscillationParams, PredictionParams, WindowParams, auroc,
                                                  early_loss_oscillates, early_oscillations_predict_grokking,
                                                  oriented_score, prediction_window_is_early, rises)
from grokrepro.claims.verdict import with_controls
from grokrepro.metrics.spectral import detrended, early_features, hjorth, moving_average_residual
from grokrepro.spec.schema import Check, EarlyLossPredictor

STEPS = np.arange(400)
METHODS = [("moving_average", {"smoothing": 25}), ("high_pass", {"cutoff": 0.04}), ("low_band", {"band": (0.05, 0.3)})]


def sinusoid(amplitude=0.3, frequency=0.125, n=400):
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(n))


def test_activity_of_a_sinusoid_is_its_variance():
    # A whole number of periods: variance A²/2 exactly.
    assert hjorth(sinusoid(0.3))["activity"] == pytest.approx(0.3**2 / 2, rel=1e-9)


@pytest.mark.parametrize("method, options", METHODS)
def test_detrending_keeps_a_fast_oscillation(method, options):
    trend = 2.0 * np.exp(-np.arange(400) / 80)
    kept = hjorth(detrended(trend + sinusoid(0.3), method, **options))["activity"]
    assert kept == pytest.approx(0.3**2 / 2, rel=0.15)


@pytest.mark.parametrize("method, options", METHODS)
@pytest.mark.parametrize("trend", [lambda t: 4.6 - 0.01 * t, lambda t: 2.0 * np.exp(-t / 80),
                                   lambda t: 1.2 - 5 / (1 + np.exp(-(t - 150) / 30))])
def test_a_pure_trend_has_almost_no_activity_after_detrending(method, options, trend):
    curve = trend(np.arange(400.0))
    left = hjorth(detrended(curve, method, **options))["activity"]
    assert left < 1e-3 * np.var(curve)
    assert left < 0.02 * 0.3**2 / 2  # far below an oscillation of amplitude 0.3


@pytest.mark.parametrize("frequency", [0.02, 0.05, 0.125, 0.25])
def test_mobility_of_a_sinusoid_is_its_angular_frequency(frequency):
    # With differences for derivatives, a sinusoid of f cycles per step has mobility 2 sin(pi f) ~ 2 pi f.
    features = hjorth(sinusoid(1.0, frequency, n=2000))
    assert features["mobility"] == pytest.approx(2 * np.sin(np.pi * frequency), rel=0.01)
    assert features["complexity"] == pytest.approx(1.0, rel=0.02)


def test_complexity_of_noise_exceeds_that_of_a_sinusoid():
    noise = np.random.default_rng(0).normal(size=2000)
    assert hjorth(noise)["complexity"] > 1.1


def test_moving_average_residual_drops_the_edges():
    assert len(moving_average_residual(np.arange(100.0), 25)) == 100 - 24
    np.testing.assert_allclose(moving_average_residual(np.arange(100.0), 25), 0, atol=1e-12)


def test_early_features_read_the_first_window_of_logged_steps():
    steps = np.concatenate([np.arange(400), [500, 1000]])
    base = np.exp(-steps / 100.0) + 0.1
    wobbly = base * np.exp(np.where(steps < 400, sinusoid(0.2, 0.125, len(steps)), 0))
    features = early_features(np.stack([base, wobbly]), steps, EarlyLossPredictor(window=400, smoothing=16))
    assert features["activity"][1] == pytest.approx(0.2**2 / 2, rel=0.1)
    assert features["activity"][0] < 1e-3 * features["activity"][1]
    gappy = early_features(np.stack([base]), np.concatenate([steps[:200], steps[201:]]),
                           EarlyLossPredictor(window=400))
    assert np.isnan(gappy["activity"][0])  # step 200 was not logged


def test_auroc():
    assert auroc([3, 2, 1, 0], [True, True, False, False]) == 1.0
    assert auroc([0, 1, 2, 3], [True, True, False, False]) == 0.0
    assert auroc([1, 1, 1, 1], [True, True, False, False]) == 0.5
    # within strata only: each stratum is ranked perfectly, the pooled ranking is not
    strata = np.array([0, 0, 1, 1])
    assert auroc([10, 9, 2, 1], [True, False, True, False], strata) == 1.0
    assert auroc([10, 9, 2, 1], [True, False, True, False]) == 0.75


# -- P1, O1 and P2 on synthetic grids ------------------------------------------------------------------------

def grid_curves(groks, amplitude, lrs, weight_decays, seeds, t_gen=5000, window=400, budget=10000, fractions=None):
    """Runs whose early log-loss oscillates with `amplitude` and whose test accuracy reaches 1 at t_gen if
    they grok. Steps: every step below 2 x window, then every 100."""
    steps = np.unique(np.concatenate([np.arange(2 * window), np.arange(0, budget + 1, 100)]))
    n = len(groks)
    t_gen = np.broadcast_to(t_gen, n)
    fractions = np.full(n, 0.5) if fractions is None else np.asarray(fractions, float)
    train_loss = np.stack([np.exp(-steps / 300 + a * np.sin(2 * np.pi * 0.1 * steps)) for a in amplitude])
    test_acc = np.stack([np.where(steps >= (t if g else np.inf), 1.0, 0.02) for g, t in zip(groks, t_gen)])
    return xr.Dataset(
        {"train_loss": (("run", "step"), train_loss), "test_acc": (("run", "step"), test_acc),
         "train_acc": (("run", "step"), np.ones_like(test_acc)),
         "diverged_at": ("run", np.full(n, -1)), "stopped_at": ("run", np.full(n, -1))},
        coords={"run": [f"r{i}" for i in range(n)], "step": steps, "seed": ("run", np.asarray(seeds)),
                "lr": ("run", np.asarray(lrs, float)), "weight_decay": ("run", np.asarray(weight_decays, float)),
                "train_fraction": ("run", fractions), "budget_steps": ("run", np.full(n, budget))})


PREDICTOR = {"window": 400, "detrend": "moving_average", "smoothing": 9, "feature": "activity",
             "groks_when": "above", "threshold": 0.005}
P1 = Check(name="P1", kind="early_oscillations_predict_grokking", statement="s")
O1 = Check(name="O1", kind="early_loss_oscillates", statement="s")
P2 = Check(name="P2", kind="prediction_window_is_early", statement="s")


def p1(curves, **params):
    return early_oscillations_predict_grokking(curves, P1, PredictionParams(predictor=PREDICTOR, **params))


def design(n_per_cell=4, fractions=(0.5,)):
    """A grid of training fraction x learning rate x weight decay, `n_per_cell` seeds per cell."""
    cells = [(r, lr, wd) for r in fractions for lr in (1e-3, 1e-2) for wd in (0.1, 1.0)]
    rs, lrs, wds, seeds = zip(*[(r, lr, wd, s) for r, lr, wd in cells for s in range(n_per_cell)])
    return np.array(lrs), np.array(wds), np.array(seeds), np.array(rs)


def test_p1_passes_when_oscillations_predict_grokking_within_training_fractions():
    rng = np.random.default_rng(0)
    lrs, wds, seeds, rs = design(5, fractions=(0.3, 0.6))
    groks = rng.random(len(lrs)) < 0.5  # grokking unrelated to the hyper-parameters
    amplitude = np.where(groks, 0.2, 0.02) * rng.uniform(0.7, 1.3, len(lrs))
    result = p1(grid_curves(groks, amplitude, lrs, wds, seeds, fractions=rs))
    assert result.passed and result.status == "pass"
    assert result.value == pytest.approx(1.0)
    assert "within one train_fraction" in result.detail and "reversed sign 0.000" in result.detail
    assert "accuracy at the fixed threshold" in result.detail and "hyper-parameters alone" in result.detail


def test_p1_refuses_the_reversed_sign():
    # The claim is the paper's sign; a predictor that says "less activity => groks" is not accepted at all ...
    with pytest.raises(ValidationError, match="paper's sign is fixed"):
        PredictionParams(predictor={**PREDICTOR, "groks_when": "below"})
    with pytest.raises(ValidationError, match="paper's sign is fixed"):
        PredictionParams(predictor=PREDICTOR, other_readings={"x": {**PREDICTOR, "groks_when": "below"}})


def test_p1_fails_where_only_the_reversed_sign_would_pass():
    # ... and where the grokking runs oscillate *less* (the reading the old check accepted), P1 fails, with the
    # reversed sign's perfect score reported, not judged.
    rng = np.random.default_rng(4)
    lrs, wds, seeds, rs = design(10)
    groks = rng.random(len(lrs)) < 0.5
    amplitude = np.where(groks, 0.02, 0.2) * rng.uniform(0.8, 1.2, len(lrs))
    result = p1(grid_curves(groks, amplitude, lrs, wds, seeds, fractions=rs))
    assert result.status == "fail" and not result.passed and result.value == pytest.approx(0.0)
    assert "reversed sign 1.000" in result.detail and result.detail.startswith("the early-loss activity")


def test_p1_is_judged_within_a_training_fraction():
    # Pooled over fractions the activity ranks perfectly (more data: more oscillation and more grokking), but
    # within each fraction it says nothing: P1 fails.
    rng = np.random.default_rng(5)
    lrs, wds, seeds, rs = design(5, fractions=(0.3, 0.6))
    groks = rng.random(len(lrs)) < np.where(rs > 0.5, 0.9, 0.1)
    amplitude = np.where(rs > 0.5, 0.2, 0.02) * rng.uniform(0.9, 1.1, len(lrs))
    strata = np.digitize(rs, [0.5])
    scores = oriented_score(grid_curves(groks, amplitude, lrs, wds, seeds, fractions=rs), EarlyLossPredictor(**PREDICTOR))
    assert auroc(scores, groks) > 0.8 and abs(auroc(scores, groks, strata) - 0.5) < 0.3
    result = p1(grid_curves(groks, amplitude, lrs, wds, seeds, fractions=rs))
    assert result.status == "fail" and result.value == pytest.approx(auroc(scores, groks, strata))


def test_p1_fails_when_oscillations_are_unrelated_to_grokking():
    rng = np.random.default_rng(2)
    lrs, wds, seeds, rs = design(10)
    groks = rng.random(len(lrs)) < 0.5
    amplitude = rng.uniform(0.02, 0.2, len(lrs))
    result = p1(grid_curves(groks, amplitude, lrs, wds, seeds, fractions=rs))
    assert result.status == "fail"


def test_p1_is_inconclusive_with_too_few_runs_or_one_kind():
    lrs, wds, seeds, rs = design(2)
    groks = np.arange(len(lrs)) % 2 == 0
    result = p1(grid_curves(groks, np.where(groks, 0.2, 0.02), lrs, wds, seeds, fractions=rs))
    assert result.status == "inconclusive" and "need >= 32 runs" in result.detail
    lrs, wds, seeds, rs = design(10)
    result = p1(grid_curves(np.ones(len(lrs), bool), np.full(len(lrs), 0.2), lrs, wds, seeds, fractions=rs))
    assert result.status == "inconclusive"
    # both kinds overall, but never in one fraction: nothing to compare within a heat map
    lrs, wds, seeds, rs = design(5, fractions=(0.3, 0.6))
    result = p1(grid_curves(rs > 0.5, np.where(rs > 0.5, 0.2, 0.02), lrs, wds, seeds, fractions=rs))
    assert result.status == "inconclusive" and "0 runs in heat maps" in result.detail


def test_a_learning_rate_detector_control_makes_p1_not_discriminating():
    # Grokking follows the learning rate within each fraction, and so does the activity: P1 passes, but so does
    # the plain learning rate read as the activity is (its control), so P1 cannot tell oscillations from lr.
    lrs, wds, seeds, rs = design(10)
    groks = lrs > 5e-3
    groks[[0, 1]], groks[[-1, -2]] = True, False
    curves = grid_curves(groks, np.where(lrs > 5e-3, 0.2, 0.02), lrs, wds, seeds, fractions=rs)
    result = p1(curves)
    assert result.passed
    control = p1(curves, score="lr")
    assert control.passed and control.detail.startswith("the hyper-parameter lr alone")
    judged_result = with_controls(result, [({}, "an lr detector must not pass", control)])
    assert judged_result.status == "not_discriminating" and not judged_result.passed
    # Where grokking falls with the learning rate (the paper: large lr oscillates more without grokking), the
    # control fails and P1 (whose activity still tracks lr) fails with it.
    curves = grid_curves(~groks, np.where(lrs > 5e-3, 0.2, 0.02), lrs, wds, seeds, fractions=rs)
    assert p1(curves, score="lr").status == "fail" and p1(curves).status == "fail"


def test_a_control_may_be_params_alone_but_not_empty():
    from grokrepro.spec.schema import Control

    assert Control(params={"score": "lr"}).where == {}
    with pytest.raises(ValidationError):
        Control()


def o1(curves, **params):
    return early_loss_oscillates(curves, O1, OscillationParams(predictor=PREDICTOR, **params))


def test_o1_passes_when_the_early_loss_of_grokking_runs_rises():
    lrs, wds, seeds, rs = design(3)
    groks = np.arange(len(lrs)) % 2 == 0
    # amplitude 0.2 in log loss: rises of up to ~13 % between steps
    result = o1(grid_curves(groks, np.where(groks, 0.2, 0.0), lrs, wds, seeds, fractions=rs))
    assert result.passed and result.value == 1.0 and "non-grokking runs: 0 of 6" in result.detail


def test_o1_fails_for_a_smoothly_falling_loss():
    # Amplitude 0.02: the loss wobbles (its activity is not zero) but never rises by 5 %.
    lrs, wds, seeds, rs = design(3)
    groks = np.arange(len(lrs)) % 2 == 0
    curves = grid_curves(groks, np.where(groks, 0.02, 0.0), lrs, wds, seeds, fractions=rs)
    result = o1(curves)
    assert result.status == "fail" and result.value == 0.0 and "does not oscillate" in result.detail
    assert np.all(rises(curves["train_loss"].values, curves["step"].values, EarlyLossPredictor(**PREDICTOR),
                        0.005)[groks] > 0)  # small rises are there; they are not the paper's oscillations
    assert o1(curves, min_rise=0.005).passed


def test_o1_needs_grokking_runs_logged_in_the_window():
    lrs, wds, seeds, rs = design(3)
    result = o1(grid_curves(np.zeros(len(lrs), bool), np.full(len(lrs), 0.2), lrs, wds, seeds, fractions=rs))
    assert result.status == "inconclusive"
    gappy = grid_curves(np.ones(len(lrs), bool), np.full(len(lrs), 0.2), lrs, wds, seeds, fractions=rs, window=100)
    assert o1(gappy).status == "inconclusive"  # K = 400 but only steps below 200 are dense


def p2(curves, **params):
    return prediction_window_is_early(curves, P2, WindowParams(predictor=PREDICTOR, **params))


def test_p2_passes_when_grokking_comes_long_after_the_window():
    lrs, wds, seeds, _ = design(3)
    groks = np.arange(len(lrs)) % 2 == 0
    result = p2(grid_curves(groks, np.full(len(lrs), 0.1), lrs, wds, seeds, t_gen=6000))
    assert result.passed and result.value == pytest.approx(400 / 6000)


def test_p2_fails_when_runs_grok_soon_after_the_window():
    lrs, wds, seeds, _ = design(3)
    groks = np.arange(len(lrs)) % 2 == 0
    result = p2(grid_curves(groks, np.full(len(lrs), 0.1), lrs, wds, seeds, t_gen=1000))
    assert result.status == "fail" and result.value == pytest.approx(0.4)


def test_p2_needs_grokking_runs():
    lrs, wds, seeds, _ = design(3)
    result = p2(grid_curves(np.zeros(len(lrs), bool), np.full(len(lrs), 0.1), lrs, wds, seeds))
    assert result.status == "inconclusive"


def test_choose_predictor_keeps_the_papers_sign():
    from grokrepro.claims.spectral_prediction import choose_predictor

    rng = np.random.default_rng(4)
    lrs, wds, seeds, rs = design(10)
    groks = rng.random(len(lrs)) < 0.5
    for grokking_amplitude, expected in ((0.2, 1.0), (0.02, 0.0)):  # grokking runs oscillate more, then less
        amplitude = np.where(groks, grokking_amplitude, 0.22 - grokking_amplitude) * rng.uniform(0.8, 1.2, len(lrs))
        rows = choose_predictor(grid_curves(groks, amplitude, lrs, wds, seeds, fractions=rs), windows=(400,),
                                signals=("log_loss",))
        assert all(row["predictor"]["groks_when"] == "above" for row in rows)
        assert rows[0]["within"] == pytest.approx(expected)
        assert np.isfinite(rows[0]["predictor"]["threshold"])


# -- Notsawo's model and dataset options ------------------------------------------------------------------------

def test_unordered_pairs_keep_one_of_each_mirror_pair():
    from grokrepro.tasks.algorithmic import ModularTask
    from grokrepro.tasks import make_dataset

    task = ModularTask(operation="x+y", prime=31, train_fraction=0.5, pairs="unordered")
    data = make_dataset(task, 0)
    assert len(data.labels) == 31 * 32 // 2 and (data.inputs[:, 0] <= data.inputs[:, 1]).all()
    assert len(data.train_index) == round(0.5 * 496)
    with pytest.raises(ValidationError, match="commutative"):
        ModularTask(operation="x-y", prime=31, train_fraction=0.5, pairs="unordered")
    # the default leaves existing configurations (and so run ids) as they were
    assert "pairs" not in ModularTask(operation="x+y", prime=31, train_fraction=0.5).model_dump()
    assert task.model_dump()["pairs"] == "unordered"


def test_tied_readout_reads_out_through_the_embeddings():
    import torch

    from grokrepro.models.networks import ModelShape, build_model
    from grokrepro.models.kinds.power_transformer import PowerTransformer

    config = PowerTransformer(kind="power_transformer", d_model=32, n_heads=4, n_layers=2, tied_readout=True)
    tied, untied = build_model(config, ModelShape(31)), build_model(config.model_copy(update={"tied_readout": False}), ModelShape(31))
    assert tied.readout is None
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters()) == 32 * 31 + 31
    pairs = torch.tensor([[1, 2], [3, 4]])
    with torch.no_grad():
        tied.embed.weight[:31] *= 2  # scaling the operand embeddings scales what the read-out sees
    assert tied(pairs).shape == (2, 31)
    assert "tied_readout" not in PowerTransformer(kind="power_transformer").model_dump()
