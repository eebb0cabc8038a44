"""Figures every spec gets, drawn from its curves alone: a user's own claim needs no figure module to be seen.

The sweep axes (read from the spec JSON the curves carry) facet and colour the panels; seeds are folded into a
mean line with a min-max band. Times to threshold keep every categorical arm (an operation, an optimiser) apart:
one line per arm against each numeric axis, or, where no numeric axis is swept, each arm's seeds in a row of
its own; a run that never reached a threshold is marked at its budget and never enters a median. A claim
module's figures are drawn beside these, never instead of them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.transforms import offset_copy

from grokrepro.figures.common import describe, plt, seed_band_relplot, sns
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


# The generic event thresholds: fit = train accuracy >= FIT_ACC, generalise = test accuracy >= GEN_ACC.
FIT_ACC = 0.99
GEN_ACC = 0.95
# Beyond this many lines one time-to-threshold panel stops being readable (the title says how many were left out).
MAX_LINES = 10
NOT_REACHED = "not reached by the budget"


def event_times(curves: xr.Dataset) -> dict[str, np.ndarray]:
    """Per run: steps to fit and to generalise (accuracy where recorded, else loss at 10 % of its start);
    +inf where never reached (the suite's censoring rule)."""
    steps = curves["step"].values
    if "train_acc" in curves and np.isfinite(curves["train_acc"].values).any():
        return {f"t_fit (train acc >= {FIT_ACC})": first_step_reaching(curves["train_acc"].values, steps, FIT_ACC),
                f"t_gen (test acc >= {GEN_ACC})": first_step_reaching(curves["test_acc"].values, steps, GEN_ACC)}
    times = {}
    for name, label in (("train_loss", "t_train"), ("test_loss", "t_test")):
        loss = curves[name].values
        start = loss[:, :1]
        # loss <= 10 % of its start, written as a rise so that first_step_reaching applies
        times[f"{label} (loss <= 10 % of initial)"] = first_step_reaching(-loss / start, steps, -0.1)
    return times


def run_budgets(curves: xr.Dataset) -> np.ndarray:
    """Each run's step budget (the last logged step where the curves record none)."""
    if "budget_steps" in curves.coords:
        return curves["budget_steps"].values.astype(float)
    return np.full(curves.sizes["run"], float(curves["step"].values[-1]))


def event_time_table(curves: xr.Dataset) -> pd.DataFrame:
    """What the time-to-threshold figure draws: one row per run and event with the run's sweep point (a column
    per swept axis, and `configuration`, their label), `seed`, `time` (+inf where the threshold was never
    reached), `censored`, `budget` and `drawn_at` (the time; for a censored run its budget, where its marker
    stands)."""
    axes = sweep_axes(curves)
    labels = configuration_labels(curves)
    budgets = run_budgets(curves)
    seeds = curves["seed"].values
    rows = []
    for event, times in event_times(curves).items():
        for k in range(curves.sizes["run"]):
            censored = not np.isfinite(times[k])
            rows.append({"event": event, "configuration": str(labels[k]), "seed": int(seeds[k]),
                         **{axis: _plain(curves[axis].values[k]) for axis in axes},
                         "time": float(times[k]), "censored": censored, "budget": float(budgets[k]),
                         # a log axis cannot show step 0: a threshold met at initialisation is drawn at step 1
                         "drawn_at": float(budgets[k]) if censored else max(float(times[k]), 1.0)})
    return pd.DataFrame(rows)


def _plain(value):
    """A numpy scalar as the Python value (an object-dtype coordinate already holds one)."""
    return value.item() if isinstance(value, np.generic) else value


def median_times(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of `by`: the median time over the runs that reached the threshold, how many did (`reached`) and
    how many ran (`runs`). Censored runs never enter a median: their time is unknown, only later than the
    budget; the median is NaN where no run reached it."""
    counts = table.groupby(by, sort=False).agg(runs=("censored", "size"),
                                               reached=("censored", lambda censored: int((~censored).sum())))
    medians = table[~table["censored"]].groupby(by, sort=False)["time"].median().rename("median")
    return counts.join(medians).reset_index()


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def numeric_axes_to_draw(table: pd.DataFrame, axes: list[str]) -> list[str]:
    """The numeric sweep axes along which some line (the runs sharing every other axis's value) takes two or more
    values. One that only changes together with another axis (a budget set per arm) draws no line: it stays in
    the arms' labels, as a categorical axis does."""
    drawn = []
    for axis in axes:
        if not _is_numeric(table[axis]):
            continue
        others = [a for a in axes if a != axis]
        spans = table.groupby(others, sort=False)[axis].nunique() if others else pd.Series([table[axis].nunique()])
        if (spans > 1).any():
            drawn.append(axis)
    return drawn


def line_labels(table: pd.DataFrame, axes: list[str]) -> pd.Series:
    """Per row, the values of `axes` as one label: the line (or arm) a row belongs to."""
    if not axes:
        return pd.Series("all runs", index=table.index)
    return table[axes].apply(lambda row: ", ".join(f"{a}={_short(row[a])}" for a in axes), axis=1)


def _step(value: float) -> str:
    return f"{value:.0f}"


def _reach_summary(row) -> str:
    of = f"{row['reached']} of {row['runs']} seeds reached it"
    return f"median {_step(row['median'])} ({of})" if row["reached"] else f"{NOT_REACHED} ({of})"


def _legend_handles(colour="0.25") -> list:
    from matplotlib.lines import Line2D

    return [Line2D([], [], marker="o", linestyle="none", color=colour, alpha=0.5, markersize=4, label="one seed"),
            Line2D([], [], marker="^", linestyle="none", markerfacecolor="none", markeredgecolor=colour,
                   markersize=7, label=f"{NOT_REACHED} (drawn at it)")]


def _label_steps(axis, which: str) -> None:
    """Log-scaled steps labelled 1, 2, 5 x 10^k in plain numbers: matplotlib's default labels every minor tick of
    an axis spanning less than a decade in scientific notation, and they overlap."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = axis.xaxis if which == "x" else axis.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    target.set_minor_formatter(NullFormatter())


def _mark_seeds(axis, x, y, colour, transform=None) -> None:
    axis.scatter(x, y, s=14, color=colour, alpha=0.5, linewidths=0, zorder=3, transform=transform or axis.transData)


def _mark_censored(axis, x, y, colour, transform=None) -> None:
    axis.scatter(x, y, marker="^", s=42, facecolors="none", edgecolors=colour, linewidths=1.3, zorder=4,
                 transform=transform or axis.transData)


def _times_against_numeric_axes(table: pd.DataFrame, axes: list[str], drawn: list[str]):
    """Rows: events; columns: numeric axes; one line per value of the other axes (each categorical arm its own)."""
    events = list(dict.fromkeys(table["event"]))
    figure, panels = plt.subplots(len(events), len(drawn), figsize=(4.8 * len(drawn), 2.9 * len(events)),
                                  squeeze=False, sharey=True)
    sentences = []
    for column, x in enumerate(drawn):
        others = [a for a in axes if a != x]
        with_line = table.assign(line=line_labels(table, others))
        lines = list(dict.fromkeys(with_line["line"]))
        kept = lines[:MAX_LINES]
        colours = dict(zip(kept, sns.color_palette(None if len(kept) <= 10 else "husl", len(kept))))
        for row, event in enumerate(events):
            axis = panels[row][column]
            of_event = with_line[(with_line["event"] == event) & with_line["line"].isin(kept)]
            medians = median_times(of_event, ["line", x])
            for index, line in enumerate(kept):
                points = of_event[of_event["line"] == line]
                median = medians[medians["line"] == line].sort_values(x)
                # each line nudged a few points sideways: arms censored at one budget would hide each other
                nudged = offset_copy(axis.transData, fig=figure, units="points",
                                     x=4.0 * (index - (len(kept) - 1) / 2))
                # NaN where no seed reached it: the line breaks there instead of joining across the gap
                axis.plot(median[x], np.maximum(median["median"], 1.0), marker="o", color=colours[line], label=line,
                          transform=nudged)
                reached = points[~points["censored"]]
                _mark_seeds(axis, reached[x], reached["drawn_at"], colours[line], nudged)
                censored = points[points["censored"]]
                _mark_censored(axis, censored[x], censored["drawn_at"], colours[line], nudged)
                # artists drawn through a nudged transform do not widen the axis limits themselves
                axis.update_datalim(np.column_stack([points[x].astype(float), points["drawn_at"]]))
                sentences.append(f"{event} against {x}, {line}: " + "; ".join(
                    f"{x}={_short(r[x])} {_reach_summary(r)}" for _, r in median.iterrows()) + ".")
            axis.autoscale_view()
            axis.set(yscale="log", xlabel=x, ylabel="step (log)" if column == 0 else "")
            _label_steps(axis, "y")
            axis.set_title(event, fontsize=8)
            values = table[x].astype(float)
            if (values > 0).all() and values.max() > 20 * values.min():
                axis.set_xscale("log")
        left_out = f" ({len(lines) - len(kept)} more lines not drawn)" if len(lines) > len(kept) else ""
        # under the column, not over its lines: the legend grows with the number of arms
        handles, labels = panels[0][column].get_legend_handles_labels()
        panels[-1][column].legend(handles + _legend_handles(), labels + [h.get_label() for h in _legend_handles()],
                                  fontsize=6, title=(", ".join(others) or None), title_fontsize=6, ncol=2,
                                  loc="upper center", bbox_to_anchor=(0.5, -0.3))
        panels[0][column].set_title(f"{events[0]}{left_out}", fontsize=8)
    figure.suptitle("Time to threshold\n(line: median over the seeds that reached it; a run that did not is an open "
                    "triangle at its budget, never in a median)", fontsize=8)
    figure.tight_layout()
    describe(figure, "Time to threshold, one line per arm; medians over the seeds that reached the threshold "
                     "only. " + " ".join(sentences))
    return figure


def _times_per_arm(table: pd.DataFrame, axes: list[str]):
    """One row per arm (sweep point), one column per event: each seed a point, the median over the seeds that
    reached the threshold a vertical line, a seed that did not an open triangle at its budget."""
    events = list(dict.fromkeys(table["event"]))
    arms = list(dict.fromkeys(table["configuration"]))
    kept = arms[:MAX_PANELS]
    seeds = sorted(table["seed"].unique())
    colours = dict(zip(events, sns.color_palette(None, len(events))))
    height = max(1.2, 0.28 * len(seeds) + 0.75)
    figure, panels = plt.subplots(len(kept), len(events), figsize=(4.4 * len(events), height * len(kept) + 0.9),
                                  squeeze=False, sharex=True)
    medians = median_times(table, ["configuration", "event"])
    for row, arm in enumerate(kept):
        for column, event in enumerate(events):
            axis = panels[row][column]
            points = table[(table["configuration"] == arm) & (table["event"] == event)]
            y = points["seed"].map(seeds.index)
            reached, censored = ~points["censored"], points["censored"]
            axis.scatter(points.loc[reached, "drawn_at"], y[reached], s=30, color=colours[event], zorder=3)
            _mark_censored(axis, points.loc[censored, "drawn_at"], y[censored], "black")
            summary = medians[(medians["configuration"] == arm) & (medians["event"] == event)].iloc[0]
            if summary["reached"]:
                axis.axvline(max(summary["median"], 1.0), color=colours[event], linewidth=1.6, zorder=2)
            axis.text(0.01, 1.02, _reach_summary(summary), transform=axis.transAxes, fontsize=6.5, va="bottom")
            for budget in sorted(set(points["budget"])):
                axis.axvline(budget, color="0.5", linestyle=":", linewidth=1, zorder=1)
            axis.set(xscale="log", yticks=range(len(seeds)), yticklabels=[str(s) for s in seeds],
                     ylim=(-0.7, len(seeds) - 0.3))
            _label_steps(axis, "x")
            axis.tick_params(axis="y", labelsize=6)
            axis.set_ylabel(f"{arm}\nseed" if column == 0 else "", fontsize=7)
            if row == len(kept) - 1:
                axis.set_xlabel("step (log)")
    for column, event in enumerate(events):
        panels[0][column].set_title(event, fontsize=8, pad=12)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="none", color="0.3", label="one seed"),
               Line2D([], [], color="0.3", label="median over the seeds that reached it"),
               Line2D([], [], marker="^", linestyle="none", markerfacecolor="none", markeredgecolor="black",
                      markersize=7, label=f"{NOT_REACHED} (drawn at it; never in a median)"),
               Line2D([], [], color="0.5", linestyle=":", label="budget")]
    left_out = f"; {len(arms) - len(kept)} more arms not drawn" if len(arms) > len(kept) else ""
    arm_axes = ", ".join(axes) if axes else "these runs"
    figure.suptitle(f"Time to threshold per arm of {arm_axes}{left_out}", fontsize=9)
    figure.legend(handles=handles, loc="lower center", ncol=4, fontsize=6.5, frameon=False,
                  bbox_to_anchor=(0.5, 0.0))
    figure.tight_layout(rect=(0, 0.05, 1, 0.99))
    sentences = [f"{event}: " + "; ".join(f"{r['configuration']} {_reach_summary(r)}" for _, r in
                                          medians[medians["event"] == event].iterrows()) + "."
                 for event in reversed(events)]  # t_gen first: what a comparison of arms is usually about
    describe(figure, f"Time to threshold per arm of {arm_axes}, each seed a point; medians over the seeds that "
                     f"reached the threshold only. " + " ".join(sentences))
    return figure


def all_runs_time_to_threshold(curves: xr.Dataset, verdict: dict):
    """Against each numeric sweep axis, one line per arm of the other axes; with no numeric axis to draw against
    (an optimiser comparison, a single configuration), each arm's seeds and median in a row of its own."""
    table = event_time_table(curves)
    axes = sweep_axes(curves)
    drawn = numeric_axes_to_draw(table, axes)
    return _times_against_numeric_axes(table, axes, drawn) if drawn else _times_per_arm(table, axes)


DRAW = {name: globals()[name] for name in FIGURES}
