"""Figures every spec gets, drawn from its curves alone: a user's own claim needs no figure module to be seen.

The sweep axes (read from the spec JSON the curves carry) facet and colour the panels; seeds are folded into a
mean line with a min-max band. A claim module's figures are drawn beside these, never instead of them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from grokrepro.figures.common import plt, seed_band_relplot, sns
from grokrepro.metrics import first_step_reaching

FIGURES = ("all_runs_loss", "all_runs_accuracy", "all_runs_probes", "all_runs_time_to_threshold")
# Beyond this many configurations a panel per configuration stops being readable; the first ones are drawn
# and the title says how many were left out.
MAX_PANELS = 16
CURVE_VARIABLES = {"train_loss", "test_loss", "train_acc", "test_acc"}


def sweep_axes(curves: xr.Dataset) -> list[str]:
    """The run coordinates the spec sweeps (e.g. train_fraction, weight_decay), varying across these runs."""
    grids = json.loads(curves.attrs.get("spec_json", "{}")).get("sweep") or [{}]
    names = [axis.partition(".")[2] or axis for axis in grids[0]]
    return [n for n in names if n in curves.coords and len(np.unique(curves[n].values.astype(str))) > 1]


def configuration_labels(curves: xr.Dataset) -> np.ndarray:
    """One label per run naming its sweep point ('all runs' when nothing is swept)."""
    axes = sweep_axes(curves)
    if not axes:
        return np.full(curves.sizes["run"], "all runs")
    return np.array([", ".join(f"{a}={_short(curves[a].values[k])}" for a in axes)
                     for k in range(curves.sizes["run"])])


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def _tidy(curves: xr.Dataset, variables: list[str]) -> tuple[pd.DataFrame, int]:
    """(run, step) variables as rows of (configuration, seed, step, metric, value); configurations past
    MAX_PANELS dropped, and how many were."""
    labels = configuration_labels(curves)
    kept = list(dict.fromkeys(labels))[:MAX_PANELS]
    rows = []
    steps = curves["step"].values
    for k in range(curves.sizes["run"]):
        if labels[k] not in kept:
            continue
        for name in variables:
            values = curves[name].values[k]
            keep = np.isfinite(values) & (steps > 0)
            rows.append(pd.DataFrame({"configuration": labels[k], "seed": int(curves["seed"].values[k]),
                                      "step": steps[keep], "metric": name, "value": values[keep]}))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["configuration", "seed", "step", "metric", "value"])
    return table, len(set(labels)) - len(kept)


def _empty(message: str):
    figure, axis = plt.subplots(figsize=(5, 1.6))
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def _curve_panels(curves: xr.Dataset, variables: list[str], ylabel: str, log_y: bool):
    variables = [v for v in variables if v in curves]
    if not variables:
        return _empty(f"these runs record no {ylabel}")
    table, dropped = _tidy(curves, variables)
    if table.empty:
        return _empty(f"no finite {ylabel} was logged")
    n_panels = table["configuration"].nunique()
    grid = seed_band_relplot(table, hue="metric", col="configuration", col_wrap=min(4, n_panels), height=2.4,
                             aspect=1.15, facet_kws={"sharey": True})
    grid.set(xscale="log", xlabel="step (log)", ylabel=ylabel)
    if log_y and (table["value"] > 0).all():
        grid.set(yscale="log")
    grid.set_titles("{col_name}", size=7)
    extra = f"; {dropped} more configurations not drawn" if dropped else ""
    grid.figure.suptitle(f"{ylabel.capitalize()} of every configuration (line: mean over seeds; band: min-max"
                         f"{extra})", y=1.03)
    return grid.figure


def all_runs_loss(curves: xr.Dataset, verdict: dict):
    return _curve_panels(curves, ["train_loss", "test_loss"], "loss", log_y=True)


def all_runs_accuracy(curves: xr.Dataset, verdict: dict):
    return _curve_panels(curves, ["train_acc", "test_acc"], "accuracy", log_y=False)


def probe_variables(curves: xr.Dataset) -> list[str]:
    """Every (run, step) variable that is not one of the four curves: probes and per-step extras."""
    return [name for name, variable in curves.data_vars.items()
            if variable.dims == ("run", "step") and name not in CURVE_VARIABLES]


def all_runs_probes(curves: xr.Dataset, verdict: dict):
    variables = probe_variables(curves)
    if not variables:
        return _empty("these runs record nothing besides loss and accuracy")
    table, dropped = _tidy(curves, variables)
    if table.empty:
        return _empty("no probe value was logged")
    hue = "configuration" if table["configuration"].nunique() > 1 else None
    grid = seed_band_relplot(table, hue=hue, col="metric", col_wrap=min(3, len(variables)), height=2.5, aspect=1.2,
                             facet_kws={"sharey": False, "sharex": True})
    grid.set(xscale="log", xlabel="step (log)")
    grid.set_titles("{col_name}")
    for name, axis in grid.axes_dict.items():
        values = table.loc[table["metric"] == name, "value"]
        # a probe spanning decades (a norm that blows up, a loss that falls) reads better on a log axis
        if len(values) and (values > 0).all() and values.max() > 100 * values.min():
            axis.set_yscale("log")
    if hue and grid.legend is not None:
        grid.legend.set_title("")
        for text in grid.legend.texts:
            text.set_fontsize(6)
    extra = f"; {dropped} more configurations not drawn" if dropped else ""
    grid.figure.suptitle(f"Every probe over training (mean over seeds; band: min-max{extra})", y=1.03)
    return grid.figure


def event_times(curves: xr.Dataset) -> dict[str, np.ndarray]:
    """Per run: steps to fit and to generalise (accuracy where recorded, else loss at 10 % of its start);
    +inf where never reached (the suite's censoring rule)."""
    steps = curves["step"].values
    if "train_acc" in curves and np.isfinite(curves["train_acc"].values).any():
        return {"t_fit (train acc >= 0.99)": first_step_reaching(curves["train_acc"].values, steps, 0.99),
                "t_gen (test acc >= 0.95)": first_step_reaching(curves["test_acc"].values, steps, 0.95)}
    times = {}
    for name, label in (("train_loss", "t_train"), ("test_loss", "t_test")):
        loss = curves[name].values
        start = loss[:, :1]
        # loss <= 10 % of its start, written as a rise so that first_step_reaching applies
        times[f"{label} (loss <= 10 % of initial)"] = first_step_reaching(-loss / start, steps, -0.1)
    return times


def all_runs_time_to_threshold(curves: xr.Dataset, verdict: dict):
    numeric = [a for a in sweep_axes(curves) if np.issubdtype(curves[a].values.dtype, np.number)]
    if not numeric:
        return _empty("no numeric sweep axis to draw event times against")
    budget = curves["budget_steps"].values if "budget_steps" in curves.coords else np.full(
        curves.sizes["run"], curves["step"].values[-1])
    rows = []
    for event, times in event_times(curves).items():
        for k in range(curves.sizes["run"]):
            censored = not np.isfinite(times[k])
            rows.append({"event": event, "step": float(budget[k] if censored else max(times[k], 1)),
                         "censored": censored, **{a: float(curves[a].values[k]) for a in numeric}})
    table = pd.DataFrame(rows)
    figure, axes = plt.subplots(1, len(numeric), figsize=(4.4 * len(numeric), 3.3), squeeze=False)
    for axis, name in zip(axes[0], numeric):
        sns.lineplot(data=table, x=name, y="step", hue="event", estimator="median", errorbar=None, marker="o",
                     ax=axis)
        censored = table[table["censored"]]
        if len(censored):
            axis.scatter(censored[name], censored["step"], marker="^", color="black", zorder=3,
                         label="never reached (at budget)")
        axis.set(yscale="log", ylabel="step (median over runs)", title=f"Event times against {name}")
        if table[name].gt(0).all() and table[name].max() / max(table[name].min(), 1e-300) > 20:
            axis.set_xscale("log")
        axis.legend(fontsize=6)
    figure.tight_layout()
    return figure


DRAW = {name: globals()[name] for name in FIGURES}
