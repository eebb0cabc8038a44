"""The general-purpose check kinds on synthetic curves (each passing, failing and inconclusive), and the spec
validator refusing, before anything trains, a check whose runs lack what its kind requires."""

import numpy as np
import pytest
import xarray as xr

from grokrepro.claims.general import (FinalParams, ReachParams, SoonerParams, ThresholdParams, final_value_beyond,
                                      generalises_sooner, reaches_accuracy, smallest_generalising_value)
from grokrepro.claims.grokfast import SpeedupParams, speedup_to_generalise
from grokrepro.claims.registry import CHECKS
from grokrepro.spec import load_spec
from grokrepro.spec.schema import Check
from helpers import refused, spec_with, synthetic_curves, write_spec

SEEDS = [1, 2, 3]
NEVER = np.inf  # censored: not reached within the 10,000-step budget


def curves(t_gen, values, axis="train_fraction", **fixed):
    """One run per seed at each of `values` of `axis`; test accuracy jumps to 1 at t_gen (per value, or per
    value and seed); `fixed` sets further coordinates."""
    made = synthetic_curves([100] * len(values), t_gen, values, SEEDS)
    if axis != "train_fraction":
        made = made.drop_vars(axis, errors="ignore").rename({"train_fraction": axis})
    for name, value in fixed.items():
        made = made.assign_coords({name: ("run", np.full(made.sizes["run"], value))})
    return made


def joined(*parts):
    both = xr.concat(parts, dim="run")
    return both.assign_coords(run=[f"r{i}" for i in range(both.sizes["run"])])


def judge(function, params, data, where=None):
    spec_check = Check(name="X", kind="x", statement="s", where=where or {})
    return function(data, spec_check, params)


# --- reaches_accuracy ------------------------------------------------------------------------------------------

def test_reaches_accuracy_passes_when_every_seed_reaches_it():
    result = judge(reaches_accuracy, ReachParams(), curves([[300, 400, 500]], [0.5]))
    assert result.status == "pass" and result.value == 1.0 and "3 of 3 runs" in result.detail


def test_reaches_accuracy_fails_when_no_seed_reaches_it_in_time():
    result = judge(reaches_accuracy, ReachParams(within_steps=1000), curves([[3000, 4000, 5000]], [0.5]))
    assert result.status == "fail" and result.value == 0.0


def test_reaches_accuracy_counts_never_as_later_than_the_budget():
    result = judge(reaches_accuracy, ReachParams(), curves([NEVER], [0.5]))
    assert result.status == "fail" and "never (budget 10000)" in result.detail


def test_reaches_accuracy_within_the_uncertainty_is_inconclusive():
    result = judge(reaches_accuracy, ReachParams(), curves([[300, NEVER, NEVER]], [0.5]))
    assert result.status == "inconclusive" and result.interval[0] <= 2 / 3 <= result.interval[1]


def test_reaches_accuracy_past_the_budget_is_unknown_not_failed():
    # asked for by step 20,000 of a 10,000-step budget: the runs that have not reached it yet might
    result = judge(reaches_accuracy, ReachParams(within_steps=20000), curves([[300, NEVER, NEVER]], [0.5]))
    assert result.status == "inconclusive" and "unknown" in result.detail


def test_reaches_accuracy_reads_the_metric_it_names():
    data = curves([NEVER], [0.5])  # train accuracy jumps at step 100, test accuracy never
    assert judge(reaches_accuracy, ReachParams(metric="train_acc"), data).status == "pass"


# --- generalises_sooner ----------------------------------------------------------------------------------------

ARMS = dict(axis="optimizer", treated="fast", baseline="slow", min_speedup=5.0)


def test_generalises_sooner_passes_on_a_tenfold_speedup():
    data = curves([[100, 120, 140], [1000, 1200, 1400]], ["fast", "slow"], axis="optimizer")
    result = judge(generalises_sooner, SoonerParams(**ARMS), data)
    assert result.status == "pass" and result.value == pytest.approx(10.0) and result.interval[0] >= 5


def test_generalises_sooner_fails_when_both_arms_take_as_long():
    data = curves([[1000, 1200, 1400], [1000, 1200, 1400]], ["fast", "slow"], axis="optimizer")
    result = judge(generalises_sooner, SoonerParams(**ARMS), data)
    assert result.status == "fail" and result.value == pytest.approx(1.0)


def test_generalises_sooner_with_both_arms_censored_is_inconclusive():
    data = curves([NEVER, NEVER], ["fast", "slow"], axis="optimizer")
    result = judge(generalises_sooner, SoonerParams(**ARMS), data)
    assert result.status == "inconclusive" and "censored" in result.detail


def test_generalises_sooner_reads_a_censored_baseline_as_later_than_the_budget():
    # the baseline never generalises within 10,000 steps: the speedup is at least 10,000 / 500
    data = curves([[500, 500, 500], NEVER], ["fast", "slow"], axis="optimizer")
    result = judge(generalises_sooner, SoonerParams(**ARMS), data)
    assert result.status == "pass" and "lower bound" in result.detail and result.value == pytest.approx(20.0)


def test_generalises_sooner_takes_numeric_arms_of_any_axis():
    data = curves([[100, 100, 100], [900, 900, 900]], [1.0, 0.0], axis="weight_decay")
    result = judge(generalises_sooner, SoonerParams(axis="weight_decay", treated=1, baseline=0.0), data)
    assert result.status == "pass" and result.value == pytest.approx(9.0)


def test_the_grokfast_check_is_the_general_one_under_its_own_names():
    data = curves([[100, 300, NEVER], [2000, NEVER, 900]], ["ema", "plain"], axis="optimizer")
    claim = judge(speedup_to_generalise, SpeedupParams(), data)
    general = judge(generalises_sooner, SoonerParams(treated="ema", baseline="plain", min_speedup=5.0), data)
    assert claim.as_json() == general.as_json()


# --- smallest_generalising_value -------------------------------------------------------------------------------

FRACTIONS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.8]


def needs(treated_from, baseline_from, values=FRACTIONS, axis="train_fraction"):
    """Weight decay 1 generalises from `treated_from` on, weight decay 0 from `baseline_from` (None: never)."""
    def arm(start, weight_decay):
        reached = [500 if start is not None and values.index(v) >= values.index(start) else NEVER for v in values]
        return curves(reached, values, axis=axis, weight_decay=weight_decay)
    return joined(arm(treated_from, 1.0), arm(baseline_from, 0.0))


def test_smallest_generalising_value_passes_when_the_treated_arm_needs_half():
    result = judge(smallest_generalising_value, ThresholdParams(), needs(0.3, 0.8))
    assert result.status == "pass" and result.value == pytest.approx(0.3 / 0.8)


def test_smallest_generalising_value_fails_when_both_need_about_as_much():
    result = judge(smallest_generalising_value, ThresholdParams(), needs(0.5, 0.6))
    assert result.status == "fail" and result.value == pytest.approx(0.5 / 0.6)


def test_smallest_generalising_value_counts_a_never_generalising_baseline_as_beyond_the_grid():
    # weight decay 0 needs more than 0.8: 0.3 / 0.8 already bounds the ratio below 0.5, so it passes
    result = judge(smallest_generalising_value, ThresholdParams(), needs(0.3, None))
    assert result.status == "pass"


def test_smallest_generalising_value_the_grid_cannot_decide_is_inconclusive():
    # 0.5 against more than 0.8: the ratio is below 0.625, maybe below 0.5, maybe not
    result = judge(smallest_generalising_value, ThresholdParams(), needs(0.5, None))
    assert result.status == "inconclusive" and "cannot decide" in result.detail


def test_smallest_generalising_value_against_itself_fails():
    data = needs(0.3, 0.8)
    result = judge(smallest_generalising_value, ThresholdParams(treated=0.0), data)
    assert result.status == "fail" and result.value == pytest.approx(1.0)


SIZES = ["small", "medium", "large", "huge"]


def test_smallest_generalising_value_reads_named_values_in_their_declared_order():
    params = ThresholdParams(axis="model", order=SIZES)
    passing = judge(smallest_generalising_value, params, needs("medium", "huge", SIZES, axis="model"))
    assert passing.status == "pass" and passing.value == 2
    failing = judge(smallest_generalising_value, params, needs("large", "large", SIZES, axis="model"))
    assert failing.status == "fail" and failing.value == 0


# --- final_value_beyond ----------------------------------------------------------------------------------------

def test_final_value_beyond_passes_and_fails_on_the_final_accuracy():
    assert judge(final_value_beyond, FinalParams(), curves([500], [0.5])).status == "pass"
    result = judge(final_value_beyond, FinalParams(), curves([NEVER], [0.5]))
    assert result.status == "fail" and result.value == pytest.approx(0.02)


def test_final_value_beyond_within_the_uncertainty_is_inconclusive():
    result = judge(final_value_beyond, FinalParams(), curves([[500, NEVER, NEVER]], [0.5]))
    assert result.status == "inconclusive" and result.interval == [pytest.approx(0.02), 1.0]


def test_final_value_beyond_holds_a_loss_below_a_bound():
    assert judge(final_value_beyond, FinalParams(metric="test_loss", bound=0.1, side="below"),
                 curves([500], [0.5])).status == "pass"
    assert judge(final_value_beyond, FinalParams(metric="test_loss", bound=-1.0, side="below"),
                 curves([500], [0.5])).status == "fail"


# --- the README's list and the registry ------------------------------------------------------------------------

def test_the_general_kinds_are_listed_first_and_each_kind_says_what_it_means():
    from grokrepro.guide import check_kinds_markdown

    general = {"delayed_generalisation", "reaches_accuracy", "generalises_sooner", "smallest_generalising_value",
               "final_value_beyond"}
    assert {kind for kind, entry in CHECKS.items() if entry.general} == general
    text = check_kinds_markdown()
    first, rest = text.split("**Claim-specific kinds**")
    assert all(f"**`{kind}`**" in first for kind in general) and not any(f"**`{k}`**" in rest for k in general)
    for kind, entry in CHECKS.items():
        assert entry.summary.endswith(".") and len(entry.summary) <= 250, kind


# --- what a general kind requires, refused before training -------------------------------------------------

def test_a_missing_arm_is_refused_naming_its_param(tmp_path):
    raw = spec_with({"kind": "generalises_sooner", "params": {"axis": "weight_decay", "treated": 1.0,
                                                              "baseline": 0.0}})
    message = refused(tmp_path, raw)
    assert "'checks.0.params.baseline'" in message and "weight_decay = 0.0" in message


def test_an_axis_that_is_not_swept_is_refused(tmp_path):
    message = refused(tmp_path, spec_with({"kind": "smallest_generalising_value"}))
    assert "'checks.0.params.axis'" in message and "'train_fraction' is not a sweep axis" in message


def test_named_values_without_an_order_are_refused(tmp_path):
    sweep = {"task.train_fraction": [0.5], "optimizer.weight_decay": [0.0, 1.0],
             "model": [{"name": "narrow", "hidden": 8}, {"name": "wide", "hidden": 16}]}
    check = {"kind": "smallest_generalising_value", "where": {"train_fraction": 0.5}, "params": {"axis": "model"}}
    assert "'checks.0.params.order'" in refused(tmp_path, spec_with(check, sweep=sweep))
    check["params"]["order"] = ["narrow", "wide"]
    assert load_spec(write_spec(tmp_path, spec_with(check, sweep=sweep))).checks[0].params["order"]


def test_a_selection_leaving_another_axis_free_is_refused(tmp_path):
    sweep = {"task.train_fraction": [0.4, 0.5], "optimizer.weight_decay": [0.0, 1.0]}
    check = {"kind": "generalises_sooner", "params": {"axis": "weight_decay", "treated": 1.0, "baseline": 0.0}}
    message = refused(tmp_path, spec_with(check, sweep=sweep))
    assert "'checks.0.where'" in message and "['train_fraction'] free" in message
    check["where"] = {"train_fraction": 0.5}
    assert load_spec(write_spec(tmp_path, spec_with(check, sweep=sweep)))


def test_an_accuracy_on_a_regression_task_is_refused(tmp_path):
    task = {"kind": "modular", "operation": "x+y", "prime": 11, "train_fraction": 0.5, "target": "triples"}
    raw = spec_with({"kind": "reaches_accuracy", "where": {"weight_decay": 0.1}}, task=task,
                    model={"kind": "quadratic", "width_per_symbol": 2})
    message = refused(tmp_path, raw)
    assert "'test_acc'" in message and "regression task" in message
