"""Figures for Power et al.: accuracy curves per training fraction, event times against the fraction, and the
smallest fraction that generalises with and without weight decay (G3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.claims.grokking import TrendParams, WeightDecayParams, data_need
from grokrepro.claims.verdict import healthy_runs, select_runs
from grokrepro.figures.common import judged_params, judged_where, long_table, plt, seed_band_relplot, spec_check, sns
from grokrepro.figures.early_abort import early_abort
from grokrepro.metrics import first_step_reaching

FIGURES = ("accuracy_curves", "time_to_generalise", "weight_decay_data_need", "early_abort")


TREND = "delay_rises_with_less_data"


def _judged(curves: xr.Dataset, verdict) -> xr.Dataset:
    """The runs the trend check (G2) judges (other sweep grids, such as the early-abort demonstration, are left
    out)."""
    return select_runs(curves, judged_where(verdict, TREND))


def accuracy_curves(curves: xr.Dataset, verdict: dict):
    curves = _judged(curves, verdict)
    table = long_table(curves, ["train_acc", "test_acc"], ["train_fraction"])
    table = table[table["step"] > 0].dropna(subset=["value"])
    grid = seed_band_relplot(table, hue="metric", col="train_fraction",
                             col_wrap=min(4, table["train_fraction"].nunique()), height=2.6, aspect=1.1,
                             palette={"train_acc": "tab:blue", "test_acc": "tab:red"})
    grid.set(xscale="log", ylim=(-0.02, 1.02), xlabel="step (log)", ylabel="accuracy")
    grid.figure.suptitle("Train and test accuracy (line: mean over seeds; band: min-max)", y=1.03)
    return grid.figure


def time_to_generalise(curves: xr.Dataset, verdict: dict):
    params = judged_params(verdict, curves, TREND, TrendParams)
    curves = _judged(curves, verdict)
    steps = curves["step"].values
    t_fit = first_step_reaching(curves["train_acc"].values, steps, params.fit_acc)
    t_gen = first_step_reaching(curves["test_acc"].values, steps, params.gen_acc)
    budget = curves["budget_steps"].values
    rows = []
    for name, times in ((f"t_fit (train acc >= {params.fit_acc:g})", t_fit),
                        (f"t_gen (test acc >= {params.gen_acc:g})", t_gen)):
        for k in range(curves.sizes["run"]):
            censored = not np.isfinite(times[k])
            rows.append({"train_fraction": float(curves["train_fraction"].values[k]), "event": name,
                         "step": float(budget[k] if censored else times[k]), "censored": censored})
    table = pd.DataFrame(rows)
    figure, axis = plt.subplots(figsize=(5, 3.4))
    sns.lineplot(data=table, x="train_fraction", y="step", hue="event", estimator="median", errorbar=None,
                 marker="o", ax=axis)
    censored = table[table["censored"]]
    if len(censored):
        axis.scatter(censored["train_fraction"], censored["step"], marker="^", color="black", zorder=3,
                     label="never reached (censored at budget)")
    axis.set(yscale="log", xlabel="training fraction", ylabel="step (median over seeds)",
             title="Steps to fit and to generalise")
    axis.legend(fontsize=7)
    return figure


def weight_decay_data_need(curves: xr.Dataset, verdict: dict):
    """G3: per weight decay, the share of seeds that generalise at each fraction, and each seed's smallest
    fraction from which every larger one generalises (the statistic G3 takes the median of)."""
    check = spec_check(curves, "weight_decay_halves_data")
    figure, (share_axis, need_axis) = plt.subplots(1, 2, figsize=(10, 3.6))
    if check is None:
        share_axis.text(0.5, 0.5, "no weight-decay check in this spec", ha="center", transform=share_axis.transAxes)
        return figure
    params = WeightDecayParams(**check.get("params") or {})
    runs = healthy_runs(select_runs(curves, check.get("where") or {}))[0]
    arms = [(params.treated, "tab:blue"), (params.baseline, "tab:orange")]
    largest = float(np.max(runs[params.axis].values)) if runs.sizes["run"] else 1.0
    for position, (weight_decay, colour) in enumerate(arms):
        arm = select_runs(runs, {params.weight_decay_axis: weight_decay})
        if arm.sizes["run"] == 0:
            continue
        t_gen = first_step_reaching(arm["test_acc"].values, arm["step"].values, params.gen_acc)
        shares = pd.DataFrame({"value": arm[params.axis].values, "generalised": np.isfinite(t_gen)})
        shares = shares.groupby("value")["generalised"].mean()
        share_axis.plot(shares.index, shares.values, marker="o", color=colour, label=f"weight decay {weight_decay:g}")
        values, seeds, need = data_need(runs, params, weight_decay)
        if not len(seeds):
            continue
        jitter = np.linspace(-0.12, 0.12, len(seeds))
        never = ~np.isfinite(need)
        need_axis.scatter(position + jitter[~never], need[~never], color=colour, zorder=3)
        need_axis.scatter(position + jitter[never], np.full(never.sum(), largest * 1.05), marker="^", color="black",
                          zorder=3, label="never, even at the largest fraction" if never.any() else None)
        median = np.median(need)
        if np.isfinite(median):
            need_axis.hlines(median, position - 0.25, position + 0.25, color=colour, lw=2)
            if weight_decay == params.baseline:
                need_axis.axhline(params.max_ratio * median, color="grey", ls="--", lw=1,
                                  label=f"{params.max_ratio:g} x the median at weight decay {weight_decay:g}")
    share_axis.set(xlabel=params.axis.replace("_", " "), ylabel=f"share of seeds with test acc >= {params.gen_acc:g}",
                   ylim=(-0.03, 1.03), title="Generalised within the budget")
    share_axis.legend(fontsize=7)
    need_axis.set_xticks(range(len(arms)), [f"weight decay {wd:g}" for wd, _ in arms])
    need_axis.set(xlim=(-0.6, len(arms) - 0.4), ylabel=f"smallest {params.axis.replace('_', ' ')}",
                  title="Smallest fraction that generalises (dots: seeds; bar: median)")
    handles, _ = need_axis.get_legend_handles_labels()
    if handles:
        need_axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


DRAW = {"accuracy_curves": accuracy_curves, "time_to_generalise": time_to_generalise,
        "weight_decay_data_need": weight_decay_data_need, "early_abort": early_abort}
