"""Turning check results into a verdict, by the rules docs/report.md states.

A check that fails is `not_reproduced` only when it fails on (almost) every bootstrap resample of the seeds,
i.e. the failure lies outside the 95 % interval; otherwise the failure is within the uncertainty and the
check is `inconclusive`. Missing, diverged or too few runs are `inconclusive` too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xarray as xr

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
# A check that passes on its own runs and on its control too: it cannot tell the effect from its absence.
NOT_DISCRIMINATING = "not_discriminating"
# A failure counts as beyond the uncertainty when at most this share of seed resamples would pass.
SUPPORT_FOR_FAILURE = 0.025


@dataclass
class CheckResult:
    name: str
    statement: str
    value: float | None
    threshold: Any
    passed: bool
    status: str  # pass | fail | inconclusive
    interval: list[float | None] = field(default_factory=lambda: [None, None])
    seed_fraction: float | None = None  # share of seeds on which the check holds alone
    support: float | None = None  # share of bootstrap resamples of seeds on which the check passes
    n_runs: int = 0
    detail: str = ""
    where: dict = field(default_factory=dict)
    # Per control (see with_controls): {where, value, passed, status, detail, why}; one dict for one control.
    control: dict | list | None = None

    def as_json(self) -> dict:
        def clean(x):
            if isinstance(x, (float, np.floating)):
                return None if math.isnan(x) else (float(x) if math.isfinite(x) else str(float(x)))
            if isinstance(x, (np.integer,)):
                return int(x)
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            return x

        return clean(asdict(self))

    def made_inconclusive(self, why: str, *, first: bool = False, clear_pass: bool = False) -> CheckResult:
        """A judged result that cannot stand (censored times, a grid too coarse, seeds left out): inconclusive,
        `why` put before the detail (`first`) or after it; `clear_pass` also withdraws a pass."""
        self.status = INCONCLUSIVE
        if clear_pass:
            self.passed = False
        self.detail = f"{why}; {self.detail}" if first else f"{self.detail}; {why}"
        return self


def judged(result: CheckResult) -> CheckResult:
    """Set status from passed and support."""
    if result.passed:
        result.status = PASS
    elif result.support is not None and result.support <= SUPPORT_FOR_FAILURE:
        result.status = FAIL
    else:
        result.status = INCONCLUSIVE
    return result


def inconclusive(check, threshold, why: str, n_runs: int = 0) -> CheckResult:
    return CheckResult(check.name, check.statement, None, threshold, False, INCONCLUSIVE,
                       n_runs=n_runs, detail=why, where=dict(check.where))


def with_controls(result: CheckResult, controls: list[tuple[dict, str, CheckResult]]) -> CheckResult:
    """Judge a check against its controls: (where, why, result on the control's runs) for each.

    A control must fail. One that passes makes the check `not_discriminating` (so the claim is at best
    inconclusive); one that could not be computed leaves a passing check unproven, so inconclusive."""
    if not controls:
        return result
    records = [{"where": where, "value": c.value, "threshold": c.threshold, "passed": bool(c.passed),
                "status": c.status, "seed_fraction": c.seed_fraction, "interval": c.interval,
                "detail": c.detail, "why": why} for where, why, c in controls]
    result.control = records[0] if len(records) == 1 else records
    passing = [r for r in records if r["passed"]]
    uncomputed = [r for r in records if not r["passed"] and r["value"] is None]
    if passing:
        if result.status == PASS:
            result.status, result.passed = NOT_DISCRIMINATING, False
            # The control's own first clause says what it computed (a control may differ only in its params).
            said = passing[0]["detail"].split("; ")[0].strip() if passing[0]["detail"] else ""
            value = passing[0]["value"]
            value = f"{value:.4g}" if isinstance(value, (float, np.floating)) else value
            result.detail += (f"; not discriminating: it passes on its control {passing[0]['where']} too "
                              f"(value {value}), where it must fail" + (f" ({said})" if said else ""))
        else:
            result.detail += f"; its control {passing[0]['where']} passes too"
    elif uncomputed and result.status == PASS:
        result.status, result.passed = INCONCLUSIVE, False
        result.detail += (f"; inconclusive: its control {uncomputed[0]['where']} could not be computed "
                          f"({uncomputed[0]['detail']})")
    return result


def verdict_reason(results: list[CheckResult]) -> str:
    """Why a claim is not reproduced, from its checks' own words: each counted check that did not pass, with
    its status and the first clause of its detail (where a check function states why)."""
    lines = []
    for result in results:
        if result.status == PASS:
            continue
        why = result.detail.split("; ")[0].strip() if result.detail else "no detail recorded"
        if result.status == NOT_DISCRIMINATING and "; not discriminating: " in result.detail:
            # What it found, and why that does not count: its control passes too.
            why += ", but " + result.detail.split("; not discriminating: ", 1)[1].split("; ")[0].strip()
        lines.append(f"{result.name} {result.status.replace('_', ' ')}: {why}")
    return "; ".join(lines)


def decide(results: list[CheckResult]) -> str:
    if results and all(r.status == PASS for r in results):
        return "reproduced"
    if any(r.status == FAIL for r in results):
        return "not_reproduced"
    return "inconclusive"


def select_runs(curves: xr.Dataset, where: dict) -> xr.Dataset:
    """Runs whose coordinates equal `where` (floats compared with a relative tolerance)."""
    keep = np.ones(curves.sizes["run"], dtype=bool)
    for name, wanted in where.items():
        values = curves[name].values
        if np.issubdtype(values.dtype, np.number):
            keep &= np.isclose(values.astype(float), float(wanted), rtol=1e-9, atol=0)
        else:
            keep &= values == wanted
    return curves.isel(run=np.nonzero(keep)[0])


def healthy_runs(curves: xr.Dataset) -> tuple[xr.Dataset, int]:
    """Runs that never diverged, and how many did."""
    ok = curves["diverged_at"].values < 0
    return curves.isel(run=np.nonzero(ok)[0]), int((~ok).sum())


def seed_table(runs: xr.Dataset, axis: str, per_run: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrange a per-run quantity as a (seed, axis value) table, NaN where a seed lacks a value.

    Returns (axis values ascending, seeds, table). Two runs in one cell are an error, not an overwrite: the
    check's `where` leaves another sweep axis free."""
    values = np.unique(runs[axis].values)
    seeds = np.unique(runs["seed"].values)
    table = np.full((len(seeds), len(values)), np.nan)
    filled = {}
    for k in range(runs.sizes["run"]):
        i = np.searchsorted(seeds, runs["seed"].values[k])
        j = np.searchsorted(values, runs[axis].values[k])
        if (i, j) in filled:
            raise AmbiguousRunsError(
                f"runs {filled[i, j]} and {runs['run'].values[k]} both have seed {seeds[i]} and {axis} {values[j]}; "
                f"the check's 'where' must fix every sweep axis but {axis!r}")
        filled[i, j] = runs["run"].values[k]
        table[i, j] = per_run[k]
    return values, seeds, table


class AmbiguousRunsError(ValueError):
    """A check's selection holds several runs where it expects one per seed and axis value."""


def downgraded_for_divergence(result: CheckResult, n_diverged: int) -> CheckResult:
    """A check whose runs include diverged ones is inconclusive, whichever way the remaining runs point."""
    if n_diverged and result.status != INCONCLUSIVE:
        result.status = INCONCLUSIVE
        result.detail += f"; inconclusive: {n_diverged} of its runs diverged"
    return result
