"""A claim's verdict, computed from its saved curves by the check functions its spec names."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from grokrepro.claims.registry import CHECKS
from grokrepro.claims.verdict import decide, downgraded_for_divergence, select_runs
from grokrepro.metrics.curves import read_complete
from grokrepro.provenance import git_commit


def thresholds_sha256(spec) -> str:
    checks = [c.model_dump() for c in spec.checks]
    return hashlib.sha256(json.dumps(checks, sort_keys=True).encode()).hexdigest()


def note_threshold_change(verdict: dict, history_path: Path) -> dict:
    """Compare with the thresholds of the last verdict written for this claim and scale; record this one."""
    history_path = Path(history_path)
    history = json.loads(history_path.read_text()) if history_path.is_file() else []
    last = history[-1]["thresholds_sha256"] if history else None
    verdict["thresholds_changed_from"] = last if last and last != verdict["thresholds_sha256"] else None
    history.append({"thresholds_sha256": verdict["thresholds_sha256"], "verdict": verdict["verdict"],
                    "git_commit": verdict["git_commit"]})
    history_path.write_text(json.dumps(history[-50:], indent=1))
    return verdict


def evaluate(spec, spec_sha256: str, curves_path: str | Path) -> dict:
    began = time.perf_counter()
    curves = read_complete(curves_path)
    results, counted = [], []
    for spec_check in spec.checks:
        kind = CHECKS[spec_check.kind]
        result = kind.function(curves, spec_check, kind.params_model.model_validate(spec_check.params))
        selected = select_runs(curves, spec_check.where)
        results.append(downgraded_for_divergence(result, int((selected["diverged_at"].values >= 0).sum())))
        if spec_check.counts_for_verdict:
            counted.append(results[-1])
    commit, dirty = git_commit()
    return {
        "claim": spec.claim,
        "paper": spec.paper,
        "statement": spec.statement,
        "scale": spec.scale,
        "verdict": decide(counted),
        # "substitute" when the scale's setup differs from the paper's; the report labels it so.
        "setting": "substitute" if spec.differs_from_paper else "paper",
        "differs_from_paper": list(spec.differs_from_paper),
        "checks": [{**r.as_json(), "counts_for_verdict": c.counts_for_verdict} for r, c in zip(results, spec.checks)],
        "data": [str(curves_path)],
        "seeds": sorted(int(s) for s in set(curves["seed"].values)),
        "n_runs": int(curves.sizes["run"]),
        "n_diverged": int((curves["diverged_at"].values >= 0).sum()),
        "n_early_stopped": int((curves["stopped_at"].values >= 0).sum()),
        "n_aborted": int((curves["aborted_at"].values >= 0).sum()) if "aborted_at" in curves else 0,
        "spec_sha256": spec_sha256,
        "thresholds_sha256": thresholds_sha256(spec),
        "training_spec_sha256": curves.attrs.get("spec_sha256"),
        "git_commit": commit,
        "git_dirty": dirty,
        "training_git_commit": curves.attrs.get("git_commit"),
        "versions": json.loads(curves.attrs.get("versions", "{}")),
        "device": curves.attrs.get("devices", "unknown"),
        "runtime_s": float(curves.attrs.get("training_seconds", 0.0)) + time.perf_counter() - began,
    }
