"""Liu, Zhong, Tegmark 2023: the linear mapping number (LMN) as a complexity measure through grokking.

M1: LMN falls between t_fit and t_gen, and clearly less in runs that do not generalise.
M2: in that window, test loss is more linear in LMN than in the parameter norm.
M3: XOR: after generalisation LMN rises briefly and falls again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult, healthy_runs, inconclusive, judged, select_runs
from grokrepro.metrics import bootstrap, first_step_reaching, interval


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fit_acc: float = Field(0.99, gt=0, le=1)
    gen_acc: float = Field(0.95, gt=0, le=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class DropParams(Params):
    control: dict[str, Any]
    min_drop: float = Field(0.2, gt=0, lt=1)
    max_control_share: float = Field(0.5, gt=0, le=1)


def probed(curves: xr.Dataset, name: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of a probe for run k, where it was measured."""
    values = curves[name].values[k]
    keep = np.isfinite(values)
    return curves["step"].values[keep], values[keep]


def probe_at(curves: xr.Dataset, name: str, k: int, step: float) -> float:
    steps, values = probed(curves, name, k)
    if not np.isfinite(step) or len(steps) == 0 or step > steps[-1]:
        return np.nan
    return float(np.interp(step, steps, values))


@check("lmn_falls_while_generalising", DropParams)
def lmn_falls_while_generalising(curves: xr.Dataset, spec_check, params: DropParams) -> CheckResult:
    threshold = params.min_drop
    if "lmn" not in curves:
        return inconclusive(spec_check, threshold, "no LMN probe in the curves")
    treated, n_bad = healthy_runs(select_runs(curves, spec_check.where))
    control, n_bad_control = healthy_runs(select_runs(curves, params.control))
    if treated.sizes["run"] == 0 or control.sizes["run"] == 0:
        return inconclusive(spec_check, threshold, f"need healthy generalising and control runs "
                            f"({n_bad + n_bad_control} diverged)")
    steps = curves["step"].values
    t_fit = first_step_reaching(treated["train_acc"].values, steps, params.fit_acc)
    t_gen = first_step_reaching(treated["test_acc"].values, steps, params.gen_acc)
    drops = {}
    for k, seed in enumerate(treated["seed"].values):
        start, end = probe_at(treated, "lmn", k, t_fit[k]), probe_at(treated, "lmn", k, t_gen[k])
        drops[int(seed)] = (start - end) / start if np.isfinite(t_gen[k]) else np.nan
    window_end = float(np.nanmedian(np.where(np.isfinite(t_gen), t_gen, np.nan))) if np.isfinite(t_gen).any() else np.nan
    control_fit = first_step_reaching(control["train_acc"].values, steps, params.fit_acc)
    control_gen = first_step_reaching(control["test_acc"].values, steps, params.gen_acc)
    control_drops = {}
    for k, seed in enumerate(control["seed"].values):
        start, end = probe_at(control, "lmn", k, control_fit[k]), probe_at(control, "lmn", k, window_end)
        # A control that generalises within the budget is no negative control.
        control_drops[int(seed)] = (start - end) / start if not np.isfinite(control_gen[k]) else np.nan
    seeds = sorted(set(drops) & set(control_drops))
    rows = np.array([[drops[s], control_drops[s]] for s in seeds]) if seeds else np.empty((0, 2))
    valid = ~np.isnan(rows).any(axis=1) if len(rows) else np.array([], dtype=bool)
    if not valid.any():
        return inconclusive(spec_check, threshold, f"no seed with a generalising run and a non-generalising "
                            f"control (drops {drops}, control drops {control_drops})", len(seeds))
    holds = valid & (rows[:, 0] >= params.min_drop) & (rows[:, 1] <= params.max_control_share * rows[:, 0])
    share = float(holds.mean())
    draws = bootstrap(rows[:, 0], np.nanmedian)
    support = bootstrap(holds.astype(float), np.mean)
    detail = "; ".join(f"seed {s}: LMN drop {d:.1%} (control {c:.1%})" for s, (d, c) in zip(seeds, rows))
    return judged(CheckResult(
        spec_check.name, spec_check.statement, float(np.nanmedian(rows[:, 0])), threshold,
        share >= params.min_seed_fraction, "", interval=list(interval(draws)), seed_fraction=share,
        support=float((support >= params.min_seed_fraction).mean()), n_runs=2 * len(seeds), detail=detail,
        where=dict(spec_check.where)))
