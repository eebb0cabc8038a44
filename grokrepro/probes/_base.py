"""What every probe's Settings share."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from grokrepro.registry import Strict


class ProbeSettings(Strict):
    """A costlier measurement taken at logged steps that are multiples of `every`."""

    kind: str
    every: int = Field(gt=0)


class BuiltInProbe(ProbeSettings):
    """The built-in probes all accept these fields (a run's id hashes its probes as written, so they stay):
    `samples` is lmn's, `points` kernel_regression's and ntk_drift's, `split` ntk_drift's."""

    # LMN: this many training pairs, drawn with the run's seed, mapped from the first hidden layer to the logits.
    samples: int = Field(default=100, ge=2)
    # kernel_regression: test on this many test points (drawn with the run's seed; None: all of them).
    # ntk_drift: the eNTK on this many points of `split` (None: all of them).
    points: Optional[int] = Field(default=None, ge=2)
    split: Literal["train", "test", "all"] = "all"
