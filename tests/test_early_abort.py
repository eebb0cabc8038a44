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
