"""`train.early_abort`: after `window` steps, stop the runs the early-loss predictor says will not grok (Notsawo
et al. 2023's predictor; see grokrepro.metrics.spectral), saving the rest of their budget."""

from __future__ import annotations

from pydantic import model_validator

from grokrepro.registry import STOP_RULES
from grokrepro.spec.schema import EarlyLossPredictor


class EarlyAbort(EarlyLossPredictor):
    enabled: bool = False

    @model_validator(mode="after")
    def _needs_threshold(self):
        if self.enabled and self.threshold is None:
            raise ValueError("an enabled early_abort needs a threshold (fixed on development runs)")
        return self

    def check_train(self, train) -> None:
        if self.enabled and (train.log_every_step_until < self.window or self.window >= train.steps):
            raise ValueError(f"early_abort reads the loss at every step below its window {self.window}: "
                             f"log_every_step_until ({train.log_every_step_until}) must be >= it and steps "
                             f"({train.steps}) above it")


STOP_RULES.register("early_abort", EarlyAbort, "grokrepro.train.stops:EarlyAbortRule", in_every_config=True)
