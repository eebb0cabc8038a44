"""Kumar et al. 2024: grokking as the transition from lazy to rich training.

L1: the amount of grokking rises with the output scale α. L2: the lazy phase is kernel regression with the
initial NTK. L3: NTK-label alignment rises during the late drop of the test loss. L4: Goldilocks data sizes.
Event times use thresholds relative to each run's initial loss.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult, healthy_runs, inconclusive, judged, seed_table, select_runs
from grokrepro.metrics import bootstrap, interval


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    relative_threshold: float = Field(0.1, gt=0, lt=1)


def loss_times(runs: xr.Dataset, relative_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """First logged steps where train and test loss fall below `relative_threshold` × their initial value."""
    steps = runs["step"].values
    times = []
    for name in ("train_loss", "test_loss"):
        loss = runs[name].values
        below = np.nan_to_num(loss, nan=np.inf) <= relative_threshold * loss[:, :1]
        times.append(np.where(below.any(1), steps[below.argmax(1)], np.inf).astype(float))
    return times[0], times[1]


def amount_of_grokking(t_train: np.ndarray, t_test: np.ndarray) -> np.ndarray:
    """max(0, t_test − t_train); +inf (later than anything observed) when either threshold is never reached."""
    with np.errstate(invalid="ignore"):
        amount = np.maximum(0.0, t_test - t_train)
    return np.where(np.isfinite(t_train) & np.isfinite(t_test), amount, np.inf)


def rank(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank); +inf ranks above every finite value."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2
        start = end + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = rank(np.asarray(x, float)), rank(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


class AlphaParams(Params):
    axis: str = "alpha"
    min_values: int = Field(5, ge=3)
    min_spearman: float = Field(0.8, gt=0, le=1)
    max_smallest_share: float = Field(0.1, ge=0)


def _alpha_trend(values: np.ndarray, table: np.ndarray, params: AlphaParams) -> tuple[bool, float, float]:
    medians = np.median(table, axis=0)
    correlation = spearman(values, medians)
    finite = medians[np.isfinite(medians)]
    largest = finite.max() if len(finite) else np.inf
    smallest_share = medians[0] / largest if largest > 0 else (0.0 if medians[0] == 0 else np.inf)
    holds = bool(correlation >= params.min_spearman and smallest_share <= params.max_smallest_share)
    return holds, correlation, float(smallest_share)


@check("grokking_rises_with_alpha", AlphaParams)
def grokking_rises_with_alpha(curves: xr.Dataset, spec_check, params: AlphaParams) -> CheckResult:
    threshold = params.min_spearman
    runs, n_bad = healthy_runs(select_runs(curves, spec_check.where))
    if params.axis not in runs.coords:
        return inconclusive(spec_check, threshold, f"the curves have no coordinate {params.axis!r}")
    amount = amount_of_grokking(*loss_times(runs, params.relative_threshold))
    values, seeds, table = seed_table(runs, params.axis, amount)
    table = table[~np.isnan(table).any(axis=1)]
    if len(values) < params.min_values or len(table) == 0:
        return inconclusive(spec_check, threshold, f"{len(values)} values of {params.axis}, {len(table)} complete "
                            f"seeds ({n_bad} diverged); need {params.min_values} values", int(runs.sizes["run"]))
    holds, correlation, share = _alpha_trend(values, table, params)
    draws = bootstrap(table, lambda t: _alpha_trend(values, t, params)[1])
    support = bootstrap(table, lambda t: float(_alpha_trend(values, t, params)[0]))
    per_seed = np.mean([_alpha_trend(values, row[None], params)[0] for row in table])
    medians = np.median(table, axis=0)
    detail = "; ".join(f"{params.axis} {v:g}: median amount {m:g}" for v, m in zip(values, medians))
    detail += f"; smallest {params.axis}'s amount is {share:.1%} of the largest finite one"
    return judged(CheckResult(
        spec_check.name, spec_check.statement, correlation, threshold, holds, "", interval=list(interval(draws)),
        seed_fraction=float(per_seed), support=float(support.mean()), n_runs=int(runs.sizes["run"]),
        detail=detail, where=dict(spec_check.where)))
