"""Varma et al. 2023, ungrokking: a grokked network trained on too small a subset of its data loses its test
accuracy while still fitting the subset (U1), through a sharp transition in the subset size (U2) that barely
moves with weight decay (U3), and only because of weight decay (U4). Just above the transition it settles at a
middling test accuracy, its logits a mixture of the circuits (U5, their Fig. 7)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from pydantic import Field

from grokrepro.claims.kit import CheckParams, Selection, seed_share, selects_runs
from grokrepro.claims.registry import check
from grokrepro.claims.semi_grokking import running_median
from grokrepro.claims.verdict import CheckResult, healthy_runs, seed_table, select_runs
from grokrepro.metrics import bootstrap
from grokrepro.metrics.sizes import crossing, final_values


class Params(CheckParams):
    axis: str = "train_size"


class ForgetsParams(Params):
    # Judged at the smallest subset size run (with the check's `where`): "D' well below D_crit".
    at_smallest_size: bool = True
    start_test_acc: float = Field(0.95, gt=0, le=1)
    max_final_test_acc: float = Field(0.5, ge=0, le=1)
    min_train_acc: float = Field(0.99, gt=0, le=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class TransitionParams(Params):
    low_acc: float = Field(0.5, ge=0, le=1)
    high_acc: float = Field(0.9, gt=0, le=1)
    max_size_ratio: float = Field(2.5, gt=1)


class WeightDecayParams(Params):
    weight_decays: list[float] = Field(min_length=2)
    level: float = Field(0.5, gt=0, lt=1)
    max_disagreement: float = Field(0.3, gt=0)


class ControlParams(Params):
    min_final_test_acc: float = Field(0.5, ge=0, le=1)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


@check("ungrokking_forgets", ForgetsParams)
@selects_runs(threshold=lambda p: p.min_seed_fraction)
def ungrokking_forgets(sel: Selection, params: ForgetsParams) -> CheckResult:
    """At the smallest D', on >= min_seed_fraction of the seeds, train accuracy stays high throughout while test
    accuracy falls from high to low (ungrokking)."""
    runs = sel.runs
    if params.at_smallest_size:
        smallest = runs[params.axis].values.min()
        runs = runs.isel(run=np.nonzero(runs[params.axis].values == smallest)[0])
    test = runs["test_acc"].values
    start = test[:, 0]
    final = final_values(test)
    lowest_train = np.nanmin(runs["train_acc"].values, axis=1)
    holds = (start >= params.start_test_acc) & (final <= params.max_final_test_acc) & (lowest_train >= params.min_train_acc)
    detail = f"{params.axis} {runs[params.axis].values[0]:g}: " + "; ".join(
        f"seed {int(s)}: test acc {a:.3f} -> {b:.3f}, lowest train acc {t:.3f}"
        for s, a, b, t in zip(runs["seed"].values, start, final, lowest_train))
    return sel.result(**seed_share(holds, sel.threshold), detail=detail, n_runs=runs.sizes["run"])


def _transition_ratio(sizes: np.ndarray, accuracy: np.ndarray, low: float, high: float) -> float:
    """Size ratio between the largest size still at or below `low` and the first size after it at or above
    `high` (accuracy ordered by ascending size); +inf if it never rises from low to high."""
    below = np.nonzero(accuracy <= low)[0]
    if below.size == 0:
        return float("inf")
    last_low = below[-1]
    above = np.nonzero(accuracy[last_low:] >= high)[0]
    if above.size == 0:
        return float("inf")
    return float(sizes[last_low + above[0]] / sizes[last_low])


@check("ungrokking_is_a_transition", TransitionParams)
@selects_runs(threshold=lambda p: p.max_size_ratio, none_match=False)
def ungrokking_is_a_transition(sel: Selection, params: TransitionParams) -> CheckResult:
    """The median final test accuracy over seeds rises from <= low_acc to >= high_acc within a factor
    max_size_ratio of D' (a sharp transition)."""
    runs, threshold = sel.runs, sel.threshold
    sizes, seeds, acc = seed_table(runs, params.axis, final_values(runs["test_acc"].values))
    acc = acc[~np.isnan(acc).any(axis=1)]
    if len(sizes) < 3 or len(acc) == 0:
        return sel.inconclusive(f"{len(sizes)} sizes, {len(acc)} complete seeds ({sel.n_diverged} diverged)",
                                sel.n_runs)

    def ratio(table):
        return _transition_ratio(sizes, np.median(table, axis=0), params.low_acc, params.high_acc)

    value = ratio(acc)
    draws = bootstrap(acc, ratio)
    per_seed = np.mean([_transition_ratio(sizes, row, params.low_acc, params.high_acc) <= threshold for row in acc])
    detail = "; ".join(f"{params.axis} {s:g}: median final test acc {a:.3f}" for s, a in zip(sizes, np.median(acc, 0)))
    return sel.result(value, value <= threshold, detail, draws=draws, seed_fraction=float(per_seed),
                      support=float((draws <= threshold).mean()))


def _crossings(runs: xr.Dataset, params: WeightDecayParams):
    """Per weight decay: sizes and the (seed, size) table of final test accuracy."""
    tables = {}
    for wd in params.weight_decays:
        subset = healthy_runs(select_runs(runs, {"weight_decay": wd}))[0]
        sizes, seeds, acc = seed_table(subset, params.axis, final_values(subset["test_acc"].values))
        tables[wd] = (sizes, seeds, acc)
    return tables


@check("ungrokking_size_ignores_weight_decay", WeightDecayParams)
@selects_runs(threshold=lambda p: p.max_disagreement, healthy=False, none_match=False)  # healthy per weight decay
def ungrokking_size_ignores_weight_decay(sel: Selection, params: WeightDecayParams) -> CheckResult:
    """The D' at which the median final test accuracy crosses `level` agrees within max_disagreement across the
    weight decays listed."""
    threshold = sel.threshold
    tables = _crossings(sel.runs, params)
    if any(acc.size == 0 for _, _, acc in tables.values()):
        return sel.inconclusive(f"no runs for some of the weight decays {params.weight_decays}")
    # Seeds are paired across weight decays (same seed, same parent network), so resample them together; each
    # weight decay keeps its own grid of sizes.
    common = sorted(set.intersection(*(set(seeds.tolist()) for _, seeds, _ in tables.values())))
    per_wd = [(sizes, acc[np.searchsorted(seeds, common)]) for sizes, seeds, acc in tables.values()]

    def crossings(rows):
        return [crossing(sizes, np.median(acc[rows], axis=0), params.level) for sizes, acc in per_wd]

    def disagreement(rows):
        points = crossings(rows)
        if not all(np.isfinite(points)):
            return float("inf")
        return float(max(points) / min(points) - 1)

    everyone = np.arange(len(common))
    value = disagreement(everyone)
    draws = bootstrap(everyone, disagreement)
    points = crossings(everyone)
    detail = "; ".join(f"weight decay {wd:g}: final test acc crosses {params.level} at {params.axis} {p:.0f}"
                       for wd, p in zip(params.weight_decays, points))
    return sel.result(value, value <= threshold, detail, draws=draws, support=float((draws <= threshold).mean()))


@check("no_ungrokking_without_weight_decay", ControlParams)
@selects_runs(threshold=lambda p: p.min_seed_fraction)
def no_ungrokking_without_weight_decay(sel: Selection, params: ControlParams) -> CheckResult:
    """Without weight decay, a grokked network trained on too little data keeps its test accuracy to the end on
    >= min_seed_fraction of the seeds."""
    runs = sel.runs
    final = final_values(runs["test_acc"].values)
    holds = final >= params.min_final_test_acc
    detail = "; ".join(f"seed {int(s)} at {params.axis} {d:g}: final test acc {a:.3f}"
                       for s, d, a in zip(runs["seed"].values, runs[params.axis].values, final))
    return sel.result(**seed_share(holds, sel.threshold), detail=detail)


class SettlesParams(Params):
    # Varma Fig. 7: just above the ungrokking transition a grokked network settles at a middling test accuracy,
    # a mixture of the circuits. Read over the last `tail_fraction` of runs of >= min_budget_units of 1/(lr wd).
    low_acc: float = Field(0.2, ge=0, le=1)
    high_acc: float = Field(0.9, gt=0, le=1)
    tail_fraction: float = Field(0.5, gt=0, le=1)
    max_acc_change: float = Field(0.1, gt=0)  # max - min of test accuracy (running median) over the tail
    max_norm_change: float = Field(0.02, gt=0)  # relative range of the parameter norm over the tail
    median_window: int = Field(3, ge=1)
    min_budget_units: float = Field(20.0, ge=0)
    # Mixed: the final Fourier share lies at least this far below the parent's (the run's first logged value)
    # and above chance (1/p, the share of logits spread evenly over all frequencies).
    min_share_gap: float = Field(0.1, ge=0)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


def _prime(config: str) -> float:
    try:
        return float(json.loads(config)["task"]["prime"])
    except (KeyError, TypeError, ValueError):
        return float("nan")


def settles_midway(steps, test_acc, param_norm, fourier_share, chance, params: SettlesParams) -> dict:
    """One run's U5 reading: final test accuracy, its change and the norm's over the tail, Fourier share at the
    start (the parent's) and the end, and whether all of it holds."""
    smoothed = running_median(test_acc, params.median_window)
    finite = np.nonzero(np.isfinite(smoothed))[0]
    shares = fourier_share[np.isfinite(fourier_share)]
    if finite.size < 2 or shares.size < 2:
        return {"holds": False, "readable": False}
    last = steps[finite[-1]]
    tail = finite[steps[finite] >= last * (1 - params.tail_fraction)]
    acc, norm = smoothed[tail], param_norm[tail]
    reading = {"final": float(acc[-1]), "acc_change": float(acc.max() - acc.min()),
               "norm_change": float(norm.max() / norm.min() - 1) if norm.min() > 0 else float("inf"),
               "parent_share": float(shares[0]), "share": float(shares[-1]), "readable": True}
    reading["holds"] = bool(
        params.low_acc <= reading["final"] <= params.high_acc and reading["acc_change"] <= params.max_acc_change
        and reading["norm_change"] <= params.max_norm_change
        and chance + params.min_share_gap <= reading["share"] <= reading["parent_share"] - params.min_share_gap)
    return reading


@check("ungrokking_settles_midway", SettlesParams)
@selects_runs(threshold=lambda p: p.min_seed_fraction, none_match=False)
def ungrokking_settles_midway(sel: Selection, params: SettlesParams) -> CheckResult:
    """At some subset size, runs settle at a middling test accuracy with a Fourier share between the parent's and
    chance. At some subset size, on >= min_seed_fraction of the seeds, runs of >= min_budget_units settle over
    their last tail_fraction at a test accuracy in [low_acc, high_acc] (within max_acc_change, norm within
    max_norm_change) with a final Fourier share min_share_gap below the parent's and above chance (1/p)."""
    runs, threshold = sel.runs, sel.threshold
    if "fourier_share" not in runs:
        return sel.inconclusive("no Fourier share was measured (train.probes fourier_share)")
    units = runs["budget_steps"].values * runs["lr"].values * runs["weight_decay"].values
    runs = runs.isel(run=np.nonzero(units >= params.min_budget_units)[0])
    if runs.sizes["run"] == 0:
        return sel.inconclusive(f"no healthy run of >= {params.min_budget_units:g} units of 1/(lr wd) matches "
                                f"{sel.check.where} ({sel.n_diverged} diverged)")
    steps = runs["step"].values
    # chance: a table's logits spread evenly over all p^2 (p - 1) frequencies put 1/p of their norm on the p - 1
    configs = runs["config"].values if "config" in runs.coords else [None] * runs.sizes["run"]
    chance = [1 / _prime(c) if c is not None else 0.0 for c in configs]
    readings = [settles_midway(steps, runs["test_acc"].values[k], runs["param_norm"].values[k],
                               runs["fourier_share"].values[k], chance[k], params) for k in range(runs.sizes["run"])]
    if not any(r["readable"] for r in readings):
        return sel.inconclusive("no run has two logged Fourier shares to compare", int(runs.sizes["run"]))
    sizes, seeds, table = seed_table(runs, params.axis, np.array([float(r["holds"]) for r in readings]))

    def best_share(rows):
        return float(np.max(np.nanmean(rows, axis=0)))

    per_size = np.nanmean(table, axis=0)
    best = int(np.argmax(per_size))
    value = float(per_size[best])
    draws = bootstrap(table, best_share)
    passed = value >= threshold
    where_best = f"{params.axis} {sizes[best]:g}"
    if passed:
        summary = (f"At {where_best}, {value:.0%} of the seeds settle at a middling test accuracy with a mixed "
                   f"Fourier share")
    else:
        summary = (f"At no {params.axis} do >= {threshold:.0%} of the seeds settle at a middling test accuracy "
                   f"([{params.low_acc:g}, {params.high_acc:g}], stable over the last {params.tail_fraction:.0%}) "
                   f"with a Fourier share between chance and the parent's; the best is {where_best} with {value:.0%}")

    def describe(k, r):
        head = f"seed {int(runs['seed'].values[k])} at {params.axis} {runs[params.axis].values[k]:g}"
        if not r["readable"]:
            return f"{head}: not readable"
        return (f"{head}: final test acc {r['final']:.3f} (tail change {r['acc_change']:.3f}), norm tail change "
                f"{r['norm_change']:.1%}, Fourier share {r['parent_share']:.3f} -> {r['share']:.3f} "
                f"(chance {chance[k]:.3f}){'' if r['holds'] else ', no'}")

    detail = summary + "; " + "; ".join(describe(k, r) for k, r in enumerate(readings))
    return sel.result(value, passed, detail, draws=draws, seed_fraction=value,
                      support=float((draws >= threshold).mean()), n_runs=runs.sizes["run"])
