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
from grokrepro.metrics import bootstrap, first_step_reaching, interval, measured, measured_at


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fit_acc: float = Field(0.99, gt=0, le=1)
    gen_acc: float = Field(0.95, gt=0, le=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class DropParams(Params):
    control: dict[str, Any]
    min_drop: float = Field(0.2, gt=0, lt=1)
    max_control_share: float = Field(0.5, gt=0, le=1)
    # Seeds with a valid control (healthy, fits, does not generalise) needed for a verdict.
    min_seeds: int = Field(2, ge=1)


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
        start, end = measured_at(treated, "lmn", k, t_fit[k]), measured_at(treated, "lmn", k, t_gen[k])
        drops[int(seed)] = (start - end) / start if np.isfinite(t_gen[k]) else np.nan
    window_end = float(np.nanmedian(np.where(np.isfinite(t_gen), t_gen, np.nan))) if np.isfinite(t_gen).any() else np.nan
    control_fit = first_step_reaching(control["train_acc"].values, steps, params.fit_acc)
    control_gen = first_step_reaching(control["test_acc"].values, steps, params.gen_acc)
    control_drops, left_out = {}, {}
    for k, seed in enumerate(control["seed"].values):
        start, end = measured_at(control, "lmn", k, control_fit[k]), measured_at(control, "lmn", k, window_end)
        control_drops[int(seed)] = (start - end) / start
        # A control that generalises within the budget is no negative control.
        if np.isfinite(control_gen[k]):
            left_out[int(seed)] = f"its control generalised at step {control_gen[k]:g}"
        elif not np.isfinite(control_drops[int(seed)]):
            left_out[int(seed)] = "its control never fit or has no LMN over the window"
    for seed in set(drops) - set(control_drops):
        left_out[seed] = "no healthy control run (missing or diverged)"
    for seed in set(control_drops) - set(drops):
        left_out[seed] = "no healthy generalising-configuration run (missing or diverged)"
    # Seeds without a valid control are unknown, not failures: they are left out of the share.
    seeds = sorted(s for s in drops if s not in left_out)
    skipped = "".join(f"; seed {s} left out: {why}" for s, why in sorted(left_out.items()))
    rows = np.array([[drops[s], control_drops[s]] for s in seeds]) if seeds else np.empty((0, 2))
    if len(seeds) < params.min_seeds or not np.isfinite(rows[:, 0]).any():
        return inconclusive(spec_check, threshold, f"{len(seeds)} seeds with a valid non-generalising control "
                            f"(need {params.min_seeds}), of which {int(np.isfinite(rows[:, 0]).sum())} generalise "
                            f"(drops {drops}, control drops {control_drops}){skipped}", 2 * len(seeds))
    with np.errstate(invalid="ignore"):
        holds = (np.isfinite(rows[:, 0]) & (rows[:, 0] >= params.min_drop)
                 & (rows[:, 1] <= params.max_control_share * rows[:, 0]))
    share = float(holds.mean())
    draws = bootstrap(rows[:, 0], np.nanmedian)
    support = bootstrap(holds.astype(float), np.mean)
    detail = "; ".join(f"seed {s}: LMN drop {d:.1%} (control {c:.1%})" for s, (d, c) in zip(seeds, rows)) + skipped
    return judged(CheckResult(
        spec_check.name, spec_check.statement, float(np.nanmedian(rows[:, 0])), threshold,
        share >= params.min_seed_fraction, "", interval=list(interval(draws)), seed_fraction=share,
        support=float((support >= params.min_seed_fraction).mean()), n_runs=2 * len(seeds), detail=detail,
        where=dict(spec_check.where)))


class LinearityParams(Params):
    min_points: int = Field(20, ge=3)
    min_seeds: int = Field(3, ge=1)
    max_rms_ratio: float = Field(0.5, gt=0)
    # |t| of the quadratic coefficient below which it counts as not significant (≈ 95 % two-sided)
    max_quadratic_t: float = Field(2.0, gt=0)


def _window_points(curves: xr.Dataset, params: Params) -> list[np.ndarray]:
    """Per run: rows (lmn, param_norm, test_loss) at probed steps within [t_fit, t_gen]."""
    steps = curves["step"].values
    t_fit = first_step_reaching(curves["train_acc"].values, steps, params.fit_acc)
    t_gen = first_step_reaching(curves["test_acc"].values, steps, params.gen_acc)
    per_run = []
    for k in range(curves.sizes["run"]):
        lmn = curves["lmn"].values[k]
        inside = np.isfinite(lmn) & (steps >= t_fit[k]) & (steps <= t_gen[k]) & np.isfinite(t_gen[k])
        per_run.append(np.stack([lmn[inside], curves["param_norm"].values[k][inside],
                                 curves["test_loss"].values[k][inside]], axis=1))
    return per_run


def _residual_rms(x: np.ndarray, y: np.ndarray) -> float:
    design = np.stack([np.ones_like(x), x], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.sqrt(np.mean((y - design @ coefficients) ** 2)))


def _quadratic_t(x: np.ndarray, y: np.ndarray) -> float:
    design = np.stack([np.ones_like(x), x, x**2], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coefficients
    dof = max(1, len(y) - 3)
    covariance = np.linalg.pinv(design.T @ design) * (residual @ residual) / dof
    return float(coefficients[2] / np.sqrt(covariance[2, 2])) if covariance[2, 2] > 0 else np.inf


def _rms_ratio(rows: np.ndarray) -> float:
    norm_rms = _residual_rms(rows[:, 1], rows[:, 2])
    return _residual_rms(rows[:, 0], rows[:, 2]) / norm_rms if norm_rms > 0 else np.inf


@check("lmn_linear_in_test_loss", LinearityParams)
def lmn_linear_in_test_loss(curves: xr.Dataset, spec_check, params: LinearityParams) -> CheckResult:
    threshold = params.max_rms_ratio
    if "lmn" not in curves:
        return inconclusive(spec_check, threshold, "no LMN probe in the curves")
    runs, n_bad = healthy_runs(select_runs(curves, spec_check.where))
    per_run = [rows for rows in _window_points(runs, params) if len(rows) >= 3]
    pooled = np.concatenate(per_run) if per_run else np.empty((0, 3))
    if len(per_run) < params.min_seeds or len(pooled) < params.min_points:
        return inconclusive(spec_check, threshold, f"{len(pooled)} points from {len(per_run)} runs in "
                            f"[t_fit, t_gen]; need {params.min_points} from {params.min_seeds}", len(per_run))
    ratio = _rms_ratio(pooled)
    t_quadratic = _quadratic_t(pooled[:, 0], pooled[:, 2])
    holds = ratio <= threshold and abs(t_quadratic) < params.max_quadratic_t
    seed_rows = np.empty(len(per_run), dtype=object)
    seed_rows[:] = per_run

    def resampled(pick):
        return np.concatenate(list(pick))

    draws = bootstrap(seed_rows, lambda pick: _rms_ratio(resampled(pick)))
    support = bootstrap(seed_rows, lambda pick: float(
        _rms_ratio(resampled(pick)) <= threshold
        and abs(_quadratic_t(resampled(pick)[:, 0], resampled(pick)[:, 2])) < params.max_quadratic_t))
    per_seed = np.mean([_rms_ratio(rows) <= threshold and abs(_quadratic_t(rows[:, 0], rows[:, 2]))
                        < params.max_quadratic_t for rows in per_run])
    detail = (f"{len(pooled)} points from {len(per_run)} runs; residual RMS of test loss: on LMN "
              f"{_residual_rms(pooled[:, 0], pooled[:, 2]):.4g}, on L2 norm {_residual_rms(pooled[:, 1], pooled[:, 2]):.4g}; "
              f"quadratic term of LMN t = {t_quadratic:.2f} (not significant if |t| < {params.max_quadratic_t})")
    return judged(CheckResult(
        spec_check.name, spec_check.statement, ratio, threshold, bool(holds), "", interval=list(interval(draws)),
        seed_fraction=float(per_seed), support=float(support.mean()), n_runs=len(per_run),
        detail=detail + (f"; {n_bad} diverged runs left out" if n_bad else ""), where=dict(spec_check.where)))


class DoubleDescentParams(Params):
    min_rise: float = Field(0.1, gt=0)
    min_fall: float = Field(0.1, gt=0)


def _rise_and_fall(steps: np.ndarray, lmn: np.ndarray, t_gen: float) -> tuple[float, float, float, float]:
    """After t_gen, the turning point that best shows a rise then a fall: for each candidate peak, the rise
    from the lowest LMN before it and the fall to the lowest LMN after it; the peak maximising the smaller
    of the two. Returns (rise, fall, trough value, peak value)."""
    values = lmn[steps >= t_gen]
    if not np.isfinite(t_gen) or len(values) < 3:
        return np.nan, np.nan, np.nan, np.nan
    trough_before = np.minimum.accumulate(values)
    low_after = np.minimum.accumulate(values[::-1])[::-1]
    rise = values / trough_before - 1
    fall = 1 - low_after / values
    best = int(np.argmax(np.minimum(rise, fall)))
    return float(rise[best]), float(fall[best]), float(trough_before[best]), float(values[best])


@check("lmn_double_descent_after_generalisation", DoubleDescentParams)
def lmn_double_descent_after_generalisation(curves: xr.Dataset, spec_check, params: DoubleDescentParams) -> CheckResult:
    threshold = {"min_rise": params.min_rise, "min_fall": params.min_fall}
    if "lmn" not in curves:
        return inconclusive(spec_check, threshold, "no LMN probe in the curves")
    runs, n_bad = healthy_runs(select_runs(curves, spec_check.where))
    if runs.sizes["run"] == 0:
        return inconclusive(spec_check, threshold, f"no healthy runs match {spec_check.where}")
    t_gen = first_step_reaching(runs["test_acc"].values, runs["step"].values, params.gen_acc)
    shapes = np.array([_rise_and_fall(*measured(runs, "lmn", k), t_gen[k]) for k in range(runs.sizes["run"])])
    holds = (shapes[:, 0] >= params.min_rise) & (shapes[:, 1] >= params.min_fall)
    share = float(holds.mean())
    draws = bootstrap(holds.astype(float), np.mean)
    detail = "; ".join(f"seed {int(s)}: t_gen {g:g}, LMN trough {a:.2f} -> peak {p:.2f} (+{r:.0%}), then -{f:.0%}"
                       for s, g, (r, f, a, p) in zip(runs["seed"].values, t_gen, shapes))
    detail += " (the paper reads turning-point values of 15 and 20)"
    return judged(CheckResult(
        spec_check.name, spec_check.statement, share, threshold, share >= params.min_seed_fraction, "",
        interval=list(interval(draws)), seed_fraction=share,
        support=float((draws >= params.min_seed_fraction).mean()), n_runs=int(runs.sizes["run"]),
        detail=detail + (f"; {n_bad} diverged runs left out" if n_bad else ""), where=dict(spec_check.where)))
