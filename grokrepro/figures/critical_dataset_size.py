"""Figures for Varma et al.'s critical dataset size: the two circuits' norms against dataset size, and the
from-scratch runs' accuracy and time to generalise against size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import ticker

from grokrepro.claims.critical_dataset_size import CriticalSizeParams, GeneralisationParams, certified_generalisers
from grokrepro.claims.verdict import healthy_runs, select_runs
from grokrepro.figures.common import judged_check, judged_params, other_claims_curves, plt, sns
from grokrepro.metrics import first_step_reaching
from grokrepro.metrics.curves import read_complete
from grokrepro.metrics.sizes import final_values

FIGURES = ("norm_vs_size", "scratch_vs_size")


def _size_axis(axis, subs=(1, 2, 5)) -> None:
    """Plain numbers at subs x 10^k on a log size axis (matplotlib's minor labels collide here)."""
    axis.set_xscale("log")
    axis.xaxis.set_major_locator(ticker.LogLocator(subs=subs))
    axis.xaxis.set_major_formatter(ticker.ScalarFormatter())
    axis.xaxis.set_minor_formatter(ticker.NullFormatter())


def _final_norms(curves: xr.Dataset) -> pd.DataFrame:
    return pd.DataFrame({"train_size": curves["train_size"].values.astype(float),
                         "norm": final_values(curves["param_norm"].values)})


def _generalisers(curves: xr.Dataset, verdict: dict, params: GeneralisationParams) -> pd.DataFrame | None:
    """The runs C2 reads as generalisation-only networks (this claim's own, or another claim's curves listed
    in the verdict's data), each marked certified or not exactly as C2 marks it; None where they cannot be
    found."""
    source = curves
    if params.generalisers_from != "self":
        path = other_claims_curves(verdict, params.generalisers_from)
        if path is None or not path.is_file():
            return None
        source = read_complete(path)
    runs = healthy_runs(select_runs(source, params.generalise))[0]
    table = _final_norms(runs)
    table["certified"] = certified_generalisers(runs, params.gen_acc, params.min_fourier_share)
    return table


def norm_vs_size(curves: xr.Dataset, verdict: dict):
    params = judged_params(verdict, curves, "generalisation_norm_flat_in_size", GeneralisationParams)
    memorisers = _final_norms(healthy_runs(select_runs(curves, params.memorise))[0])
    memorisers["circuit"] = "memorisation (random labels)"
    generalisers = _generalisers(curves, verdict, params)
    certified = generalisers[generalisers["certified"]] if generalisers is not None else memorisers.iloc[:0]
    certified = certified.assign(circuit=f"generalisation (certified: test acc >= {params.gen_acc:g}, "
                                         f"Fourier share >= {params.min_fourier_share:g})")
    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    sns.lineplot(data=pd.concat([memorisers, certified]), x="train_size", y="norm", hue="circuit",
                 estimator="median", errorbar=("pi", 100), marker="o", ax=axis)
    if generalisers is None:
        axis.text(0.98, 0.02, "generalisation-only networks not found", transform=axis.transAxes, ha="right",
                  fontsize=7)
    else:
        left_out = generalisers[~generalisers["certified"]]
        axis.scatter(left_out["train_size"], left_out["norm"], color="grey", marker="x", s=14, alpha=0.6,
                     label="not certified (left out)")
    if len(certified):
        axis.axhline(float(np.median(certified["norm"])), color="tab:orange", linestyle=":",
                     label="generalisation's norm (median)")
    crossing = judged_check(verdict, "critical_size_bounds_grokking")
    if crossing is not None and isinstance(crossing.value, (int, float)):
        low, high = crossing.interval or [None, None]
        axis.axvline(crossing.value, color="black", linestyle="--", label=f"D_crit {crossing.value:.0f}")
        if isinstance(low, (int, float)) and isinstance(high, (int, float)):
            axis.axvspan(low, high, color="grey", alpha=0.2, label="interval over seeds")
    _size_axis(axis)
    axis.set(xlabel="training pairs D (log)", ylabel="parameter norm at the end",
             title="Norm each circuit settles at under weight decay")
    axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return figure


def scratch_vs_size(curves: xr.Dataset, verdict: dict):
    params = judged_params(verdict, curves, "critical_size_bounds_grokking", CriticalSizeParams)
    true = curves.isel(run=np.nonzero(curves["labels"].values == "true")[0])
    t_gen = first_step_reaching(true["test_acc"].values, true["step"].values, params.gen_acc)
    budget = true["budget_steps"].values
    table = pd.DataFrame({"train_size": true["train_size"].values.astype(float),
                          "final test acc": final_values(true["test_acc"].values),
                          "t_gen": np.where(np.isfinite(t_gen), t_gen, budget),
                          "censored": ~np.isfinite(t_gen)})
    figure, (left, right) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    sns.lineplot(data=table, x="train_size", y="final test acc", estimator="median", errorbar=("pi", 100),
                 marker="o", ax=left)
    left.axhline(params.boundary_acc, color="grey", linestyle=":")
    _size_axis(left, subs=(1, 1.2, 1.5, 2))
    left.set(xlabel="training pairs D (log)", title="From scratch: final test accuracy")
    sns.scatterplot(data=table, x="train_size", y="t_gen", style="censored", markers={False: "o", True: "^"},
                    ax=right)
    _size_axis(right, subs=(1, 1.2, 1.5, 2))
    right.set(yscale="log", xlabel="training pairs D (log)", ylabel=f"t_gen (test acc >= {params.gen_acc:g})",
              title="Time to generalise (triangles: censored at budget)")
    figure.tight_layout()
    return figure


DRAW = {"norm_vs_size": norm_vs_size, "scratch_vs_size": scratch_vs_size}
