"""Which specs the workflow runs: every specs/*.yaml, plus any listed with --config specs=... ."""

from __future__ import annotations

from pathlib import Path

from grokrepro.spec.load import SpecError, load_spec, read_yaml


def claim_name(path: Path) -> str:
    """A spec's `claim` field, read without validating the rest (validation comes next, with its own errors)."""
    raw = read_yaml(path)
    name = raw.get("claim") if isinstance(raw, dict) else None
    if not isinstance(name, str) or not name:
        raise SpecError(f"{path}: field 'claim' is missing; every spec names its claim")
    return name


def discover_specs(directory: Path, extra: str | list[str] = "", broken: dict[str, str] | None = None
                   ) -> dict[str, str]:
    """Claim name -> spec path, for every *.yaml in `directory` and every path in `extra` (comma-separated or a
    list). Two specs of one claim name are an error: a claim's outputs would overwrite each other. With a
    `broken` mapping, a spec whose claim name cannot be read goes there (under its file name) instead of
    raising, so that the other claims still run."""
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
        try:
            name = claim_name(path)
        except SpecError as error:
            if broken is None:
                raise
            broken[path.stem if path.stem not in broken else str(path)] = str(error)
            continue
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


def load_claims(directory: Path, extra: str | list[str], scale: str
                ) -> tuple[dict[str, str], dict, dict[str, str]]:
    """The workflow's claims at one scale: (claim -> spec path, claim -> resolved spec, claim -> error).

    A spec that does not validate, or that uses a claim which does not, is left out with its message (file and
    field) in the third mapping: the other claims still run, and only a target that needs it fails. Two specs
    of one claim and a missing --config specs file still raise: they are mistakes in how the workflow is
    called, not in one claim."""
    broken: dict[str, str] = {}
    specs = discover_specs(directory, extra, broken)
    resolved = {}
    for name, path in specs.items():
        try:
            resolved[name] = load_spec(path, scale)
        except SpecError as error:
            broken[name] = str(error)
    # Repeat until nothing changes: a claim that uses a left-out claim is left out too, along a chain.
    changed = True
    while changed:
        changed = False
        for name in list(resolved):
            try:
                check_used_claims(specs, {name: resolved[name]})
            except SpecError as error:
                broken[name] = str(error)
            else:
                failed = [other for other in resolved[name].uses_claims if other in broken]
                if not failed:
                    continue
                broken[name] = (f"{specs[name]}: field 'uses_claims' = {resolved[name].uses_claims}: "
                                f"{failed[0]} cannot run ({broken[failed[0]].splitlines()[0]})")
            del resolved[name]
            changed = True
    return {name: path for name, path in specs.items() if name in resolved}, resolved, broken
