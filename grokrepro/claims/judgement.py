"""`verdict.json` as a typed model: written by `grokrepro verdict` (claims.evaluate builds it), read by the
figures and the report. A figure finds a check by its kind (never by the name a spec gives it) and reads its
thresholds from the check's params, validated by the kind's own params model, so that it draws what the
verdict judged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from grokrepro.claims.verdict import SUPPORT_FOR_FAILURE

Status = Literal["pass", "fail", "inconclusive", "not_discriminating"]
Outcome = Literal["reproduced", "not_reproduced", "inconclusive"]
# A number, or "inf" / "-inf" where JSON has none; None where nothing could be computed.
Number = Optional[Union[float, str]]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ControlRecord(_Record):
    """A check's `control`: the check's function on runs where the effect must be absent; it must fail."""

    # Built by claims.verdict.with_controls.

    where: dict[str, Any] = Field(description="The run coordinates that select the control's runs (the check's "
                                  "`where` with the control's own values put over it).")
    value: Any = Field(description="What the check's function computed on the control's runs, in the check's own "
                       "units; null where it could not be computed.")
    threshold: Any = Field(description="The bound the value was compared with (a number, or a mapping of several).")
    passed: bool = Field(description="Whether the check holds on the control's runs; it should not.")
    status: Status = Field(description="The control's own status, judged as a check's is.")
    seed_fraction: Number = Field(description="The share of seeds on which the check holds on the control's runs "
                                  "alone; null for kinds that judge all seeds together.")
    interval: Optional[list[Number]] = Field(description="The bootstrap interval over seeds of the value on the "
                                             "control's runs: [low, high], null where none was computed.")
    detail: str = Field(description="What the check's function found on the control's runs, in its own words.")
    why: str = Field(description="Why the control must fail, as the spec states it.")


class CheckRecord(_Record):
    """One entry of `checks`: a check of the claim's spec, as judged on the curves."""

    name: str = Field(description="The check's name in the spec (such as `G1`).")
    statement: str = Field(description="What the check tests, in the spec's words.")
    value: Any = Field(description="What the check measured: a number (\"inf\" or \"-inf\" as strings), null "
                       "where nothing could be computed; some kinds report a mapping of several.")
    threshold: Any = Field(description="The bound the value was compared with: a number, or a mapping of several.")
    passed: bool = Field(description="Whether the value clears the threshold on these runs (and the controls fail).")
    status: Status = Field(description="`pass`; `fail` only when it fails on nearly every bootstrap resample of the "
                           "seeds; `inconclusive` when the failure is within that uncertainty or runs are missing or "
                           "diverged; `not_discriminating` when a control passes too.")
    interval: Optional[list[Number]] = Field(description="The bootstrap interval over seeds of the value: [low, "
                                             "high], either null where none was computed.")
    seed_fraction: Number = Field(description="The share of seeds on which the check holds on that seed's runs "
                                  "alone; null for kinds that judge all seeds together.")
    support: Number = Field(description="The share of bootstrap resamples of the seeds on which the check passes; "
                            f"a failure counts (status `fail`) only when this is at most {SUPPORT_FOR_FAILURE}.")
    n_runs: int = Field(description="How many runs the check read.")
    detail: str = Field(description="What the check found, in its own words, with any reason it was downgraded.")
    where: dict[str, Any] = Field(description="The run coordinates (sweep values and settings) that select the "
                                  "check's runs from the curves.")
    control: Union[ControlRecord, list[ControlRecord], None] = Field(
        description="The check's control: the same function on runs where the effect must be absent. One record "
        "for one control, a list for several, null for none.")
    kind: str = Field(description="The check kind that computed it (see the check kinds page).")
    # as the spec sets them; `validated_params` fills in the defaults
    params: dict[str, Any] = Field(description="The kind's params as the spec sets them (the kind's defaults "
                                   "apply to the rest).")
    counts_for_verdict: bool = Field(description="Whether the check decides the verdict; false for a check beyond "
                                     "the paper, which is reported but not judged on.")

    def validated_params(self) -> BaseModel:
        """The params as the check kind read them: validated by its params model, defaults filled in."""
        from grokrepro.claims.registry import CHECKS

        return CHECKS[self.kind].params_model.model_validate(self.params)


class Verdict(_Record):
    """A claim's verdict at one scale: what `verdict.json` holds."""

    claim: str = Field(description="The claim's name (its spec file's name).")
    paper: str = Field(description="The paper the claim comes from: authors, year, title, venue.")
    statement: str = Field(description="The claim, in the spec's words.")
    scale: str = Field(description="The scale the runs were trained at (`smoke`, `default`, `paper`, ...).")
    seed_set: str = Field("verdict", description="`verdict`: the held-out seeds; `development`: the seeds the "
                          "settings were chosen on, so not a verdict in the full sense.")
    verdict: Outcome = Field(description="`reproduced` when every counted check passes; `not_reproduced` when any "
                             "fails beyond the seeds' uncertainty; `inconclusive` otherwise.")
    reason: str = Field(description="Why the verdict is not `reproduced`, in the checks' own words (empty when it "
                        "is).")
    setting: Literal["paper", "substitute"] = Field(description="`substitute` when the scale's setup differs from "
                                                    "the paper's (the report labels it so), `paper` otherwise.")
    differs_from_paper: list[str] = Field(description="How the scale's setup differs from the paper's, one entry "
                                          "per difference.")
    checks: list[CheckRecord] = Field(description="Every check of the spec, in its order, as judged (fields below).")
    data: list[str] = Field(description="The curves files the checks read: this claim's first, then those of the "
                            "claims it uses.")
    data_sha256: dict[str, str] = Field(default_factory=dict, description="The sha256 of every file the verdict "
                                        "read, taken as it read them (`grokrepro check` and the report compare).")
    group_sha256: dict[str, str] = Field(default_factory=dict, description="The training group files the curves "
                                         "were merged from, with the sha256 each had when merged.")
    restored_from: Optional[dict[str, Any]] = Field(None, description="Where trained files were put back from an "
                                                    "archive rather than trained here: the archive, its sha256 and "
                                                    "commit, and the files still as restored; null otherwise.")
    seeds: list[int] = Field(description="The seeds of the runs in the curves.")
    n_runs: int = Field(description="How many runs the curves hold.")
    n_diverged: int = Field(description="How many runs diverged (a loss that was not finite); a check reading any "
                            "of them is inconclusive.")
    n_early_stopped: int = Field(description="How many runs the spec's early stop ended before their step budget "
                                 "(test accuracy held above its bound).")
    n_aborted: int = Field(description="How many runs the early-abort predictor stopped, predicting they would not "
                           "generalise.")
    spec_sha256: str = Field(description="The sha256 of the spec file the verdict was judged under.")
    plugin_sha256: dict[str, str] = Field(default_factory=dict, description="The spec's plug-ins, each with the "
                                          "sha256 of its file.")
    thresholds_sha256: str = Field(description="The hash of the spec's checks (kinds, params, selections, "
                                   "controls): equal hashes, equal thresholds.")
    training_spec_sha256: Optional[str] = Field(None, description="The sha256 of the spec the runs were trained "
                                                "under (several, comma-separated, where groups differ).")
    git_commit: str = Field(description="The commit of the code that judged (`unknown` outside a git checkout).")
    git_dirty: bool = Field(description="Whether that checkout had uncommitted changes to tracked files.")
    training_git_commit: Optional[str] = Field(description="The commit the runs were trained under (several, "
                                               "comma-separated, where groups differ).")
    versions: dict[str, Any] = Field(description="Python's and the main packages' versions where the runs' curves "
                                     "were merged.")
    training_hosts: list[dict[str, Any]] = Field(default_factory=list, description="The hosts the groups were "
                                                 "trained on: CPU model, ISA level, torch's CPU capability, any GPU.")
    host: dict[str, Any] = Field(default_factory=dict, description="The host that judged, described the same way.")
    device: str = Field(description="The devices the runs were trained on.")
    runtime_s: float = Field(description="Seconds of training plus the seconds the verdict took.")

    def check(self, *, kind: str | None = None, name: str | None = None) -> CheckRecord | None:
        """The first check of this kind (and/or name); None if the verdict has none."""
        return next((c for c in self.checks if (kind is None or c.kind == kind) and (name is None or c.name == name)),
                    None)

    def as_json(self) -> dict:
        return self.model_dump(mode="json")

    def write(self, path: Path) -> None:
        """Written whole or not at all (a half-written verdict must never be read as one)."""
        from grokrepro.integrity import partial_name

        path = Path(path)
        partial = partial_name(path)
        partial.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        partial.replace(path)

    @classmethod
    def read(cls, path: Path) -> Verdict:
        return cls.model_validate_json(Path(path).read_text())

