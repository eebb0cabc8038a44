"""Figures for kernel_vs_rich: the rich network against kernel regression with its initial eNTK across primes,
the eNTK's drift against the step with the accuracies of one of K2's runs and of each of its controls (with the
D_ref line the drift at t_fit must stay under), and the fit-to-generalisation gap against the init scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.claims.kernel_vs_rich import (DriftParams, InitGapParams, drift_around_fit, event_times, first_measured,
                                            is_regression)
from grokrepro.claims.verdict import select_runs
from grokrepro.figures.common import plt, sns, spec_check, spec_check_params
from grokrepro.metrics import measured
from grokrepro.metrics.sizes import final_values

FIGURES = ("rich_vs_kernel", "ntk_drift", "gap_vs_init_scale")


def _largest_init(curves: xr.Dataset) -> xr.Dataset:
    largest = curves["init_scale"].values.max()
    return curves.isel(run=np.nonzero(curves["init_scale"].values == largest)[0])


def _check_runs(curves: xr.Dataset, kind: str, where: dict | None = None) -> xr.Dataset:
    """The runs a check (or, given `where`, one of its controls) is judged on; without the spec (synthetic
    curves), the largest init scale's."""
    found = spec_check(curves, kind)
    if found is None and where is None:
        return _largest_init(curves)
    runs = select_runs(curves, {**((found or {}).get("where") or {}), **(where or {})})
    return runs if runs.sizes["run"] else _largest_init(curves)


def _controls(curves: xr.Dataset, kind: str) -> list[dict]:
    found = spec_check(curves, kind) or {}
    controls = found.get("control") or []
    return [controls] if isinstance(controls, dict) else list(controls)


def rich_vs_kernel(curves: xr.Dataset, verdict: dict):
    runs = _check_runs(curves, "rich_beats_kernel")
    metric = "test loss / zero predictor's" if is_regression(runs) else "test accuracy"
    if is_regression(runs):
        zero = first_measured(runs["zero_test_loss"].values)
        rich, kernel = final_values(runs["test_loss"].values) / zero, first_measured(runs["kernel_test_loss"].values) / zero
    else:
        rich = final_values(runs["test_acc"].values)
        kernel = first_measured(runs["kernel_test_acc"].values)
    table = pd.DataFrame({"prime": np.tile(runs["prime"].values.astype(int), 2), metric: np.concatenate([rich, kernel]),
                          "model": ["rich network (final)"] * len(rich) + ["kernel regression, initial eNTK"] * len(kernel)})
    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    sns.lineplot(data=table, x="prime", y=metric, hue="model", marker="o", estimator="median", errorbar=("pi", 100),
                 ax=axis)
    sns.scatterplot(data=table, x="prime", y=metric, hue="model", legend=False, alpha=0.5, ax=axis)
    if not is_regression(runs):
        axis.axhline(0.95, color="grey", linestyle=":")
        axis.set_ylim(-0.02, 1.02)
    axis.set(title="n = 2p^(5/3) training pairs (median; band: min-max over seeds)")
    return figure


def _drift_panel(axis, runs: xr.Dataset, params: DriftParams, title: str) -> None:
    k = int(np.argmax(runs["prime"].values))  # the largest prime, first seed
    run = runs.isel(run=k)
    steps = run["step"].values
    if is_regression(runs):
        for name, colour in (("train_loss", "tab:blue"), ("test_loss", "tab:red")):
            zero = first_measured(run[f"zero_{name}"].values[None])[0]
            axis.plot(steps, run[name].values / zero, color=colour, label=f"{name} / zero predictor's")
    else:
        axis.plot(steps, run["train_acc"].values, color="tab:blue", label="train acc")
        axis.plot(steps, run["test_acc"].values, color="tab:red", label="test acc")
    drift_steps, drift = measured(runs, "ntk_drift", k)
    axis.plot(drift_steps, drift, color="black", label="eNTK drift D (scale-free)")
    t_fit, t_gen = event_times(runs.isel(run=[k]), params)
    if np.isfinite(t_fit[0]):
        axis.axvline(t_fit[0], color="grey", linestyle=":", label="t_fit")
    if np.isfinite(t_gen[0]):
        axis.axvline(t_gen[0], color="grey", linestyle="--", linewidth=0.8, label="t_gen")
    if "ntk_drift_ref" in runs:
        reference = first_measured(runs["ntk_drift_ref"].values[[k]])[0]
        axis.axhline(params.max_fit_to_reference * reference, color="tab:green", linestyle="--", linewidth=1,
                     label=f"K2: D(t_fit) < {params.max_fit_to_reference:g} D_ref (two independent inits)")
    at_fit, _ = drift_around_fit(runs, k, t_fit[0], t_gen[0])
    if np.isfinite(at_fit):
        axis.axhline(params.min_growth_after * at_fit, color="black", linestyle="-.", linewidth=0.8,
                     label=f"K2: max D up to t_gen >= {params.min_growth_after:g} D(t_fit)")
    axis.set_xscale("symlog", linthresh=10)
    coordinates = ", ".join(f"{c} {float(run[c].values):g}" for c in ("prime", "init_scale", "lr") if c in run.coords)
    axis.set(xlim=(0, steps.max()), xlabel="step (linear below 10, log above)", ylim=(-0.02, 1.42),
             title=f"{title}\n{coordinates}, seed {int(run['seed'].values)}")
    axis.legend(fontsize=6, loc="upper left")


def ntk_drift(curves: xr.Dataset, verdict: dict):
    """K2's runs (the largest prime, first seed) and one run of each of its controls: accuracies, the drift D,
    the D_ref line D(t_fit) must stay under and the 2 D(t_fit) line the drift up to t_gen must reach."""
    params = spec_check_params(curves, "ntk_moves_after_fit", DriftParams)
    panels = [(_check_runs(curves, "ntk_moves_after_fit"), "K2's runs")]
    for control in _controls(curves, "ntk_moves_after_fit"):
        runs = select_runs(curves, {**((spec_check(curves, "ntk_moves_after_fit") or {}).get("where") or {}),
                                    **control["where"]})
        if runs.sizes["run"]:
            panels.append((runs, "control: " + (control.get("why") or "").split(":")[0].split("(")[0].strip()))
    figure, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 3.8), squeeze=False)
    for axis, (runs, title) in zip(axes[0], panels):
        _drift_panel(axis, runs, params, title)
    return figure


def gap_vs_init_scale(curves: xr.Dataset, verdict: dict):
    found = spec_check(curves, "smaller_init_shrinks_gap")
    if found is not None and found.get("where"):
        runs = select_runs(curves, found["where"])
    else:  # the prime swept over init scales (the one with the most runs)
        primes, counts = np.unique(curves["prime"].values, return_counts=True)
        runs = curves.isel(run=np.nonzero(curves["prime"].values == primes[np.argmax(counts)])[0])
    t_fit, t_gen = event_times(runs, spec_check_params(curves, "smaller_init_shrinks_gap", InitGapParams))
    budget = float(runs["step"].values.max())
    gap = np.where(np.isfinite(t_fit) & np.isfinite(t_gen), t_gen - t_fit, np.nan)
    table = pd.DataFrame({"init scale": runs["init_scale"].values.astype(float), "t_gen - t_fit": gap,
                          "censored": ~np.isfinite(gap)})
    table["shown"] = np.where(table["censored"], budget, table["t_gen - t_fit"])
    table["run"] = np.where(table["censored"], "never generalised (drawn at the budget)", "generalised")
    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    sns.scatterplot(data=table, x="init scale", y="shown", style="run", s=60, ax=axis,
                    markers={"generalised": "o", "never generalised (drawn at the budget)": "X"})
    sns.lineplot(data=table, x="init scale", y="shown", estimator="median", errorbar=None, ax=axis, color="grey")
    axis.set(xscale="log", ylabel="t_gen - t_fit (steps)",
             title=f"p = {int(runs['prime'].values[0])}: one point per seed, line through the medians")
    return figure


DRAW = {"rich_vs_kernel": rich_vs_kernel, "ntk_drift": ntk_drift, "gap_vs_init_scale": gap_vs_init_scale}
