"""The check kit: what every check kind does the same way, written once.

- `selects_runs` turns `fn(selection, params)` into a check function `(curves, spec_check, params)`: it selects
  the check's runs, leaves the diverged ones out (counted), refuses curves that lack a coordinate or a probe the
  check reads, and answers `inconclusive` when no healthy run matches, so the check itself starts from its runs.
- `Selection.result` builds the `CheckResult` (judged by the one rule in `verdict.judged`), and
  `CheckResult.made_inconclusive` records why a judged result cannot stand.
- `seed_share` judges a check by the share of seeds on which it holds; `Selection.share_with_undecided` does
  so when the curves cannot decide some seeds.
- `paired_runs` matches runs across the arms of a sweep axis (by seed, or by any key).
- `CheckParams` is the base of every params model; `SeedShare` adds the share of seeds a check must hold on,
  `Generalises` the test accuracy that defines t_gen, `Events` also the train accuracy that defines t_fit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from grokrepro.claims.verdict import AmbiguousRunsError, CheckResult, healthy_runs, inconclusive, judged, select_runs
from grokrepro.metrics import bootstrap, first_step_reaching, interval


class CheckParams(BaseModel):
    """A check kind's params: unknown fields refused (a misspelt threshold must not fall back to its default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedShare(CheckParams):
    """The share of seeds a check judged by `seed_share` must hold on."""

    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class Generalises(CheckParams):
    """The test accuracy that makes t_gen, the first logged step reaching it."""

    gen_acc: float = Field(0.95, gt=0, le=1)


class Events(Generalises):
    """And the train accuracy that makes t_fit."""

    fit_acc: float = Field(0.99, gt=0, le=1)


def event_times(runs: xr.Dataset, params: Events) -> tuple[np.ndarray, np.ndarray]:
    """(t_fit, t_gen) per run; +inf where never reached within the budget (censored)."""
    steps = runs["step"].values
    return (first_step_reaching(runs["train_acc"].values, steps, params.fit_acc),
            first_step_reaching(runs["test_acc"].values, steps, params.gen_acc))


def budget(runs: xr.Dataset) -> float:
    """The longest budget among the runs, in steps (the last logged step for curves without budgets)."""
    if "budget_steps" in runs.coords:
        return float(runs["budget_steps"].values.max())
    return float(runs["step"].values.max())


def diverged_note(n_diverged: int) -> str:
    return f"; {n_diverged} diverged runs left out" if n_diverged else ""


def matches(values: np.ndarray, wanted: Any) -> np.ndarray:
    """Which coordinate values equal `wanted`: numbers with select_runs' relative tolerance, others exactly."""
    if np.issubdtype(values.dtype, np.number) and isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        return np.isclose(values.astype(float), float(wanted), rtol=1e-9, atol=0)
    return values == wanted


@dataclass(frozen=True)
class Selection:
    """What `selects_runs` hands a check: its healthy selected runs, how many diverged, and how to answer."""

    runs: xr.Dataset
    n_diverged: int
    check: Any  # the spec's Check: name, statement, where
    threshold: Any
    curves: xr.Dataset  # every run of the claim, for checks that also read runs outside their selection

    @property
    def n_runs(self) -> int:
        return int(self.runs.sizes["run"])

    @property
    def diverged(self) -> str:
        """The clause a detail ends with when diverged runs were left out."""
        return diverged_note(self.n_diverged)

    def inconclusive(self, why: str, n_runs: int = 0) -> CheckResult:
        return inconclusive(self.check, self.threshold, why, n_runs)

    def result(self, value, passed, detail: str, *, draws: np.ndarray | None = None,
               interval: Sequence | None = (None, None), seed_fraction: float | None = None,
               support: float | None = None, n_runs: int | None = None) -> CheckResult:
        """The judged result; `draws` (bootstrap draws of the value) give its 95 % interval, [None, None] when
        there are none."""
        if draws is not None:
            interval = _interval(draws)
        return judged(CheckResult(
            self.check.name, self.check.statement, value, self.threshold, bool(passed), "",
            interval=list(interval) if interval is not None else None, seed_fraction=seed_fraction,
            support=support, n_runs=self.n_runs if n_runs is None else int(n_runs), detail=detail,
            where=dict(self.check.where)))

    def share_with_undecided(self, holds: np.ndarray, undecided: np.ndarray, min_fraction: float, detail: str,
                             why_undecided: str, n_runs: int | None = None) -> CheckResult:
        """`seed_share`'s result when the curves cannot decide some seeds (`undecided`: e.g. the budget ends
        too soon to tell). Such a seed may pass and never counts towards a failure: the support counts it as
        holding, and a failure that the undecided seeds could turn into a pass is inconclusive, its detail
        opened by their number and `why_undecided`."""
        holds = np.asarray(holds, dtype=bool)
        could_hold = holds | np.asarray(undecided, dtype=bool)
        judged_on = seed_share(holds, min_fraction)
        judged_on["support"] = seed_share(could_hold, min_fraction)["support"]
        result = self.result(detail=detail, n_runs=n_runs, **judged_on)
        if not result.passed and could_hold.mean() >= min_fraction:
            result.made_inconclusive(f"{int((could_hold & ~holds).sum())} {why_undecided}", first=True)
        return result


def _interval(draws: np.ndarray) -> list:
    return list(interval(draws)) if len(draws) else [None, None]


def selects_runs(threshold: Callable[[Any], Any], *, where: Callable[[Any, Any], dict] | None = None,
                 healthy: bool = True, coords: Callable[[Any], Sequence[str]] | None = None,
                 none_match: bool = True, probes: Sequence[str] = ()):
    """Decorate `fn(selection, params, **extra)` into a check function `(curves, spec_check, params, **extra)`.

    threshold: params -> the threshold recorded with the result (a number, or a dict of several).
    where: (spec_check, params) -> the selection, if not the check's `where` (e.g. a label arm merged in).
    healthy: leave diverged runs out (and count them); False hands over every selected run.
    coords: params -> coordinates the check reads; curves without one are inconclusive, saying which.
    none_match: answer inconclusive when no healthy run matches; False lets the check say it its own way.
    probes: probe kinds whose output (a variable of the same name) the check reads; curves without one are
        inconclusive, saying which probe the spec's train.probes must ask for."""

    def decorate(fn):
        @functools.wraps(fn)
        def check_function(curves: xr.Dataset, spec_check, params, **extra) -> CheckResult:
            chosen = select_runs(curves, where(spec_check, params) if where else spec_check.where)
            runs, n_diverged = healthy_runs(chosen) if healthy else (chosen, 0)
            selection = Selection(runs, n_diverged, spec_check, threshold(params), curves)
            for name in coords(params) if coords else ():
                if name not in runs.coords:
                    return selection.inconclusive(f"the curves have no coordinate {name!r}")
            if none_match and selection.n_runs == 0:
                return selection.inconclusive(f"no healthy runs match {spec_check.where} ({n_diverged} diverged)")
            for probe in probes:
                if probe not in runs:
                    return selection.inconclusive(f"the curves have no {probe!r} probe (train.probes needs "
                                                  f"{{kind: {probe}}})", selection.n_runs)
            return fn(selection, params, **extra)

        return check_function

    return decorate


def seed_share(holds: np.ndarray, min_fraction: float, per_seed: np.ndarray | None = None,
               statistic: Callable = np.nanmedian) -> dict:
    """A check judged by the share of seeds (or runs) on which it holds: passes when that share is >=
    min_fraction; its support is the share of bootstrap resamples on which it still is.

    Without `per_seed` the value is the share itself (interval: bootstrap of the share); with it, the value is
    `statistic` of the per-seed quantity (interval: bootstrap of that), None when no seed has a finite one.
    Returns the keyword arguments of `Selection.result`."""
    holds = np.asarray(holds, dtype=float)
    share = float(holds.mean())
    shares = bootstrap(holds, np.mean)
    support = float((shares >= min_fraction).mean())
    if per_seed is None:
        return dict(value=share, passed=share >= min_fraction, draws=shares, seed_fraction=share, support=support)
    per_seed = np.asarray(per_seed, dtype=float)
    known = bool(np.isfinite(per_seed).any())
    draws = bootstrap(per_seed, statistic) if known else np.array([np.nan])
    return dict(value=float(statistic(per_seed)) if known else None, passed=share >= min_fraction, draws=draws,
                seed_fraction=share, support=support)


def paired_runs(runs: xr.Dataset, axis: str, arms: Sequence, key: Callable[[int], Any] | None = None
                ) -> tuple[list, np.ndarray]:
    """Match runs across arms (values of `axis`): (keys, index table unit x arm) of the units present in every
    arm. A unit is a seed (keys ascending), or whatever `key(run index)` returns (units in the order of the
    first arm's runs), e.g. a configuration that differs only in the arm. Two runs of one unit in one arm are
    an AmbiguousRunsError: the check's `where` leaves another sweep axis free."""
    by_key = key or (lambda k: int(runs["seed"].values[k]))
    columns = []
    for arm in arms:
        column: dict = {}
        for k in np.nonzero(matches(runs[axis].values, arm))[0]:
            unit = by_key(k)
            if unit in column:
                raise AmbiguousRunsError(f"several runs with {axis} = {arm!r} share a seed; the check's 'where' "
                                         f"must fix every sweep axis but {axis!r}")
            column[unit] = int(k)
        columns.append(column)
    common = set.intersection(*(set(c) for c in columns)) if columns else set()
    keys = sorted(common) if key is None else [u for u in columns[0] if u in common]
    return keys, np.array([[c[u] for c in columns] for u in keys], dtype=int).reshape(len(keys), len(arms))
