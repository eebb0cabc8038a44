"""G3 (Power et al.): weight decay more than halves the training fraction needed to generalise."""

import numpy as np
import xarray as xr

from grokrepro.claims.grokking import WeightDecayParams, smallest_generalising, weight_decay_halves_data
from grokrepro.spec.schema import Check
from helpers import synthetic_curves

SEEDS = [1, 2, 3]
NEVER = np.inf
G3 = Check(name="G3", kind="weight_decay_halves_data", statement="s", where={"train": "full"})


def arms(generalises_from: dict[float, float], fractions: dict[float, list[float]]) -> xr.Dataset:
    """Curves at each weight decay: a run at fraction f reaches test acc 1 at step 3000 when f is at least the
    arm's `generalises_from` (per seed a list or one value for all), else never."""
    parts = []
    for weight_decay, tried in fractions.items():
        start = np.broadcast_to(generalises_from[weight_decay], len(SEEDS))
        t_gen = [[3000 if f >= s - 1e-9 else NEVER for s in start] for f in tried]
        part = synthetic_curves([100] * len(tried), t_gen, tried, SEEDS)
        part = part.assign_coords(weight_decay=("run", np.full(part.sizes["run"], weight_decay)),
                                  run=[f"wd{weight_decay}-{r}" for r in part["run"].values])
        parts.append(part)
    return xr.concat(parts, dim="run")


GRIDS = {1.0: [0.3, 0.4, 0.5, 0.6, 0.7], 0.0: [0.6, 0.7, 0.8, 0.9]}


def g3(curves, **params):
    return weight_decay_halves_data(curves, G3, WeightDecayParams(**params))


def test_g3_passes_when_weight_decay_generalises_from_half_the_data():
    result = g3(arms({1.0: [0.4, 0.4, 0.5], 0.0: [0.8, 0.9, 0.9]}, GRIDS))
    assert result.passed and result.status == "pass"
    assert np.isclose(result.value, 0.4 / 0.9) and np.isclose(result.seed_fraction, 2 / 3)  # seed 3: 0.56
    assert "0.44x" in result.detail and "seed 3: 0.5 vs 0.9" in result.detail


def test_g3_fails_when_weight_decay_saves_less_than_half():
    result = g3(arms({1.0: 0.4, 0.0: 0.7}, GRIDS))
    assert not result.passed and result.status == "fail"
    assert np.isclose(result.value, 0.4 / 0.7)
    assert result.detail.startswith("with weight decay 1 the smallest train_fraction that generalises is 0.57x")


def test_g3_fails_when_weight_decay_never_generalises_but_its_absence_does():
    result = g3(arms({1.0: NEVER, 0.0: 0.8}, GRIDS))
    assert not result.passed and result.status == "fail" and result.value == np.inf


def test_g3_is_inconclusive_when_no_weight_decay_does_not_generalise_even_at_the_largest_fraction():
    result = g3(arms({1.0: 0.4, 0.0: NEVER}, GRIDS))
    assert not result.passed and result.status == "inconclusive" and result.value is None
    assert result.detail.startswith("weight decay 0 does not reach test acc 0.99 within the budget even at "
                                    "train_fraction 0.9")


def test_g3_is_inconclusive_when_the_baseline_generalises_at_the_bottom_of_its_grid():
    """0.4 against 0.6 reads as a halving... but weight decay 0 might need less than 0.6, it was never tried."""
    result = g3(arms({1.0: 0.3, 0.0: 0.6}, GRIDS))
    assert not result.passed and result.status == "inconclusive" and result.value == 0.5
    assert "already generalises at the smallest train_fraction tried with it (0.6)" in result.detail


def test_g3_is_inconclusive_when_weight_decay_generalises_at_the_bottom_of_its_grid_and_fails():
    result = g3(arms({1.0: 0.3, 0.0: 0.5}, {1.0: [0.3, 0.4], 0.0: [0.4, 0.5, 0.6]}))
    assert not result.passed and result.status == "inconclusive" and np.isclose(result.value, 0.6)


def test_g3_control_with_equal_weight_decays_fails_whatever_the_grid():
    result = g3(arms({1.0: 0.4, 0.0: 0.6}, GRIDS), treated=0.0)
    assert not result.passed and result.status == "fail" and result.value == 1.0


def test_g3_within_seed_uncertainty_is_inconclusive():
    """Two seeds halve the data, one does not: the resamples disagree, so no failure is established."""
    result = g3(arms({1.0: [0.4, 0.4, 0.6], 0.0: [0.9, 0.9, 0.7]}, GRIDS))
    assert np.isclose(result.value, 0.4 / 0.9) and result.passed
    result = g3(arms({1.0: [0.4, 0.6, 0.6], 0.0: [0.9, 0.9, 0.7]}, GRIDS))
    assert not result.passed and result.status == "inconclusive" and 0 < result.support < 1


def test_g3_needs_both_weight_decays():
    """A scale without weight-decay-0 runs (the default, by design) says so rather than counting seeds."""
    result = g3(arms({1.0: 0.4}, {1.0: GRIDS[1.0]}))
    assert result.status == "inconclusive" and "no runs at weight_decay 0 " in result.detail


def test_g3_needs_complete_seeds_at_both_weight_decays():
    curves = arms({1.0: 0.4, 0.0: 0.8}, GRIDS)
    curves = curves.isel(run=[k for k, r in enumerate(curves["run"].values)
                              if not (r.startswith("wd0.0") and curves["seed"].values[k] != 1)])
    result = g3(curves)
    assert result.status == "inconclusive" and "only 1 seeds" in result.detail


def test_smallest_generalising_needs_every_larger_fraction_to_generalise():
    values = np.array([0.3, 0.4, 0.5, 0.6])
    rows = np.array([[True, False, True, True], [True, True, True, True], [True, True, True, False]])
    assert list(smallest_generalising(values, rows)) == [0.5, 0.3, np.inf]


def test_g3_figure_draws_seeds_that_never_generalise_and_a_spec_without_g3(tmp_path):
    import json

    from grokrepro.figures.common import save
    from grokrepro.figures.grokking import weight_decay_data_need

    curves = arms({1.0: [0.4, 0.4, 0.5], 0.0: [0.8, NEVER, 0.9]}, GRIDS)
    curves.attrs["spec_json"] = json.dumps({"checks": [{"name": "G3", "kind": "weight_decay_halves_data",
                                                        "where": {"train": "full"}, "params": {"gen_acc": 0.99}}]})
    save(weight_decay_data_need(curves, {}), tmp_path / "g3.png")
    assert (tmp_path / "g3.png").stat().st_size > 5000
    curves.attrs["spec_json"] = json.dumps({"checks": []})
    save(weight_decay_data_need(curves, {}), tmp_path / "none.png")
    assert (tmp_path / "none.png").is_file()
