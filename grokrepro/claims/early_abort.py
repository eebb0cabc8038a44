"""Beyond the papers: what `train.early_abort` saves, and what it costs, on a sweep trained twice, once with
the abort and once to the full budget (the twin says whether a stopped run would have grokked).

Any claim can add this check to a sweep with a section-variant axis (e.g. `train: [{name: full}, {name:
early_abort, early_abort: {...}}]`); it is meant to be declared with `counts_for_verdict: false`.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from pydantic import Field

from grokrepro.claims.kit import Generalises, Selection, paired_runs, selects_runs
from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult
from grokrepro.metrics import bootstrap, first_step_reaching


class SavingsParams(Generalises):
    # the sweep axis whose variants are the aborting runs and their full-budget twins
    variant_axis: str = "train"
    aborting: str = "early_abort"
    reference: str = "full"
    min_saved: float = Field(0.2, ge=0, le=1)
    max_wrongly_stopped: float = Field(0.0, ge=0, le=1)


def trained_steps(runs: xr.Dataset) -> np.ndarray:
    """Optimiser updates each run received: up to its abort, early stop (that step's update included),
    divergence, or else its whole budget."""
    budget = runs["budget_steps"].values.astype(float)
    ends = [budget]
    if "aborted_at" in runs:
        ends.append(np.where(runs["aborted_at"].values >= 0, runs["aborted_at"].values, np.inf))
    ends.append(np.where(runs["stopped_at"].values >= 0, runs["stopped_at"].values + 1, np.inf))
    ends.append(np.where(runs["diverged_at"].values >= 0, runs["diverged_at"].values, np.inf))
    return np.min(ends, axis=0)


def _describe(runs: xr.Dataset, k: int) -> str:
    names = [n for n in ("train_fraction", "lr", "weight_decay") if n in runs.coords]
    return f"seed {int(runs['seed'].values[k])}, " + ", ".join(f"{n} {float(runs[n].values[k]):g}" for n in names)


def _twin_key(config_json: str, seed: int) -> str:
    config = json.loads(config_json)
    config["train"].pop("early_abort", None)  # the one thing twins differ in
    return json.dumps([config, int(seed)], sort_keys=True)


def twins(runs: xr.Dataset, params: SavingsParams) -> np.ndarray:
    """(index of the aborting run, index of its full-budget twin) rows, in the aborting runs' order."""
    def twin(k: int) -> str:
        return _twin_key(runs["config"].values[k], runs["seed"].values[k])

    return paired_runs(runs, params.variant_axis, [params.aborting, params.reference], key=twin)[1]


def _summary(rows: np.ndarray) -> tuple[float, float]:
    """(share of the reference compute saved, share of grokking references wrongly stopped)."""
    steps_aborting, steps_reference, stopped, reference_groks = rows.T
    saved = 1 - steps_aborting.sum() / steps_reference.sum()
    groks = reference_groks.astype(bool)
    wrong = float((stopped.astype(bool) & groks).sum() / groks.sum()) if groks.any() else 0.0
    return float(saved), wrong


@check("early_abort_savings", SavingsParams)
@selects_runs(threshold=lambda p: {"min_saved": p.min_saved, "max_wrongly_stopped": p.max_wrongly_stopped},
              healthy=False, none_match=False)
def early_abort_savings(sel: Selection, params: SavingsParams) -> CheckResult:
    """Stopping the runs the early-loss predictor says will not grok saves >= min_saved of the sweep's optimiser
    updates and stops at most max_wrongly_stopped of the runs whose full-budget twin groks."""
    runs = sel.runs
    if params.variant_axis not in runs.coords or "aborted_at" not in runs:
        return sel.inconclusive(f"the curves have no {params.variant_axis!r} variants with early abort")
    pairs = twins(runs, params)
    if not len(pairs):
        return sel.inconclusive(f"no '{params.aborting}' run has a '{params.reference}' twin")
    aborting, reference = pairs[:, 0], pairs[:, 1]
    steps = trained_steps(runs)
    stopped = runs["aborted_at"].values[aborting] >= 0
    t_gen = first_step_reaching(runs["test_acc"].values, runs["step"].values, params.gen_acc)
    groks = np.isfinite(t_gen[reference])
    rows = np.stack([steps[aborting], steps[reference], stopped, groks], axis=1).astype(float)
    saved, wrong = _summary(rows)
    passed = saved >= params.min_saved and wrong <= params.max_wrongly_stopped
    draws = bootstrap(rows, lambda pick: _summary(pick)[0])
    support = bootstrap(rows, lambda pick: float(_summary(pick)[0] >= params.min_saved
                                                 and _summary(pick)[1] <= params.max_wrongly_stopped))
    seeds = runs["seed"].values[aborting]
    per_seed = [(lambda s, w: s >= params.min_saved and w <= params.max_wrongly_stopped)(*_summary(rows[seeds == s]))
                for s in np.unique(seeds)]
    wrongly = [_describe(runs, reference[k]) for k in np.nonzero(stopped & groks)[0]]
    missed = int((~stopped & ~groks).sum())
    detail = (f"{len(pairs)} twin pairs; {int(stopped.sum())} runs stopped at the end of their window; "
              f"{int(groks.sum())} of the full-budget twins grok (test acc >= {params.gen_acc} within the budget); "
              f"wrongly stopped: {len(wrongly)} of {int(groks.sum())} grokking runs"
              + (f" ({'; '.join(wrongly)})" if wrongly else "")
              + f"; not stopped although they never grok: {missed}; updates trained: "
              f"{int(steps[aborting].sum())} with the abort vs {int(steps[reference].sum())} without "
              f"({saved:.1%} saved); interval: bootstrap over twin pairs")
    return sel.result(saved, passed, detail, draws=draws, seed_fraction=float(np.mean(per_seed)),
                      support=float(support.mean()), n_runs=2 * len(pairs))
