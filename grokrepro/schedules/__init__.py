"""Learning-rate schedules: one module per kind, each registering its Settings and factor function in
grokrepro.registry.SCHEDULES.

A schedule is a function `factor(settings, step, total_steps) -> float`, the factor on each run's learning
rate at `step`. Its steps count from the end of the optimiser's linear warm-up (`optimizer.warmup_steps`), and
`total_steps` is the steps left after it, so at optimiser step s the rate is

    lr · min(1, (s + 1) / warmup_steps) · factor(settings, max(0, s − warmup_steps), steps − warmup_steps)

A schedule is shared by the runs of one vmapped group (runs with different schedules train in separate
groups), so the fused AdamW kernel, which takes one scalar rate per step, takes the scheduled one. A new kind is a
module here or a plug-in file that registers one:

    class HalvingSettings(Strict):
        kind: Literal["halving"] = "halving"
        every: int = Field(default=100, gt=0)

    SCHEDULES.register("halving", HalvingSettings, lambda s, step, total: 0.5 ** (step // s.every))

These modules import no torch: validating a spec that names a schedule must not need it.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from grokrepro.registry import SCHEDULES


def normalise_schedule(raw) -> dict:
    """A spec's `optimizer.schedule` validated by its kind's Settings, every default filled in (an omitted
    default and a written one name the same run); a clear error naming the kind and the field otherwise."""
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
        raise ValueError("a schedule is a mapping with a string `kind`")
    try:
        kind = SCHEDULES[raw["kind"]]
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    try:
        return kind.settings.model_validate(raw).model_dump()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'kind'}: {e['msg']}" for e in error.errors())
        raise ValueError(f"schedule {kind.name}: {problems}") from None


class Schedule:
    """A group's schedule: its kind's settings and factor function, and where its steps start and end."""

    def __init__(self, entry: dict, warmup_steps: int, total_steps: int):
        kind = SCHEDULES[entry["kind"]]
        self.kind = kind.name
        self.settings: BaseModel = kind.settings.model_validate(entry)
        self.function = kind.load()
        self.warmup_steps, self.total_steps = warmup_steps, max(0, total_steps - warmup_steps)

    def factor(self, step: int) -> float:
        return float(self.function(self.settings, max(0, step - self.warmup_steps), self.total_steps))
