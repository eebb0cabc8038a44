"""Stop rules as the trainer runs them: built once per training group from the settings a spec gives (see
grokrepro/stop_rules for the kinds and how to add one).

A rule decides from host (numpy) values, at steps where the host already waits for the device: after a logged
step (`after_logged_step`, from that step's metrics; the runs it stops still take that step's update, as they
were computed with it) or before a step it names in `decision_steps` (`before_step`, from the curves logged so
far; the runs it stops take no update at that step). A rule returns a (run,) boolean mask of runs to stop, or
None. The trainer records each stop in the rule's `record` (`stopped_at`: the run reached what it trained for;
`aborted_at`: it was given up on), once per run; a stopped run is no longer computed.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from grokrepro.metrics.spectral import early_features, predicted_to_grok

NOT_REACHED = -1


class StopRule:
    record: ClassVar[str] = "stopped_at"  # or "aborted_at"
    # True when `after_logged_step` may stop runs (the trainer then rebuilds its mask of active runs there).
    reads_logged_steps: ClassVar[bool] = False

    def __init__(self, settings, trainer):
        self.settings, self.trainer = settings, trainer

    def decision_steps(self) -> tuple[int, ...]:
        return ()

    def before_step(self, step: int, metrics: dict[str, np.ndarray]) -> np.ndarray | None:
        return None

    def after_logged_step(self, step: int, values: dict[str, np.ndarray],
                          metrics: dict[str, np.ndarray]) -> np.ndarray | None:
        return None

    # What a checkpoint keeps of the rule, so that a resumed run decides as an uninterrupted one would.
    def state(self) -> dict:
        return {}

    def load(self, state: dict) -> None:
        pass


class EarlyStopRule(StopRule):
    """Stops a run once its test accuracy has held at `test_acc` for `patience` steps, never before the end of
    a dense early window (whoever asked for one reads those steps)."""

    reads_logged_steps = True

    def __init__(self, settings, trainer):
        super().__init__(settings, trainer)
        if trainer.regression:  # the spec validator refuses this too
            raise ValueError("train.early_stop watches test accuracy, which a regression task does not have")
        self.held_since = np.full(len(trainer.runs), NOT_REACHED)

    def after_logged_step(self, step, values, metrics):
        held = values["test_acc"] >= self.settings.test_acc
        self.held_since = np.where(held, np.where(self.held_since == NOT_REACHED, step, self.held_since),
                                   NOT_REACHED)
        finished = (self.held_since != NOT_REACHED) & (step - self.held_since >= self.settings.patience)
        return finished & (step >= self.trainer.train.log_every_step_until)

    def state(self):
        return {"held_since": self.held_since}

    def load(self, state):
        self.held_since = np.asarray(state["held_since"])


class EarlyAbortRule(StopRule):
    """At the end of the predictor's window, stops the runs it says will not grok."""

    record = "aborted_at"

    def decision_steps(self):
        return (self.settings.window,)

    def before_step(self, step, metrics):
        feature = early_features(metrics["train_loss"], self.trainer.steps, self.settings)[self.settings.feature]
        return ~predicted_to_grok(feature, self.settings)
