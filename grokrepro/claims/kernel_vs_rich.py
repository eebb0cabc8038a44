"""Mohamadi et al. 2024, why networks grok modular addition: in the kernel regime a network needs a constant
fraction of the data, while a two-layer quadratic network that leaves it generalises from far fewer samples
(K1); the empirical NTK barely moves until the training set is fit, then changes sharply (K2); a smaller
initialisation shrinks the gap between fitting and generalising (K3).

K2 reads the eNTK scale-free (kernel methods with K and cK are the same predictor class, and this 3-homogeneous
net's raw kernel grows as ‖θ‖⁴), in the unit D_ref = the distance between two independent inits' kernels on the
same points (the `ntk_drift` probe's `ntk_drift_ref`): "negligible before the fit" is D(t_fit) < D_ref, "most
feature learning happens only later" is max D over [t_fit, t_gen] >= 2·D(t_fit), and the run must generalise.

Times: on classification `t_fit` = first step with train accuracy >= `fit_train_acc` and `t_gen` = first step
with test accuracy >= `gen_test_acc`; on the regression task (triples) train and test loss are read relative
to the zero predictor's (`zero_train_loss`, `zero_test_loss` in the curves): `t_fit` = first step with train
loss <= `fit_loss_ratio` of it, `t_gen` = first step with test loss <= `gen_loss_ratio` of it. Never reached:
+inf (censored at the budget, ranked later than any observed time)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from pydantic import Field

from grokrepro.claims.kit import CheckParams, Selection, seed_share, selects_runs
from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult, seed_table
from grokrepro.metrics import bootstrap, first_step_reaching, measured
from grokrepro.metrics.sizes import final_values


# Named apart from kit.Events' fit_acc/gen_acc: on the regression task the times are read from losses instead.
class TimeParams(CheckParams):
    fit_train_acc: float = Field(0.99, gt=0, le=1)
    gen_test_acc: float = Field(0.95, gt=0, le=1)
    fit_loss_ratio: float = Field(0.01, gt=0)
    gen_loss_ratio: float = Field(0.25, gt=0)


class RichBeatsKernelParams(TimeParams):
    axis: str = "prime"
    min_values: int = Field(3, ge=1)
    rich_max_loss_ratio: float = Field(0.25, gt=0)
    kernel_min_loss_ratio: float = Field(0.5, gt=0)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class DriftParams(TimeParams):
    # (a) D(t_fit) < max_fit_to_reference x D_ref, the distance between two independent inits' kernels
    max_fit_to_reference: float = Field(1.0, gt=0)
    # (b) max D over [t_fit, t_gen] >= min_growth_after x D(t_fit): at least half the move comes after the fit
    min_growth_after: float = Field(2.0, gt=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class InitGapParams(TimeParams):
    axis: str = "init_scale"
    min_values: int = Field(3, ge=2)
    # median gap at the smallest init scale <= max_ratio x that at the largest, medians never rising as it shrinks
    max_ratio: float = Field(0.5, gt=0)


def is_regression(curves: xr.Dataset) -> bool:
    return "train_acc" not in curves


def event_times(runs: xr.Dataset, params: TimeParams) -> tuple[np.ndarray, np.ndarray]:
    steps = runs["step"].values
    if is_regression(runs):
        train = runs["train_loss"].values / runs["zero_train_loss"].values
        test = runs["test_loss"].values / runs["zero_test_loss"].values
        return (first_step_reaching(-train, steps, -params.fit_loss_ratio),
                first_step_reaching(-test, steps, -params.gen_loss_ratio))
    return (first_step_reaching(runs["train_acc"].values, steps, params.fit_train_acc),
            first_step_reaching(runs["test_acc"].values, steps, params.gen_test_acc))


def first_measured(values: np.ndarray) -> np.ndarray:
    """Each run's first logged (finite) value: a probe taken at the start, e.g. kernel regression at θ₀."""
    return final_values(np.asarray(values, dtype=float)[:, ::-1])


def _zero_test_loss(runs: xr.Dataset) -> np.ndarray:
    if is_regression(runs):
        return first_measured(runs["zero_test_loss"].values)
    # one-hot targets: the zero predictor's squared error, averaged over the p outputs, is 1/p
    return 1.0 / runs["prime"].values.astype(float)


def _format(x: float) -> str:
    return "never" if not np.isfinite(x) else f"{x:.0f}"


@check("rich_beats_kernel", RichBeatsKernelParams)
@selects_runs(threshold=lambda p: p.min_seed_fraction, none_match=False)
def rich_beats_kernel(sel: Selection, params: RichBeatsKernelParams) -> CheckResult:
    """The rich network generalises where kernel regression at its initial eNTK does not, on every prime tried. On >=
    min_values primes, on >= min_seed_fraction of the seeds (the worst prime counts): the rich network
    generalises and kernel regression at the initial eNTK does not: its l2 test loss is >= kernel_min_loss_ratio
    of the zero predictor's (Theorem 4.3's quantity) on both tasks, and the network's final test loss is <=
    rich_max_loss_ratio of it (regression) or its final test accuracy >= gen_test_acc (classification; the
    kernel's accuracy reported beside it)."""
    runs, threshold = sel.runs, sel.threshold
    if runs.sizes["run"] == 0 or "kernel_test_loss" not in runs:
        return sel.inconclusive(f"no healthy runs with a kernel_regression probe match {sel.check.where} "
                                f"({sel.n_diverged} diverged)")
    zero = _zero_test_loss(runs)
    kernel_ratio = first_measured(runs["kernel_test_loss"].values) / zero
    if is_regression(runs):
        rich_ratio = final_values(runs["test_loss"].values) / zero
        holds = (rich_ratio <= params.rich_max_loss_ratio) & (kernel_ratio >= params.kernel_min_loss_ratio)
        shown = [f"test loss {r:.3f}, kernel {k:.3f} of the zero predictor's" for r, k in zip(rich_ratio, kernel_ratio)]
    else:
        rich_acc = final_values(runs["test_acc"].values)
        kernel_acc = first_measured(runs["kernel_test_acc"].values) if "kernel_test_acc" in runs else \
            np.full(len(zero), np.nan)
        holds = (rich_acc >= params.gen_test_acc) & (kernel_ratio >= params.kernel_min_loss_ratio)
        shown = [f"test acc {r:.3f} (kernel: acc {a:.3f}, l2 loss {k:.2f}x the zero predictor's)"
                 for r, a, k in zip(rich_acc, kernel_acc, kernel_ratio)]
    values, seeds, table = seed_table(runs, params.axis, holds.astype(float))
    if len(values) < params.min_values or np.isnan(table).any():
        return sel.inconclusive(f"{len(values)} values of {params.axis} with every seed (needs {params.min_values}; "
                                f"{sel.n_diverged} diverged)", sel.n_runs)

    def worst_share(rows):
        return float(table[rows].mean(axis=0).min())

    everyone = np.arange(len(seeds))
    value = worst_share(everyone)
    draws = bootstrap(everyone, worst_share)
    detail = "; ".join(f"{params.axis} {runs[params.axis].values[k]:g} seed {int(runs['seed'].values[k])}: {text}"
                       for k, text in enumerate(shown))
    return sel.result(value, value >= threshold, detail, draws=draws, seed_fraction=float(table.all(axis=1).mean()),
                      support=float((draws >= threshold).mean()))


def drift_around_fit(curves: xr.Dataset, k: int, t_fit: float, t_gen: float = np.inf) -> tuple[float, float]:
    """The scale-free eNTK drift at the first measurement at or after t_fit, and its largest value from then on
    up to t_gen (the first measurement at or after t_gen included; all of the run's if it never generalises)."""
    steps, drift = measured(curves, "ntk_drift", k)
    after = steps >= t_fit
    if not np.isfinite(t_fit) or not after.any():
        return float("nan"), float("nan")
    window = after & (steps <= (steps[steps >= t_gen].min() if (steps >= t_gen).any() else np.inf))
    return float(drift[after][0]), float(drift[window].max())


def _count(mask: np.ndarray, n: int) -> str:
    return f"{int(mask.sum())} of {n} runs"


@check("ntk_moves_after_fit", DriftParams)
@selects_runs(threshold=lambda p: p.min_seed_fraction, none_match=False)
def ntk_moves_after_fit(sel: Selection, params: DriftParams) -> CheckResult:
    """In runs that generalise, the empirical NTK barely moves until the training set is fit and moves a lot between
    t_fit and t_gen. On >= min_seed_fraction of the runs: (c) the run generalises (t_gen finite); (a) the scale-
    free eNTK drift D at t_fit is < max_fit_to_reference x D_ref, the distance between two independent inits'
    kernels on the same points; (b) max D over [t_fit, t_gen] >= min_growth_after x D(t_fit). The raw drift is
    reported."""
    runs, threshold = sel.runs, sel.threshold
    if runs.sizes["run"] == 0 or "ntk_drift" not in runs:
        return sel.inconclusive(f"no healthy runs with an ntk_drift probe match {sel.check.where} "
                                f"({sel.n_diverged} diverged)")
    if "ntk_drift_ref" not in runs:
        return sel.inconclusive("the curves have no D_ref (ntk_drift_ref): rerun with the ntk_drift probe that "
                                "measures an independent init's kernel", sel.n_runs)
    n = int(runs.sizes["run"])
    t_fit, t_gen = event_times(runs, params)
    at_fit, after = np.array([drift_around_fit(runs, k, t_fit[k], t_gen[k]) for k in range(n)]).T.reshape(2, -1)
    reference = first_measured(runs["ntk_drift_ref"].values)
    generalises = np.isfinite(t_fit) & np.isfinite(t_gen)
    lazy_at_fit = at_fit < params.max_fit_to_reference * reference  # NaN (never fit) compares False
    moves_after = after >= params.min_growth_after * at_fit
    holds = generalises & lazy_at_fit & moves_after
    raw = [drift_around_fit(runs.rename({"ntk_drift_raw": "ntk_drift", "ntk_drift": "scale_free"}), k,
                            t_fit[k], t_gen[k])[0] if "ntk_drift_raw" in runs else np.nan for k in range(n)]
    coordinates = [c for c in ("prime", "init_scale", "lr") if c in runs.coords]
    share = float(holds.mean())
    fitted = np.isfinite(at_fit)
    ratios = at_fit[fitted] / reference[fitted]
    span = (f"{ratios.min():.2f}-{ratios.max():.2f}x" if ratios.size else "n/a")
    if share >= threshold:
        summary = (f"the kernel stays within D_ref until the fit and moves mostly after it on {_count(holds, n)} "
                   f"(drift at t_fit {span} D_ref)")
    elif not fitted.any():
        summary = f"no run fits its training set (train accuracy {params.fit_train_acc:g}) within the budget"
    else:
        reasons = [(int((fitted & ~lazy_at_fit).sum()), f"the kernel has left its init before the fit on "
                    f"{_count(fitted & ~lazy_at_fit, n)} (drift at t_fit {span} the distance D_ref between two "
                    f"independent inits)"),
                   (int((fitted & lazy_at_fit & ~moves_after).sum()), f"the kernel moves less after the fit than "
                    f"before it on {_count(fitted & lazy_at_fit & ~moves_after, n)} (largest drift up to t_gen < "
                    f"{params.min_growth_after:g}x the drift at t_fit)"),
                   (int((~generalises).sum()), f"{_count(~generalises, n)} never generalise within the budget "
                    f"(test accuracy {params.gen_test_acc:g})")]
        summary = max(reasons, key=lambda r: r[0])[1]
    detail = summary + "; " + "; ".join(
        " ".join(f"{c} {runs[c].values[k]:g}" for c in coordinates) + f" seed {int(runs['seed'].values[k])}: "
        f"t_fit {_format(t_fit[k])}, t_gen {_format(t_gen[k])}, drift at fit {at_fit[k]:.3f} (D_ref "
        f"{reference[k]:.3f}), largest up to t_gen {after[k]:.3f} (raw at fit {raw[k]:.3g})" for k in range(n))
    return sel.result(**seed_share(holds, threshold), detail=detail)


def _gap_ratio(medians: np.ndarray) -> float:
    """Median gap at the smallest init scale over that at the largest (medians by ascending scale); +inf when
    the medians rise anywhere as the scale shrinks, or when the smallest scale never generalises."""
    if not np.isfinite(medians[0]):
        return float("inf")
    if np.any(np.diff(medians) < 0):  # a smaller scale with a longer gap than a larger one
        return float("inf")
    return 0.0 if not np.isfinite(medians[-1]) else float(medians[0] / medians[-1]) if medians[-1] > 0 else \
        (0.0 if medians[0] == 0 else float("inf"))


@check("smaller_init_shrinks_gap", InitGapParams)
@selects_runs(threshold=lambda p: p.max_ratio, none_match=False)
def smaller_init_shrinks_gap(sel: Selection, params: InitGapParams) -> CheckResult:
    """Median over seeds of t_gen - t_fit (censored: a run that never generalises or never fits has gap +inf)
    does not rise as the init scale shrinks, over >= min_values scales, and falls to <= max_ratio of the
    largest scale's."""
    runs, threshold = sel.runs, sel.threshold
    t_fit, t_gen = event_times(runs, params)
    gap = np.where(np.isfinite(t_fit) & np.isfinite(t_gen), np.maximum(t_gen - t_fit, 0), np.inf)
    scales, seeds, table = seed_table(runs, params.axis, gap)
    if len(scales) < params.min_values or np.isnan(table).any():
        return sel.inconclusive(f"{len(scales)} values of {params.axis} with every seed (needs {params.min_values}; "
                                f"{sel.n_diverged} diverged)", sel.n_runs)

    def ratio(rows):
        return _gap_ratio(np.median(table[rows], axis=0))

    everyone = np.arange(len(seeds))
    value = ratio(everyone)
    draws = bootstrap(everyone, ratio)
    per_seed = np.mean([_gap_ratio(row) <= threshold for row in table])
    medians = np.median(table, axis=0)
    if not np.isfinite(medians[0]):
        summary = f"the smallest {params.axis}, {scales[0]:g}, has a median run that never generalises"
    elif np.any(np.diff(medians) < 0):
        summary = f"the median gap t_gen - t_fit rises somewhere as {params.axis} shrinks"
    else:
        summary = (f"the median gap t_gen - t_fit falls from {_format(medians[-1])} to {_format(medians[0])} steps "
                   f"as {params.axis} shrinks {scales[-1]:g} -> {scales[0]:g}, a ratio of {value:.2f} against "
                   f"<= {threshold:g}")
    detail = summary + "; " + "; ".join(f"{params.axis} {s:g}: gaps " + ", ".join(_format(g) for g in table[:, j]) +
                                        f" (median {_format(np.median(table[:, j]))})" for j, s in enumerate(scales))
    return sel.result(value, value <= threshold, detail, draws=draws, seed_fraction=float(per_seed),
                      support=float((draws <= threshold).mean()))
