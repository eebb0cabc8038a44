"""progress_measures (Nanda et al. 2023): the checks K1-K3 on synthetic curves, each passing, failing on a run
that memorises without weight decay (their control), and inconclusive where the curves cannot say."""

import numpy as np
import pytest
import xarray as xr

from grokrepro.claims.progress_measures import (FewFrequenciesParams, LeadParams, RiseParams, excluded_loss_rises,
                                                few_key_frequencies, first_step_below, last_measured,
                                                restricted_loss_leads)
from grokrepro.spec.schema import Check

STEPS = np.arange(0, 5001, 50)


def grokking_run(t_fit=200, t_restricted=1500, t_gen=2500, rise=50.0, train_floor=0.01, probe_every=100):
    """Memorisation to t_fit, circuit formation (excluded loss rising `rise`-fold, restricted loss falling through
    0.5 at t_restricted), then the test loss falling at t_gen (cleanup)."""
    s = STEPS.astype(float)
    train_loss = np.where(s < t_fit, 4.0 - (4.0 - train_floor) * s / t_fit, train_floor)
    excluded = np.where(s < t_fit, train_loss, train_floor * rise ** np.clip((s - t_fit) / (2000 - t_fit), 0, 1))
    restricted = np.where(s < t_fit, 4.0, 4.0 - 3.5 * np.clip((s - t_fit) / (t_restricted - t_fit), 0, 1.1))
    run = {
        "train_acc": np.where(s >= t_fit, 1.0, 0.02), "test_acc": np.where(s >= t_gen, 1.0, 0.02),
        "train_loss": train_loss, "test_loss": np.where(s >= t_gen, 0.02, 15.0),
        "excluded_loss": excluded, "restricted_loss": restricted, "restricted_test_loss": restricted + 0.1,
        "frequencies_for_share": np.where(s >= t_gen, 4.0, np.inf),
        "key_frequency_share": np.where(s >= t_gen, 0.95, 0.1), "top_frequency": np.full(len(s), 7.0)}
    return _probed(run, probe_every)


def memorising_run(probe_every=100):
    """Weight decay 0: fits by step 200 and never generalises; no frequency grows out of the table."""
    s = STEPS.astype(float)
    train_loss = np.maximum(4.0 - 4.0 * s / 200, 0.0) + 0.01 * np.exp(-s / 1000)
    run = {"train_acc": np.where(s >= 200, 1.0, 0.02), "test_acc": np.full(len(s), 0.02),
           "train_loss": train_loss, "test_loss": np.full(len(s), 15.0), "excluded_loss": 1.2 * train_loss,
           "restricted_loss": np.full(len(s), 4.1), "restricted_test_loss": np.full(len(s), 4.1),
           "frequencies_for_share": np.full(len(s), np.inf), "key_frequency_share": np.full(len(s), 0.09),
           "top_frequency": np.full(len(s), 3.0)}
    return _probed(run, probe_every)


PROBED = ("excluded_loss", "restricted_loss", "restricted_test_loss", "frequencies_for_share",
          "key_frequency_share", "top_frequency")


def _probed(run, every):
    """Probe variables only at multiples of `every` and the last step, NaN elsewhere (as the trainer writes)."""
    at = (STEPS % every == 0) | (STEPS == STEPS[-1])
    return {name: np.where(at, value, np.nan) if name in PROBED else value for name, value in run.items()}


def curves(rows, drop=()):
    """rows: (weight_decay, seed, run dict)."""
    names = [n for n in rows[0][2] if n not in drop]
    n = len(rows)
    return xr.Dataset(
        {**{name: (("run", "step"), np.array([r[2][name] for r in rows])) for name in names},
         "diverged_at": ("run", np.full(n, -1)), "stopped_at": ("run", np.full(n, -1))},
        coords={"run": [f"r{i}" for i in range(n)], "step": STEPS, "seed": ("run", [r[1] for r in rows]),
                "weight_decay": ("run", [r[0] for r in rows])})


def sweep(grok=grokking_run, memorise=memorising_run, seeds=(0, 1, 2)):
    return curves([(1.0, s, grok()) for s in seeds] + [(0.0, s, memorise()) for s in seeds])


def check(kind, where, **params):
    return Check(name="K", kind=kind, statement="s", where=where, params=params)


ON, CONTROL = {"weight_decay": 1.0}, {"weight_decay": 0.0}


# -- helpers -----------------------------------------------------------------------------------------------
def test_first_step_below_skips_unprobed_steps_and_last_measured_reads_the_end():
    values = np.array([[3.0, np.nan, 0.4, np.nan], [3.0, 2.0, 1.0, np.nan]])
    steps = np.array([0, 10, 20, 30])
    np.testing.assert_array_equal(first_step_below(values, steps, 0.5), [20, np.inf])
    np.testing.assert_array_equal(last_measured(values), [0.4, 1.0])


# -- K1: few key frequencies -------------------------------------------------------------------------------
def test_k1_passes_when_few_frequencies_carry_the_variance_and_fails_on_the_memorising_control():
    data = sweep()
    result = few_key_frequencies(data, check("few_key_frequencies", ON), FewFrequenciesParams(max_frequencies=7))
    assert result.status == "pass" and result.value == 1.0
    assert "4 frequencies carry" in result.detail
    control = few_key_frequencies(data, check("few_key_frequencies", CONTROL), FewFrequenciesParams())
    assert control.status == "fail" and control.value == 0.0
    assert "no number of frequencies" in control.detail


def test_k1_fails_when_more_frequencies_are_needed():
    result = few_key_frequencies(sweep(), check("few_key_frequencies", ON), FewFrequenciesParams(max_frequencies=3))
    assert result.status == "fail"


def test_k1_is_inconclusive_without_the_probe_or_runs():
    data = curves([(1.0, s, grokking_run()) for s in (0, 1, 2)], drop=PROBED)
    result = few_key_frequencies(data, check("few_key_frequencies", ON), FewFrequenciesParams())
    assert result.status == "inconclusive" and "fourier_progress" in result.detail
    none = few_key_frequencies(sweep(), check("few_key_frequencies", {"weight_decay": 0.5}), FewFrequenciesParams())
    assert none.status == "inconclusive"


# -- K2: the restricted loss leads the test loss -------------------------------------------------------------
def test_k2_passes_when_the_restricted_loss_falls_first_and_fails_on_the_control():
    data = sweep()
    result = restricted_loss_leads(data, check("restricted_loss_leads", ON), LeadParams(level=0.5, min_lead=0.2))
    assert result.status == "pass"
    assert "at step 1500, test loss at 2500 (lead 1000 = 0.40 of t_test)" in result.detail
    control = restricted_loss_leads(data, check("restricted_loss_leads", CONTROL), LeadParams(level=0.5))
    assert control.status == "fail" and "at step inf, test loss at inf" in control.detail


def test_k2_fails_when_the_lead_is_too_short_or_the_restricted_loss_follows():
    short = sweep(grok=lambda: grokking_run(t_restricted=2300))
    result = restricted_loss_leads(short, check("restricted_loss_leads", ON), LeadParams(level=0.5, min_lead=0.2))
    assert result.status == "fail" and "0.08 of t_test" in result.detail
    after = sweep(grok=lambda: grokking_run(t_restricted=3500))
    assert restricted_loss_leads(after, check("restricted_loss_leads", ON), LeadParams(level=0.5)).status == "fail"


def test_k2_reads_the_test_pairs_curve_when_asked():
    data = sweep()
    # the test-pairs curve is 0.1 higher: the all-pairs one is at 0.5 at step 1500, the test-pairs one only later
    high = restricted_loss_leads(data, check("restricted_loss_leads", ON),
                                 LeadParams(level=0.5, restricted="restricted_test_loss"))
    low = restricted_loss_leads(data, check("restricted_loss_leads", ON), LeadParams(level=0.5))
    assert "restricted test loss <= 0.5 at step 1600" in high.detail
    assert "restricted loss <= 0.5 at step 1500" in low.detail


def test_k2_is_inconclusive_without_the_probe():
    data = curves([(1.0, s, grokking_run()) for s in (0, 1, 2)], drop=PROBED)
    result = restricted_loss_leads(data, check("restricted_loss_leads", ON), LeadParams(level=0.5))
    assert result.status == "inconclusive"


def test_k2_one_seed_in_three_is_not_enough():
    data = curves([(1.0, 0, grokking_run()), (1.0, 1, grokking_run(t_restricted=2450)),
                   (1.0, 2, grokking_run(t_restricted=2450))])
    result = restricted_loss_leads(data, check("restricted_loss_leads", ON), LeadParams(level=0.5))
    assert not result.passed and result.seed_fraction == pytest.approx(1 / 3)


# -- K3: the excluded loss rises during circuit formation ----------------------------------------------------
def test_k3_passes_on_a_rising_excluded_loss_and_fails_on_the_control():
    data = sweep()
    result = excluded_loss_rises(data, check("excluded_loss_rises", ON), RiseParams())
    assert result.status == "pass"
    assert "in [200, 2500] the excluded loss rises 50x to 0.5 at step 2000" in result.detail
    control = excluded_loss_rises(data, check("excluded_loss_rises", CONTROL), RiseParams())
    assert control.status == "fail" and "in [200, inf]" in control.detail


def test_k3_fails_when_the_rise_is_small_or_the_training_loss_is_not_low():
    small = sweep(grok=lambda: grokking_run(rise=5.0))
    assert excluded_loss_rises(small, check("excluded_loss_rises", ON), RiseParams()).status == "fail"
    high = sweep(grok=lambda: grokking_run(train_floor=0.3))
    result = excluded_loss_rises(high, check("excluded_loss_rises", ON), RiseParams(max_train_loss=0.1))
    assert result.status == "fail" and "train loss at most 0.3" in result.detail


def test_k3_counts_only_the_rise_before_generalisation():
    # the same rise, but the network generalises at step 600: only 400 steps of it are before t_gen
    early = sweep(grok=lambda: grokking_run(t_restricted=500, t_gen=600))
    result = excluded_loss_rises(early, check("excluded_loss_rises", ON), RiseParams())
    assert result.status == "fail" and "in [200, 600]" in result.detail


def test_k3_is_inconclusive_when_the_probe_is_too_coarse_for_the_window():
    coarse = sweep(grok=lambda: grokking_run(t_gen=400, probe_every=1000))
    result = excluded_loss_rises(coarse, check("excluded_loss_rises", ON), RiseParams())
    assert result.status == "inconclusive" and "not measured" in result.detail


# -- figures ------------------------------------------------------------------------------------------------
def test_the_figures_draw_both_arms_with_their_phases(tmp_path):
    import json

    from grokrepro.figures import progress_measures as figures
    from grokrepro.figures.common import save

    data = sweep()
    data["param_norm"] = (("run", "step"), np.tile(np.linspace(40, 20, len(STEPS)), (data.sizes["run"], 1)))
    data.attrs["spec_json"] = json.dumps({"task": {"prime": 59}, "checks": [
        {"kind": "restricted_loss_leads", "params": {"level": 0.5}},
        {"kind": "excluded_loss_rises", "params": {"fit_acc": 0.99, "gen_acc": 0.95}}]})
    grokking = data.isel(run=np.nonzero(data["weight_decay"].values == 1.0)[0])
    # memorisation ends at t_fit 200, the test loss falls below ln 59 at 2500, test acc 0.95 at 2500
    assert figures.phase_boundaries(grokking, 0.99, 0.95, 59) == [200.0, 2500.0, 2500.0]
    memorising = data.isel(run=np.nonzero(data["weight_decay"].values == 0.0)[0])
    assert figures.phase_boundaries(memorising, 0.99, 0.95, 59) == [200.0, np.inf, np.inf]
    for name in figures.FIGURES:
        figure = figures.DRAW[name](data, {})
        assert len(figure.axes) >= 2
        save(figure, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
