"""hidden_progress (Barak et al. 2022): the relevant_weights probe on hand-made first layers and in a real trainer,
and the checks H1 (t_learn ∝ n^slope) and H2 (the relevant weights rise while the accuracy is at chance) on
synthetic curves: each passing, failing on shuffled labels (their control) and inconclusive where it cannot say."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import xarray as xr

from grokrepro.claims.hidden_progress import (HiddenParams, ScalingParams, fitted_slope, hidden_progress_rises,
                                              learning_time_scaling, rank_correlation)
from grokrepro.claims.verdict import with_controls
from grokrepro.registry import PROBES
from grokrepro.spec import expand_runs
from grokrepro.spec.schema import Check
from grokrepro.tasks import make_dataset
from grokrepro.train import EnsembleTrainer
from grokrepro.train.parity_probes import relevant_weight_measures, relevant_weights
from helpers import resolved, tiny_spec

# -- the probe on hand-made weights ----------------------------------------------------------------------------


def _mask(n, relevant):
    mask = torch.zeros(1, n, dtype=torch.bool)
    mask[0, relevant] = True
    return mask


def test_every_column_alike_gives_k_over_n_and_a_ratio_of_one():
    weight = torch.ones(1, 5, 10)
    out = relevant_weight_measures(weight, torch.zeros_like(weight), _mask(10, [2, 7]))
    assert out["relevant_weight_share"].item() == pytest.approx(2 / 10)
    assert out["relevant_movement_share"].item() == pytest.approx(2 / 10)
    assert out["relevant_weight_ratio"].item() == pytest.approx(1.0)
    assert out["max_weight_movement"].item() == pytest.approx(1.0)


def test_movement_only_on_the_relevant_columns_is_all_relevant():
    rng = np.random.default_rng(0)
    initial = torch.as_tensor(rng.normal(size=(2, 8, 12)))
    step = torch.zeros_like(initial)
    step[:, :, [1, 4, 9]] = 0.3
    step[1, 0, 4] = -2.0  # the largest |entry| of the movement, in run 1 only
    out = relevant_weight_measures(initial + step, initial, _mask(12, [1, 4, 9]).expand(2, 12))
    assert np.allclose(out["relevant_movement_share"].numpy(), 1.0)
    assert np.allclose(out["max_weight_movement"].numpy(), [0.3, 2.0])
    # the weights themselves, by the formula: Σ_{i∈S} ||W_:,i||² / ||W||²
    weight = (initial + step).numpy()
    columns = (weight ** 2).sum(1)
    assert np.allclose(out["relevant_weight_share"].numpy(), columns[:, [1, 4, 9]].sum(1) / columns.sum(1))
    norms = np.sqrt(columns)
    irrelevant = np.delete(norms, [1, 4, 9], axis=1)
    assert np.allclose(out["relevant_weight_ratio"].numpy(), norms[:, [1, 4, 9]].min(1) / irrelevant.max(1))


def test_no_movement_and_a_dense_parity_give_nan_not_a_number_that_looks_measured():
    weight = torch.ones(1, 3, 4)
    out = relevant_weight_measures(weight, weight.clone(), _mask(4, [0, 1, 2, 3]))
    assert np.isnan(out["relevant_movement_share"].item())  # nothing moved yet
    assert np.isnan(out["relevant_weight_ratio"].item())  # k = n: no irrelevant column to compare with
    assert out["relevant_weight_share"].item() == pytest.approx(1.0)


PARITY = {"kind": "sparse_parity", "n_bits": 10, "k": 2, "n_train": 400, "n_test": 100}


def test_the_probe_is_logged_by_a_real_trainer_on_a_sparse_parity():
    runs = expand_runs(resolved(tiny_spec(
        task=PARITY, model={"kind": "mlp", "hidden": 16},
        optimizer={"kind": "sgd", "lr": 0.1, "batch_size": 32},
        train={"steps": 20, "log_every": 5, "log_points": 0, "checkpoint_every": 10,
               "probes": [{"kind": "relevant_weights", "every": 10}]})))
    result = EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)
    measured = np.isin(result.steps, [10, 20])
    for name in PROBES["relevant_weights"].outputs:
        values = result.metrics[name]
        assert values.shape == (len(runs), len(result.steps))
        assert not np.isnan(values[:, measured]).any()
        assert np.isnan(values[:, ~np.isin(result.steps, [0, 10, 20])]).all()
    assert np.isnan(result.metrics["relevant_movement_share"][:, 0]).all()  # step 0: nothing moved
    assert (result.metrics["max_weight_movement"][:, measured] > 0).all()
    share = result.metrics["relevant_weight_share"][:, 0]
    assert (share > 0.02).all() and (share < 0.6).all()  # near k/n = 0.2 at initialisation


def test_the_probe_refuses_a_task_without_relevant_bits_and_a_model_without_a_first_layer():
    runs = expand_runs(resolved(tiny_spec(
        train={"steps": 10, "log_every": 5, "log_points": 0, "checkpoint_every": 10,
               "probes": [{"kind": "relevant_weights", "every": 5}]})))
    with pytest.raises(TypeError, match="relevant input bits"):
        EnsembleTrainer(runs, [make_dataset(r.task, r.split_seed) for r in runs]).run(progress=False)
    transformer = SimpleNamespace(params={"embed.weight": torch.zeros(1, 3, 4)})
    with pytest.raises(TypeError, match="first layer"):
        relevant_weights(transformer, None, np.array([True]))


# -- synthetic curves --------------------------------------------------------------------------------------------

STEPS = np.arange(0, 8001, 50)
K = 3


def parity_run(n, t_learn, probe_every=50, rise=4.0, rng=None):
    """Test accuracy at chance until 0.8 t_learn, then rising to 1 at t_learn; the relevant movement share from
    k/n growing to `rise` x k/n by 0.8 t_learn (with a little noise), then towards 1."""
    s = STEPS.astype(float)
    chance = K / n
    accuracy = np.where(s < 0.8 * t_learn, 0.5, np.clip(0.5 + 0.5 * (s - 0.8 * t_learn) / (0.2 * t_learn), 0.5, 1))
    share = chance * (1 + (rise - 1) * np.clip(s / (0.8 * t_learn), 0, 1) ** 2)
    share = np.where(s < 0.8 * t_learn, share, np.minimum(1.0, share + (s - 0.8 * t_learn) / t_learn))
    if rng is not None:
        share = share * (1 + 0.01 * rng.normal(size=len(s)))
    share[0] = np.nan
    at = (STEPS % probe_every == 0) | (STEPS == STEPS[-1])
    return {"test_acc": accuracy, "relevant_movement_share": np.where(at, share, np.nan)}


def shuffled_run(n, rng):
    """Labels without the parity: accuracy at chance, the share wandering around k/n."""
    chance = K / n
    share = chance * (1 + 0.1 * rng.normal(size=len(STEPS)))
    share[0] = np.nan
    return {"test_acc": 0.5 + 0.02 * rng.normal(size=len(STEPS)), "relevant_movement_share": share}


def curves(rows):
    """rows: (n_bits, label_noise, seed, run dict)."""
    count = len(rows)
    names = list(rows[0][3])
    return xr.Dataset(
        {**{name: (("run", "step"), np.array([r[3][name] for r in rows])) for name in names},
         "diverged_at": ("run", np.full(count, -1)), "stopped_at": ("run", np.full(count, -1))},
        coords={"run": [f"r{i}" for i in range(count)], "step": STEPS, "seed": ("run", [r[2] for r in rows]),
                "n_bits": ("run", [r[0] for r in rows]), "k": ("run", [K] * count),
                "label_noise": ("run", [r[1] for r in rows])})


def sweep(exponent=1.5, sizes=(16, 24, 32, 48), seeds=(0, 1, 2), rise=4.0):
    rng = np.random.default_rng(1)
    rows = [(n, 0.0, s, parity_run(n, round(1000 * (n / 24) ** exponent * (1 + 0.1 * s) / 50) * 50, rise=rise, rng=rng))
            for n in sizes for s in seeds]
    return curves(rows + [(24, 0.5, s, shuffled_run(24, rng)) for s in seeds])


def check(kind, where):
    return Check(name="H", kind=kind, statement="s", where=where, params={})


ON, CONTROL = {"label_noise": 0.0}, {"label_noise": 0.5}


def test_fitted_slope_recovers_a_power_law():
    sizes = np.array([10.0, 20, 40])
    assert fitted_slope(sizes, 3 * sizes ** 2.5) == pytest.approx(2.5)
    assert np.isnan(fitted_slope(sizes, np.array([np.inf, np.inf, 5.0])))


def test_h1_passes_on_a_power_law_and_fails_on_the_shuffled_control():
    data = sweep(exponent=1.5)
    result = learning_time_scaling(data, check("learning_time_scaling", ON), ScalingParams(max_slope=5.0))
    assert result.status == "pass"
    assert result.value == pytest.approx(1.5, abs=0.15)
    low, high = result.interval
    assert low < result.value < high and low > 0
    control = learning_time_scaling(data, check("learning_time_scaling", CONTROL), ScalingParams(max_slope=5.0))
    assert control.status == "fail" and control.value == 0.0 and "nothing learned" in control.detail


def test_h1_stands_with_a_control_that_learns_nothing():
    data = sweep(exponent=1.5)
    result = learning_time_scaling(data, check("learning_time_scaling", ON), ScalingParams(max_slope=5.0))
    control = learning_time_scaling(data, check("learning_time_scaling", CONTROL), ScalingParams(max_slope=5.0))
    judged = with_controls(result, [(CONTROL, "shuffled labels", control)])
    assert judged.status == "pass" and judged.control["status"] == "fail"


def test_h1_fails_when_the_time_does_not_grow_or_grows_too_fast():
    falling = learning_time_scaling(sweep(exponent=-0.8), check("learning_time_scaling", ON), ScalingParams())
    assert falling.status == "fail" and falling.value < 0
    steep = learning_time_scaling(sweep(exponent=1.5), check("learning_time_scaling", ON),
                                  ScalingParams(max_slope=1.0))
    assert steep.status == "fail"


def test_h1_is_inconclusive_with_too_few_sizes_that_learn():
    # t = 1000 (n/24)^2: n = 32 and 48 learn within the 8000 steps, n = 72 and 96 do not: two sizes, three wanted
    data = sweep(exponent=2.0, sizes=(32, 48, 72, 96))
    result = learning_time_scaling(data, check("learning_time_scaling", ON), ScalingParams())
    assert result.status == "inconclusive" and "2 sizes learn" in result.detail
    assert learning_time_scaling(data, check("learning_time_scaling", {"label_noise": 0.3}),
                                 ScalingParams()).status == "inconclusive"


def test_rank_correlation_is_spearmans():
    x = np.arange(10.0)
    assert rank_correlation(x, x ** 3) == pytest.approx(1.0)
    assert rank_correlation(x, -np.exp(x)) == pytest.approx(-1.0)
    y = np.array([1, 3, 2, 5, 4, 7, 6, 9, 8, 10.0])
    d = np.argsort(np.argsort(y)) - x
    assert rank_correlation(x, y) == pytest.approx(1 - 6 * (d ** 2).sum() / (10 * (100 - 1)))


def test_h2_passes_on_hidden_progress_and_fails_on_the_shuffled_control():
    data = sweep()
    result = hidden_progress_rises(data, check("hidden_progress_rises", ON), HiddenParams())
    assert result.status == "pass" and result.value == 1.0
    control = hidden_progress_rises(data, check("hidden_progress_rises", CONTROL), HiddenParams())
    assert control.status == "fail" and control.value == 0.0


def test_h2_fails_when_the_measure_does_not_leave_chance_before_the_accuracy_moves():
    result = hidden_progress_rises(sweep(rise=1.3), check("hidden_progress_rises", ON), HiddenParams())
    assert result.status == "fail"


def test_h2_is_inconclusive_when_the_plateau_is_too_short_to_read_or_the_probe_is_missing():
    quick = curves([(16, 0.0, s, parity_run(16, 150)) for s in (0, 1, 2)])
    result = hidden_progress_rises(quick, check("hidden_progress_rises", ON), HiddenParams())
    assert result.status == "inconclusive" and "not measured" in result.detail
    missing = sweep().drop_vars("relevant_movement_share")
    result = hidden_progress_rises(missing, check("hidden_progress_rises", ON), HiddenParams())
    assert result.status == "inconclusive" and "relevant_weights" in result.detail


def test_the_figures_draw_the_fit_and_both_arms_from_the_curves(tmp_path):
    from grokrepro.figures.common import read_description, save
    from grokrepro.figures.hidden_progress import DRAW, FIGURES

    data = sweep(exponent=1.5)
    for name in FIGURES:
        save(DRAW[name](data, {}), tmp_path / f"{name}.png")
    scaling = read_description(tmp_path / "learning_time_vs_n.png")
    assert "label noise 0: slope 1.48" in scaling and "label noise 0.5: 0 sizes" in scaling
    assert "label noise 0, 0.5" in read_description(tmp_path / "hidden_progress_over_steps.png")
