"""Check functions by name. A spec names a check's kind; its params are validated by the check's model, and what
the kind needs of the runs it selects (its `Requires`) is checked against the spec's sweep before anything
trains."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from pydantic import BaseModel

# What every run logs; accuracies only where the task classifies (a regression task has none).
LOGGED_METRICS = ("train_loss", "test_loss", "param_norm")
ACCURACY_METRICS = ("train_acc", "test_acc")
AXIS_TYPES = ("numeric", "ordered", "any")


@dataclass(frozen=True)
class Requires:
    """What the runs a check selects (its `where`, over the sweep of one scale) must have for the check to
    mean anything. A string written `"{name}"` stands for the value of the check's param `name`, so a kind
    whose axis is a param declares `axes={"{axis}": "numeric"}`.

    axes: sweep axes the check reads, by type: "numeric" (numbers), "ordered" (numbers, or every value
      listed in the param named by `order`), "any". Each must be a sweep axis, and the selection must hold one
      run per seed at each combination of their values (every other sweep axis fixed by `where`).
    arms: axis -> values of it the selection must hold (the arms a check compares).
    metrics: curve variables the check reads: train_loss, test_loss, param_norm (every run), train_acc,
      test_acc (classification tasks only).
    probes: probe kinds (train.probes) every selected run must take.
    config: 'section.field' -> the value every selected run must have (weight decay 0, say)."""

    axes: Mapping[str, str] = field(default_factory=dict)
    arms: Mapping[str, tuple] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    order: str = "order"

    def __post_init__(self):
        for axis_type in self.axes.values():
            if axis_type not in AXIS_TYPES:
                raise ValueError(f"axis type {axis_type!r} is not one of {AXIS_TYPES}")

    def described(self) -> str:
        """One line for the README's list of kinds."""
        axes = ", ".join(f"{_shown(axis)} ({axis_type})" for axis, axis_type in self.axes.items())
        parts = [f"sweep axes {axes}, one run per seed at each value (`where` fixes the rest)"] if axes else []
        parts += [f"runs at {' and '.join(_shown(v) for v in values)} of {_shown(axis)}"
                  for axis, values in self.arms.items()]
        parts += [f"metric {_shown(m)}" for m in self.metrics] + [f"probe {p}" for p in self.probes]
        parts += [f"{name} = {value!r}" for name, value in self.config.items()]
        return "; ".join(parts)

    def unmet(self, params: BaseModel, selected: list[tuple[dict, Any]],
              sweep_axes: set[str]) -> tuple[str, str] | None:
        """(field under the check, why) for the first requirement the selected sweep points miss, else None.

        `selected`: (coordinates by axis short name, resolved configuration) of each sweep point the check's
        selection matches; `sweep_axes`: the short names of this scale's sweep axes."""
        values = params.model_dump()
        coords = [c for c, _ in selected]
        for template, axis_type in self.axes.items():
            axis, field_name = _value(template, values), _field(template, "params")
            if axis not in sweep_axes:
                return field_name, (f"{axis!r} is not a sweep axis of this scale ({sorted(sweep_axes)}); the check "
                                    f"reads it")
            swept = _distinct(c[axis] for c in coords)
            numeric = all(_is_number(v) for v in swept)
            if axis_type == "numeric" and not numeric:
                return field_name, f"the check needs numeric values of {axis!r}; the selection has {swept}"
            if axis_type == "ordered" and not numeric:
                order = values.get(self.order) or []
                missing = [v for v in swept if not any(_same(v, o) for o in order)]
                if missing:
                    return f"params.{self.order}", (f"{axis!r} is not numeric, so params.{self.order} must list "
                                                    f"its values in order; it lacks {missing}")
        if self.axes:
            read = [_value(t, values) for t in self.axes]
            seen: dict[tuple, dict] = {}
            for c in coords:
                key = tuple(c[a] for a in read)
                if key in seen and seen[key] != c:
                    free = sorted(a for a in c if c[a] != seen[key][a])
                    return "where", (f"two runs per seed have {dict(zip(read, key))}: the selection leaves "
                                     f"{free} free; the check reads one run per seed at each value of {read}, so "
                                     f"`where` must fix every other sweep axis")
                seen[key] = c
        for template, arms in self.arms.items():
            axis = _value(template, values)
            swept = _distinct(c.get(axis) for c in coords)
            for arm in arms:
                wanted = _value(arm, values)
                if not any(_same(v, wanted) for v in swept):
                    return _field(arm, "params"), (f"no selected run has {axis} = {wanted!r} (the selection has "
                                                   f"{swept}); the check compares that arm")
        for template in self.metrics:
            metric = _value(template, values)
            if metric in LOGGED_METRICS:
                continue
            if metric not in ACCURACY_METRICS:
                return _field(template, "params"), (f"the check reads {metric!r}, which runs do not log (they log "
                                                    f"{list(LOGGED_METRICS + ACCURACY_METRICS)})")
            for c, config in selected:
                if _is_regression(config.task):
                    return "where", (f"the check reads {metric!r}, but the run {c} is a regression task "
                                     f"({config.task.kind}), which has no accuracy")
        for probe in self.probes:
            for c, config in selected:
                if probe not in {p.kind for p in config.train.probes}:
                    return "where", (f"the check reads the {probe!r} probe, which the run {c} does not take "
                                     f"(train.probes needs {{kind: {probe}}})")
        for name, wanted in self.config.items():
            for c, config in selected:
                section, _, key = name.partition(".")
                have = getattr(getattr(config, section), key)
                if not _same(have, wanted):
                    return "where", (f"the check reads runs with {name} = {wanted!r}, but the run {c} has "
                                     f"{name} = {have!r}")
        return None


def _value(template, params: dict):
    """A `"{name}"` template's param value, anything else as written."""
    match = re.fullmatch(r"\{(\w+)\}", template) if isinstance(template, str) else None
    return params[match.group(1)] if match else template


def _field(template, prefix: str) -> str:
    match = re.fullmatch(r"\{(\w+)\}", template) if isinstance(template, str) else None
    return f"{prefix}.{match.group(1)}" if match else "where"


def _shown(template) -> str:
    match = re.fullmatch(r"\{(\w+)\}", template) if isinstance(template, str) else None
    return f"params.{match.group(1)}" if match else f"{template}"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(value, wanted) -> bool:
    # As select_runs compares coordinates: numbers with a relative tolerance, anything else exactly.
    if _is_number(value) and _is_number(wanted):
        return math.isclose(float(value), float(wanted), rel_tol=1e-9, abs_tol=0)
    return value == wanted


def _distinct(values) -> list:
    out = []
    for v in values:
        if not any(_same(v, o) for o in out):
            out.append(v)
    return sorted(out, key=lambda v: (not _is_number(v), v if _is_number(v) else str(v)))


def _is_regression(task) -> bool:
    # As the spec validator's early-stop rule decides: Gaussian regression, or modular triples (squared loss).
    return task.kind == "gaussian_regression" or getattr(task, "target", None) == "triples"


@dataclass(frozen=True)
class CheckKind:
    function: Callable
    params_model: type[BaseModel]
    # A check that also reads other claims' curves gets them as `others={claim: curves}`.
    reads_other_claims: bool = False
    requires: Requires = field(default_factory=Requires)
    # Meant for any spec (documented as reusable), not one claim's test.
    general: bool = False
    # params -> what the check claims at them, in one sentence (general kinds: the README shows the defaults')
    states: Callable | None = None

    @property
    def summary(self) -> str:
        """The docstring's first sentence: what the kind means, in one line."""
        doc = " ".join((self.function.__doc__ or "").split())
        return re.split(r"(?<=[.!?])\s", doc, maxsplit=1)[0]


CHECKS: dict[str, CheckKind] = {}


def check(kind: str, params_model: type[BaseModel], reads_other_claims: bool = False,
          requires: Requires | None = None, general: bool = False, states: Callable | None = None):
    def register(function):
        CHECKS[kind] = CheckKind(function, params_model, reads_other_claims, requires or Requires(), general, states)
        return function

    return register


def _load_claim_modules() -> None:
    """Import every module of grokrepro.claims: each registers its check kinds as it is imported, so a new
    check module is found by being there."""
    import importlib
    import pkgutil

    import grokrepro.claims as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"grokrepro.claims.{module.name}")


_load_claim_modules()
