"""Spectral features of early curves, and the spectral_prediction checks P1 and P2 on synthetic curves."""

import numpy as np
import pytest
import xarray as xr

from grokrepro.claims.spectral_prediction import (PredictionParams, WindowParams, auroc,
                                                  early_oscillations_predict_grokking, prediction_window_is_early)
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


# -- P1 and P2 on synthetic grids ---------------------------------------------------------------------------

def grid_curves(groks, amplitude, lrs, weight_decays, seeds, t_gen=5000, window=400, budget=10000):
    """Runs whose early log-loss oscillates with `amplitude` and whose test accuracy reaches 1 at t_gen if
    they grok. Steps: every step below 2 x window, then every 100."""
    steps = np.unique(np.concatenate([np.arange(2 * window), np.arange(0, budget + 1, 100)]))
    n = len(groks)
    t_gen = np.broadcast_to(t_gen, n)
    train_loss = np.stack([np.exp(-steps / 300 + a * np.sin(2 * np.pi * 0.1 * steps)) for a in amplitude])
    test_acc = np.stack([np.where(steps >= (t if g else np.inf), 1.0, 0.02) for g, t in zip(groks, t_gen)])
    return xr.Dataset(
        {"train_loss": (("run", "step"), train_loss), "test_acc": (("run", "step"), test_acc),
         "train_acc": (("run", "step"), np.ones_like(test_acc)),
         "diverged_at": ("run", np.full(n, -1)), "stopped_at": ("run", np.full(n, -1))},
        coords={"run": [f"r{i}" for i in range(n)], "step": steps, "seed": ("run", np.asarray(seeds)),
                "lr": ("run", np.asarray(lrs, float)), "weight_decay": ("run", np.asarray(weight_decays, float)),
                "budget_steps": ("run", np.full(n, budget))})


PREDICTOR = {"window": 400, "detrend": "moving_average", "smoothing": 9, "feature": "activity",
             "groks_when": "above", "threshold": 0.005}
P1 = Check(name="P1", kind="early_oscillations_predict_grokking", statement="s")
P2 = Check(name="P2", kind="prediction_window_is_early", statement="s")


def p1(curves, **params):
    return early_oscillations_predict_grokking(curves, P1, PredictionParams(predictor=PREDICTOR, **params))


def design(n_per_cell=4):
    """A 2 x 2 grid of learning rate x weight decay, `n_per_cell` seeds per cell."""
    cells = [(lr, wd) for lr in (1e-3, 1e-2) for wd in (0.1, 1.0)]
    lrs, wds, seeds = zip(*[(lr, wd, s) for lr, wd in cells for s in range(n_per_cell)])
    return np.array(lrs), np.array(wds), np.array(seeds)


def test_p1_passes_when_oscillations_predict_grokking_beyond_the_hyperparameters():
    rng = np.random.default_rng(0)
    lrs, wds, seeds = design(10)
    groks = rng.random(len(lrs)) < 0.5  # grokking unrelated to the hyper-parameters
    amplitude = np.where(groks, 0.2, 0.02) * rng.uniform(0.7, 1.3, len(lrs))
    result = p1(grid_curves(groks, amplitude, lrs, wds, seeds))
    assert result.passed and result.status == "pass"
    assert result.value == pytest.approx(1.0)
    assert "accuracy at the fixed threshold" in result.detail


def test_p1_fails_for_a_learning_rate_detector():
    # Grokking follows the learning rate exactly, and so do the oscillations: the hyper-parameter predictor is
    # as good, and within one learning rate the oscillations say nothing.
    lrs, wds, seeds = design(10)
    groks = lrs > 5e-3
    groks[[0, 1]] = True  # a few low-lr runs grok too, so that each learning rate holds both kinds
    groks[[-1, -2]] = False
    amplitude = np.where(lrs > 5e-3, 0.2, 0.02)
    result = p1(grid_curves(groks, amplitude, lrs, wds, seeds))
    assert result.value > 0.8  # a high AUROC on its own...
    assert not result.passed and result.status == "fail"  # ...that says no more than the learning rate
    assert "lr" in result.detail


def test_p1_fails_when_oscillations_are_unrelated_to_grokking():
    rng = np.random.default_rng(2)
    lrs, wds, seeds = design(10)
    groks = rng.random(len(lrs)) < 0.5
    amplitude = rng.uniform(0.02, 0.2, len(lrs))
    result = p1(grid_curves(groks, amplitude, lrs, wds, seeds))
    assert result.status == "fail"


def test_p1_is_inconclusive_with_too_few_runs_or_one_kind():
    lrs, wds, seeds = design(2)
    groks = np.arange(len(lrs)) % 2 == 0
    result = p1(grid_curves(groks, np.where(groks, 0.2, 0.02), lrs, wds, seeds))
    assert result.status == "inconclusive" and "need >= 32 runs" in result.detail
    lrs, wds, seeds = design(10)
    result = p1(grid_curves(np.ones(len(lrs), bool), np.full(len(lrs), 0.2), lrs, wds, seeds))
    assert result.status == "inconclusive"


def test_p1_passes_within_one_learning_rate():
    # Pooled over learning rates the oscillations mislead (the high-lr runs oscillate more and grok less),
    # but among runs of one learning rate they rank grokking perfectly.
    rng = np.random.default_rng(3)
    lrs, wds, seeds = design(10)
    groks = rng.random(len(lrs)) < np.where(lrs > 5e-3, 0.3, 0.7)
    amplitude = np.where(lrs > 5e-3, 0.3, 0.03) * np.where(groks, 1.5, 1.0)
    result = p1(grid_curves(groks, amplitude, lrs, wds, seeds))
    assert result.passed and result.value == 1.0 and "AUROC within learning rates" in result.detail
    assert float(result.detail.split("predictor moving_average / activity (above), K 400: AUROC ")[1][:5]) < 0.8


def p2(curves, **params):
    return prediction_window_is_early(curves, P2, WindowParams(predictor=PREDICTOR, **params))


def test_p2_passes_when_grokking_comes_long_after_the_window():
    lrs, wds, seeds = design(3)
    groks = np.arange(len(lrs)) % 2 == 0
    result = p2(grid_curves(groks, np.full(len(lrs), 0.1), lrs, wds, seeds, t_gen=6000))
    assert result.passed and result.value == pytest.approx(400 / 6000)


def test_p2_fails_when_runs_grok_soon_after_the_window():
    lrs, wds, seeds = design(3)
    groks = np.arange(len(lrs)) % 2 == 0
    result = p2(grid_curves(groks, np.full(len(lrs), 0.1), lrs, wds, seeds, t_gen=1000))
    assert result.status == "fail" and result.value == pytest.approx(0.4)


def test_p2_needs_grokking_runs():
    lrs, wds, seeds = design(3)
    result = p2(grid_curves(np.zeros(len(lrs), bool), np.full(len(lrs), 0.1), lrs, wds, seeds))
    assert result.status == "inconclusive"


def test_choose_predictor_finds_the_sign_and_a_separating_threshold():
    from grokrepro.claims.spectral_prediction import choose_predictor

    rng = np.random.default_rng(4)
    lrs, wds, seeds = design(10)
    groks = rng.random(len(lrs)) < 0.5
    amplitude = np.where(groks, 0.02, 0.2) * rng.uniform(0.8, 1.2, len(lrs))  # grokking runs oscillate less
    curves = grid_curves(groks, amplitude, lrs, wds, seeds)
    best = choose_predictor(curves, windows=(400,))[0]
    assert best["auroc"] == 1.0 and best["predictor"]["groks_when"] == "below"
    threshold = best["predictor"]["threshold"]
    chosen = PredictionParams(predictor=best["predictor"])
    result = early_oscillations_predict_grokking(curves, P1, chosen)
    assert result.passed and "accuracy at the fixed threshold" in result.detail and "opposite" in result.detail
    assert np.isfinite(threshold)
