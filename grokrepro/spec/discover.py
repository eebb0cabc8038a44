"""Which specs the workflow runs: every specs/*.yaml, plus any listed with --config specs=... ."""

from __future__ import annotations

from pathlib import Path

from grokrepro.spec.load import SpecError, read_yaml


def claim_name(path: Path) -> str:
    """A spec's `claim` field, read without validating the rest (validation comes next, with its own errors)."""
    raw = read_yaml(path)
    name = raw.get("claim") if isinstance(raw, dict) else None
    if not isinstance(name, str) or not name:
        raise SpecError(f"{path}: field 'claim' is missing; every spec names its claim")
    return name


def discover_specs(directory: Path, extra: str | list[str] = "") -> dict[str, str]:
    """Claim name -> spec path, for every *.yaml in `directory` and every path in `extra` (comma-separated or a
    list). Two specs of one claim name are an error: a claim's outputs would overwrite each other."""
    paths = sorted(Path(directory).glob("*.yaml"))
    listed = extra.split(",") if isinstance(extra, str) else list(extra)
    for item in (p.strip() for p in listed):
        if not item:
            continue
        path = Path(item)
        if not path.is_file():
            raise SpecError(f"{path}: no such spec file (from --config specs=...)")
        if path.resolve() not in {p.resolve() for p in paths}:
            paths.append(path)
    specs: dict[str, str] = {}
    for path in paths:
        name = claim_name(path)
        if name in specs:
            raise SpecError(f"{path}: field 'claim' = {name!r}: {specs[name]} already declares that claim; "
                            "each claim needs its own name")
        specs[name] = str(path)
    return specs


def check_used_claims(specs: dict[str, str], resolved: dict) -> None:
    """A spec's uses_claims must name claims the workflow has."""
    for name, spec in resolved.items():
        missing = [other for other in spec.uses_claims if other not in specs]
        if missing:
            raise SpecError(f"{specs[name]}: field 'uses_claims' = {spec.uses_claims}: {missing} have no spec "
                            f"here (claims found: {sorted(specs)})")
