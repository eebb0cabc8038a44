"""Figures for ungrokking: final test accuracy against the subset size for each weight decay, the curves of
one run that ungroks, and U5's runs just above the transition settling at a middling accuracy with a mixed
Fourier share (their control, well above it, beside them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.claims.semi_grokking import running_median
from grokrepro.claims.ungrokking import SettlesParams
from grokrepro.claims.verdict import select_runs
from grokrepro.figures.common import long_table, plt, sns, spec_check, spec_check_params
from grokrepro.metrics.sizes import final_values

FIGURES = ("final_accuracy_vs_size", "one_ungrokking_run", "settling_midway")


def final_accuracy_vs_size(curves: xr.Dataset, verdict: dict):
    table = pd.DataFrame({"train_size": curves["train_size"].values.astype(float),
                          "weight decay": curves["weight_decay"].values.astype(float),
                          "final test acc": final_values(curves["test_acc"].values),
                          "final train acc": final_values(curves["train_acc"].values)})
    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    sns.lineplot(data=table, x="train_size", y="final test acc", hue="weight decay", estimator="median",
                 errorbar=("pi", 100), marker="o", palette="viridis", ax=axis)
    axis.axhline(0.5, color="grey", linestyle=":")
    axis.set(xscale="log", ylim=(-0.02, 1.02), xlabel="subset size D' (log)",
             title="After further training on D' pairs (median; band: min-max over seeds)")
    return figure


def one_ungrokking_run(curves: xr.Dataset, verdict: dict):
    final = final_values(curves["test_acc"].values)
    start = curves["test_acc"].values[:, 0]
    forgot = np.nonzero((start >= 0.95) & (final <= 0.5) & (curves["weight_decay"].values > 0))[0]
    k = int(forgot[np.argmax(curves["train_size"].values[forgot])]) if forgot.size else int(np.argmin(final))
    run = curves.isel(run=[k])
    table = long_table(run, ["train_acc", "test_acc"], [])
    figure, axis = plt.subplots(figsize=(5.6, 3.6))
    sns.lineplot(data=table, x="step", y="value", hue="metric", ax=axis,
                 palette={"train_acc": "tab:blue", "test_acc": "tab:red"})
    norm_axis = axis.twinx()
    norm_axis.plot(run["step"].values, run["param_norm"].values[0], color="grey", linestyle="--")
    norm_axis.set_ylabel("parameter norm (dashed)")
    axis.set(ylim=(-0.02, 1.02), ylabel="accuracy",
             title=f"D' = {int(run['train_size'].values[0])}, weight decay {float(run['weight_decay'].values[0]):g}, "
                   f"seed {int(run['seed'].values[0])}")
    return figure


def settling_midway(curves: xr.Dataset, verdict: dict):
    check = spec_check(curves, "ungrokking_settles_midway") or {}
    params = spec_check_params(curves, "ungrokking_settles_midway", SettlesParams)
    where = check.get("where") or {}
    controls = check.get("control") or []
    controls = [controls] if isinstance(controls, dict) else controls
    groups = [("U5", select_runs(curves, where))]
    groups += [("control", select_runs(curves, {**where, **c.get("where", {})})) for c in controls]
    figure, (acc_axis, share_axis) = plt.subplots(1, 2, figsize=(9.0, 3.6))
    sizes = sorted({float(v) for _, runs in groups for v in runs[params.axis].values})
    colours = dict(zip(sizes, plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(sizes), 1)))))
    steps = curves["step"].values
    for name, runs in groups:
        style = "-" if name == "U5" else "--"
        for k in range(runs.sizes["run"]):
            size = float(runs[params.axis].values[k])
            label = f"{params.axis} {size:g}" + (" (control)" if name != "U5" else "")
            first = k == int(np.nonzero(runs[params.axis].values == size)[0][0])
            acc_axis.plot(steps, running_median(runs["test_acc"].values[k], params.median_window), style,
                          color=colours[size], label=label if first else None)
            if "fourier_share" in runs:
                share = runs["fourier_share"].values[k]
                logged = np.isfinite(share)
                share_axis.plot(steps[logged], share[logged], style, marker="o", markersize=3, color=colours[size])
    acc_axis.axhspan(params.low_acc, params.high_acc, color="orange", alpha=0.08)
    acc_axis.set(ylim=(-0.02, 1.02), xlabel="further steps on D'", ylabel="test acc (running median)",
                 title="Test accuracy (band: U5's middling range)")
    share_axis.set(ylim=(0, 1.02), xlabel="further steps on D'", ylabel="Fourier share of the logits",
                   title="Circuit mixture (step 0: the parent)")
    if acc_axis.get_legend_handles_labels()[0]:
        acc_axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


DRAW = {"final_accuracy_vs_size": final_accuracy_vs_size, "one_ungrokking_run": one_ungrokking_run,
        "settling_midway": settling_midway}
