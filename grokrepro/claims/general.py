"""General-purpose check kinds: not one paper's test, but questions any spec may ask of its runs.

Each kind names what it reads in its params (an axis, two arms of it, a metric), declares it in `Requires` so
that a spec whose runs lack it is refused before anything trains, and reads times censored: a run that never
reaches a threshold counts as later than its budget, never as missing. Intervals are over seeds (bootstrap).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from grokrepro.claims.kit import CheckParams, Selection, budget, matches, paired_runs, selects_runs
from grokrepro.claims.registry import Requires, check
from grokrepro.claims.verdict import INCONCLUSIVE, CheckResult, seed_table
from grokrepro.metrics import bootstrap, first_step_reaching

Accuracy = Literal["test_acc", "train_acc"]
Metric = Literal["test_acc", "train_acc", "test_loss", "train_loss", "param_norm"]


def _words(metric: str) -> str:
    return metric.replace("_", " ")


# --- (a) reaches an accuracy within the budget ----------------------------------------------------------------

class ReachParams(CheckParams):
    metric: Accuracy = "test_acc"
    acc: float = Field(0.95, gt=0, le=1)
    # the step by which it must be reached; None: each run's own budget
    within_steps: Optional[int] = Field(None, gt=0)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


def reach_statement(params: ReachParams) -> str:
    by = f"by step {params.within_steps}" if params.within_steps else "within the budget"
    return f"{_words(params.metric)} reaches {params.acc:g} {by} on >= {params.min_seed_fraction:.2g} of the seeds."


@check("reaches_accuracy", ReachParams, general=True, states=reach_statement,
       requires=Requires(metrics=("{metric}",)))
@selects_runs(threshold=lambda p: p.min_seed_fraction)
def reaches_accuracy(sel: Selection, params: ReachParams) -> CheckResult:
    """The selected runs reach an accuracy within the budget (or by `within_steps`) on >= min_seed_fraction of
    the seeds. A run whose budget ends before `within_steps` without reaching it is unknown: it may pass, never
    counts towards a failure."""
    runs, threshold = sel.runs, sel.threshold
    t = first_step_reaching(runs[params.metric].values, runs["step"].values, params.acc)
    budgets = runs["budget_steps"].values.astype(float) if "budget_steps" in runs.coords else np.full(
        len(t), budget(runs))
    deadline = np.full(len(t), float(params.within_steps)) if params.within_steps else budgets
    reached = t <= deadline
    unknown = ~reached & (budgets < deadline)
    share, could = float(reached.mean()), reached | unknown
    draws = bootstrap(reached.astype(float), np.mean)
    support = float((bootstrap(could.astype(float), np.mean) >= threshold).mean())
    by = f"by step {params.within_steps}" if params.within_steps else "within the budget"
    per_run = "; ".join(f"seed {int(s)}: " + (f"at step {x:g}" if np.isfinite(x) else f"never (budget {b:g})")
                        for s, x, b in zip(runs["seed"].values, t, budgets))
    detail = (f"{int(reached.sum())} of {len(t)} runs reach {_words(params.metric)} {params.acc:g} {by} "
              f"(share {share:.2f}, at least {threshold:.2f} wanted); {per_run}{sel.diverged}")
    result = sel.result(share, share >= threshold, detail, draws=draws, seed_fraction=share, support=support)
    if not result.passed and could.mean() >= threshold:
        result.made_inconclusive(f"{int(unknown.sum())} runs end before step {params.within_steps} without "
                                 f"reaching {params.acc:g}, so whether they would by then is unknown", first=True)
    return result


# --- (b) one arm generalises k x sooner than another --------------------------------------------------------

class SoonerParams(CheckParams):
    # the sweep axis whose values are the arms (a named variant's name, or a number)
    axis: str = "optimizer"
    treated: Any = "treated"
    baseline: Any = "baseline"
    metric: Accuracy = "test_acc"
    acc: float = Field(0.95, gt=0, le=1)
    min_speedup: float = Field(2.0, gt=1)
    min_seeds: int = Field(2, ge=1)


def sooner_statement(params: SoonerParams) -> str:
    return (f"With {params.axis} {params.treated}, {_words(params.metric)} reaches {params.acc:g} at least "
            f"{params.min_speedup:g}x sooner than with {params.baseline} (medians over seeds, paired).")


def _medians(table: np.ndarray) -> tuple[float, float]:
    """Median over seeds (rows) of each arm's time (columns treated, baseline); censored runs are +inf, so they
    rank after every observed time."""
    return tuple(float(np.median(table[:, k])) for k in (0, 1))


def speedup_of(table: np.ndarray, budget: float, threshold: float) -> tuple[float, bool | None, str]:
    """(speedup, holds, what the number is) from a (seed, [treated, baseline]) table of times.

    A median that is censored (beyond the budget) is read as the budget, which makes the ratio a bound: a lower
    bound when the baseline's median is censored (it may pass, never fail), an upper bound when the treated
    one's is (it may fail, never pass); both censored: unknown (None)."""
    treated, baseline = _medians(table)
    t, b = min(treated, budget), min(baseline, budget)
    ratio = b / t if t > 0 else np.inf
    if np.isfinite(treated) and np.isfinite(baseline):
        return ratio, ratio >= threshold, "exact"
    if np.isfinite(treated):  # baseline censored: the speedup is at least the ratio
        return ratio, (True if ratio >= threshold else None), "lower bound"
    if np.isfinite(baseline):  # treated censored: at most the ratio
        return ratio, (False if ratio < threshold else None), "upper bound"
    return ratio, None, "unknown"


def speedup_result(curves: xr.Dataset, spec_check, axis: str, treated, baseline, metric: str, acc: float,
                   min_speedup: float, min_seeds: int) -> CheckResult:
    """Median over seeds of the baseline's time to `acc` over the treated arm's, seeds paired."""
    params = SoonerParams(axis=axis, treated=treated, baseline=baseline, metric=metric, acc=acc,
                          min_speedup=min_speedup, min_seeds=min_seeds)
    return generalises_sooner(curves, spec_check, params)


@check("generalises_sooner", SoonerParams, general=True, states=sooner_statement,
       requires=Requires(axes={"{axis}": "any"}, arms={"{axis}": ("{treated}", "{baseline}")},
                         metrics=("{metric}",)))
@selects_runs(threshold=lambda p: p.min_speedup, coords=lambda p: (p.axis,), none_match=False)
def generalises_sooner(sel: Selection, params: SoonerParams) -> CheckResult:
    """Arm `treated` of any sweep axis reaches an accuracy >= min_speedup x sooner than arm `baseline`. The
    statistic is the median over seeds of the baseline's first step at `acc` over the treated arm's, seeds
    paired; a run that never reaches it is later than the budget, which makes the ratio a bound (inconclusive
    where it cannot decide)."""
    axis, treated, baseline, metric, acc = params.axis, params.treated, params.baseline, params.metric, params.acc
    threshold, runs = sel.threshold, sel.runs
    runs = runs.isel(run=np.nonzero(matches(runs[axis].values, treated) | matches(runs[axis].values, baseline))[0])
    n_runs = int(runs.sizes["run"])
    t_gen = first_step_reaching(runs[metric].values, runs["step"].values, acc)
    if not (matches(runs[axis].values, treated).any() and matches(runs[axis].values, baseline).any()):
        return sel.inconclusive(f"no runs of {axis} {treated!r} and {baseline!r} both "
                                f"({sel.n_diverged} diverged runs left out)", n_runs)
    seeds, pairs = paired_runs(runs, axis, [treated, baseline])
    table = t_gen[pairs]
    if len(seeds) < params.min_seeds:
        return sel.inconclusive(f"only {len(seeds)} seeds have both {treated!r} and {baseline!r}; need "
                                f"{params.min_seeds} ({sel.n_diverged} diverged runs left out)", n_runs)
    budget_steps = budget(runs)
    value, holds, kind = speedup_of(table, budget_steps, threshold)
    draws = bootstrap(table, lambda b: speedup_of(b, budget_steps, threshold)[0])
    # a resample whose outcome is unknown (censored medians) may pass: it never counts towards a failure
    support = bootstrap(table, lambda b: float(speedup_of(b, budget_steps, threshold)[1] is not False))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_seed = float(np.mean(np.minimum(table[:, 1], budget_steps) / np.minimum(table[:, 0], budget_steps)
                                 >= threshold))
    treated_median, baseline_median = _medians(table)

    def shown(t):
        return f"{t:g}" if np.isfinite(t) else f">{budget_steps:g}"

    per_seed_text = "; ".join(f"seed {int(s)}: {shown(t)} vs {shown(b)}" for s, (t, b) in zip(seeds, table))
    detail = (f"{treated} reaches {_words(metric)} {acc:g} {value:.2f}x sooner than {baseline} "
              f"({kind}, median t_gen {shown(treated_median)} against {shown(baseline_median)} steps over "
              f"{len(seeds)} seeds, budget {budget_steps:g}, at least {threshold:g}x wanted); per seed, "
              f"{treated} vs {baseline}: {per_seed_text}" + sel.diverged)
    result = sel.result(value, holds is True, detail, draws=draws, seed_fraction=per_seed,
                        support=float(support.mean()), n_runs=n_runs)
    if holds is None:
        result.made_inconclusive(f"inconclusive: the {kind} {value:.2f}x does not decide it (a median is censored "
                                 "at the budget)")
    if sel.n_diverged and result.status != INCONCLUSIVE:
        # said here, not only by the verdict's divergence rule, so that the result itself withdraws its pass
        result.made_inconclusive(f"inconclusive: {sel.n_diverged} of its runs diverged", clear_pass=True)
    return result


# --- (c) the smallest value of an axis from which runs generalise, arm against arm -----------------------------

class ThresholdParams(CheckParams):
    # the axis along which generalising gets easier (a training fraction, a width); numbers, or any values
    # listed in `order` from hardest to easiest
    axis: str = "train_fraction"
    order: Optional[list[Any]] = None
    # the axis whose two values are compared, and those values
    arm_axis: str = "weight_decay"
    treated: Any = 1.0
    baseline: Any = 0.0
    metric: Accuracy = "test_acc"
    acc: float = Field(0.95, gt=0, le=1)
    # numbers without `order`: treated's smallest value over baseline's, at most this
    max_ratio: float = Field(0.5, gt=0)
    # with `order`: treated's smallest value at least this many places earlier in it than baseline's
    min_places: int = Field(1, ge=1)
    min_seeds: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _order_distinct(self):
        if self.order is not None and len({repr(v) for v in self.order}) != len(self.order):
            raise ValueError("order lists a value twice")
        return self


def threshold_statement(params: ThresholdParams) -> str:
    than = (f"at least {params.min_places} place(s) earlier in {params.order}" if params.order
            else f"at most {params.max_ratio:g}x")
    return (f"The smallest {params.axis} from which every larger one reaches {_words(params.metric)} "
            f"{params.acc:g} within the budget is, with {params.arm_axis} {params.treated}, {than} that with "
            f"{params.baseline} (medians over seeds).")


def _need_bounds(positions: np.ndarray, generalised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed (row of `generalised`, columns the arm's tried values at `positions`, ascending): bounds on
    the smallest position from which every larger one generalises. Found at the arm's first value tried: at
    most there ([-inf, it]); none suffices: beyond its last ([last, inf]); else exactly the value read."""
    low, high = np.empty(len(generalised)), np.empty(len(generalised))
    for i, row in enumerate(generalised):
        failed = np.nonzero(~row)[0]
        start = failed[-1] + 1 if len(failed) else 0
        if start == len(positions):
            low[i], high[i] = positions[-1], np.inf
        elif start == 0:
            low[i], high[i] = -np.inf, positions[0]
        else:
            low[i] = high[i] = positions[start]
    return low, high


def _compare(bounds: np.ndarray, by_ratio: bool, threshold: float, same_arm: bool):
    """(value, holds) from a (seed, [treated low, treated high, baseline low, baseline high]) table of bounds on
    each seed's need: the statistic on the medians (a censored median read at its bound, NaN where both are),
    and whether it holds (None: the bounds cannot decide)."""
    t_low, t_high, b_low, b_high = (float(np.median(bounds[:, k])) for k in range(4))
    t_point = t_high if np.isfinite(t_high) else t_low
    b_point = b_high if np.isfinite(b_high) else b_low
    both_censored = not np.isfinite(t_high) and not np.isfinite(b_high)
    if by_ratio:  # the values themselves, all > 0: a need below the first value tried is above 0
        t_low, b_low = max(t_low, 0.0), max(b_low, 0.0)
        value = np.nan if both_censored else t_point / b_point
        smallest = t_low / b_high if b_high > 0 else np.inf
        largest = t_high / b_low if b_low > 0 else np.inf
        sure_pass, sure_fail = largest <= threshold, smallest > threshold
        point_holds = value <= threshold
    else:  # places in the declared order
        value = np.nan if both_censored else b_point - t_point
        sure_pass, sure_fail = b_low - t_high >= threshold, b_high - t_low < threshold
        point_holds = value >= threshold
    if same_arm:  # the same runs need the same value, whatever the grid
        return value, bool(point_holds)
    return value, True if sure_pass else (False if sure_fail else None)


@check("smallest_generalising_value", ThresholdParams, general=True, states=threshold_statement,
       requires=Requires(axes={"{axis}": "ordered", "{arm_axis}": "any"},
                         arms={"{arm_axis}": ("{treated}", "{baseline}")}, metrics=("{metric}",)))
@selects_runs(threshold=lambda p: p.max_ratio if p.order is None else p.min_places,
              coords=lambda p: (p.axis, p.arm_axis), none_match=False)
def smallest_generalising_value(sel: Selection, params: ThresholdParams) -> CheckResult:
    """The smallest value of any axis from which every larger value tried generalises is smaller with arm
    `treated` than with arm `baseline` (ratio of medians over seeds, or places in a declared `order`). Where no value tried suffices the need is beyond the largest; where the first suffices
    it may lie below: both are bounds, and a comparison they cannot decide is inconclusive."""
    runs, threshold = sel.runs, sel.threshold
    by_ratio = params.order is None
    t_gen = first_step_reaching(runs[params.metric].values, runs["step"].values, params.acc)
    generalised = np.isfinite(t_gen).astype(float)  # censored (never within the budget): did not generalise
    needs, tried = [], []
    for arm in (params.treated, params.baseline):
        mine = np.nonzero(matches(runs[params.arm_axis].values, arm))[0]
        if len(mine) == 0:
            return sel.inconclusive(f"no runs at {params.arm_axis} {arm!r}", sel.n_runs)
        values, seeds, table = seed_table(runs.isel(run=mine), params.axis, generalised[mine])
        values = values.tolist()
        if by_ratio:
            positions = np.array(values, dtype=float)
        else:
            unlisted = [v for v in values if v not in params.order]
            if unlisted:
                return sel.inconclusive(f"{params.axis} values {unlisted} are not in `order`")
            ranked = np.argsort([params.order.index(v) for v in values])
            values, table = [values[k] for k in ranked], table[:, ranked]
            positions = np.array([params.order.index(v) for v in values], dtype=float)
        complete = ~np.isnan(table).any(axis=1)
        low, high = _need_bounds(positions, table[complete] > 0.5)
        needs.append(dict(zip(seeds[complete].tolist(), zip(low, high))))
        tried.append(values)
    seeds = sorted(set(needs[0]) & set(needs[1]))
    if len(seeds) < params.min_seeds:
        return sel.inconclusive(f"only {len(seeds)} seeds have every {params.axis} tried at both {params.arm_axis} "
                                f"{params.treated!r} and {params.baseline!r}; need {params.min_seeds}{sel.diverged}",
                                sel.n_runs)
    bounds = np.array([[*needs[0][s], *needs[1][s]] for s in seeds])
    same_arm = bool(matches(np.array([params.treated]), params.baseline)[0])
    value, holds = _compare(bounds, by_ratio, threshold, same_arm)
    draws = bootstrap(bounds, lambda b: _compare(b, by_ratio, threshold, same_arm)[0])
    draws = draws[~np.isnan(draws)]
    # a resample the bounds cannot decide may pass: it never counts towards a failure
    support = bootstrap(bounds, lambda b: float(_compare(b, by_ratio, threshold, same_arm)[1] is not False))
    per_seed = float(np.mean([_compare(bounds[[k]], by_ratio, threshold, same_arm)[1] is True
                              for k in range(len(seeds))]))

    def named(position):
        return f"{position:g}" if by_ratio else f"{params.order[int(position)]}"

    def need(low, high):
        if not np.isfinite(high):
            return f"none up to {named(low)}"
        return f"<= {named(high)}" if not np.isfinite(low) else named(high)

    per_seed_text = "; ".join(f"seed {s}: {need(*bounds[k, :2])} vs {need(*bounds[k, 2:])}"
                              for k, s in enumerate(seeds))
    found = (f"ratio {value:.3g} (at most {threshold:g} wanted)" if by_ratio
             else f"{value:g} places earlier in the order (at least {threshold:g} wanted)")
    detail = (f"smallest {params.axis} from which every larger one reaches {_words(params.metric)} {params.acc:g} "
              f"within the budget, {params.arm_axis} {params.treated} against {params.baseline}: {found}; per seed: "
              f"{per_seed_text}; tried {', '.join(map(str, tried[0]))} and {', '.join(map(str, tried[1]))}"
              + sel.diverged)
    result = sel.result(value, holds is True, detail, draws=draws, seed_fraction=per_seed,
                        support=float(support.mean()))
    if holds is None:
        result.made_inconclusive("the grid cannot decide it: a median need is only bounded (found at the first "
                                 "value tried, or beyond the last)", first=True)
    return result


# --- (d) a final accuracy or loss beyond a bound ---------------------------------------------------------------

class FinalParams(CheckParams):
    metric: Metric = "test_acc"
    bound: float = 0.95
    # above: the final value must exceed the bound (an accuracy); below: stay under it (a loss)
    side: Literal["above", "below"] = "above"


def final_statement(params: FinalParams) -> str:
    return f"The median over seeds of the final {_words(params.metric)} is {params.side} {params.bound:g}."


@check("final_value_beyond", FinalParams, general=True, states=final_statement,
       requires=Requires(metrics=("{metric}",)))
@selects_runs(threshold=lambda p: p.bound)
def final_value_beyond(sel: Selection, params: FinalParams) -> CheckResult:
    """The median over seeds of a metric's last logged value is above (or below) a bound; bootstrap interval
    over seeds."""
    runs, threshold = sel.runs, sel.threshold
    values = runs[params.metric].values
    logged = np.isfinite(values)
    last = np.array([row[mask][-1] if mask.any() else np.nan for row, mask in zip(values, logged)])
    if np.isnan(last).any():
        return sel.inconclusive(f"{int(np.isnan(last).sum())} runs never logged {params.metric}", sel.n_runs)

    def beyond(x):
        return x > threshold if params.side == "above" else x < threshold

    value = float(np.median(last))
    draws = bootstrap(last, np.median)
    per_run = "; ".join(f"seed {int(s)}: {x:.4g}" for s, x in zip(runs["seed"].values, last))
    detail = (f"median final {_words(params.metric)} {value:.4g} ({params.side} {threshold:g} wanted, last logged "
              f"value of each run); {per_run}{sel.diverged}")
    return sel.result(value, beyond(value), detail, draws=draws, seed_fraction=float(beyond(last).mean()),
                      support=float(beyond(draws).mean()))

