"""`grokrepro check`: is a results tree whole, and is it what its verdicts were computed from?

For every claim of the workflow: its verdict exists, every training group of its spec and its curves.nc exist,
and each matches the sha256 the verdict recorded. Snakemake alone cannot say this: it compares modification
times and does not rebuild a deleted intermediate file while the files downstream of it are up to date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grokrepro.integrity import sha256_file
from grokrepro.spec import expand_runs, load_spec, training_groups


@dataclass(frozen=True)
class Problem:
    claim: str
    path: Path
    what: str  # "missing", "changed" or "no verdict"

    def __str__(self) -> str:
        return f"{self.claim}: {self.path} is {self.what}"


def expected_files(results: Path, claim: str, spec, seed_set: str) -> list[Path]:
    """The group files of a claim's training groups (this scale, this seed set), then its curves.nc."""
    claim_dir = Path(results) / claim
    groups = training_groups(expand_runs(spec, seed_set))
    return [claim_dir / "runs" / f"{group}.nc" for group in groups] + [claim_dir / "curves.nc"]


def recorded_sha256(verdict: dict) -> dict[str, str]:
    """{path: sha256} of the group files and curves a verdict was computed from."""
    return {**verdict.get("group_sha256", {}), **verdict.get("data_sha256", {})}


def check_claim(results: Path, claim: str, spec, seed_set: str) -> list[Problem]:
    verdict_path = Path(results) / claim / "verdict.json"
    files = expected_files(results, claim, spec, seed_set)
    problems = [Problem(claim, path, "missing") for path in files if not path.is_file()]
    if not verdict_path.is_file():
        return [Problem(claim, verdict_path, "missing"), *problems]
    recorded = recorded_sha256(json.loads(verdict_path.read_text()))
    for path in files:
        if not path.is_file():
            continue
        sha256 = recorded.get(str(path))
        if sha256 is None:
            problems.append(Problem(claim, path, "not among the files its verdict recorded (no sha256 to check)"))
        elif sha256_file(path) != sha256:
            problems.append(Problem(claim, path, "changed (its sha256 differs from the one its verdict recorded)"))
    return problems


def check_tree(results: Path, specs: dict[str, Path], scale: str, seed_set: str = "verdict") -> list[Problem]:
    """Every problem of every claim; paths as the workflow names them (relative to its directory)."""
    problems = []
    for claim, spec_path in sorted(specs.items()):
        problems += check_claim(results, claim, load_spec(spec_path, scale), seed_set)
    return problems


def repair_command(problems: list[Problem], scale: str, seed_set: str = "verdict") -> str:
    """The command that rebuilds what is missing or changed (and everything computed from it)."""
    config = f"scale={scale}" + ("" if seed_set == "verdict" else f" seed_set={seed_set}")
    target = "paper/all" if seed_set == "verdict" else f"paper-{seed_set}/all"
    forced = sorted({str(p.path) for p in problems if p.path.name != "verdict.json"})
    force = f" --forcerun {' '.join(forced)}" if forced else ""
    return f"snakemake -c2 {target}{force} --config {config}"
