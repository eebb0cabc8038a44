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
from grokrepro.claims.verdict import (INCONCLUSIVE, CheckResult, healthy_runs, inconclusive, judged, seed_table,
                                      select_runs)
from grokrepro.metrics import bootstrap, interval, measured_at


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
    """max(0, t_test − t_train); +inf (later than anything observed) when the training set is fit but the test
    threshold is never reached; NaN when the training set is never fit, since there is no t_train to count from."""
    with np.errstate(invalid="ignore"):
        amount = np.maximum(0.0, t_test - t_train)
    return np.where(np.isfinite(t_train), np.where(np.isfinite(t_test), amount, np.inf), np.nan)


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
    present = seed_table(runs, params.axis, np.ones(runs.sizes["run"]))[2]
    unknown = [f"seed {int(seeds[i])} at {params.axis} {values[j]:g}: "
               + ("no run" if np.isnan(present[i, j]) else "never fit the training set (no amount of grokking)")
               for i, j in zip(*np.nonzero(np.isnan(table)))]
    table = table[~np.isnan(table).any(axis=1)]
    if len(values) < params.min_values or len(table) == 0:
        return inconclusive(spec_check, threshold, f"{len(values)} values of {params.axis}, {len(table)} complete "
                            f"seeds ({n_bad} diverged); need {params.min_values} values"
                            + "".join(f"; {line}" for line in unknown), int(runs.sizes["run"]))
    holds, correlation, share = _alpha_trend(values, table, params)
    draws = bootstrap(table, lambda t: _alpha_trend(values, t, params)[1])
    support = bootstrap(table, lambda t: float(_alpha_trend(values, t, params)[0]))
    per_seed = np.mean([_alpha_trend(values, row[None], params)[0] for row in table])
    medians = np.median(table, axis=0)
    detail = "; ".join(f"{params.axis} {v:g}: median amount {m:g}" for v, m in zip(values, medians))
    detail += f"; smallest {params.axis}'s amount is {share:.1%} of the largest finite one"
    result = judged(CheckResult(
        spec_check.name, spec_check.statement, correlation, threshold, holds, "", interval=list(interval(draws)),
        seed_fraction=float(per_seed), support=float(support.mean()), n_runs=int(runs.sizes["run"]),
        detail=detail, where=dict(spec_check.where)))
    if unknown:
        # The left-out seeds' amounts could move the medians either way.
        result.status = INCONCLUSIVE
        result.detail += "; inconclusive, seeds left out: " + "; ".join(unknown)
    return result


def _seed_share_result(spec_check, threshold, values, holds, min_fraction, runs, detail) -> CheckResult:
    """A check judged by the share of seeds on which it holds; `values` is its per-seed statistic."""
    share = float(np.mean(holds))
    values = np.asarray(values, float)
    draws = bootstrap(values, np.nanmedian) if np.isfinite(values).any() else np.array([np.nan])
    support = bootstrap(np.asarray(holds, float), np.mean)
    return judged(CheckResult(
        spec_check.name, spec_check.statement, float(np.nanmedian(values)) if np.isfinite(values).any() else None,
        threshold, share >= min_fraction, "", interval=list(interval(draws)), seed_fraction=share,
        support=float((support >= min_fraction).mean()), n_runs=int(runs.sizes["run"]), detail=detail,
        where=dict(spec_check.where)))


class KernelPhaseParams(Params):
    tolerance: float = Field(0.2, gt=0, lt=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


@check("lazy_phase_is_kernel_regression", KernelPhaseParams)
def lazy_phase_is_kernel_regression(curves: xr.Dataset, spec_check, params: KernelPhaseParams) -> CheckResult:
    """Between t_train and t_test/2 the test loss stays within `tolerance` of kernel regression with the
    initial eNTK, and afterwards falls below (1 − tolerance) × that loss."""
    threshold = params.tolerance
    runs, n_bad = healthy_runs(select_runs(curves, spec_check.where))
    if "kernel_test_loss" not in runs or runs.sizes["run"] == 0:
        return inconclusive(spec_check, threshold, "no runs with a kernel-regression probe")
    t_train, t_test = loss_times(runs, params.relative_threshold)
    steps, deviations, holds, lines = runs["step"].values, [], [], []
    for k in range(runs.sizes["run"]):
        kernel_loss = runs["kernel_test_loss"].values[k][0]
        window = (steps >= t_train[k]) & (steps <= t_test[k] / 2)
        if not np.isfinite(t_test[k]) or not window.any():
            deviations.append(np.nan)
            holds.append(False)
            lines.append(f"seed {int(runs['seed'].values[k])}: no lazy window (t_train {t_train[k]:g}, "
                         f"t_test {t_test[k]:g})")
            continue
        test_loss = runs["test_loss"].values[k]
        deviation = float(np.nanmax(np.abs(test_loss[window] / kernel_loss - 1)))
        final = float(test_loss[np.isfinite(test_loss)][-1])
        deviations.append(deviation)
        holds.append(deviation <= params.tolerance and final < (1 - params.tolerance) * kernel_loss)
        lines.append(f"seed {int(runs['seed'].values[k])}: kernel regression test loss {kernel_loss:.4g}; "
                     f"in [{t_train[k]:g}, {t_test[k] / 2:g}] the test loss deviates by up to {deviation:.0%}; "
                     f"final {final:.4g}")
    return _seed_share_result(spec_check, threshold, deviations, holds, params.min_seed_fraction, runs,
                              "; ".join(lines))


class AlignmentParams(Params):
    min_rise: float = Field(0.2, gt=0)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


@check("alignment_rises_while_generalising", AlignmentParams)
def alignment_rises_while_generalising(curves: xr.Dataset, spec_check, params: AlignmentParams) -> CheckResult:
    """NTK-label alignment at t_test exceeds its value at the start and at t_test/2 (the start of the late
    drop) by a relative `min_rise`."""
    threshold = params.min_rise
    runs, n_bad = healthy_runs(select_runs(curves, spec_check.where))
    if "ntk_alignment" not in runs or runs.sizes["run"] == 0:
        return inconclusive(spec_check, threshold, "no runs with an NTK-alignment probe")
    _, t_test = loss_times(runs, params.relative_threshold)
    rises, holds, lines = [], [], []
    for k in range(runs.sizes["run"]):
        start = measured_at(runs, "ntk_alignment", k, 0)
        middle = measured_at(runs, "ntk_alignment", k, t_test[k] / 2)
        end = measured_at(runs, "ntk_alignment", k, t_test[k])
        rise = end / max(start, middle) - 1 if np.isfinite(end) else np.nan
        rises.append(rise)
        holds.append(bool(np.isfinite(rise) and rise >= params.min_rise))
        lines.append(f"seed {int(runs['seed'].values[k])}: alignment {start:.3f} at 0, {middle:.3f} at t_test/2, "
                     f"{end:.3f} at t_test {t_test[k]:g}")
    return _seed_share_result(spec_check, threshold, rises, holds, params.min_seed_fraction, runs,
                              "; ".join(lines))


class GoldilocksParams(Params):
    axis: str = "n_train"
    small: float
    middle: float
    large: float
    # the middle size "groks" when its amount of grokking is at least this many times the large size's
    min_delay_ratio: float = Field(5.0, gt=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


@check("goldilocks_dataset_size", GoldilocksParams)
def goldilocks_dataset_size(curves: xr.Dataset, spec_check, params: GoldilocksParams) -> CheckResult:
    """Small P never generalises; middle P generalises long after fitting; large P generalises with the fit."""
    threshold = params.min_delay_ratio
    runs, n_bad = healthy_runs(select_runs(curves, spec_check.where))
    if params.axis not in runs.coords:
        return inconclusive(spec_check, threshold, f"the curves have no coordinate {params.axis!r}")
    t_train, t_test = loss_times(runs, params.relative_threshold)
    amount = amount_of_grokking(t_train, t_test)
    values, seeds, table = seed_table(runs, params.axis, amount)
    test_times = seed_table(runs, params.axis, t_test)[2]
    # NaN where a seed has no run at that size (never trained, or left out as diverged)
    present = seed_table(runs, params.axis, np.ones(runs.sizes["run"]))[2]
    wanted = [params.small, params.middle, params.large]
    if not all(np.isclose(values, w).any() for w in wanted):
        return inconclusive(spec_check, threshold, f"{params.axis} values {list(values)} lack one of {wanted}")
    small, middle, large = (int(np.nonzero(np.isclose(values, w))[0][0]) for w in wanted)
    ratios, holds, lines, unknown = [], [], [], []
    for i, seed in enumerate(seeds):
        missing = [name for name, j in (("small", small), ("middle", middle), ("large", large))
                   if np.isnan(present[i, j])]
        if missing:
            # A run that was never measured says nothing, least of all "never generalised".
            unknown.append(f"seed {int(seed)}: no run at the {'/'.join(missing)} size")
            continue
        never_fit = [name for name, j in (("middle", middle), ("large", large)) if np.isnan(table[i, j])]
        if never_fit:
            unknown.append(f"seed {int(seed)}: the {'/'.join(never_fit)} size never fit the training set "
                           "(no amount of grokking)")
            continue
        large_amount = max(table[i, large], 1.0)  # one logged interval at least, so ratios stay finite
        ratio = table[i, middle] / large_amount
        ok = (not np.isfinite(test_times[i, small]) and np.isfinite(table[i, middle])
              and ratio >= params.min_delay_ratio)
        ratios.append(ratio if np.isfinite(ratio) else np.nan)
        holds.append(bool(ok))
        lines.append(f"seed {int(seed)}: small P t_test {test_times[i, small]:g}; middle P amount {table[i, middle]:g}; "
                     f"large P amount {table[i, large]:g}")
    if not holds:
        return inconclusive(spec_check, threshold, "no seed could be judged: " + ("; ".join(unknown) or "no runs"),
                            int(runs.sizes["run"]))
    result = _seed_share_result(spec_check, threshold, ratios, holds, params.min_seed_fraction, runs,
                                "; ".join(lines + unknown))
    if unknown:
        # Seeds of unknown outcome could tip the share either way.
        result.status = INCONCLUSIVE
        result.detail += f"; inconclusive: {len(unknown)} of {len(seeds)} seeds could not be judged"
    return result
