"""Varma et al. 2023, semi-grokking: near the critical dataset size a network can fit its training set and
then sit for a long time at an intermediate test accuracy, with its parameter norm and train loss flat
(their Fig. 6). A slow climb through the middle values is ordinary grokking, not a plateau (S1)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from grokrepro.claims.registry import check
from grokrepro.claims.verdict import FAIL, PASS, CheckResult, healthy_runs, inconclusive, select_runs
from grokrepro.metrics import first_step_reaching


class PlateauParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fit_acc: float = Field(0.99, gt=0, le=1)
    low_acc: float = Field(0.2, ge=0, le=1)
    high_acc: float = Field(0.9, gt=0, le=1)
    max_acc_range: float = Field(0.15, gt=0)
    max_relative_change: float = Field(0.05, gt=0)  # of parameter norm and of train loss over the stretch
    min_fit_multiple: float = Field(3.0, gt=0)  # the stretch lasts >= max(this × t_fit, start_fraction × start)
    min_start_fraction: float = Field(0.5, gt=0)


def _relative_range(values: np.ndarray) -> float:
    low, high = np.min(np.abs(values)), np.max(np.abs(values))
    return float(high / low - 1) if low > 0 else float("inf")


def best_plateau(steps, test_acc, param_norm, train_loss, t_fit, params: PlateauParams) -> tuple[float, tuple]:
    """The longest plateau after t_fit relative to the length it needs: (length / needed, (start, end)).
    A ratio >= 1 is a semi-grokking plateau. Stretches are runs of consecutive logged steps."""
    best, where = 0.0, (np.nan, np.nan)
    after = np.nonzero((steps >= t_fit) & np.isfinite(test_acc))[0]
    for i_pos, i in enumerate(after):
        for j in after[i_pos + 1:]:
            acc = test_acc[i : j + 1]
            if acc.min() < params.low_acc or acc.max() > params.high_acc or acc.max() - acc.min() > params.max_acc_range:
                break  # a longer stretch from i only widens these ranges
            if (_relative_range(param_norm[i : j + 1]) > params.max_relative_change
                    or _relative_range(train_loss[i : j + 1]) > params.max_relative_change):
                break  # ranges only grow as the stretch lengthens
            needed = max(params.min_fit_multiple * t_fit, params.min_start_fraction * steps[i])
            ratio = (steps[j] - steps[i]) / needed if needed > 0 else np.inf
            if ratio > best:
                best, where = ratio, (float(steps[i]), float(steps[j]))
    return best, where


@check("semi_grokking_plateau", PlateauParams)
def semi_grokking_plateau(curves: xr.Dataset, spec_check, params: PlateauParams) -> CheckResult:
    runs, n_diverged = healthy_runs(select_runs(curves, spec_check.where))
    threshold = 1.0
    if runs.sizes["run"] == 0:
        return inconclusive(spec_check, threshold, f"no healthy runs ({n_diverged} diverged)")
    steps = runs["step"].values
    t_fit = first_step_reaching(runs["train_acc"].values, steps, params.fit_acc)
    found = []
    for k in range(runs.sizes["run"]):
        if not np.isfinite(t_fit[k]):
            found.append((0.0, (np.nan, np.nan)))
            continue
        found.append(best_plateau(steps, runs["test_acc"].values[k], runs["param_norm"].values[k],
                                  runs["train_loss"].values[k], t_fit[k], params))
    ratios = np.array([f[0] for f in found])
    best = int(np.argmax(ratios))
    coords = {name: runs[name].values for name in runs.coords if runs[name].dims == ("run",)
              and name not in ("run", "config", "group", "budget_steps", "split_seed")
              and not name.startswith("training_")}

    def describe(k):
        setting = ", ".join(f"{n} {v[k]}" for n, v in coords.items())
        final = runs["test_acc"].values[k][np.isfinite(runs["test_acc"].values[k])]
        return f"{setting}: t_fit {t_fit[k]:g}, final test acc {final[-1] if final.size else np.nan:.3f}, " \
               f"best plateau {found[k][1][0]:g}-{found[k][1][1]:g} ({ratios[k]:.2f} of the length needed)"

    searched = ", ".join(f"{name} {sorted(set(np.asarray(values).tolist()))}" for name, values in coords.items()
                         if len(set(np.asarray(values).tolist())) > 1)
    budgets = sorted(set(runs["budget_steps"].values.tolist()))
    never_fit = int((~np.isfinite(t_fit)).sum())
    detail = "; ".join(describe(k) for k in np.argsort(-ratios)[:5])
    detail = (f"Searched {len(ratios)} runs ({searched}; budget {budgets} steps; {never_fit} never fit the "
              f"training set). {int((ratios >= 1).sum())} have a plateau. Best runs: {detail}")
    passed = bool(ratios[best] >= threshold)
    # An existence check over all runs: no seed resampling can create a plateau that no run shows.
    return CheckResult(spec_check.name, spec_check.statement, float(ratios[best]), threshold, passed,
                       PASS if passed else FAIL, seed_fraction=float((ratios >= 1).mean()),
                       support=1.0 if passed else 0.0, n_runs=int(runs.sizes["run"]), detail=detail,
                       where=dict(spec_check.where))
