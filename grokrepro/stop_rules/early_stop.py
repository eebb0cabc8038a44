"""`train.early_stop`: stop a run once its test accuracy has held at `test_acc` for `patience` steps."""

from __future__ import annotations

from pydantic import Field

from grokrepro.registry import STOP_RULES, Strict


class EarlyStop(Strict):
    enabled: bool = False
    test_acc: float = Field(default=0.99, gt=0, le=1)
    # Steps the test accuracy must hold above test_acc before a run stops.
    patience: int = Field(default=500, gt=0)

    def refuses(self, task) -> str | None:
        """Why this rule cannot watch `task`'s runs, or None."""
        if self.enabled and getattr(task, "is_regression", False):
            return (f"'train.early_stop.enabled' = True: early stop watches test accuracy, which the regression "
                    f"task {task.kind!r} does not have; set enabled: false")
        return None


STOP_RULES.register("early_stop", EarlyStop, "grokrepro.train.stops:EarlyStopRule", in_every_config=True)
