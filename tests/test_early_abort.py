"""train.early_abort: after its window, the trainer stops exactly the runs the early-loss predictor says will
not grok; the others train on unchanged."""

import numpy as np
import pytest

from grokrepro.metrics.spectral import early_features
from grokrepro.spec import SpecError, expand_runs, load_spec
from grokrepro.spec.schema import EarlyLossPredictor
from grokrepro.tasks import make_dataset
from grokrepro.train import NOT_REACHED, EnsembleTrainer
from helpers import resolved, tiny_spec, write_spec

PREDICTOR = {"window": 12, "detrend": "moving_average", "smoothing": 3, "feature": "activity"}


def runs_with(early_abort=None, dense=12):
    train = {**tiny_spec()["train"], "log_every_step_until": dense}
    if early_abort is not None:
        train["early_abort"] = early_abort
    raw = tiny_spec(train=train, sweep={"optimizer.lr": [1e-3, 3e-3, 1e-2, 3e-2], "optimizer.weight_decay": [0.1]})
    return expand_runs(resolved(raw))


def train(runs):
    return EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)


def test_dense_window_logs_every_step():
    result = train(runs_with()[:2])
    assert set(range(13)) <= set(result.steps.tolist())
    assert np.isfinite(result.metrics["train_loss"][:, :13]).all()


@pytest.mark.parametrize("groks_when", ["above", "below"])
def test_early_abort_stops_the_runs_predicted_not_to_grok(groks_when):
    full = train(runs_with())
    feature = early_features(full.metrics["train_loss"], full.steps, EarlyLossPredictor(**PREDICTOR))["activity"]
    threshold = float(np.median(feature))
    kept = feature >= threshold if groks_when == "above" else feature <= threshold
    assert kept.any() and not kept.all()

    aborted = train(runs_with({**PREDICTOR, "enabled": True, "threshold": threshold, "groks_when": groks_when}))
    np.testing.assert_array_equal(aborted.aborted_at != NOT_REACHED, ~kept)
    assert (aborted.aborted_at[~kept] == PREDICTOR["window"]).all()
    assert (aborted.stopped_at == NOT_REACHED).all()
    before = aborted.steps < PREDICTOR["window"]
    for name in ("train_loss", "test_acc"):
        # identical curves up to the window; nothing logged for stopped runs afterwards
        np.testing.assert_allclose(aborted.metrics[name][:, before], full.metrics[name][:, before], rtol=1e-5)
        assert np.isnan(aborted.metrics[name][~kept][:, ~before]).all()
        # the runs that go on train exactly as without the abort (computed on the active runs only)
        np.testing.assert_allclose(aborted.metrics[name][kept], full.metrics[name][kept], rtol=1e-4, atol=1e-6)


def test_abort_window_must_be_logged_densely(tmp_path):
    raw = tiny_spec(train={**tiny_spec()["train"], "log_every_step_until": 5,
                           "early_abort": {**PREDICTOR, "enabled": True, "threshold": 1.0}})
    with pytest.raises(SpecError, match="log_every_step_until"):
        load_spec(write_spec(tmp_path, raw))
    raw["train"]["log_every_step_until"] = 12
    raw["train"]["early_abort"].pop("threshold")
    with pytest.raises(SpecError, match="threshold"):
        load_spec(write_spec(tmp_path, raw))


# -- the early_abort_savings check on synthetic twins -----------------------------------------------------------

def twin_curves(reference_groks, aborted, budget=1000, window=100, t_gen=400):
    """Pairs of runs (full-budget twin, aborting twin) per entry; grokking runs stop 50 steps after t_gen."""
    import json

    import xarray as xr

    from grokrepro.claims.early_abort import SavingsParams  # noqa: F401

    steps = np.arange(0, budget + 1, 10)
    rows, coords = [], {"variant": [], "seed": [], "config": []}
    stops, aborts = [], []
    for seed, (groks, abort) in enumerate(zip(reference_groks, aborted)):
        for variant in ("full", "early_abort"):
            stop = t_gen + 50 if groks and not (variant == "early_abort" and abort) else -1
            cut = window if variant == "early_abort" and abort else -1
            acc = np.where(steps >= (t_gen if groks else np.inf), 1.0, 0.0)
            end = cut if cut >= 0 else (stop if stop >= 0 else budget)
            rows.append(np.where(steps <= end, acc, np.nan))
            stops.append(stop)
            aborts.append(cut)
            coords["variant"].append(variant)
            coords["seed"].append(seed)
            train = {"steps": budget, "early_abort": {"enabled": variant == "early_abort"}}
            coords["config"].append(json.dumps({"train": train, "optimizer": {"lr": 1e-3}}))
    n = len(rows)
    return xr.Dataset(
        {"test_acc": (("run", "step"), np.array(rows)), "stopped_at": ("run", np.array(stops)),
         "aborted_at": ("run", np.array(aborts)), "diverged_at": ("run", np.full(n, -1))},
        coords={"run": [f"r{i}" for i in range(n)], "step": steps, "train": ("run", coords["variant"]),
                "seed": ("run", coords["seed"]), "config": ("run", coords["config"]),
                "lr": ("run", np.full(n, 1e-3)), "weight_decay": ("run", np.full(n, 1.0)),
                "budget_steps": ("run", np.full(n, budget))})


def savings(curves, **params):
    from grokrepro.claims.early_abort import SavingsParams, early_abort_savings
    from grokrepro.spec.schema import Check

    check = Check(name="E1", kind="early_abort_savings", statement="s", counts_for_verdict=False)
    return early_abort_savings(curves, check, SavingsParams(**params))


def test_savings_when_the_right_runs_are_stopped():
    groks = [True, True, False, False]
    result = savings(twin_curves(groks, aborted=[False, False, True, True]))
    # full: 2 x 451 + 2 x 1000 updates; with the abort: 2 x 451 + 2 x 100
    assert result.value == pytest.approx(1 - (2 * 451 + 2 * 100) / (2 * 451 + 2 * 1000))
    assert result.passed and "wrongly stopped: 0 of 2" in result.detail


def test_a_wrongly_stopped_grokking_run_fails_the_check():
    result = savings(twin_curves([True, True, False, False], aborted=[True, False, True, True]))
    assert not result.passed and "wrongly stopped: 1 of 2" in result.detail


def test_no_savings_when_nothing_is_stopped():
    result = savings(twin_curves([True, False], aborted=[False, False]))
    assert result.value == pytest.approx(0.0) and not result.passed
    assert "not stopped although they never grok: 1" in result.detail
