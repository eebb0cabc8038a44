"""Prieto, Barsbey, Mediano, Birdal 2025 ("Grokking at the edge of numerical stability"): without weight decay,
float32 cross-entropy training reaches softmax collapse (SC) and stops generalising (N1); StableMax
cross-entropy or ⊥AdamW generalise without weight decay (N2); float64 in the softmax delays the collapse (N3).

SC is read from the `softmax_collapse` probe: the share of training examples whose loss is exactly 0 in the
run's loss dtype (the authors' `zero_terms`)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from grokrepro.claims.registry import Requires, check
from grokrepro.claims.verdict import (INCONCLUSIVE, AmbiguousRunsError, CheckResult, healthy_runs, inconclusive,
                                      judged, select_runs)
from grokrepro.metrics import bootstrap, first_step_reaching, interval

SC = "softmax_collapse"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_seed_fraction: float = Field(2 / 3, gt=0, le=1)


class CollapseParams(Params):
    # the share of training examples at exactly zero loss that counts as collapse
    sc_share: float = Field(0.5, gt=0, le=1)
    # test accuracy never above this over the whole budget
    max_test_acc: float = Field(0.1, ge=0, le=1)


class GeneraliseParams(Params):
    gen_acc: float = Field(0.95, gt=0, le=1)
    # The paper's own time to generalise in this setting, in steps, where known: a run that has not generalised
    # by the end of a shorter budget says nothing against the paper, so a failure is then inconclusive.
    paper_steps: Optional[int] = Field(None, gt=0)


class DelayParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    axis: str = "optimizer"
    # values of `axis`: the arm whose collapse should come later, and the arm it is compared with
    treated: str = "ce_float64"
    baseline: str = "ce_float32"
    sc_share: float = Field(0.5, gt=0, le=1)
    min_ratio: float = Field(1.5, gt=0)
    min_seeds: int = Field(2, ge=1)


def _no_probe(spec_check, threshold, runs) -> CheckResult:
    return inconclusive(spec_check, threshold, f"the curves have no {SC!r} probe (train.probes needs "
                        f"{{kind: {SC}}})", int(runs.sizes["run"]))


def _share_result(spec_check, holds: np.ndarray, threshold: float, detail: str, n_runs: int) -> CheckResult:
    share = float(holds.mean())
    draws = bootstrap(holds.astype(float), np.mean)
    return judged(CheckResult(
        spec_check.name, spec_check.statement, share, threshold, share >= threshold, "",
        interval=list(interval(draws)), seed_fraction=share, support=float((draws >= threshold).mean()),
        n_runs=n_runs, detail=detail, where=dict(spec_check.where)))


@check("collapse_without_generalisation", CollapseParams, requires=Requires(metrics=("test_acc",), probes=(SC,)))
def collapse_without_generalisation(curves: xr.Dataset, spec_check, params: CollapseParams) -> CheckResult:
    """N1: on >= min_seed_fraction of the seeds, the share of zero-loss training examples reaches sc_share at
    some logged step, and test accuracy stays <= max_test_acc over the whole budget."""
    runs, n_diverged = healthy_runs(select_runs(curves, spec_check.where))
    threshold = params.min_seed_fraction
    if runs.sizes["run"] == 0:
        return inconclusive(spec_check, threshold, f"no healthy runs match {spec_check.where} "
                            f"({n_diverged} diverged)")
    if SC not in runs:
        return _no_probe(spec_check, threshold, runs)
    steps = runs["step"].values
    t_sc = first_step_reaching(runs[SC].values, steps, params.sc_share)
    peak_sc = np.nanmax(runs[SC].values, axis=1)
    peak_test = np.nanmax(runs["test_acc"].values, axis=1)
    holds = np.isfinite(t_sc) & (peak_test <= params.max_test_acc)
    detail = "; ".join(
        f"seed {int(s)}: SC share peaks at {p:.3f}" + (f", >= {params.sc_share:g} from step {t:g}" if np.isfinite(t)
                                                       else f", never {params.sc_share:g}")
        + f"; test acc at most {a:.3f}" for s, p, t, a in zip(runs["seed"].values, peak_sc, t_sc, peak_test))
    return _share_result(spec_check, holds, threshold,
                         detail + (f"; {n_diverged} diverged runs left out" if n_diverged else ""),
                         int(runs.sizes["run"]))


@check("generalises_without_weight_decay", GeneraliseParams,
       requires=Requires(metrics=("test_acc",), config={"optimizer.weight_decay": 0.0}))
def generalises_without_weight_decay(curves: xr.Dataset, spec_check, params: GeneraliseParams) -> CheckResult:
    """N2: without weight decay, the runs reach test accuracy gen_acc within their budget on >= min_seed_fraction
    of the seeds. The spec's `where` selects a weight-decay-0 arm (StableMax or ⊥AdamW); the spec validator
    refuses a selection holding any other weight decay, before anything trains."""
    runs, n_diverged = healthy_runs(select_runs(curves, spec_check.where))
    threshold = params.min_seed_fraction
    if runs.sizes["run"] == 0:
        return inconclusive(spec_check, threshold, f"no healthy runs match {spec_check.where} "
                            f"({n_diverged} diverged)")
    if "weight_decay" in runs.coords and np.any(runs["weight_decay"].values != 0):
        return inconclusive(spec_check, threshold, "the selected runs include weight decay "
                            f"{sorted(set(runs['weight_decay'].values.tolist()))}; this check reads weight decay 0",
                            int(runs.sizes["run"]))
    steps = runs["step"].values
    t_gen = first_step_reaching(runs["test_acc"].values, steps, params.gen_acc)
    final = runs["test_acc"].values[:, -1]
    holds = np.isfinite(t_gen)
    budget = int(steps[-1])
    detail = "; ".join(f"seed {int(s)}: " + (f"test acc {params.gen_acc:g} at step {t:g}" if np.isfinite(t) else
                                               f"never test acc {params.gen_acc:g} (final {f:.3f})")
                       for s, t, f in zip(runs["seed"].values, t_gen, final))
    detail += f"; budget {budget} steps" + (f"; {n_diverged} diverged runs left out" if n_diverged else "")
    result = _share_result(spec_check, holds, threshold, detail, int(runs.sizes["run"]))
    if not result.passed and params.paper_steps is not None and budget < params.paper_steps:
        result.status = INCONCLUSIVE
        result.detail = (f"the budget ({budget} steps) is shorter than the {params.paper_steps} steps the paper "
                         f"trained this arm for, so not generalising within it says nothing against the paper; "
                         + result.detail)
    return result


def _median_ratio(table: np.ndarray) -> float:
    """Median over seeds of t_SC(treated) / t_SC(baseline); a treated run that never collapses is later than
    any observed time (inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = table[:, 0] / table[:, 1]
    return float(np.median(ratios))


@check("collapse_delayed", DelayParams,
       requires=Requires(axes={"{axis}": "any"}, arms={"{axis}": ("{treated}", "{baseline}")}, probes=(SC,)))
def collapse_delayed(curves: xr.Dataset, spec_check, params: DelayParams) -> CheckResult:
    """N3: the first logged step at which the share of zero-loss training examples reaches sc_share is, in the
    median over seeds of the per-seed ratio, >= min_ratio times later in the treated arm (float64 softmax) than
    in the baseline (float32). A treated run that never collapses is censored (later than any observed time);
    seeds whose baseline never collapses have nothing to delay and are left out."""
    runs, n_diverged = healthy_runs(select_runs(curves, spec_check.where))
    threshold = params.min_ratio
    if params.axis not in runs.coords:
        return inconclusive(spec_check, threshold, f"the curves have no coordinate {params.axis!r}")
    if SC not in runs:
        return _no_probe(spec_check, threshold, runs)
    t_sc = first_step_reaching(runs[SC].values, runs["step"].values, params.sc_share)

    def arm(value) -> dict[int, float]:
        chosen = np.nonzero(runs[params.axis].values == value)[0]
        seeds = runs["seed"].values[chosen]
        if len(set(seeds.tolist())) != len(seeds):
            raise AmbiguousRunsError(f"several runs with {params.axis} = {value!r} share a seed; the check's "
                                     f"'where' must fix every sweep axis but {params.axis!r}")
        return {int(s): float(t_sc[k]) for s, k in zip(seeds, chosen)}

    treated, baseline = arm(params.treated), arm(params.baseline)
    seeds = np.array(sorted(set(treated) & set(baseline)))
    if len(seeds) == 0:
        return inconclusive(spec_check, threshold, f"no seed has runs with {params.axis} = {params.treated!r} and "
                            f"{params.baseline!r} both", int(runs.sizes["run"]))
    table = np.array([[treated[s], baseline[s]] for s in seeds])
    per_seed = "; ".join(f"seed {int(s)}: {t:g} vs {b:g}" for s, (t, b) in zip(seeds, table))
    collapsed = np.isfinite(table[:, 1])
    if collapsed.sum() < params.min_seeds:
        return inconclusive(spec_check, threshold, f"the baseline ({params.baseline}) reaches SC share "
                            f"{params.sc_share:g} on {int(collapsed.sum())} seeds, fewer than {params.min_seeds}: "
                            f"nothing to delay; first step with SC >= {params.sc_share:g}: {per_seed}",
                            int(runs.sizes["run"]))
    table, seeds = table[collapsed], seeds[collapsed]
    value = _median_ratio(table)
    draws = bootstrap(table, _median_ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        seed_fraction = float(np.mean(table[:, 0] / table[:, 1] >= threshold))
    resolution = np.diff(runs["step"].values).max() if runs.sizes["step"] > 1 else 0
    result = judged(CheckResult(
        spec_check.name, spec_check.statement, value, threshold, value >= threshold, "",
        interval=list(interval(draws)), seed_fraction=seed_fraction,
        support=float((draws >= threshold).mean()), n_runs=int(runs.sizes["run"]), where=dict(spec_check.where),
        detail=(f"first logged step with SC share >= {params.sc_share:g} ({params.treated} vs {params.baseline}; "
                f"inf = never within the budget; logged at most {resolution:g} steps apart): {per_seed}; median "
                f"ratio {value:g} (at least {threshold:g} wanted)"
                + (f"; {n_diverged} diverged runs left out" if n_diverged else ""))))
    return result
