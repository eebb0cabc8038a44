import numpy as np
import pytest

from grokrepro.claims.grokking import (DelayedParams, TrendParams, delay_rises_with_less_data,
                                       delayed_generalisation)
from grokrepro.claims.verdict import decide
from grokrepro.spec.schema import Check
from helpers import synthetic_curves

SEEDS = [1, 2, 3]
G1 = Check(name="G1", kind="delayed_generalisation", statement="s", where={"train_fraction": 0.5})
G2 = Check(name="G2", kind="delay_rises_with_less_data", statement="s")


def g1(curves):
    return delayed_generalisation(curves, G1, DelayedParams())


def g2(curves):
    return delay_rises_with_less_data(curves, G2, TrendParams())


def test_g1_passes_on_grokking_curves():
    result = g1(synthetic_curves([150], [[3000, 3500, 4000]], [0.5], SEEDS))
    assert result.passed and result.status == "pass" and result.value == 1.0


def test_g1_fails_when_test_accuracy_follows_train_accuracy():
    result = g1(synthetic_curves([150], [200], [0.5], SEEDS))
    assert not result.passed and result.status == "fail" and result.value == 0.0


def test_g1_fails_when_nothing_generalises():
    result = g1(synthetic_curves([150], [np.inf], [0.5], SEEDS))
    assert result.status == "fail"


def test_g1_fails_when_test_accuracy_is_high_at_fit():
    curves = synthetic_curves([150], [4000], [0.5], SEEDS, chance=0.5)
    assert g1(curves).status == "fail"


def test_g1_inside_uncertainty_is_inconclusive():
    # one of three seeds groks with a delay: the 2/3 threshold lies inside the bootstrap interval
    result = g1(synthetic_curves([150], [[4000, 200, 200]], [0.5], SEEDS))
    assert not result.passed and result.status == "inconclusive"
    assert result.interval[0] <= 2 / 3 <= result.interval[1]


def test_g1_without_matching_runs_is_inconclusive():
    result = g1(synthetic_curves([150], [4000], [0.6], SEEDS))
    assert result.status == "inconclusive" and "no healthy runs" in result.detail


def test_g2_passes_when_delay_rises_as_data_shrinks():
    curves = synthetic_curves([160, 150, 140], [1200, 3000, 8000], [0.7, 0.5, 0.4], SEEDS)
    result = g2(curves)
    assert result.passed and result.value == pytest.approx((8000 - 140) / (1200 - 160))


def test_g2_fails_when_delay_does_not_depend_on_data():
    curves = synthetic_curves([150, 150, 150], [2000, 2000, 2000], [0.7, 0.5, 0.4], SEEDS)
    assert g2(curves).status == "fail"


def test_g2_fails_when_span_is_too_small():
    curves = synthetic_curves([150, 150, 150], [1000, 1500, 2000], [0.7, 0.5, 0.4], SEEDS)
    result = g2(curves)
    assert not result.passed and result.value < 3


def test_g2_fails_when_fit_time_rises_as_data_shrinks():
    curves = synthetic_curves([100, 300, 900], [1200, 3000, 8000], [0.7, 0.5, 0.4], SEEDS)
    assert not g2(curves).passed


def test_g2_counts_never_generalising_as_latest():
    curves = synthetic_curves([160, 150, 140], [1200, 3000, np.inf], [0.7, 0.5, 0.4], SEEDS)
    assert g2(curves).passed


def test_g2_needs_three_fractions():
    curves = synthetic_curves([160, 150], [1200, 8000], [0.7, 0.5], SEEDS)
    assert g2(curves).status == "inconclusive"


def test_diverged_runs_are_left_out():
    curves = synthetic_curves([150], [[3000, 3500, 4000]], [0.5], SEEDS)
    curves["diverged_at"][:] = [-1, -1, 40]
    result = g1(curves)
    assert result.n_runs == 2 and "1 diverged" in result.detail


def test_verdict_rules():
    def result(status):
        r = g1(synthetic_curves([150], [4000], [0.5], SEEDS))
        r.status = status
        return r

    assert decide([result("pass"), result("pass")]) == "reproduced"
    assert decide([result("pass"), result("fail")]) == "not_reproduced"
    assert decide([result("pass"), result("inconclusive")]) == "inconclusive"
    assert decide([]) == "inconclusive"


def test_two_of_three_seeds_meet_the_default_two_thirds():
    result = g1(synthetic_curves([150], [[3000, 3500, 200]], [0.5], SEEDS))
    assert result.passed and result.status == "pass"


def test_a_diverged_run_makes_a_check_inconclusive():
    from grokrepro.claims.verdict import downgraded_for_divergence

    result = g1(synthetic_curves([150], [[3000, 3500, 4000]], [0.5], SEEDS))
    assert downgraded_for_divergence(result, 1).status == "inconclusive"
    failed = g1(synthetic_curves([150], [200], [0.5], SEEDS))
    assert downgraded_for_divergence(failed, 2).status == "inconclusive"


def test_g2_is_inconclusive_when_adjacent_delays_are_both_censored():
    # Neither 0.5 nor 0.4 generalises within the budget: their order is unknown, not "not rising".
    curves = synthetic_curves([160, 150, 140], [1200, np.inf, np.inf], [0.7, 0.5, 0.4], SEEDS)
    result = g2(curves)
    assert not result.passed and result.status == "inconclusive" and "censored" in result.detail


def test_g2_still_fails_on_a_definite_violation_beside_a_censored_tie():
    # the delay falls from 0.8 to 0.7: no order of the censored pair can rescue the trend
    curves = synthetic_curves([160, 160, 150, 140], [3000, 1200, np.inf, np.inf], [0.8, 0.7, 0.5, 0.4], SEEDS)
    assert g2(curves).status == "fail"


def test_g2_is_inconclusive_when_no_fraction_fits_within_the_budget():
    # Every fit time and delay is censored: nothing is known about their order.
    curves = synthetic_curves([np.inf] * 3, [np.inf] * 3, [0.7, 0.5, 0.4], SEEDS)
    assert g2(curves).status == "inconclusive"


def test_seed_table_refuses_two_runs_in_one_cell():
    from grokrepro.claims.verdict import AmbiguousRunsError, seed_table

    curves = synthetic_curves([150, 150], [3000, 4000], [0.5, 0.5], SEEDS)  # two runs per (seed, fraction)
    with pytest.raises(AmbiguousRunsError, match="both have seed 1 and train_fraction 0.5"):
        seed_table(curves, "train_fraction", np.arange(curves.sizes["run"], dtype=float))
    values, seeds, table = seed_table(curves.isel(run=slice(0, 3)), "train_fraction", np.array([1.0, 2.0, 3.0]))
    assert table.tolist() == [[1.0], [2.0], [3.0]]


def test_a_check_over_ambiguous_runs_stops_the_verdict_with_a_spec_error(tmp_path):
    from pathlib import Path

    from grokrepro.claims.evaluate import evaluate
    from grokrepro.metrics.curves import write_atomic
    from grokrepro.spec import SpecError, load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "specs/grokking.yaml", "smoke")
    # G2 sees two runs per seed and fraction (say, a sweep axis its 'where' does not fix)
    write_atomic(synthetic_curves([150] * 6, [3000] * 6, [0.4, 0.5, 0.6] * 2, SEEDS), tmp_path / "curves.nc")
    with pytest.raises(SpecError, match=r"field 'checks.1.where'.*both have seed"):
        evaluate(spec, "sha", tmp_path / "curves.nc")
