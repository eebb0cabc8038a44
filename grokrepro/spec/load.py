"""Loading a spec file, resolving one scale, and turning every failure into one readable SpecError."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import reprlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from grokrepro.registry import PluginError, all_kind_names, load_plugins, validating_spec_in
from grokrepro.spec.schema import SCALES, ResolvedSpec, ScaleBlock, SpecFile


class SpecError(ValueError):
    """A spec that cannot run. The message names the file, the field path and the offending value."""


def _field_path(loc: tuple) -> str:
    # pydantic puts the discriminator tag (e.g. 'modular') into loc; it is noise to a reader of the YAML.
    return ".".join(str(part) for part in loc) or "(top level)"


def _format_validation(path: Path, error: ValidationError, where: str = "") -> SpecError:
    lines = []
    tags = all_kind_names()
    for item in error.errors():
        field = _field_path(tuple(p for p in item["loc"] if p not in tags))
        value = item.get("input")
        shown = "missing" if item["type"] == "missing" else _bounded_repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"{path}{where}: field '{field}' = {shown}: {item['msg']}")
    head, rest = lines[0], lines[1:]
    if rest:
        head += "\n" + "\n".join("  also " + line for line in rest)
    return SpecError(head)


# A repr that stops after a few items and levels: the offending value may be huge (or, through YAML aliases,
# a small file's enormous structure), and an error message must not expand it.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 6, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 80, 80, 40


def _bounded_repr(value) -> str:
    return _REPR.repr(value)


# A spec is a page of YAML. Bounds that no real spec comes near, so that a hostile or broken file is refused
# before the pure-Python parser or the validator spends minutes or gigabytes on it.
MAX_SPEC_BYTES = 256 * 1024
MAX_YAML_NODES = 50_000
MAX_SWEEP_POINTS = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts the nodes of the document as expanded, aliases included (an alias is cheap to
    parse but stands for its whole anchored value), and refuses a document above MAX_YAML_NODES."""

    def __init__(self, stream):
        super().__init__(stream)
        self._expanded: dict[int, int] = {}

    def compose_node(self, parent, index):
        node = super().compose_node(parent, index)
        if id(node) in self._expanded:  # an alias: its anchored node, counted when it was composed
            return node
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        size = 1 + sum(self._expanded.get(id(child), 1) for child in children)
        self._expanded[id(node)] = size
        if size > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"the document expands to more than {MAX_YAML_NODES} values (aliases counted "
                "as what they stand for); a spec this large is refused", node.start_mark)
        return node


def read_yaml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: {path.stat().st_size} bytes; a spec file is at most {MAX_SPEC_BYTES} bytes")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
    except UnicodeDecodeError as error:
        raise SpecError(f"{path}: not valid YAML: not UTF-8 text (byte {error.start})") from None
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


# A training set's size is given one way or the other: setting one of these clears the rest.
_EXCLUSIVE = ("train_fraction", "train_size", "train_size_exponent")


def merge_section(base: dict, override: dict) -> dict:
    """A partial section over a base one; a different `kind` replaces the section instead of merging."""
    switches_kind = "kind" in override and override["kind"] != base.get("kind")
    if switches_kind:
        return dict(override)
    if any(key in override for key in _EXCLUSIVE):
        base = {k: v for k, v in base.items() if k not in _EXCLUSIVE}
    return deep_merge(base, override)


def set_path(config: dict, axis: str, value: Any) -> dict:
    """Apply one sweep value: 'section.field' sets a field; a bare section name merges a named variant."""
    section, _, key = axis.partition(".")
    # Only the one section changes: the rest is shared, not copied (a deep copy of the whole configuration,
    # sweep lists and checks included, made validating a grid quadratic in its size).
    updated = dict(config)
    updated[section] = copy.deepcopy(config[section])
    if key:
        kept = {k: v for k, v in updated[section].items() if not (key in _EXCLUSIVE and k in _EXCLUSIVE)}
        updated[section] = {**kept, key: value}
    else:
        variant = {k: v for k, v in value.items() if k != "name"}
        updated[section] = merge_section(updated[section], variant)
    return updated


def warm_start_parent(config: dict, overrides: dict) -> dict:
    """A run's parent configuration: its own sections with the warm start's overrides merged in."""
    parent = {k: v for k, v in config.items() if k != "warm_start"}
    for section, override in overrides.items():
        parent[section] = merge_section(config[section], override)
    return parent


def axis_coordinate(axis: str, value: Any) -> tuple[str, Any]:
    """The coordinate a sweep axis becomes on `run`: the field name, or the section name and variant name."""
    section, _, key = axis.partition(".")
    if not key:
        return section, value["name"]
    # netCDF coordinates hold scalars: a swept list or mapping is recorded as its JSON text
    return key, value if isinstance(value, (int, float, str, bool)) else json.dumps(value, sort_keys=True)


def sweep_points(grids: list[dict[str, list]]) -> list[dict[str, Any]]:
    """Each grid's cartesian product, in the order the spec lists grids and axes, concatenated."""
    return [dict(zip(grid, values)) for grid in grids for values in itertools.product(*grid.values())]


SWEEPABLE_SECTIONS = ("task", "model", "optimizer", "train")


def _check_sweep(path: Path, where: str, grids: list[dict[str, list]], as_list: bool) -> None:
    if not grids:
        raise SpecError(f"{path}{where}: field 'sweep' = []: the sweep grid expands to nothing")
    for index, grid in enumerate(grids):
        _check_grid(path, where, grid, f"sweep.{index}" if as_list else "sweep")
        if set(grid) != set(grids[0]):
            raise SpecError(f"{path}{where}: field 'sweep.{index}' has axes {sorted(grid)}; every grid must "
                            f"sweep the same axes as the first ({sorted(grids[0])})")


def _check_grid(path: Path, where: str, sweep: dict[str, list], field: str) -> None:
    short_names = {}
    for axis, values in sweep.items():
        section, _, key = axis.partition(".")
        if section not in SWEEPABLE_SECTIONS or "." in key:
            raise SpecError(
                f"{path}{where}: field '{field}.{axis}': a sweep axis is 'section.field', or a section name with "
                f"named variants, with section one of {list(SWEEPABLE_SECTIONS)}"
            )
        if not values:
            raise SpecError(f"{path}{where}: field '{field}.{axis}' = []: the sweep grid expands to nothing")
        if not key:
            for index, variant in enumerate(values):
                if not isinstance(variant, dict) or not isinstance(variant.get("name"), str):
                    raise SpecError(f"{path}{where}: field '{field}.{axis}.{index}' = {variant!r}: a section axis "
                                    "takes mappings, each with a 'name'")
            key = section
        if key in short_names:
            raise SpecError(f"{path}{where}: field '{field}.{axis}': axis name '{key}' repeats ({short_names[key]})")
        short_names[key] = axis


def _merge_warm_start(base: dict, override: dict) -> dict:
    """Section by section, as the spec's own sections merge (so a size given as a count replaces a fraction)."""
    merged = dict(base)
    for section, value in override.items():
        both_mappings = isinstance(value, dict) and isinstance(base.get(section), dict)
        merged[section] = merge_section(base[section], value) if both_mappings else value
    return merged


def resolve(spec_file: SpecFile, scale: str, path: Path, base_only: bool = False) -> ResolvedSpec:
    """Apply one scale's overrides. `base_only` checks the base sections alone, so that an error in them
    is reported as such rather than under the first scale that inherits it."""
    if scale not in SCALES:
        raise SpecError(f"{path}: scale {scale!r} is unknown; choose one of {list(SCALES)}")
    block = ScaleBlock() if base_only else spec_file.scales[scale]
    where = "" if base_only else f" (scale {scale})"
    merged = {}
    for section in ("task", "model", "optimizer", "train", "seeds"):
        merged[section] = merge_section(getattr(spec_file, section), getattr(block, section))
    if spec_file.warm_start is not None or block.warm_start:
        merged["warm_start"] = _merge_warm_start(spec_file.warm_start or {}, block.warm_start)
    sweep = block.sweep if block.sweep is not None else spec_file.sweep
    as_list = isinstance(sweep, list)
    sweep = sweep if as_list else [sweep]
    checks = [_scale_check(c.model_dump(), block) for c in spec_file.checks]
    # A control's own sweep points are run with the claim's others (once, if they repeat a grid's).
    control_grids = [c["sweep"] for check in checks for c in check["control"] if c.get("sweep")]
    sweep = [*sweep, *(g for g in control_grids if g not in sweep)]
    _check_sweep(path, where, sweep, as_list or bool(control_grids))
    n_points = sum(math.prod(len(values) for values in grid.values()) for grid in sweep)
    if n_points > MAX_SWEEP_POINTS:  # before any point is built: a grid's size is a product
        raise SpecError(f"{path}{where}: field 'sweep' expands to {n_points} points; at most {MAX_SWEEP_POINTS}")
    data = dict(
        claim=spec_file.claim,
        paper=spec_file.paper,
        statement=spec_file.statement,
        plugins=spec_file.plugins,
        scale=scale,
        differs_from_paper=block.differs_from_paper,
        sweep=sweep,
        uses_claims=spec_file.uses_claims,
        checks=checks,
        **merged,
    )
    try:
        resolved = ResolvedSpec.model_validate(data)
    except ValidationError as error:
        raise _format_validation(path, error, where) from None
    _check_stop_rules(path, where, resolved)
    # Every point of the grid must itself be a valid configuration (a swept fraction of 1.5 is as wrong
    # as a written one).
    seen: dict[str, tuple[dict, dict]] = {}
    point_configs = []  # each sweep point's resolved configuration, for what checks require of their runs
    for point in sweep_points(sweep):
        candidate = dict(data)
        for axis, value in point.items():
            candidate = set_path(candidate, axis, value)
        try:
            valid = ResolvedSpec.model_validate(candidate)
            if resolved.warm_start is not None:
                ResolvedSpec.model_validate(warm_start_parent(candidate, resolved.warm_start.model_dump()))
        except ValidationError as error:
            raise _format_validation(path, error, f"{where}, sweep point {point}") from None
        _check_stop_rules(path, f"{where}, sweep point {point}", valid)
        _check_distinct(path, where, point, valid, seen)
        point_configs.append(valid)
    _check_checks(path, where, resolved, point_configs)
    return resolved


def _scale_check(check: dict, block: ScaleBlock) -> dict:
    """A check with this scale's overrides of its `where` and `params` merged over its own."""
    override = block.checks.get(check["name"])
    if override is None:
        return check
    controls = check["control"] if override.control is None else [c.model_dump() for c in override.control]
    counts = check["counts_for_verdict"] if override.counts_for_verdict is None else override.counts_for_verdict
    return {**check, "where": {**check["where"], **override.where}, "params": {**check["params"], **override.params},
            "control": controls, "counts_for_verdict": counts}


def _check_stop_rules(path: Path, where: str, valid: ResolvedSpec) -> None:
    # A stop rule may not fit the task (early stop watches test accuracy, which a regression task does not measure).
    for rule in valid.train.stop_rules.values():
        problem = rule.refuses(valid.task) if hasattr(rule, "refuses") else None
        if problem:
            raise SpecError(f"{path}{where}: field {problem}")


def _check_distinct(path: Path, where: str, point: dict, valid: ResolvedSpec, seen: dict) -> None:
    """Overlapping grids may repeat a point (it runs once), but one run must not carry two sets of
    coordinates, nor two runs one set: checks select runs by coordinates. Two look-ups per point, so that a
    grid of thousands of points validates in seconds."""
    from grokrepro.spec.runs import content_hash, run_identity

    identity = content_hash(run_identity({s: getattr(valid, s).model_dump() for s in SWEEPABLE_SECTIONS}))
    coords = dict(axis_coordinate(axis, value) for axis, value in point.items())
    by_identity, by_coords = seen.setdefault("by_identity", {}), seen.setdefault("by_coords", {})
    key = tuple(sorted((axis, _comparable(value)) for axis, value in coords.items()))
    if identity in by_identity and by_identity[identity][1] != coords:
        other_point, problem = by_identity[identity][0], "are the same run under different coordinates"
    elif key in by_coords and by_coords[key][1] != identity:
        other_point, problem = by_coords[key][0], f"are different runs with the same coordinates {coords}"
    else:
        by_identity.setdefault(identity, (point, coords))
        by_coords.setdefault(key, (point, identity))
        return
    raise SpecError(f"{path}{where}: field 'sweep': points {other_point} and {point} {problem}; "
                    "every run needs its own coordinates")


def _comparable(value: Any):
    """A coordinate value as == compares it (1 and 1.0 alike, True apart from 1), usable as a dict key."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ("number", float(value))
    return (type(value).__name__, value)


def _check_checks(path: Path, where: str, resolved: ResolvedSpec, point_configs: list[ResolvedSpec]) -> None:
    from grokrepro.claims.registry import CHECKS

    axes = {axis.partition(".")[2] or axis for axis in resolved.sweep[0]}
    points = [dict(axis_coordinate(axis, value) for axis, value in point.items())
              for point in sweep_points(resolved.sweep)]
    for index, check in enumerate(resolved.checks):
        field = f"checks.{index}"
        if check.kind not in CHECKS:
            raise SpecError(
                f"{path}{where}: field '{field}.kind' = {check.kind!r}: unknown check; known checks: "
                f"{sorted(CHECKS)}"
            )
        selections = [(f"{field}.where", check.where, check.params)]
        selections += [(f"{field}.control.{k}.where", {**check.where, **control.where},
                        {**check.params, **control.params}) for k, control in enumerate(check.control)]
        for name, selection, params in selections:
            unknown_axes = sorted(set(selection) - axes)
            if unknown_axes:
                raise SpecError(
                    f"{path}{where}: field '{name}' = {selection!r}: {unknown_axes} are not sweep axes "
                    f"of this scale ({sorted(axes)})"
                )
            dead = _dead_selection(selection, points)
            if dead:
                axis, value = dead
                raise SpecError(
                    f"{path}{where}: check {check.name!r}, field '{name}' = {selection!r}: no run of this scale's "
                    f"sweep has {axis} = {value!r} together with the rest of the selection "
                    f"(values swept: {sorted({p[axis] for p in points if axis in p}, key=str)})"
                )
            try:
                validated = CHECKS[check.kind].params_model.model_validate(params)
            except ValidationError as error:
                raise _format_validation(path, error, f"{where}, {name.removesuffix('.where')}.params") from None
            # What the kind needs of its runs (an axis, an arm, a metric, weight decay 0), known before training.
            selected = [(p, c) for p, c in zip(points, point_configs) if _dead_selection(selection, [p]) is None]
            unmet = CHECKS[check.kind].requires.unmet(validated, selected, axes)
            if unmet:
                part, why = unmet
                shown = f" = {selection!r}" if part == "where" else ""
                raise SpecError(f"{path}{where}: check {check.name!r}, field "
                                f"'{name.removesuffix('.where')}.{part}'{shown}: {why}")


def _dead_selection(selection: dict, points: list[dict]) -> tuple[str, Any] | None:
    """The first (axis, value) of `selection` after which no sweep point matches it all, or None."""
    remaining = points
    for axis, wanted in selection.items():
        remaining = [p for p in remaining if _same_value(p.get(axis), wanted)]
        if not remaining:
            return axis, wanted
    return None


def _same_value(value: Any, wanted: Any) -> bool:
    # As select_runs compares coordinates: numbers with a relative tolerance, anything else exactly.
    numbers = (int, float)
    if isinstance(value, numbers) and isinstance(wanted, numbers) and not isinstance(value, bool):
        return math.isclose(float(value), float(wanted), rel_tol=1e-9, abs_tol=0)
    return value == wanted


def load_spec(path: str | Path, scale: str = "default") -> ResolvedSpec:
    """Read, validate every scale (a broken smoke block is an error whichever scale runs), return one."""
    path = Path(path)
    raw = read_yaml(path)
    try:
        spec_file = SpecFile.model_validate(raw)
    except ValidationError as error:
        raise _format_validation(path, error) from None
    try:  # before the sections are validated: a plug-in defines kinds they may name
        load_plugins(spec_file.plugins, path.parent)
    except PluginError as error:
        raise SpecError(f"{path}: field 'plugins': {error}") from None
    with validating_spec_in(path.parent):  # a task's data file is named relative to the spec
        resolve(spec_file, "default", path, base_only=True)
        for other in SCALES:
            resolve(spec_file, other, path)
        return resolve(spec_file, scale, path)


def spec_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plugin_files(path: str | Path, spec: ResolvedSpec) -> list[Path]:
    """The plug-in files a spec names (module names installed elsewhere are not files of the workflow)."""
    from grokrepro.registry import plugin_path

    found = (plugin_path(entry, Path(path).parent) for entry in spec.plugins)
    return [p for p in found if p is not None]


def plugin_sha256(path: str | Path, spec: ResolvedSpec) -> dict[str, str]:
    """{entry: sha256 of its file} for every plug-in the spec names (its provenance)."""
    return load_plugins(spec.plugins, Path(path).parent)
