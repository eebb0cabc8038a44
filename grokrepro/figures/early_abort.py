"""Figure for train.early_abort, for any claim whose spec has an `early_abort_savings` check: the twins' test
accuracy (full budget vs stopped after the predictor's window) and the updates each pair trained."""

from __future__ import annotations

import numpy as np
import xarray as xr

from grokrepro.claims.early_abort import SavingsParams, trained_steps, twins
from grokrepro.claims.verdict import select_runs
from grokrepro.figures.common import plt, spec_check
from grokrepro.metrics import first_step_reaching

CHECK = "early_abort_savings"


def early_abort(curves: xr.Dataset, verdict: dict):
    check = spec_check(curves, CHECK)
    figure, (curves_axis, bars_axis) = plt.subplots(1, 2, figsize=(11, 3.6))
    if check is None:
        curves_axis.text(0.5, 0.5, "no early-abort check in this spec", ha="center", transform=curves_axis.transAxes)
        return figure
    params = SavingsParams(**check["params"])
    runs = select_runs(curves, check["where"])
    pairs = twins(runs, params) if params.variant_axis in runs.coords and "aborted_at" in runs else []
    if not len(pairs):
        curves_axis.text(0.5, 0.5, "no early-abort twins at this scale", ha="center",
                         transform=curves_axis.transAxes)
        return figure
    steps = runs["step"].values
    trained = trained_steps(runs)
    t_gen = first_step_reaching(runs["test_acc"].values, steps, params.gen_acc)
    colours = plt.cm.viridis(np.linspace(0, 0.85, len(pairs)))
    labels = []
    for (aborting, reference), colour in zip(pairs, colours):
        label = f"seed {int(runs['seed'].values[reference])}, wd {float(runs['weight_decay'].values[reference]):g}"
        labels.append(label)
        accuracy = runs["test_acc"].values[reference]
        logged = np.isfinite(accuracy)  # merged groups log on different step grids
        curves_axis.plot(steps[logged], accuracy[logged], color=colour, lw=1.2, label=label)
        stop = runs["aborted_at"].values[aborting]
        if stop >= 0:
            curves_axis.axvline(stop, color=colour, ls=":", lw=1)
            curves_axis.scatter([stop], [0.0], marker="x", color=colour, zorder=3)
    curves_axis.set(xscale="symlog", xlabel="step", ylabel="test accuracy (full-budget twin)", ylim=(-0.03, 1.03),
                    title="Full-budget twins; x: where the abort stopped the other twin")
    curves_axis.legend(fontsize=6)
    positions = np.arange(len(pairs))
    full_steps = [trained[r] for _, r in pairs]
    abort_steps = [trained[a] for a, _ in pairs]
    wrong = [runs["aborted_at"].values[a] >= 0 and np.isfinite(t_gen[r]) for a, r in pairs]
    bars_axis.barh(positions + 0.2, full_steps, height=0.4, color="lightgrey", label="without the abort")
    bars_axis.barh(positions - 0.2, abort_steps, height=0.4,
                   color=["tab:red" if w else "tab:green" for w in wrong], label="with the abort (red: wrongly stopped)")
    bars_axis.set_yticks(positions, labels, fontsize=7)
    saved = 1 - sum(abort_steps) / sum(full_steps)
    bars_axis.set(xlabel="optimiser updates trained",
                  title=f"{saved:.0%} of the updates saved; {sum(wrong)} grokking runs wrongly stopped")
    bars_axis.legend(fontsize=7)
    figure.tight_layout()
    return figure
