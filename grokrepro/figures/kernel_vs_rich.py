"""Figures for kernel_vs_rich: the rich network against kernel regression with its initial eNTK across primes,
the eNTK's drift against the step with the accuracies of one run, and the fit-to-generalisation gap against
the init scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.claims.kernel_vs_rich import (DriftParams, InitGapParams, drift_around_fit, event_times, first_measured,
                                            is_regression)
from grokrepro.figures.common import plt, sns, spec_check_params
from grokrepro.metrics import measured
from grokrepro.metrics.sizes import final_values

FIGURES = ("rich_vs_kernel", "ntk_drift", "gap_vs_init_scale")


def _largest_init(curves: xr.Dataset) -> xr.Dataset:
    largest = curves["init_scale"].values.max()
    return curves.isel(run=np.nonzero(curves["init_scale"].values == largest)[0])


def rich_vs_kernel(curves: xr.Dataset, verdict: dict):
    runs = _largest_init(curves)
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


def ntk_drift(curves: xr.Dataset, verdict: dict):
    runs = _largest_init(curves)
    k = int(np.argmax(runs["prime"].values))  # the largest prime, first seed
    run = runs.isel(run=k)
    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    steps = run["step"].values
    if is_regression(runs):
        for name, colour in (("train_loss", "tab:blue"), ("test_loss", "tab:red")):
            zero = first_measured(run[f"zero_{name}"].values[None])[0]
            axis.plot(steps, run[name].values / zero, color=colour, label=f"{name} / zero predictor's")
    else:
        axis.plot(steps, run["train_acc"].values, color="tab:blue", label="train acc")
        axis.plot(steps, run["test_acc"].values, color="tab:red", label="test acc")
    drift_steps, drift = measured(runs, "ntk_drift", k)
    axis.plot(drift_steps, drift, color="black", label="eNTK drift (scale-free)")
    params = spec_check_params(curves, "ntk_moves_after_fit", DriftParams)
    t_fit, t_gen = event_times(runs.isel(run=[k]), params)
    if np.isfinite(t_fit[0]):
        axis.axvline(t_fit[0], color="grey", linestyle=":", label="t_fit")
    if np.isfinite(t_gen[0]):
        axis.axvline(t_gen[0], color="grey", linestyle="--", linewidth=0.8, label="t_gen")
    if "ntk_drift_ref" in runs:
        reference = first_measured(runs["ntk_drift_ref"].values[[k]])[0]
        axis.axhline(params.max_fit_to_reference * reference, color="black", linestyle="--", linewidth=0.8,
                     label=f"K2: drift at t_fit < {params.max_fit_to_reference:g} D_ref (two independent inits)")
    at_fit, _ = drift_around_fit(runs, k, t_fit[0], t_gen[0])
    if np.isfinite(at_fit):
        axis.axhline(params.min_growth_after * at_fit, color="black", linestyle="-.", linewidth=0.8,
                     label=f"K2: largest drift up to t_gen >= {params.min_growth_after:g}x drift at t_fit")
    axis.set_xscale("symlog", linthresh=10)
    axis.set(xlim=(0, steps.max()), xlabel="step (linear below 10, log above)", ylim=(-0.02, 1.42),
             title=f"p = {int(run['prime'].values)}, init scale {float(run['init_scale'].values):g}, "
                   f"seed {int(run['seed'].values)}")
    axis.legend(fontsize=7, loc="upper left")
    return figure


def gap_vs_init_scale(curves: xr.Dataset, verdict: dict):
    primes, counts = np.unique(curves["prime"].values, return_counts=True)
    # the prime swept over init scales (the one with the most runs)
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
