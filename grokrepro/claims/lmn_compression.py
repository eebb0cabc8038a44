"""Liu, Zhong, Tegmark 2023: the linear mapping number (LMN) as a complexity measure through grokking.

M1: LMN falls between t_fit and t_gen, and clearly less in runs that do not generalise.
M2a: per seed, in that window, test loss is linear in LMN (a small residual of a linear fit).
M2b: per seed, that residual is well below the same fit's on the parameter norm.
M3: XOR: after generalisation LMN rises briefly and falls again.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import Field

from grokrepro.claims.kit import Events, Selection, event_times, seed_share, selects_runs
from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult, healthy_runs, select_runs
from grokrepro.metrics import first_step_reaching, measured, measured_at


class Params(Events):
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class DropParams(Params):
    control: dict[str, Any]
    min_drop: float = Field(0.2, gt=0, lt=1)
    max_control_share: float = Field(0.5, gt=0, le=1)
    # Seeds with a valid control (healthy, fits, does not generalise) needed for a verdict.
    min_seeds: int = Field(2, ge=1)


@check("lmn_falls_while_generalising", DropParams)
@selects_runs(threshold=lambda p: p.min_drop, none_match=False)
def lmn_falls_while_generalising(sel: Selection, params: DropParams) -> CheckResult:
    """The linear mapping number falls by a set share between t_fit and t_gen in generalising runs, and by less
    than half as much over the same steps in runs that do not generalise."""
    if "lmn" not in sel.curves:
        return sel.inconclusive("no LMN probe in the curves")
    treated = sel.runs
    control, n_bad_control = healthy_runs(select_runs(sel.curves, params.control))
    if treated.sizes["run"] == 0 or control.sizes["run"] == 0:
        return sel.inconclusive(f"need healthy generalising and control runs "
                                f"({sel.n_diverged + n_bad_control} diverged)")
    t_fit, t_gen = event_times(treated, params)
    drops = {}
    for k, seed in enumerate(treated["seed"].values):
        start, end = measured_at(treated, "lmn", k, t_fit[k]), measured_at(treated, "lmn", k, t_gen[k])
        drops[int(seed)] = (start - end) / start if np.isfinite(t_gen[k]) else np.nan
    window_end = float(np.nanmedian(np.where(np.isfinite(t_gen), t_gen, np.nan))) if np.isfinite(t_gen).any() else np.nan
    control_fit, control_gen = event_times(control, params)
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
        return sel.inconclusive(f"{len(seeds)} seeds with a valid non-generalising control (need "
                                f"{params.min_seeds}), of which {int(np.isfinite(rows[:, 0]).sum())} generalise "
                                f"(drops {drops}, control drops {control_drops}){skipped}", 2 * len(seeds))
    with np.errstate(invalid="ignore"):
        holds = (np.isfinite(rows[:, 0]) & (rows[:, 0] >= params.min_drop)
                 & (rows[:, 1] <= params.max_control_share * rows[:, 0]))
    detail = "; ".join(f"seed {s}: LMN drop {d:.1%} (control {c:.1%})" for s, (d, c) in zip(seeds, rows)) + skipped
    return sel.result(**seed_share(holds, params.min_seed_fraction, per_seed=rows[:, 0]), detail=detail,
                      n_runs=2 * len(seeds))


# What a per-seed fit regresses on, and what it explains: the probe, the parameter norm, or the training step
# (a clock: any steadily changing quantity is linear in it if test loss is).
QUANTITIES = {"lmn": "LMN", "param_norm": "the L2 norm", "step": "the training step"}
RESPONSES = {"test_loss": "test loss", "log_test_loss": "log test loss"}


class LinearFitParams(Params):
    # Probed points in [t_fit, t_gen] a seed needs to count.
    min_points: int = Field(20, ge=3)
    # Seeds with such a window needed for a verdict (fewer: inconclusive, naming the seeds without one).
    min_seeds: int = Field(3, ge=1)
    against: Literal["lmn", "param_norm", "step"] = "lmn"
    response: Literal["test_loss", "log_test_loss"] = "test_loss"


class NrmseParams(LinearFitParams):
    # Residual RMS of the linear fit over the range of the response in the window.
    max_nrmse: float = Field(0.1, gt=0)


class RatioParams(LinearFitParams):
    # The quantity `against` is compared with.
    reference: Literal["lmn", "param_norm", "step"] = "param_norm"
    max_rms_ratio: float = Field(0.5, gt=0)


def _window(curves: xr.Dataset, params: Params) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Per run: the probed points within [t_fit, t_gen] (lmn, param_norm, step, test_loss, log_test_loss), and
    each run's t_gen (inf if it never generalises, when its window is empty)."""
    steps = curves["step"].values
    t_fit, t_gen = event_times(curves, params)
    per_run = []
    for k in range(curves.sizes["run"]):
        lmn = curves["lmn"].values[k]
        inside = np.isfinite(lmn) & (steps >= t_fit[k]) & (steps <= t_gen[k]) & np.isfinite(t_gen[k])
        loss = curves["test_loss"].values[k][inside]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_loss = np.log(loss)
        per_run.append({"lmn": lmn[inside], "param_norm": curves["param_norm"].values[k][inside],
                        "step": steps[inside].astype(float), "test_loss": loss, "log_test_loss": log_loss})
    return per_run, t_gen


def _fit(x: np.ndarray, y: np.ndarray, degree: int = 1) -> tuple[float, float]:
    """Residual RMS of a least-squares polynomial fit of y on x, and its R²."""
    scale = np.ptp(x) or 1.0
    design = np.stack([((x - x.min()) / scale) ** d for d in range(degree + 1)], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coefficients
    total = float(np.sum((y - y.mean()) ** 2))
    return float(np.sqrt(np.mean(residual**2))), (1 - float(residual @ residual) / total) if total > 0 else np.nan


def _seed_windows(runs: xr.Dataset, params: LinearFitParams):
    """The runs' windows: ({seed: points}, {seed: why left out})."""
    windows, t_gen = _window(runs, params)
    kept, left_out = {}, {}
    for seed, points, gen in zip(runs["seed"].values, windows, t_gen):
        finite = np.isfinite(points[params.response]) & np.isfinite(points[params.against])
        points = {name: values[finite] for name, values in points.items()}
        if not np.isfinite(gen):
            left_out[int(seed)] = f"test accuracy never reached {params.gen_acc:g}"
        elif len(points["test_loss"]) < params.min_points:
            left_out[int(seed)] = f"{len(points['test_loss'])} probed points in [t_fit, t_gen] (need {params.min_points})"
        else:
            kept[int(seed)] = points
    return kept, left_out


def _left_out(left_out: dict, n_bad: int) -> str:
    text = "".join(f"; seed {s} left out: {why}" for s, why in sorted(left_out.items()))
    return text + (f"; {n_bad} diverged runs left out" if n_bad else "")


def _share_result(sel: Selection, params, values: dict[int, float], holds: dict[int, bool], summary,
                  per_seed: list[str], left_out: str) -> CheckResult:
    seeds = sorted(values)
    per_seed_values = np.array([values[s] for s in seeds])
    share = seed_share([holds[s] for s in seeds], params.min_seed_fraction, per_seed=per_seed_values,
                       statistic=np.median)
    detail = (summary(share["seed_fraction"], len(seeds), float(np.median(per_seed_values))) + "; "
              + "; ".join(per_seed))
    return sel.result(**share, detail=detail + left_out, n_runs=len(seeds))


def _enough_seed_windows(sel: Selection, params) -> tuple[dict, str] | CheckResult:
    """(each seed's probed points in [t_fit, t_gen], the left-out sentence), or the inconclusive result when
    the curves have no LMN probe or too few seeds with a window: M2a and M2b read the same windows."""
    if "lmn" not in sel.curves:
        return sel.inconclusive("no LMN probe in the curves")
    kept, left_out = _seed_windows(sel.runs, params)
    if len(kept) < params.min_seeds:
        return sel.inconclusive(f"{len(kept)} seeds have >= {params.min_points} probed points in [t_fit, t_gen] "
                                f"(need {params.min_seeds}){_left_out(left_out, sel.n_diverged)}", len(kept))
    return kept, _left_out(left_out, sel.n_diverged)


@check("linear_fit_per_seed", NrmseParams)
@selects_runs(threshold=lambda p: p.max_nrmse, none_match=False)
def linear_fit_per_seed(sel: Selection, params: NrmseParams) -> CheckResult:
    """Per seed, over the probed points in [t_fit, t_gen]: the residual RMS of a linear fit of the response
    (test loss) on `against` (LMN), over the response's range in the window (NRMSE); holds where <= max_nrmse."""
    threshold = sel.threshold
    windows = _enough_seed_windows(sel, params)
    if isinstance(windows, CheckResult):
        return windows
    kept, left_out = windows
    quantity, response = QUANTITIES[params.against], RESPONSES[params.response]
    nrmse, holds, per_seed = {}, {}, []
    for seed, points in sorted(kept.items()):
        x, y = points[params.against], points[params.response]
        rms, r2 = _fit(x, y)
        quadratic, _ = _fit(x, y, degree=2)
        nrmse[seed] = rms / np.ptp(y) if np.ptp(y) > 0 else np.inf
        holds[seed] = bool(nrmse[seed] <= threshold)
        per_seed.append(f"seed {seed}: {len(y)} points, NRMSE {nrmse[seed]:.3f}, R² {r2:.3f}, "
                        f"quadratic/linear RMS {quadratic / rms if rms > 0 else 1:.2f}")

    def summary(share, n, median):
        held = int(round(share * n))
        verb = "leaves" if share >= params.min_seed_fraction else "does not leave"
        return (f"a linear fit of {response} on {quantity} {verb} a residual RMS <= {threshold:g} x the window's "
                f"{response} range on at least {params.min_seed_fraction:.2g} of the seeds: it does on {held} of {n} "
                f"(median {median:.3f})")

    return _share_result(sel, params, nrmse, holds, summary, per_seed, left_out)


@check("more_linear_than_reference", RatioParams)
@selects_runs(threshold=lambda p: p.max_rms_ratio, none_match=False)
def more_linear_than_reference(sel: Selection, params: RatioParams) -> CheckResult:
    """Per seed, over the probed points in [t_fit, t_gen]: the residual RMS of a linear fit of the response on
    `against` (LMN) over that of the same fit on `reference` (the L2 norm); holds where <= max_rms_ratio."""
    threshold = sel.threshold
    windows = _enough_seed_windows(sel, params)
    if isinstance(windows, CheckResult):
        return windows
    kept, left_out = windows
    quantity, reference = QUANTITIES[params.against], QUANTITIES[params.reference]
    response = RESPONSES[params.response]
    ratios, holds, per_seed = {}, {}, []
    for seed, points in sorted(kept.items()):
        y = points[params.response]
        rms, r2 = _fit(points[params.against], y)
        reference_rms, reference_r2 = _fit(points[params.reference], y)
        ratios[seed] = rms / reference_rms if reference_rms > 0 else np.inf
        holds[seed] = bool(ratios[seed] <= threshold)
        per_seed.append(f"seed {seed}: residual RMS ratio {ratios[seed]:.2f} (on {quantity} {rms:.3g}, R² {r2:.3f}; "
                        f"on {reference} {reference_rms:.3g}, R² {reference_r2:.3f})")

    def summary(share, n, median):
        held = int(round(share * n))
        if share >= params.min_seed_fraction:
            return (f"{response} is markedly more linear in {quantity} than in {reference}: the residual of its "
                    f"linear fit is <= {threshold:g} x {reference}'s on {held} of {n} seeds (median ratio {median:.2f})")
        return (f"{reference} is about as linear in {response} as {quantity} here: {quantity}'s linear-fit residual "
                f"is <= {threshold:g} x {reference}'s on only {held} of {n} seeds (median ratio {median:.2f}, need "
                f"at least {params.min_seed_fraction:.2g} of the seeds)")

    return _share_result(sel, params, ratios, holds, summary, per_seed, left_out)


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
@selects_runs(threshold=lambda p: {"min_rise": p.min_rise, "min_fall": p.min_fall}, none_match=False)
def lmn_double_descent_after_generalisation(sel: Selection, params: DoubleDescentParams) -> CheckResult:
    """After t_gen the linear mapping number rises from a trough to a peak and falls again, each by a set share,
    on >= min_seed_fraction of the seeds."""
    if "lmn" not in sel.curves:
        return sel.inconclusive("no LMN probe in the curves")
    runs = sel.runs
    if runs.sizes["run"] == 0:
        return sel.inconclusive(f"no healthy runs match {sel.check.where} ({sel.n_diverged} diverged)")
    t_gen = first_step_reaching(runs["test_acc"].values, runs["step"].values, params.gen_acc)
    shapes = np.array([_rise_and_fall(*measured(runs, "lmn", k), t_gen[k]) for k in range(runs.sizes["run"])])
    holds = (shapes[:, 0] >= params.min_rise) & (shapes[:, 1] >= params.min_fall)
    detail = "; ".join(f"seed {int(s)}: t_gen {g:g}, LMN trough {a:.2f} -> peak {p:.2f} (+{r:.0%}), then -{f:.0%}"
                       for s, g, (r, f, a, p) in zip(runs["seed"].values, t_gen, shapes))
    detail += " (the paper reads turning-point values of 15 and 20)"
    return sel.result(**seed_share(holds, params.min_seed_fraction), detail=detail + sel.diverged)
