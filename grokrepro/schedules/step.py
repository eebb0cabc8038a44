"""Step decay, as torch.optim.lr_scheduler.StepLR: the rate times gamma every `step_size` steps."""

from typing import Literal

from pydantic import Field

from grokrepro.registry import SCHEDULES, Strict


class StepSettings(Strict):
    kind: Literal["step"] = "step"
    step_size: int = Field(gt=0)
    gamma: float = Field(default=0.1, gt=0)


@SCHEDULES.register("step", StepSettings)
def step_decay(settings: StepSettings, step: int, total_steps: int) -> float:
    return settings.gamma ** (step // settings.step_size)
