"""Power et al. 2022: delayed generalisation (G1), its dependence on the training fraction (G2), and weight
decay's cut of the data needed to generalise (G3)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from pydantic import Field

from grokrepro.claims.kit import CheckParams, Events, Selection, event_times, seed_share, selects_runs
from grokrepro.claims.registry import Requires, check
from grokrepro.claims.verdict import CheckResult, seed_table, select_runs
from grokrepro.metrics import bootstrap, first_step_reaching, value_at_step


class DelayedParams(Events):
    max_test_acc_at_fit: float = Field(0.1, ge=0, le=1)
    min_delay_ratio: float = Field(10.0, gt=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class TrendParams(Events):
    axis: str = "train_fraction"
    min_values: int = Field(3, ge=2)
    min_seeds: int = Field(2, ge=1)
    min_delay_span: float = Field(3.0, gt=1)


@check("delayed_generalisation", DelayedParams, general=True,
       requires=Requires(metrics=("train_acc", "test_acc")))
@selects_runs(threshold=lambda p: p.min_seed_fraction)
def delayed_generalisation(sel: Selection, params: DelayedParams) -> CheckResult:
    """Grokking: on >= min_seed_fraction of the seeds, test accuracy is <= max_test_acc_at_fit when the training
    set is fit and reaches gen_acc only >= min_delay_ratio x that step."""
    runs = sel.runs
    t_fit, t_gen = event_times(runs, params)
    acc_at_fit = value_at_step(runs["test_acc"].values, runs["step"].values, t_fit)
    delayed = (np.isfinite(t_fit) & np.isfinite(t_gen) & (acc_at_fit <= params.max_test_acc_at_fit)
               & (t_gen >= params.min_delay_ratio * t_fit))
    ratio = np.where(np.isfinite(t_fit), t_gen / t_fit, np.nan)
    per_run = "; ".join(
        f"seed {int(s)}: t_fit {f:g}, test acc there {a:.3f}, t_gen {g:g}" + (f" ({r:.1f}x)" if np.isfinite(r) else "")
        if np.isfinite(f) else f"seed {int(s)}: never fit the training set (t_fit censored at the budget)"
        for s, f, a, g, r in zip(runs["seed"].values, t_fit, acc_at_fit, t_gen, ratio))
    return sel.result(**seed_share(delayed, sel.threshold), detail=per_run + sel.diverged)


def _trend_holds(delays: np.ndarray, fits: np.ndarray, min_span: float) -> tuple[bool | None, float]:
    """Columns ordered from most to least data. Delays must rise strictly, fit times must not rise.

    None (unknown) when nothing contradicts the trend but two adjacent values are both censored: neither
    reached its threshold within the budget, so which comes later is not known."""
    with np.errstate(invalid="ignore"):
        delays_tied = np.isinf(delays[1:]) & np.isinf(delays[:-1])
        fits_tied = np.isinf(fits[1:]) & np.isinf(fits[:-1])
        rising = np.all((np.diff(delays) > 0) | delays_tied)
        fits_ok = np.all((np.diff(fits) <= 0) | fits_tied)
        span = float(delays[-1] / delays[0]) if delays[0] > 0 else np.nan
    # With the most-data delay censored, every delay is (or the trend already failed): the span is unknown.
    if not (rising and fits_ok) or (np.isfinite(delays[0]) and not span >= min_span):
        return False, span
    if delays_tied.any() or fits_tied.any():
        return None, span
    return True, span


@check("delay_rises_with_less_data", TrendParams,
       requires=Requires(axes={"{axis}": "numeric"}, metrics=("train_acc", "test_acc")))
@selects_runs(threshold=lambda p: p.min_delay_span, coords=lambda p: (p.axis,), none_match=False)
def delay_rises_with_less_data(sel: Selection, params: TrendParams) -> CheckResult:
    """The median delay t_gen - t_fit over seeds rises strictly as `axis` falls, over >= min_values values, the
    largest >= min_delay_span x the smallest, while the median t_fit does not rise."""
    runs, threshold = sel.runs, sel.threshold
    t_fit, t_gen = event_times(runs, params)
    with np.errstate(invalid="ignore"):  # inf - inf where a run never fit: replaced by inf just below
        delay = np.where(np.isfinite(t_fit), t_gen - t_fit, np.inf)
    values, seeds, delays = seed_table(runs, params.axis, delay)
    fits = seed_table(runs, params.axis, t_fit)[2]
    # columns from most data to least
    values, delays, fits = values[::-1], delays[:, ::-1], fits[:, ::-1]
    complete = ~np.isnan(delays).any(axis=1)
    delays, fits, seeds = delays[complete], fits[complete], seeds[complete]
    if len(values) < params.min_values or len(seeds) < params.min_seeds:
        return sel.inconclusive(f"{len(values)} values of {params.axis} and {len(seeds)} complete seeds; need "
                                f"{params.min_values} and {params.min_seeds} ({sel.n_diverged} diverged runs)",
                                sel.n_runs)

    def medians(table):
        return np.median(table, axis=0)

    holds, span = _trend_holds(medians(delays), medians(fits), threshold)
    both = np.stack([delays, fits], axis=1)  # resample seeds, keeping each seed's row intact
    draws = bootstrap(both, lambda b: _trend_holds(medians(b[:, 0]), medians(b[:, 1]), threshold)[1])
    # A resample whose outcome is unknown (censored ties) may pass: it never counts towards a failure.
    support = bootstrap(both, lambda b: float(
        _trend_holds(medians(b[:, 0]), medians(b[:, 1]), threshold)[0] is not False))
    per_seed = np.mean([_trend_holds(d, f, threshold)[0] is True for d, f in zip(delays, fits)])
    table = "; ".join(f"{params.axis} {v:g}: median t_fit {f:g}, median delay {d:g}"
                      for v, f, d in zip(values, medians(fits), medians(delays)))
    result = sel.result(span, holds is True, table + sel.diverged, draws=draws, seed_fraction=float(per_seed),
                        support=float(support.mean()))
    if holds is None:
        result.made_inconclusive("inconclusive: adjacent medians are both censored (never reached within the "
                                 "budget), so their order is unknown")
    return result


class WeightDecayParams(CheckParams):
    axis: str = "train_fraction"
    weight_decay_axis: str = "weight_decay"
    # The weight decay whose data need is compared with the baseline's (a control may set both equal).
    treated: float = 1.0
    baseline: float = 0.0
    gen_acc: float = Field(0.99, gt=0, le=1)
    max_ratio: float = Field(0.5, gt=0)
    min_seeds: int = Field(2, ge=1)


def smallest_generalising(values: np.ndarray, generalised: np.ndarray) -> np.ndarray:
    """Per row (seed) of `generalised` (columns: `values` ascending), the smallest value from which every larger
    value tried generalises too; inf where the largest value does not (nothing is known to suffice)."""
    smallest = np.full(generalised.shape[0], np.inf)
    for i, row in enumerate(generalised):
        failed = np.nonzero(~row)[0]
        start = failed[-1] + 1 if len(failed) else 0
        if start < len(values):
            smallest[i] = values[start]
    return smallest


def data_need(runs: xr.Dataset, params: WeightDecayParams, weight_decay: float):
    """(values tried, seeds, smallest generalising value per seed) at one weight decay; seeds lacking a value
    are left out."""
    arm = select_runs(runs, {params.weight_decay_axis: weight_decay})
    if arm.sizes["run"] == 0:
        return np.array([]), np.array([]), np.array([])
    t_gen = first_step_reaching(arm["test_acc"].values, arm["step"].values, params.gen_acc)
    values, seeds, table = seed_table(arm, params.axis, np.isfinite(t_gen).astype(float))
    complete = ~np.isnan(table).any(axis=1)
    return values, seeds[complete], smallest_generalising(values, table[complete] > 0.5)


# No `arms`: a scale may leave the baseline weight decay out on purpose (the shipped default scale does, its budget
# too short for it), and the check then says inconclusive in so many words.
@check("weight_decay_halves_data", WeightDecayParams,
       requires=Requires(axes={"{axis}": "numeric", "{weight_decay_axis}": "numeric"}, metrics=("test_acc",)))
@selects_runs(threshold=lambda p: p.max_ratio, coords=lambda p: (p.axis, p.weight_decay_axis), none_match=False)
def weight_decay_halves_data(sel: Selection, params: WeightDecayParams) -> CheckResult:
    """Power et al.: with weight decay the smallest training fraction that reaches `gen_acc` within the budget
    is <= `max_ratio` x that without. The statistic is median over seeds (treated) / median (baseline), each
    seed's smallest fraction read on the grid of fractions tried."""
    runs, threshold = sel.runs, sel.threshold
    treated_values, treated_seeds, treated = data_need(runs, params, params.treated)
    baseline_values, baseline_seeds, baseline = data_need(runs, params, params.baseline)
    for weight_decay, values in ((params.treated, treated_values), (params.baseline, baseline_values)):
        if len(values) == 0:
            return sel.inconclusive(f"this scale has no runs at {params.weight_decay_axis} {weight_decay:g} to "
                                    f"compare with", sel.n_runs)
    seeds = np.intersect1d(treated_seeds, baseline_seeds)
    if len(seeds) < params.min_seeds:
        return sel.inconclusive(f"only {len(seeds)} seeds have every {params.axis} tried at both weight decays "
                                f"{params.treated:g} and {params.baseline:g}; need {params.min_seeds} "
                                f"({sel.n_diverged} diverged runs left out)", sel.n_runs)
    both = np.stack([treated[np.isin(treated_seeds, seeds)], baseline[np.isin(baseline_seeds, seeds)]], axis=1)

    def ratio(table):
        medians = np.median(table, axis=0)
        return float(medians[0] / medians[1]) if np.isfinite(medians[1]) else np.nan

    need_treated, need_baseline = np.median(both, axis=0)
    value = ratio(both)
    draws = bootstrap(both, ratio)
    draws = draws[~np.isnan(draws)]  # resamples whose baseline never generalised: no ratio
    # A resample whose baseline never generalised has no known outcome: it may pass, never counts to a failure.
    support = bootstrap(both, lambda b: float(not ratio(b) > threshold))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_seed = float(np.mean(both[:, 0] / both[:, 1] <= threshold))
    per_seed_text = "; ".join(f"seed {int(s)}: {t:g} vs {b:g}" for s, (t, b) in zip(seeds, both))
    table = (f"smallest {params.axis} reaching test acc {params.gen_acc:g} within the budget (median over "
             f"{len(seeds)} seeds; inf = not even the largest tried): {need_treated:g} at weight decay "
             f"{params.treated:g} (tried {', '.join(f'{v:g}' for v in treated_values)}), {need_baseline:g} at "
             f"{params.baseline:g} (tried {', '.join(f'{v:g}' for v in baseline_values)}); "
             f"{per_seed_text}")
    if not np.isfinite(need_baseline):
        return sel.inconclusive(f"weight decay {params.baseline:g} does not reach test acc {params.gen_acc:g} "
                                f"within the budget even at {params.axis} {baseline_values[-1]:g} (median over "
                                f"seeds), so the budget is too short to compare the data each needs; " + table,
                                sel.n_runs)
    result = sel.result(value, value <= threshold, draws=draws, seed_fraction=per_seed, support=float(support.mean()),
                        detail=(f"with weight decay {params.treated:g} the smallest {params.axis} that generalises "
                                f"is {value:.2f}x that with weight decay {params.baseline:g} ({need_treated:g} "
                                f"against {need_baseline:g}, medians over {len(seeds)} seeds; at most "
                                f"{threshold:g}x wanted); " + table + sel.diverged))
    # Each smallest value is read on a grid: one at the bottom of its grid is an upper bound only (a smaller
    # value might suffice too). A baseline bounded so could need less, which would raise the ratio: no pass. A
    # treated arm bounded so could need less, which would lower it: no failure. (Equal weight decays, as in a
    # control, give the ratio 1 whatever the grid.)
    if params.treated != params.baseline:
        if result.passed and need_baseline <= baseline_values[0]:
            result.made_inconclusive(f"weight decay {params.baseline:g} already generalises at the smallest "
                                     f"{params.axis} tried with it ({baseline_values[0]:g}), so the data it needs "
                                     f"may be less and the ratio larger", first=True, clear_pass=True)
        elif not result.passed and need_treated <= treated_values[0]:
            result.made_inconclusive(f"weight decay {params.treated:g} already generalises at the smallest "
                                     f"{params.axis} tried with it ({treated_values[0]:g}), so the data it needs "
                                     f"may be less and the ratio smaller", first=True)
    return result
