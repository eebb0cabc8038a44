"""Barak, Edelman, Goel, Kakade, Malach, Zhang 2022 ("Hidden progress in deep learning: SGD learns parities near
the computational limit"): SGD learns a k-sparse parity of n bits abruptly, after a number of steps that grows
like n^O(k) (H1: the slope of log t_learn against log n at fixed k), while a measure that loss and accuracy do
not show, the first layer's weight on the k relevant bits, rises steadily before the drop (H2).

H1 reads the test accuracy over a sweep of n_bits; H2 reads the `relevant_weights` probe
(grokrepro/probes/relevant_weights.py). docs/claims/hidden_progress.md says how each reads the paper."""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from grokrepro.claims.kit import CheckParams, Selection, seed_share, selects_runs
from grokrepro.claims.registry import Requires, check
from grokrepro.claims.verdict import CheckResult
from grokrepro.metrics import first_step_reaching, interval

PROBE = "relevant_weights"
BOOTSTRAP_SAMPLES = 2000


# --- H1: the steps to learn grow as a power of n ----------------------------------------------------------------

class ScalingParams(CheckParams):
    # the swept problem size whose power law is fitted (a coordinate of the runs)
    axis: str = "n_bits"
    # t_learn: the first logged step with test accuracy >= learn_acc (the paper: 100 % on 2^13 fresh samples)
    learn_acc: float = Field(0.95, gt=0.5, le=1)
    # the fitted exponent (slope of log median t_learn on log n) must lie in (min_slope, max_slope]
    min_slope: float = 0.0
    max_slope: Optional[float] = None
    # sizes whose median run learns within the budget; fewer than this: nothing to fit
    min_sizes: int = Field(3, ge=2)

    @model_validator(mode="after")
    def _ordered(self):
        if self.max_slope is not None and self.max_slope <= self.min_slope:
            raise ValueError(f"max_slope {self.max_slope} must exceed min_slope {self.min_slope}")
        return self


def fitted_slope(sizes: np.ndarray, times: np.ndarray) -> float:
    """Least-squares slope of log time on log size (NaN when fewer than two finite points)."""
    keep = np.isfinite(times) & (times > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes[keep]), np.log(times[keep]), 1)[0])


def median_times(size_of_run: np.ndarray, t_learn: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Each size's median t_learn over its runs; +inf where half or more never learn (a censored median)."""
    return np.array([np.median(t_learn[size_of_run == s]) for s in sizes])


def slope_draws(size_of_run: np.ndarray, t_learn: np.ndarray, sizes: np.ndarray, fitted: np.ndarray,
                samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> np.ndarray:
    """The slope refitted on resamples of the runs within each size, over the sizes `fitted`; NaN for a draw in
    which a fitted size's median no longer learns."""
    rng = np.random.default_rng(seed)
    groups = [t_learn[size_of_run == s] for s in sizes[fitted]]
    draws = np.empty(samples)
    for b in range(samples):
        medians = np.array([np.median(g[rng.integers(0, len(g), len(g))]) for g in groups])
        draws[b] = fitted_slope(sizes[fitted], medians) if np.isfinite(medians).all() else np.nan
    return draws


def _scaling_threshold(params: ScalingParams) -> dict:
    return {"min_slope": params.min_slope, "max_slope": params.max_slope}


@check("learning_time_scaling", ScalingParams, requires=Requires(metrics=("test_acc",)))
@selects_runs(threshold=_scaling_threshold, coords=lambda p: (p.axis,))
def learning_time_scaling(sel: Selection, params: ScalingParams) -> CheckResult:
    """H1: over the selected runs (one k, several sizes n), the slope of log median t_learn against log n lies in
    (min_slope, max_slope]. The interval and support come from resampling the runs within each size. No size
    whose median run learns: failed with slope 0 (every time censored at the budget); fewer than min_sizes:
    inconclusive."""
    runs = sel.runs
    steps = runs["step"].values
    t_learn = first_step_reaching(runs["test_acc"].values, steps, params.learn_acc)
    size_of_run = runs[params.axis].values.astype(float)
    sizes = np.unique(size_of_run)
    medians = median_times(size_of_run, t_learn, sizes)
    fitted = np.isfinite(medians)
    table = ", ".join(f"{params.axis} {s:g}: {m:g} ({int(np.isfinite(t_learn[size_of_run == s]).sum())}/"
                      f"{int((size_of_run == s).sum())} learn)" for s, m in zip(sizes, medians))
    detail = f"median t_learn (test acc >= {params.learn_acc:g}; inf: the median run never learns) at {table}"
    if not fitted.any():
        # every time censored at the same budget: the times' lower bounds are flat in n, slope 0 (a value, so a
        # control that learns nothing counts as computed and failed)
        return sel.result(0.0, False, detail + ": nothing learned within the budget, every t_learn censored at "
                          "it (slope 0 of the lower bounds)" + sel.diverged, support=0.0)
    if fitted.sum() < params.min_sizes:
        return sel.inconclusive(f"{detail}: {int(fitted.sum())} sizes learn, fewer than {params.min_sizes} to fit",
                                sel.n_runs)
    slope = fitted_slope(sizes[fitted], medians[fitted])
    draws = slope_draws(size_of_run, t_learn, sizes, fitted)

    def within(value):
        upper = np.inf if params.max_slope is None else params.max_slope
        return (value > params.min_slope) & (value <= upper)

    with np.errstate(invalid="ignore"):
        support = float(np.mean(np.where(np.isnan(draws), False, within(draws))))
    finite = draws[np.isfinite(draws)]
    bounds = list(interval(finite)) if len(finite) else [None, None]
    wanted = f"({params.min_slope:g}, {params.max_slope:g}]" if params.max_slope is not None else \
        f"> {params.min_slope:g}"
    left_out = "" if fitted.all() else "; sizes whose median never learns are left out of the fit"
    return sel.result(slope, bool(within(slope)), f"{detail}; slope of log t_learn on log {params.axis} = "
                      f"{slope:.3g} over {int(fitted.sum())} sizes ({wanted} wanted){left_out}" + sel.diverged,
                      interval=bounds, support=support)


# --- H2: the relevant weights grow while the test accuracy is at chance -----------------------------------------

class HiddenParams(CheckParams):
    # the probe output read; its chance level is k/n (every column alike)
    measure: Literal["relevant_movement_share", "relevant_weight_share"] = "relevant_movement_share"
    # the window: probed steps before the test accuracy first reaches chance_acc (the whole run if never)
    chance_acc: float = Field(0.6, gt=0.5, lt=1)
    # in the window the measure rises monotonically (Spearman rank correlation with the step >= min_rank) ...
    min_rank: float = Field(0.8, gt=0, le=1)
    # ... to at least min_over_chance x its chance level k/n at the window's last probed step
    min_over_chance: float = Field(2.0, gt=1)
    # runs with fewer probed steps in the window are not measured; fewer measured runs than min_seeds: inconclusive
    min_points: int = Field(5, ge=3)
    min_seeds: int = Field(2, ge=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ranks by order, ties broken by position; the probe's values are real)."""
    rx, ry = (np.argsort(np.argsort(v, kind="stable")).astype(float) for v in (x, y))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else float("nan")


def hidden_window(values: np.ndarray, test_acc: np.ndarray, steps: np.ndarray, chance_acc: float) -> np.ndarray:
    """Indices of one run's probed steps before its test accuracy first reaches chance_acc."""
    t_leave = first_step_reaching(test_acc[None], steps, chance_acc)[0]
    return np.nonzero(~np.isnan(values) & (steps < t_leave))[0]


@check("hidden_progress_rises", HiddenParams,
       requires=Requires(metrics=("test_acc",), probes=(PROBE,)))
@selects_runs(threshold=lambda p: p.min_seed_fraction, coords=lambda p: ("k", "n_bits"))
def hidden_progress_rises(sel: Selection, params: HiddenParams) -> CheckResult:
    """H2: while the test accuracy is still below chance_acc, the relevant-weight measure rises monotonically
    (rank correlation with the step >= min_rank) to >= min_over_chance x its chance level k/n, on
    >= min_seed_fraction of the measured runs."""
    runs = sel.runs
    if params.measure not in runs:
        return sel.inconclusive(f"the curves have no {params.measure} (train.probes needs {{kind: {PROBE}}})",
                                sel.n_runs)
    steps = runs["step"].values
    values, accuracy = runs[params.measure].values, runs["test_acc"].values
    chance = runs["k"].values.astype(float) / runs["n_bits"].values.astype(float)
    holds, parts = [], []
    for r in range(sel.n_runs):
        label = f"seed {int(runs['seed'].values[r])}, n {int(runs['n_bits'].values[r])}"
        window = hidden_window(values[r], accuracy[r], steps, params.chance_acc)
        if len(window) < params.min_points:
            parts.append(f"{label}: {len(window)} probed steps before test acc {params.chance_acc:g}, not measured")
            continue
        rho = rank_correlation(steps[window], values[r][window])
        end = values[r][window[-1]]
        holds.append(bool(rho >= params.min_rank and end >= params.min_over_chance * chance[r]))
        parts.append(f"{label}: rank correlation {rho:.2f} over steps {steps[window[0]]:g}-{steps[window[-1]]:g}, "
                     f"ending at {end:.3g} = {end / chance[r]:.2g}x chance")
    detail = "; ".join(parts) + (f" ({params.measure}; rank correlation >= {params.min_rank:g} and >= "
                                 f"{params.min_over_chance:g}x k/n wanted)") + sel.diverged
    if len(holds) < params.min_seeds:
        return sel.inconclusive(f"{len(holds)} runs measured, fewer than {params.min_seeds}: {detail}", sel.n_runs)
    return sel.result(detail=detail, **seed_share(np.array(holds), params.min_seed_fraction))
