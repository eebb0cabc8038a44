"""Loading a spec file, resolving one scale, and turning every failure into one readable SpecError."""

from __future__ import annotations

import copy
import hashlib
import itertools
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from grokrepro.spec.schema import SCALES, ResolvedSpec, ScaleBlock, SpecFile


class SpecError(ValueError):
    """A spec that cannot run. The message names the file, the field path and the offending value."""


def _field_path(loc: tuple) -> str:
    # pydantic puts the discriminator tag (e.g. 'modular') into loc; it is noise to a reader of the YAML.
    return ".".join(str(part) for part in loc) or "(top level)"


def _format_validation(path: Path, error: ValidationError, where: str = "") -> SpecError:
    lines = []
    for item in error.errors():
        field = _field_path(tuple(p for p in item["loc"] if p not in _TAGS))
        value = item.get("input")
        shown = "missing" if item["type"] == "missing" else f"{value!r}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"{path}{where}: field '{field}' = {shown}: {item['msg']}")
    head, rest = lines[0], lines[1:]
    if rest:
        head += "\n" + "\n".join("  also " + line for line in rest)
    return SpecError(head)


_TAGS = {"modular", "permutation", "bitwise", "mlp", "nanda_transformer", "power_transformer"}


def read_yaml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: field '(top level)' = {type(raw).__name__}: a spec must be a mapping")
    return raw


def deep_merge(base: dict, override: dict) -> dict:
    """Override nested mappings key by key; anything else (lists included) is replaced whole."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_path(config: dict, dotted: str, value: Any) -> dict:
    section, _, key = dotted.partition(".")
    updated = copy.deepcopy(config)
    updated[section] = {**updated[section], key: value}
    return updated


def sweep_points(sweep: dict[str, list]) -> list[dict[str, Any]]:
    """Cartesian product of the sweep axes, in the order the spec lists them."""
    axes = list(sweep)
    return [dict(zip(axes, values)) for values in itertools.product(*(sweep[a] for a in axes))]


SWEEPABLE_SECTIONS = ("task", "model", "optimizer", "train")


def _check_sweep(path: Path, where: str, sweep: dict[str, list]) -> None:
    short_names = {}
    for axis, values in sweep.items():
        section, _, key = axis.partition(".")
        if section not in SWEEPABLE_SECTIONS or not key or "." in key:
            raise SpecError(
                f"{path}{where}: field 'sweep.{axis}': a sweep axis is 'section.field' with section one of "
                f"{list(SWEEPABLE_SECTIONS)}"
            )
        if not values:
            raise SpecError(f"{path}{where}: field 'sweep.{axis}' = []: the sweep grid expands to nothing")
        if key in short_names:
            raise SpecError(f"{path}{where}: field 'sweep.{axis}': axis name '{key}' repeats ({short_names[key]})")
        short_names[key] = axis


def resolve(spec_file: SpecFile, scale: str, path: Path, base_only: bool = False) -> ResolvedSpec:
    """Apply one scale's overrides. `base_only` checks the base sections alone, so that an error in them
    is reported as such rather than under the first scale that inherits it."""
    if scale not in SCALES:
        raise SpecError(f"{path}: scale {scale!r} is unknown; choose one of {list(SCALES)}")
    block = ScaleBlock() if base_only else spec_file.scales[scale]
    where = "" if base_only else f" (scale {scale})"
    merged = {}
    for section in ("task", "model", "optimizer", "train", "seeds"):
        base, override = getattr(spec_file, section), getattr(block, section)
        # A scale that switches the kind (another model, say) replaces the section instead of merging
        # into fields the new kind does not have.
        switches_kind = "kind" in override and override["kind"] != base.get("kind")
        merged[section] = dict(override) if switches_kind else deep_merge(base, override)
    sweep = block.sweep if block.sweep is not None else spec_file.sweep
    _check_sweep(path, where, sweep)
    data = dict(
        claim=spec_file.claim,
        paper=spec_file.paper,
        statement=spec_file.statement,
        scale=scale,
        differs_from_paper=block.differs_from_paper,
        sweep=sweep,
        checks=[c.model_dump() for c in spec_file.checks],
        **merged,
    )
    try:
        resolved = ResolvedSpec.model_validate(data)
    except ValidationError as error:
        raise _format_validation(path, error, where) from None
    # Every point of the grid must itself be a valid configuration (a swept fraction of 1.5 is as wrong
    # as a written one).
    for point in sweep_points(sweep):
        candidate = dict(data)
        for axis, value in point.items():
            candidate = set_path(candidate, axis, value)
        try:
            ResolvedSpec.model_validate(candidate)
        except ValidationError as error:
            raise _format_validation(path, error, f"{where}, sweep point {point}") from None
    _check_checks(path, where, resolved)
    return resolved


def _check_checks(path: Path, where: str, resolved: ResolvedSpec) -> None:
    from grokrepro.claims.registry import CHECKS

    axes = {axis.partition(".")[2] for axis in resolved.sweep}
    for index, check in enumerate(resolved.checks):
        field = f"checks.{index}"
        if check.kind not in CHECKS:
            raise SpecError(
                f"{path}{where}: field '{field}.kind' = {check.kind!r}: unknown check; known checks: "
                f"{sorted(CHECKS)}"
            )
        unknown_axes = sorted(set(check.where) - axes)
        if unknown_axes:
            raise SpecError(
                f"{path}{where}: field '{field}.where' = {check.where!r}: {unknown_axes} are not sweep axes "
                f"of this scale ({sorted(axes)})"
            )
        try:
            CHECKS[check.kind].params_model.model_validate(check.params)
        except ValidationError as error:
            raise _format_validation(path, error, f"{where}, {field}.params") from None


def load_spec(path: str | Path, scale: str = "default") -> ResolvedSpec:
    """Read, validate every scale (a broken smoke block is an error whichever scale runs), return one."""
    path = Path(path)
    raw = read_yaml(path)
    try:
        spec_file = SpecFile.model_validate(raw)
    except ValidationError as error:
        raise _format_validation(path, error) from None
    resolve(spec_file, "default", path, base_only=True)
    for other in SCALES:
        resolve(spec_file, other, path)
    return resolve(spec_file, scale, path)


def spec_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
