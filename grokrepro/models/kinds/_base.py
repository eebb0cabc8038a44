"""What every model's Settings share."""

from __future__ import annotations

from pydantic import Field

from grokrepro.registry import Strict


class ModelSettings(Strict):
    # a multiplier on every initial parameter (Kumar et al.'s and Liu et al.'s α-scaled init), per run
    init_scale: float = Field(default=1.0, gt=0)
