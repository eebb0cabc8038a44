"""Varma et al. 2023, semi-grokking: near the critical dataset size a network can fit its training set and
then sit for a long time at an intermediate test accuracy, with its parameter norm flat (their Fig. 6). A slow
climb through the middle values is ordinary grokking, not a plateau (S1).

The paper shows one such run (cherry-picked, from a search of 200) and gives no rate, so finding none in a
small search refutes nothing: S1 fails only when enough informative runs near the from-scratch boundary show
none to exclude a rate of `excluded_rate` at `confidence` (29 runs for 10 % at 95 %: 0.9^29 < 0.05)."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import xarray as xr
from pydantic import Field

from grokrepro.claims.kit import CheckParams, Selection, selects_runs
from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult
from grokrepro.metrics import first_step_reaching


class PlateauParams(CheckParams):
    fit_acc: float = Field(0.99, gt=0, le=1)
    low_acc: float = Field(0.2, ge=0, le=1)
    high_acc: float = Field(0.9, gt=0, le=1)
    max_acc_range: float = Field(0.15, gt=0)
    # Test accuracy is read through a running median over this many logged points, so that a logged spike
    # (which the paper reports in semi-grokking runs) does not break a plateau.
    median_window: int = Field(3, ge=1)
    max_norm_change: float = Field(0.05, gt=0)  # relative range of the parameter norm over the stretch
    min_fit_multiple: float = Field(3.0, gt=0)  # the stretch lasts >= max(this × t_fit, start_fraction × start)
    min_start_fraction: float = Field(0.5, gt=0)
    # The search: runs at sizes within [boundary / near_factor, boundary × near_factor] of the from-scratch
    # grokking boundary; None: every selected run counts as near it.
    size_axis: str = "train_size"
    boundary_size: Optional[float] = Field(None, gt=0)
    near_factor: float = Field(1.33, gt=1)
    # A run is informative if it fit, left chance (running median > low_acc) and then either reached high_acc
    # or was watched for >= this multiple of the step at which it left chance.
    observed_multiple: float = Field(1.5, ge=1)
    # `fail` needs enough informative runs without a plateau to exclude this rate at this confidence.
    excluded_rate: float = Field(0.10, gt=0, lt=1)
    confidence: float = Field(0.95, gt=0, lt=1)
    # The paper's Fig. 6 plateau starts at ~0.8e7 epochs at lr 1e-3, wd 1: about 8,000 units of 1/(lr wd).
    paper_onset_units: float = Field(8000.0, gt=0)


def runs_needed(excluded_rate: float, confidence: float) -> int:
    """Runs that must all lack a plateau to exclude a rate >= excluded_rate: (1 - rate)^n <= 1 - confidence."""
    return int(math.ceil(math.log(1 - confidence) / math.log(1 - excluded_rate) - 1e-12))


def running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median over `window` consecutive logged points centred on each (fewer at the ends); NaN stays NaN."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, np.nan)
    finite = np.nonzero(np.isfinite(values))[0]
    half = window // 2
    for pos, i in enumerate(finite):
        out[i] = np.median(values[finite[max(0, pos - half): pos + half + 1]])
    return out


def _relative_range(values: np.ndarray) -> float:
    low, high = np.min(np.abs(values)), np.max(np.abs(values))
    return float(high / low - 1) if low > 0 else float("inf")


def best_plateau(steps, test_acc, param_norm, t_fit, params: PlateauParams) -> tuple[float, tuple]:
    """The longest plateau after t_fit relative to the length it needs: (length / needed, (start, end)).
    A ratio >= 1 is a semi-grokking plateau. `test_acc` is the (smoothed) accuracy the band is read on.
    Stretches are runs of consecutive logged steps."""
    best, where = 0.0, (np.nan, np.nan)
    after = np.nonzero((steps >= t_fit) & np.isfinite(test_acc))[0]
    for i_pos, i in enumerate(after):
        for j in after[i_pos + 1:]:
            acc = test_acc[i : j + 1]
            if acc.min() < params.low_acc or acc.max() > params.high_acc or acc.max() - acc.min() > params.max_acc_range:
                break  # a longer stretch from i only widens these ranges
            if _relative_range(param_norm[i : j + 1]) > params.max_norm_change:
                break  # the range only grows as the stretch lengthens
            needed = max(params.min_fit_multiple * t_fit, params.min_start_fraction * steps[i])
            ratio = (steps[j] - steps[i]) / needed if needed > 0 else np.inf
            if ratio > best:
                best, where = ratio, (float(steps[i]), float(steps[j]))
    return best, where


def informative(steps, smoothed_acc, t_fit, params: PlateauParams) -> bool:
    """Whether a run without a plateau says something: it fit, left chance, and was then followed to the top
    of the band or for `observed_multiple` × the step at which it left chance."""
    if not np.isfinite(t_fit):
        return False
    finite = np.isfinite(smoothed_acc)
    left = np.nonzero(finite & (smoothed_acc > params.low_acc))[0]
    if left.size == 0:
        return False
    t_left = steps[left[0]]
    last = steps[np.nonzero(finite)[0][-1]]
    return bool(np.nanmax(smoothed_acc[left[0]:]) >= params.high_acc or last >= params.observed_multiple * t_left)


def _units(runs: xr.Dataset) -> list[float]:
    """Each run's budget in units of 1/(lr × weight decay) (inf without weight decay)."""
    if "lr" not in runs.coords or "weight_decay" not in runs.coords:
        return [float("nan")]
    scale = runs["lr"].values * runs["weight_decay"].values
    return sorted({float(b * s) if s > 0 else float("inf") for b, s in zip(runs["budget_steps"].values, scale)})


@check("semi_grokking_plateau", PlateauParams)
@selects_runs(threshold=lambda p: 1.0, none_match=False)  # a plateau of at least the length it needs
def semi_grokking_plateau(sel: Selection, params: PlateauParams) -> CheckResult:
    """Some run near the critical size fits and then holds a middling test accuracy with a flat norm for long (semi-
    grokking). Some run near the boundary fits and then holds a middling test accuracy (running median) with a
    flat norm for >= max(min_fit_multiple × t_fit, min_start_fraction × its start); without one, fail only if
    enough informative runs searched to exclude excluded_rate at confidence, else inconclusive."""
    runs, threshold = sel.runs, sel.threshold
    outside = 0
    if params.boundary_size is not None and runs.sizes["run"]:
        sizes = runs[params.size_axis].values.astype(float)
        near = (sizes >= params.boundary_size / params.near_factor) & (sizes <= params.boundary_size * params.near_factor)
        outside = int((~near).sum())
        runs = runs.isel(run=np.nonzero(near)[0])
    if runs.sizes["run"] == 0:
        return sel.inconclusive(f"no healthy runs near the boundary ({sel.n_diverged} diverged, {outside} outside "
                                f"{params.near_factor:g}x of {params.size_axis} {params.boundary_size})")
    steps = runs["step"].values
    t_fit = first_step_reaching(runs["train_acc"].values, steps, params.fit_acc)
    smoothed = np.array([running_median(row, params.median_window) for row in runs["test_acc"].values])
    found, told = [], []
    for k in range(runs.sizes["run"]):
        told.append(informative(steps, smoothed[k], t_fit[k], params))
        if not np.isfinite(t_fit[k]):
            found.append((0.0, (np.nan, np.nan)))
            continue
        found.append(best_plateau(steps, smoothed[k], runs["param_norm"].values[k], t_fit[k], params))
    ratios = np.array([f[0] for f in found])
    told = np.array(told)
    best = int(np.argmax(ratios))
    coords = {name: runs[name].values for name in runs.coords if runs[name].dims == ("run",)
              and name not in ("run", "config", "group", "budget_steps", "split_seed")
              and not name.startswith("training_")}

    def describe(k):
        setting = ", ".join(f"{n} {v[k]}" for n, v in coords.items())
        final = runs["test_acc"].values[k][np.isfinite(runs["test_acc"].values[k])]
        return f"{setting}: t_fit {t_fit[k]:g}, final test acc {final[-1] if final.size else np.nan:.3f}, " \
               f"best plateau {found[k][1][0]:g}-{found[k][1][1]:g} ({ratios[k]:.2f} of the length needed)" \
               f"{'' if told[k] else ', not informative'}"

    searched = ", ".join(f"{name} {sorted(set(np.asarray(values).tolist()))}" for name, values in coords.items()
                         if len(set(np.asarray(values).tolist())) > 1)
    budgets = sorted(set(runs["budget_steps"].values.tolist()))
    units = ", ".join(f"{u:.3g}" for u in _units(runs))
    never_fit = int((~np.isfinite(t_fit)).sum())
    n_informative, needed = int(told.sum()), runs_needed(params.excluded_rate, params.confidence)
    plateaus = int((ratios >= threshold).sum())
    passed = bool(ratios[best] >= threshold)
    # An existence check over all runs: no seed resampling can create a plateau that no run shows, so the support
    # is all or nothing (1: pass; 0: fail; None, inconclusive: a search too small to refute it).
    if passed:
        support = 1.0
        summary = f"{plateaus} of {len(ratios)} runs near the boundary plateau at a middling test accuracy"
    elif n_informative >= needed:
        support = 0.0
        summary = (f"None of {len(ratios)} runs near the boundary plateaus, and {n_informative} of them are "
                   f"informative, at least the {needed} that exclude a semi-grokking rate of "
                   f"{params.excluded_rate:.0%} at {params.confidence:.0%} confidence")
    else:
        # An existence claim the paper shows once: a small search that finds nothing cannot refute it.
        support = None
        summary = (f"None of {len(ratios)} runs near the boundary plateaus, but only {n_informative} are "
                   f"informative (fit, left chance, then reached {params.high_acc:g} or were watched "
                   f"{params.observed_multiple:g}x as long) where {needed} are needed to exclude a semi-grokking "
                   f"rate of {params.excluded_rate:.0%} at {params.confidence:.0%} confidence, and the budget of "
                   f"{units} units of 1/(lr wd) is far short of the paper's plateau onset at about "
                   f"{params.paper_onset_units:,.0f} units")
    detail = (f"{summary}; searched {len(ratios)} runs ({searched}; budget {budgets} steps = {units} units of "
              f"1/(lr wd); {never_fit} never fit the training set; {outside} outside the near-boundary window "
              f"left out; test accuracy read through a {params.median_window}-point running median); best runs: "
              + "; ".join(describe(k) for k in np.argsort(-ratios)[:5]))
    return sel.result(float(ratios[best]), passed, detail, seed_fraction=float((ratios >= threshold).mean()),
                      support=support, n_runs=runs.sizes["run"])
