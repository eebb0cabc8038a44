"""Cosine annealing, as torch.optim.lr_scheduler.CosineAnnealingLR: from the full rate down to
`min_factor` × it over `t_max` steps (by default every step after the warm-up). Past `t_max` the cosine rises
again, as torch's does."""

import math
from typing import Literal, Optional

from pydantic import Field

from grokrepro.registry import SCHEDULES, Strict


class CosineSettings(Strict):
    kind: Literal["cosine"] = "cosine"
    # steps of the half period; None: the steps after the warm-up, so the rate reaches its minimum at the end
    t_max: Optional[int] = Field(default=None, gt=0)
    # the smallest factor (torch's eta_min, as a fraction of each run's rate)
    min_factor: float = Field(default=0.0, ge=0, le=1)


@SCHEDULES.register("cosine", CosineSettings)
def cosine(settings: CosineSettings, step: int, total_steps: int) -> float:
    period = settings.t_max or total_steps
    if period <= 0:  # no steps after the warm-up: nothing to anneal
        return 1.0
    low = settings.min_factor
    return low + (1 - low) * (1 + math.cos(math.pi * step / period)) / 2
