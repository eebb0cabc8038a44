"""A claim's verdict, computed from its saved curves by the check functions its spec names."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from grokrepro.archive import restored_from
from grokrepro.claims.judgement import Verdict
from grokrepro.claims.registry import CHECKS
from grokrepro.claims.verdict import (AmbiguousRunsError, decide, downgraded_for_divergence, select_runs,
                                      verdict_reason, with_controls)
from grokrepro.metrics.curves import read_complete
from grokrepro.integrity import sha256_file
from grokrepro.provenance import git_commit, host
from grokrepro.spec import SpecError


def thresholds_sha256(spec) -> str:
    checks = [c.model_dump() for c in spec.checks]
    return hashlib.sha256(json.dumps(checks, sort_keys=True).encode()).hexdigest()


def trained_under(curves, name: str) -> str | None:
    """The spec hash or commit the runs were trained under (several, comma-separated, if groups differ)."""
    coordinate = f"training_{name}"
    if coordinate in curves.coords:
        return ", ".join(sorted({str(v) for v in curves[coordinate].values}))
    return curves.attrs.get(name)  # curves merged before per-run provenance was kept


def training_hosts(curves) -> list[dict]:
    """The distinct host descriptions the curves' groups recorded (none for groups trained before they did)."""
    groups = json.loads(curves.attrs.get("group_provenance", "{}"))
    found = {g["host_details"] for g in groups.values() if isinstance(g, dict) and "host_details" in g}
    return [json.loads(text) for text in sorted(found)]


def evaluate(spec, spec_sha256: str, curves_path: str | Path, other_curves: dict | None = None,
             seed_set: str = "verdict", plugins: dict[str, str] | None = None) -> dict:
    """The verdict as verdict.json holds it (validated by `judgement.Verdict`). `other_curves` maps the claims
    the spec `uses_claims` to their curves files; `plugins` the spec's plug-ins to the sha256 of their files."""
    return judge(spec, spec_sha256, curves_path, other_curves, seed_set, plugins).as_json()


def judge(spec, spec_sha256: str, curves_path: str | Path, other_curves: dict | None = None,
          seed_set: str = "verdict", plugins: dict[str, str] | None = None) -> Verdict:
    """The claim's verdict from its curves: every check of the spec, with its controls, by the rules of
    claims.verdict."""
    began = time.perf_counter()
    other_curves = other_curves or {}
    # The bytes of every file the verdict reads, hashed before they are read: `grokrepro check` and the
    # report compare the tree with these later.
    data_sha256 = {str(path): sha256_file(path) for path in [curves_path, *other_curves.values()]
                   if Path(path).is_file()}
    curves = read_complete(curves_path)
    others = {claim: read_complete(path) for claim, path in other_curves.items()}
    results, counted = [], []
    for index, spec_check in enumerate(spec.checks):
        kind = CHECKS[spec_check.kind]
        params = kind.params_model.model_validate(spec_check.params)
        extra = {"others": others} if kind.reads_other_claims else {}
        try:
            result = kind.function(curves, spec_check, params, **extra)
            controls = []
            for control in spec_check.control:
                # The same check function on the control's runs: its where and params merged over the check's.
                on_control = spec_check.model_copy(update={"where": {**spec_check.where, **control.where}})
                control_params = kind.params_model.model_validate({**spec_check.params, **control.params})
                controls.append((dict(on_control.where), control.why,
                                 kind.function(curves, on_control, control_params, **extra)))
        except AmbiguousRunsError as error:
            raise SpecError(f"{spec.claim} (scale {spec.scale}): field 'checks.{index}.where' = "
                            f"{dict(spec_check.where)}: {error}") from None
        selected = select_runs(curves, spec_check.where)
        result = downgraded_for_divergence(result, int((selected["diverged_at"].values >= 0).sum()))
        results.append(with_controls(result, controls))
        if spec_check.counts_for_verdict:
            counted.append(results[-1])
    commit, dirty = git_commit()
    return Verdict.model_validate({
        "claim": spec.claim,
        "paper": spec.paper,
        "statement": spec.statement,
        "scale": spec.scale,
        "seed_set": seed_set,
        "verdict": decide(counted),
        "reason": verdict_reason(counted),
        "setting": "substitute" if spec.differs_from_paper else "paper",
        "differs_from_paper": list(spec.differs_from_paper),
        "checks": [{**r.as_json(), "kind": c.kind, "params": c.params, "counts_for_verdict": c.counts_for_verdict}
                   for r, c in zip(results, spec.checks)],
        "data": [str(curves_path), *(str(p) for p in other_curves.values())],
        "data_sha256": data_sha256,
        # The group files the curves were merged from, with the sha256 each had when merged.
        "group_sha256": json.loads(curves.attrs.get("group_sha256", "{}")),
        # Trained files put back from an archive (grokrepro archive, --config restore=...) rather than trained here.
        "restored_from": restored_from(Path(curves_path).parent),
        "seeds": sorted(int(s) for s in set(curves["seed"].values)),
        "n_runs": int(curves.sizes["run"]),
        "n_diverged": int((curves["diverged_at"].values >= 0).sum()),
        "n_early_stopped": int((curves["stopped_at"].values >= 0).sum()),
        "n_aborted": int((curves["aborted_at"].values >= 0).sum()) if "aborted_at" in curves else 0,
        "spec_sha256": spec_sha256,
        "plugin_sha256": dict(plugins or {}),
        "thresholds_sha256": thresholds_sha256(spec),
        "training_spec_sha256": trained_under(curves, "spec_sha256"),
        "git_commit": commit,
        "git_dirty": dirty,
        "training_git_commit": trained_under(curves, "git_commit"),
        "versions": json.loads(curves.attrs.get("versions", "{}")),
        # The hosts the groups were trained on (CPU model, ISA level, torch's CPU capability, any GPU) and the
        # one judging: check values agree across hosts within their intervals, bit for bit only on one host.
        "training_hosts": training_hosts(curves),
        "host": host(),
        "device": curves.attrs.get("devices", "unknown"),
        "runtime_s": float(curves.attrs.get("training_seconds", 0.0)) + time.perf_counter() - began,
    })
