"""Figures for Nanda et al. 2023: the restricted and excluded loss over training beside the train and test loss,
with the three phases shaded (their Fig. 7, top row); the key frequencies' share of the logits' variance and the
parameter norm (the cleanup read in the weights, their Fig. 7 bottom row)."""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

from grokrepro.claims.progress_measures import RiseParams
from grokrepro.claims.verdict import healthy_runs
from grokrepro.figures.common import plt, spec_check, spec_check_params
from grokrepro.metrics import first_step_reaching

FIGURES = ("restricted_and_excluded_loss", "key_frequencies_and_norm")
PHASES = (("memorisation", "tab:blue"), ("circuit formation", "tab:orange"), ("cleanup", "tab:green"))


def _arms(curves: xr.Dataset) -> list[float]:
    return sorted(set(curves["weight_decay"].values.tolist())) if "weight_decay" in curves.coords else [None]


def _arm(runs: xr.Dataset, weight_decay) -> xr.Dataset:
    if weight_decay is None:
        return runs
    return runs.isel(run=np.nonzero(np.isclose(runs["weight_decay"].values, weight_decay))[0])


def phase_boundaries(runs: xr.Dataset, fit_acc: float, gen_acc: float, prime: int | None) -> list[float]:
    """Median over seeds of: t_fit (train accuracy >= fit_acc: memorisation ends); the first step after it with
    the test loss below chance, ln p (its fall begins: circuit formation ends, cleanup starts); t_gen (test
    accuracy >= gen_acc: cleanup has made the network generalise). inf where the median run never gets there."""
    steps = runs["step"].values
    t_fit = first_step_reaching(runs["train_acc"].values, steps, fit_acc)
    chance = math.log(prime) if prime else np.inf
    falling = np.where(steps[None, :] > t_fit[:, None], -runs["test_loss"].values, -np.inf)
    t_fall = first_step_reaching(falling, steps, -chance)
    t_gen = first_step_reaching(runs["test_acc"].values, steps, gen_acc)
    return [float(np.median(t)) for t in (t_fit, t_fall, t_gen)]


def _shade(axis, bounds: list[float], end: float, label: bool) -> None:
    """Shade the phases; an arm whose test loss never falls is shaded as memorisation only (nothing marks a
    circuit formed there)."""
    if not np.isfinite(bounds[1]):
        bounds = [bounds[0], bounds[0], bounds[0]]
    edges = [0.0] + [min(b, end) for b in bounds]
    for (name, colour), left, right in zip(PHASES, edges[:-1], edges[1:]):
        if right > left:
            axis.axvspan(left, right, color=colour, alpha=0.08, linewidth=0, label=name if label else None)


def _prime(curves: xr.Dataset) -> int | None:
    task = json.loads(curves.attrs.get("spec_json", "{}")).get("task", {})
    return task.get("prime")


def _lines(axis, runs: xr.Dataset, name: str, colour: str, label: str) -> None:
    steps = runs["step"].values
    for k in range(runs.sizes["run"]):
        values = runs[name].values[k]
        keep = ~np.isnan(values)
        axis.plot(steps[keep], values[keep], color=colour, alpha=0.75, linewidth=1.1, label=label if k == 0 else None)


def restricted_and_excluded_loss(curves: xr.Dataset, verdict: dict):
    rise = spec_check_params(curves, "excluded_loss_rises", RiseParams)
    lead = (spec_check(curves, "restricted_loss_leads") or {}).get("params") or {}
    level = lead.get("level")
    restricted = lead.get("restricted", "restricted_loss")
    runs, _ = healthy_runs(curves)
    arms = _arms(runs)
    figure, axes = plt.subplots(2, len(arms), figsize=(4.6 * len(arms), 6.4), squeeze=False, sharex=True)
    prime = _prime(curves)
    for column, weight_decay in enumerate(arms):
        arm = _arm(runs, weight_decay)
        bounds = phase_boundaries(arm, rise.fit_acc, rise.gen_acc, prime)
        end = float(arm["step"].values[-1])
        for row, (name, colour, title) in enumerate((("excluded_loss", "tab:purple", "excluded loss (train)"),
                                                     (restricted, "tab:brown", restricted.replace("_", " ")))):
            axis = axes[row, column]
            _shade(axis, bounds, end, label=row == 0 and column == 0)
            if name in arm:
                _lines(axis, arm, name, colour, title)
            _lines(axis, arm, "train_loss", "tab:blue", "train loss")
            _lines(axis, arm, "test_loss", "tab:red", "test loss")
            if row == 1 and level:
                axis.axhline(level, color="grey", linestyle=":", linewidth=1, label=f"K2 level {level:g}")
            axis.set(yscale="log", ylabel="loss (nats)", xlabel="step" if row == 1 else None,
                     title=f"weight decay {weight_decay:g}" if weight_decay is not None and row == 0 else None)
            axis.legend(fontsize=7, loc="lower left")
    figure.suptitle("Restricted and excluded loss over training, one line per seed; shading: the three phases "
                    "(median over seeds: train acc >= fit, test loss < ln p, test acc >= gen)", y=1.0, fontsize=9)
    figure.tight_layout()
    return figure


def key_frequencies_and_norm(curves: xr.Dataset, verdict: dict):
    rise = spec_check_params(curves, "excluded_loss_rises", RiseParams)
    runs, _ = healthy_runs(curves)
    arms = _arms(runs)
    figure, axes = plt.subplots(1, len(arms), figsize=(4.6 * len(arms), 3.4), squeeze=False, sharey=True)
    prime = _prime(curves)
    for axis, weight_decay in zip(axes[0], arms):
        arm = _arm(runs, weight_decay)
        _shade(axis, phase_boundaries(arm, rise.fit_acc, rise.gen_acc, prime), float(arm["step"].values[-1]),
               label=axis is axes[0, 0])
        if "key_frequency_share" in arm:
            _lines(axis, arm, "key_frequency_share", "tab:olive", "key frequencies' share of the logits' variance")
        axis.set(ylim=(0, 1.02), xlabel="step", ylabel="share",
                 title=f"weight decay {weight_decay:g}" if weight_decay is not None else None)
        twin = axis.twinx()
        _lines(twin, arm, "param_norm", "tab:gray", "parameter norm")
        twin.set(ylabel="parameter norm (grey)")
        axis.legend(fontsize=7, loc="center right")
    figure.suptitle("The key frequencies take over the logits as the norm falls (cleanup), one line per seed",
                    y=1.02, fontsize=9)
    figure.tight_layout()
    return figure


DRAW = {"restricted_and_excluded_loss": restricted_and_excluded_loss,
        "key_frequencies_and_norm": key_frequencies_and_norm}
