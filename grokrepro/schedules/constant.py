"""The default: the learning rate as written (after any warm-up)."""

from typing import Literal

from grokrepro.registry import SCHEDULES, Strict


class ConstantSettings(Strict):
    kind: Literal["constant"] = "constant"


@SCHEDULES.register("constant", ConstantSettings)
def constant(settings: ConstantSettings, step: int, total_steps: int) -> float:
    return 1.0
