"""Figures for ungrokking: final test accuracy against the subset size for each weight decay, and the curves
of one run that ungroks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.figures.common import long_table, plt, sns
from grokrepro.metrics.sizes import final_values

FIGURES = ("final_accuracy_vs_size", "one_ungrokking_run")


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


DRAW = {"final_accuracy_vs_size": final_accuracy_vs_size, "one_ungrokking_run": one_ungrokking_run}
