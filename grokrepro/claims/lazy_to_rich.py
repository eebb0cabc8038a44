"""Kumar et al. 2024: grokking as the transition from lazy to rich training.

L1: the amount of grokking rises with the output scale α. L2: in the lazy phase the network tracks its
linearised network, and it finally beats kernel regression with the initial NTK (the linearised network's end
point). L3: NTK-label alignment is flat in the kernel phase and rises by t_test. L4: Goldilocks data sizes.
Event times use thresholds relative to each run's initial loss.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from pydantic import Field

from grokrepro.claims.kit import CheckParams, Selection, seed_share, selects_runs
from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult, seed_table
from grokrepro.metrics import bootstrap, measured, measured_at
from grokrepro.metrics.sizes import final_values
from grokrepro.metrics.stats import spearman


class Params(CheckParams):
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
@selects_runs(threshold=lambda p: p.min_spearman, coords=lambda p: (p.axis,), none_match=False)
def grokking_rises_with_alpha(sel: Selection, params: AlphaParams) -> CheckResult:
    """The amount of grokking, max(0, t_test - t_train), rises with the output scale alpha (rank correlation),
    and the smallest alpha shows almost none."""
    runs = sel.runs
    amount = amount_of_grokking(*loss_times(runs, params.relative_threshold))
    values, seeds, table = seed_table(runs, params.axis, amount)
    present = seed_table(runs, params.axis, np.ones(runs.sizes["run"]))[2]
    unknown = [f"seed {int(seeds[i])} at {params.axis} {values[j]:g}: "
               + ("no run" if np.isnan(present[i, j]) else "never fit the training set (no amount of grokking)")
               for i, j in zip(*np.nonzero(np.isnan(table)))]
    table = table[~np.isnan(table).any(axis=1)]
    if len(values) < params.min_values or len(table) == 0:
        return sel.inconclusive(f"{len(values)} values of {params.axis}, {len(table)} complete seeds "
                                f"({sel.n_diverged} diverged); need {params.min_values} values"
                                + "".join(f"; {line}" for line in unknown), sel.n_runs)
    holds, correlation, share = _alpha_trend(values, table, params)
    draws = bootstrap(table, lambda t: _alpha_trend(values, t, params)[1])
    support = bootstrap(table, lambda t: float(_alpha_trend(values, t, params)[0]))
    per_seed = np.mean([_alpha_trend(values, row[None], params)[0] for row in table])
    medians = np.median(table, axis=0)
    detail = "; ".join(f"{params.axis} {v:g}: median amount {m:g}" for v, m in zip(values, medians))
    detail += f"; smallest {params.axis}'s amount is {share:.1%} of the largest finite one"
    result = sel.result(correlation, holds, detail, draws=draws, seed_fraction=float(per_seed),
                        support=float(support.mean()))
    if unknown:
        # The left-out seeds' amounts could move the medians either way.
        result.made_inconclusive("inconclusive, seeds left out: " + "; ".join(unknown))
    return result


def linearised_peak(runs: xr.Dataset, k: int) -> float:
    """t_lin: the logged step where run k's linearised network's test loss peaks (the end of its fit of the
    linear modes, after which it falls slowly towards kernel regression); NaN without a linearised curve."""
    curve = runs["linearised_test_loss"].values[k]
    finite = np.isfinite(curve)
    if not finite.any():
        return float("nan")
    return float(runs["step"].values[finite][np.argmax(curve[finite])])


def tracking_deviation(runs: xr.Dataset, k: int, until: float) -> float:
    """max |network / linearised − 1| over train and test loss, at the logged steps in [0, until]."""
    window = runs["step"].values <= until
    deviations = [np.abs(runs[name].values[k][window] / runs[f"linearised_{name}"].values[k][window] - 1)
                  for name in ("train_loss", "test_loss")]
    deviations = np.concatenate(deviations)
    deviations = deviations[np.isfinite(deviations)]
    return float(deviations.max()) if len(deviations) else float("nan")


class TrackingParams(Params):
    # the network's train and test loss stay within this relative distance of the linearised network's, to t_lin
    tolerance: float = Field(0.1, gt=0, lt=1)
    # ... and its final test loss is below this share of kernel regression's with the initial eNTK
    max_final_kernel_share: float = Field(0.8, gt=0)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


@check("lazy_phase_tracks_linearised", TrackingParams)
@selects_runs(threshold=lambda p: p.tolerance, none_match=False)
def lazy_phase_tracks_linearised(sel: Selection, params: TrackingParams) -> CheckResult:
    """Until t_lin the network trains as its linearised network does (lazy), and it ends below kernel regression's test
    loss. From step 0 until the linearised network's test loss peaks (t_lin), the network's train and test losses
    stay within `tolerance` of its linearised network's, and its final test loss is below
    `max_final_kernel_share` × that of kernel regression with the initial eNTK (the linearised network's end)."""
    runs = sel.runs
    needed = [name for name in ("linearised_test_loss", "linearised_train_loss", "kernel_test_loss")
              if name not in runs]
    if needed or runs.sizes["run"] == 0:
        return sel.inconclusive("the network cannot be compared with its linearisation: "
                                + (f"the curves lack {', '.join(needed)}" if needed else "no healthy runs")
                                + f" ({sel.n_diverged} diverged)")
    kernel_losses = final_values(runs["kernel_test_loss"].values[:, :1])  # kernel regression at the initial eNTK
    finals = final_values(runs["test_loss"].values)
    deviations, holds, lines = [], [], []
    for k in range(runs.sizes["run"]):
        seed = int(runs["seed"].values[k])
        t_lin = linearised_peak(runs, k)
        kernel_loss, final = kernel_losses[k], finals[k]
        if not np.isfinite(t_lin) or t_lin == 0:
            deviations.append(np.nan)
            holds.append(False)
            lines.append(f"seed {seed}: the linearised network's test loss never rises above its start, so "
                         "there is no kernel phase to track")
            continue
        deviation = tracking_deviation(runs, k, t_lin)
        share = final / kernel_loss
        tracks, beats = bool(deviation <= params.tolerance), bool(share < params.max_final_kernel_share)
        deviations.append(deviation)
        holds.append(tracks and beats)
        lines.append(f"seed {seed}: up to the linearised test-loss peak at step {t_lin:g} the network's losses "
                     f"differ from the linearised network's by up to {deviation:.1%} "
                     f"({'within' if tracks else 'beyond'} {params.tolerance:.0%}), and its final test loss is "
                     f"{share:.2f}x kernel regression's {kernel_loss:.4g} "
                     f"({'below' if beats else 'not below'} {params.max_final_kernel_share:g}x)")
    return sel.result(**seed_share(holds, params.min_seed_fraction, per_seed=deviations), detail="; ".join(lines))


class AlignmentParams(Params):
    # the alignment at the first measurement at or after t_lin stays within this share of its initial value
    max_lazy_change: float = Field(0.05, gt=0)
    # ... and at t_test it is at least this much above the initial value
    min_rise: float = Field(0.1, gt=0)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


def first_measured_from(runs: xr.Dataset, name: str, k: int, step: float) -> tuple[float, float]:
    """The first measurement of a sparsely logged quantity at or after `step`: (its step, its value)."""
    steps, values = measured(runs, name, k)
    later = steps >= step
    return (float(steps[later][0]), float(values[later][0])) if later.any() else (float("nan"), float("nan"))


@check("alignment_flat_then_rises", AlignmentParams)
@selects_runs(threshold=lambda p: p.min_rise, none_match=False)
def alignment_flat_then_rises(sel: Selection, params: AlignmentParams) -> CheckResult:
    """The eNTK-label alignment is flat through the kernel phase (within `max_lazy_change` of its start at the
    first measurement at or after t_lin) and `min_rise` above its start at t_test."""
    runs = sel.runs
    needed = [name for name in ("ntk_alignment", "linearised_test_loss") if name not in runs]
    if needed or runs.sizes["run"] == 0:
        return sel.inconclusive("the alignment cannot be read against the kernel phase: "
                                + (f"the curves lack {', '.join(needed)}" if needed else "no healthy runs")
                                + f" ({sel.n_diverged} diverged)")
    _, t_test = loss_times(runs, params.relative_threshold)
    lasts = final_values(runs["ntk_alignment"].values)
    rises, holds, lines = [], [], []
    for k in range(runs.sizes["run"]):
        seed = int(runs["seed"].values[k])
        start = measured_at(runs, "ntk_alignment", k, 0)
        t_lin = linearised_peak(runs, k)
        lazy_step, lazy_value = first_measured_from(runs, "ntk_alignment", k, t_lin)
        end = measured_at(runs, "ntk_alignment", k, t_test[k])
        last = lasts[k]
        lazy_change, rise = lazy_value / start - 1, end / start - 1
        flat = bool(np.isfinite(lazy_change) and abs(lazy_change) <= params.max_lazy_change)
        rises_enough = bool(np.isfinite(rise) and rise >= params.min_rise)
        rises.append(rise)
        holds.append(flat and rises_enough)
        if not np.isfinite(t_test[k]):
            lines.append(f"seed {seed}: the test loss never falls to {params.relative_threshold:.0%} of its start, "
                         f"so there is no t_test to read the rise at (alignment {start:.4g} at step 0, "
                         f"{lazy_change:+.1%} at step {lazy_step:g})")
            continue
        lines.append(f"seed {seed}: alignment {start:.4g} at step 0, {lazy_change:+.1%} at step {lazy_step:g} "
                     f"after t_lin {t_lin:g} ({'flat' if flat else 'not flat'} within "
                     f"{params.max_lazy_change:.0%}), {rise:+.1%} at t_test {t_test[k]:g} "
                     f"({'at least' if rises_enough else 'less than'} {params.min_rise:.0%}), "
                     f"{last / start - 1:+.1%} at the end")
    return sel.result(**seed_share(holds, params.min_seed_fraction, per_seed=rises), detail="; ".join(lines))


class GoldilocksParams(Params):
    axis: str = "n_train"
    small: float
    middle: float
    large: float
    # the middle size "groks" when its amount of grokking is at least this many times the large size's
    min_delay_ratio: float = Field(5.0, gt=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


@check("goldilocks_dataset_size", GoldilocksParams)
@selects_runs(threshold=lambda p: p.min_delay_ratio, coords=lambda p: (p.axis,), none_match=False)
def goldilocks_dataset_size(sel: Selection, params: GoldilocksParams) -> CheckResult:
    """Small P never generalises; middle P generalises long after fitting; large P generalises with the fit."""
    runs = sel.runs
    t_train, t_test = loss_times(runs, params.relative_threshold)
    amount = amount_of_grokking(t_train, t_test)
    values, seeds, table = seed_table(runs, params.axis, amount)
    test_times = seed_table(runs, params.axis, t_test)[2]
    # NaN where a seed has no run at that size (never trained, or left out as diverged)
    present = seed_table(runs, params.axis, np.ones(runs.sizes["run"]))[2]
    wanted = [params.small, params.middle, params.large]
    if not all(np.isclose(values, w).any() for w in wanted):
        swept = [v.item() if hasattr(v, "item") else v for v in values]  # plain numbers in the sentence
        return sel.inconclusive(f"{params.axis} values {swept} lack one of {wanted}")
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
        large_amount = max(table[i, large], 1.0)  # one step at least, so that ratios stay finite
        ratio = table[i, middle] / large_amount
        ok = (not np.isfinite(test_times[i, small]) and np.isfinite(table[i, middle])
              and ratio >= params.min_delay_ratio)
        ratios.append(ratio if np.isfinite(ratio) else np.nan)
        holds.append(bool(ok))
        lines.append(f"seed {int(seed)}: small P t_test {test_times[i, small]:g}; middle P amount {table[i, middle]:g}; "
                     f"large P amount {table[i, large]:g}")
    if not holds:
        return sel.inconclusive("no seed could be judged: " + ("; ".join(unknown) or "no runs"), sel.n_runs)
    result = sel.result(**seed_share(holds, params.min_seed_fraction, per_seed=ratios),
                        detail="; ".join(lines + unknown))
    if unknown:
        # Seeds of unknown outcome could tip the share either way.
        result.made_inconclusive(f"inconclusive: {len(unknown)} of {len(seeds)} seeds could not be judged")
    return result
