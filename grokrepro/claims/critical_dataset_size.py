"""Varma et al. 2023: memorisation gets less efficient as the training set grows, generalisation does not
(C1, C2), and the two cross at a critical dataset size that also bounds grokking and ungrokking (C3).

Efficiency is read as the parameter norm a network settles at under weight decay: memorisation-only networks
are trained on random labels, generalisation-only ones on enough true data to grok, certified by the share of
their logits in the Fourier subspace of the algorithm.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from pydantic import Field

from grokrepro.claims.kit import CheckParams, Selection, seed_share, selects_runs
from grokrepro.claims.registry import check
from grokrepro.claims.verdict import CheckResult, healthy_runs, seed_table, select_runs
from grokrepro.metrics import bootstrap, first_step_reaching
from grokrepro.metrics.sizes import crossing, final_values, log_interpolate, tail_change


class Converged(CheckParams):
    axis: str = "train_size"
    # "At convergence": the norm moved less than this (max/min − 1) over the last tail_fraction of the run.
    tail_fraction: float = Field(0.2, gt=0, lt=1)
    norm_tolerance: float = Field(0.02, gt=0)
    memorise: dict = Field(default_factory=lambda: {"labels": "random"})
    generalise: dict = Field(default_factory=lambda: {"labels": "true"})
    # Where the generalisation-only networks come from: this claim's runs ("self"), or another claim's (e.g.
    # grokked networks trained on further on D' pairs that stayed generalised, in the ungrokking claim).
    generalisers_from: str = "self"


class MemorisationParams(Converged):
    min_sizes: int = Field(4, ge=2)
    # The train loss "does not fall" with size: each larger size's loss is at least (1 − this) × the smaller's.
    loss_tolerance: float = Field(0.05, ge=0)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class GeneralisationParams(Converged):
    max_norm_variation: float = Field(0.15, gt=0)
    min_sizes: int = Field(3, ge=2)
    min_size_span: float = Field(2.0, gt=1)
    min_memorisation_rise: float = Field(0.30, gt=0)
    gen_acc: float = Field(0.95, gt=0, le=1)
    min_fourier_share: float = Field(0.95, gt=0, le=1)


class CriticalSizeParams(Converged):
    scratch: dict = Field(default_factory=lambda: {"labels": "true"})
    ungrokking_claim: str = "ungrokking"
    ungrokking_where: dict = Field(default_factory=lambda: {"weight_decay": 1.0})
    boundary_acc: float = Field(0.5, gt=0, lt=1)
    within_factor: float = Field(2.0, gt=1)
    gen_acc: float = Field(0.95, gt=0, le=1)
    slow_from: float = Field(1.5, gt=1)  # t_gen at slow_to × boundary must be >= min_slowdown × at slow_from ×
    slow_to: float = Field(1.1, gt=1)
    min_slowdown: float = Field(3.0, gt=1)
    min_fourier_share: float = Field(0.95, gt=0, le=1)


def _final_table(runs: xr.Dataset, name: str, axis: str):
    return seed_table(runs, axis, final_values(runs[name].values))


def _unconverged(runs: xr.Dataset, params: Converged) -> list[str]:
    change = tail_change(runs["param_norm"].values, runs["step"].values, params.tail_fraction)
    bad = np.nonzero(~(change <= params.norm_tolerance))[0]
    return [f"seed {int(runs['seed'].values[k])} at {params.axis} {runs[params.axis].values[k]:g} "
            f"(norm moved {change[k]:.1%})" for k in bad]


def _judged_if_converged(result: CheckResult, unconverged: list[str]) -> CheckResult:
    """A norm read "at convergence" from runs still moving is no evidence either way: inconclusive."""
    if unconverged:
        result.made_inconclusive("not converged: " + ", ".join(unconverged), clear_pass=True)
    return result


def certified_generalisers(runs: xr.Dataset, gen_acc: float, min_share: float) -> np.ndarray:
    """Runs that end generalised, with logits certified to lie in the Fourier subspace."""
    acc = final_values(runs["test_acc"].values)
    share = final_values(runs["fourier_share"].values) if "fourier_share" in runs else np.full(len(acc), np.nan)
    return (acc >= gen_acc) & (share >= min_share)


def _rises(norms: np.ndarray, losses: np.ndarray, loss_tolerance: float) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.diff(norms) > 0) and np.all(losses[1:] >= (1 - loss_tolerance) * losses[:-1]))


@check("memorisation_norm_rises_with_size", MemorisationParams)
@selects_runs(threshold=lambda p: p.min_seed_fraction, where=lambda check, p: {**check.where, **p.memorise},
              none_match=False)
def memorisation_norm_rises(sel: Selection, params: MemorisationParams) -> CheckResult:
    """At convergence, random-label (memorising) networks' parameter norm rises strictly with the training-set
    size while their train loss does not fall, on >= min_seed_fraction of the seeds."""
    runs = sel.runs
    sizes, seeds, norms = _final_table(runs, "param_norm", params.axis)
    losses = _final_table(runs, "train_loss", params.axis)[2]
    complete = ~np.isnan(norms).any(axis=1)
    if len(sizes) < params.min_sizes or not complete.any():
        return sel.inconclusive(f"{len(sizes)} sizes with complete seeds; need {params.min_sizes} "
                                f"({sel.n_diverged} diverged)", sel.n_runs)
    unconverged = _unconverged(runs, params)
    holds = np.array([_rises(n, l, params.loss_tolerance) for n, l in zip(norms[complete], losses[complete])])
    median = np.median(norms[complete], axis=0)
    detail = "; ".join(f"{params.axis} {s:g}: median norm {n:.2f}, median train loss {l:.2e}"
                       for s, n, l in zip(sizes, median, np.median(losses[complete], axis=0)))
    return _judged_if_converged(sel.result(**seed_share(holds, sel.threshold), detail=detail), unconverged)


def _memorisation_rise(mem_sizes, mem_median, low, high) -> float:
    return log_interpolate(mem_sizes, mem_median, high) / log_interpolate(mem_sizes, mem_median, low) - 1


def _source(curves: xr.Dataset, params: Converged, others: dict | None) -> xr.Dataset | None:
    return curves if params.generalisers_from == "self" else (others or {}).get(params.generalisers_from)


@check("generalisation_norm_flat_in_size", GeneralisationParams, reads_other_claims=True)
@selects_runs(threshold=lambda p: p.max_norm_variation, where=lambda check, p: {**check.where, **p.memorise},
              none_match=False)
def generalisation_norm_flat(sel: Selection, params: GeneralisationParams, others: dict | None = None
                             ) -> CheckResult:
    """Generalising networks settle at a parameter norm that varies <= max_norm_variation over >= min_sizes
    training-set sizes, over which the memorising networks' norm rises >= min_memorisation_rise."""
    threshold, memorisers = sel.threshold, sel.runs
    source = _source(sel.curves, params, others)
    if source is None:
        return sel.inconclusive(f"no curves of claim {params.generalisers_from!r} were given")
    selected, n_diverged = healthy_runs(select_runs(source, params.generalise))
    generalised = certified_generalisers(selected, params.gen_acc, params.min_fourier_share)
    runs = selected.isel(run=np.nonzero(generalised)[0])
    sizes, seeds, norms = _final_table(runs, "param_norm", params.axis)
    # sizes at which every seed generalised
    full = ~np.isnan(norms).any(axis=0)
    sizes, norms = sizes[full], norms[:, full]
    left_out = int((~generalised).sum())
    if len(sizes) < params.min_sizes or sizes[-1] / sizes[0] < params.min_size_span:
        return sel.inconclusive(f"sizes where every seed generalised with Fourier share >= "
                                f"{params.min_fourier_share}: {list(map(float, sizes))}; need {params.min_sizes} "
                                f"spanning {params.min_size_span}x ({left_out} runs not certified, {n_diverged} "
                                "diverged)", int(selected.sizes["run"]))
    mem_sizes, _, mem_norms = _final_table(memorisers, "param_norm", params.axis)
    mem_median = np.nanmedian(mem_norms, axis=0) if mem_norms.size else np.array([])
    rise = _memorisation_rise(mem_sizes, mem_median, sizes[0], sizes[-1]) if mem_norms.size else np.nan
    if not rise >= params.min_memorisation_rise:
        return sel.inconclusive(f"memorisation's norm rises {rise:.1%} over sizes {sizes[0]:g}-{sizes[-1]:g}, less "
                                f"than the {params.min_memorisation_rise:.0%} that makes flatness telling (or was "
                                "not measured there)", int(selected.sizes["run"]))

    def variation(table):
        median = np.median(table, axis=0)
        return float(median.max() / median.min() - 1)

    value = variation(norms)
    draws = bootstrap(norms, variation)
    per_seed = np.mean([row.max() / row.min() - 1 <= threshold for row in norms])
    shares = final_values(runs["fourier_share"].values)
    detail = "; ".join(f"{params.axis} {s:g}: median norm {n:.2f}" for s, n in zip(sizes, np.median(norms, 0)))
    detail += (f"; memorisation's norm rises {rise:.0%} over the same sizes; Fourier share of certified runs "
               f"{shares.min():.3f}-{shares.max():.3f}; {left_out} runs not certified as generalising")
    unconverged = _unconverged(runs, params)
    result = sel.result(value, value <= threshold, detail, draws=draws, seed_fraction=float(per_seed),
                        support=float((draws <= threshold).mean()), n_runs=runs.sizes["run"])
    return _judged_if_converged(result, unconverged)


def critical_sizes(curves: xr.Dataset, generalisers: xr.Dataset, params) -> tuple[np.ndarray, np.ndarray, float]:
    """Per seed, the size at which memorisation's norm reaches generalisation's (its level: the median norm
    of certified generalising runs). Returns (seeds, D_crit per seed, generalisation's norm)."""
    memorisers = healthy_runs(select_runs(curves, params.memorise))[0]
    generalisers = healthy_runs(select_runs(generalisers, params.generalise))[0]
    certified = certified_generalisers(generalisers, params.gen_acc, params.min_fourier_share)
    gen_norm = float(np.median(final_values(generalisers["param_norm"].values)[certified])) \
        if certified.any() else np.nan
    sizes, seeds, norms = _final_table(memorisers, "param_norm", params.axis)
    return seeds, np.array([crossing(sizes, row, gen_norm) for row in norms]), gen_norm


def _time_at(sizes: np.ndarray, times: np.ndarray, size: float) -> float:
    """Median time to generalise at `size`, interpolated between grid sizes. Next to a censored size the
    interpolation would be +inf and pass any slow-down trivially, so the next larger size with an observed
    time stands in: it generalises sooner, which can only shrink the slow-down measured."""
    value = log_interpolate(sizes, times, size)
    if np.isfinite(value) or not np.isfinite(size):
        return value
    later = np.nonzero((sizes >= size) & np.isfinite(times))[0]
    return float(times[later[0]]) if later.size else float("nan")


def _boundary(runs: xr.Dataset, axis: str, level: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Where the median final test accuracy over seeds rises through `level` as size grows."""
    sizes, _, acc = _final_table(runs, "test_acc", axis)
    median = np.nanmedian(acc, axis=0) if acc.size else np.array([])
    return crossing(sizes, median, level), sizes, median


@check("critical_size_bounds_grokking", CriticalSizeParams, reads_other_claims=True)
@selects_runs(threshold=lambda p: {"within_factor": p.within_factor, "min_slowdown": p.min_slowdown},
              none_match=False)  # it reads every run of the claim: memorisers, generalisers and from-scratch runs
def critical_size_bounds_grokking(sel: Selection, params: CriticalSizeParams, others: dict | None = None
                                  ) -> CheckResult:
    """D_crit (where the memorising and generalising networks' norms meet) lies within `within_factor` of the
    ungrokking transition (the other claim's curves) and of the grokking boundary, and grokking slows down
    towards it."""
    curves = sel.curves
    ungrokking = (others or {}).get(params.ungrokking_claim)
    source = _source(curves, params, others)
    if ungrokking is None or source is None:
        return sel.inconclusive(f"no curves of claim {params.ungrokking_claim!r} or {params.generalisers_from!r} "
                                "were given")
    seeds, d_crit, gen_norm = critical_sizes(curves, source, params)
    if not np.isfinite(d_crit).any():
        return sel.inconclusive(f"memorisation's norm never crosses generalisation's ({gen_norm:.2f}) within the "
                                f"sizes run: D_crit per seed {list(d_crit)}")
    finite = d_crit[np.isfinite(d_crit)]
    estimate = float(np.median(finite))
    draws = bootstrap(finite, np.median)

    # from-scratch boundary: true-label runs, final test accuracy against size
    scratch = healthy_runs(select_runs(curves, params.scratch))[0]
    boundary, sizes, median_acc = _boundary(scratch, params.axis, params.boundary_acc)
    ungrok_runs = healthy_runs(select_runs(ungrokking, params.ungrokking_where))[0]
    transition, _, _ = _boundary(ungrok_runs, params.axis, params.boundary_acc)

    steps = scratch["step"].values
    t_gen = first_step_reaching(scratch["test_acc"].values, steps, params.gen_acc)
    t_sizes, _, t_table = seed_table(scratch, params.axis, t_gen)
    median_t = np.median(t_table, axis=0)  # +inf (never) ranks last, as the censoring rule says
    slow_from = _time_at(t_sizes, median_t, params.slow_from * boundary)
    slow_to = _time_at(t_sizes, median_t, params.slow_to * boundary)
    slowdown = slow_to / slow_from if np.isfinite(slow_from) else np.nan

    def within(size, reference):
        return bool(np.isfinite(size) and reference / params.within_factor <= size <= reference * params.within_factor)

    parts = {
        "from-scratch boundary within the factor of D_crit": within(boundary, estimate),
        "ungrokking transition within the factor of D_crit": within(transition, estimate),
        "ungrokking transition below the from-scratch boundary": bool(transition < boundary),
        "t_gen slows down enough approaching the boundary": bool(slowdown >= params.min_slowdown),
    }
    passed = all(parts.values())
    # Resampling seeds moves D_crit; the failure is beyond the uncertainty only if no resample saves it.
    support = float(np.mean([within(boundary, d) and within(transition, d) for d in draws])) \
        if parts["ungrokking transition below the from-scratch boundary"] and \
        parts["t_gen slows down enough approaching the boundary"] else 0.0
    detail = (f"D_crit {estimate:.0f} (seeds {', '.join(f'{int(s)}: {d:.0f}' for s, d in zip(seeds, d_crit))}; "
              f"generalisation's norm {gen_norm:.2f}); from-scratch boundary {boundary:.0f} "
              f"({boundary / estimate:.2f}x); ungrokking transition {transition:.0f} ({transition / estimate:.2f}x); "
              f"median t_gen {slow_from:.0f} at {params.slow_from}x the boundary, {slow_to:.0f} at "
              f"{params.slow_to}x ({slowdown:.1f}x slower); "
              + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in parts.items()))
    return sel.result(estimate, passed, detail, draws=draws, support=support, n_runs=curves.sizes["run"])
