"""`verdict.json` as a typed model: written by `grokrepro verdict` (claims.evaluate builds it), read by the
figures and the report. A figure finds a check by its kind (never by the name a spec gives it) and reads its
thresholds from the check's params, validated by the kind's own params model, so that it draws what the
verdict judged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pass", "fail", "inconclusive", "not_discriminating"]
Outcome = Literal["reproduced", "not_reproduced", "inconclusive"]
# A number, or "inf" / "-inf" where JSON has none; None where nothing could be computed.
Number = Optional[Union[float, str]]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ControlRecord(_Record):
    """The check's function on its control's runs (see claims.verdict.with_controls): it must fail."""

    where: dict[str, Any]
    value: Any
    threshold: Any
    passed: bool
    status: Status
    seed_fraction: Number
    interval: Optional[list[Number]]
    detail: str
    why: str


class CheckRecord(_Record):
    name: str
    statement: str
    value: Any  # a number, a string for inf, None; some kinds report several
    threshold: Any  # a number, or a mapping of several
    passed: bool
    status: Status
    interval: Optional[list[Number]]
    seed_fraction: Number
    support: Number
    n_runs: int
    detail: str
    where: dict[str, Any]
    control: Union[ControlRecord, list[ControlRecord], None]
    kind: str
    params: dict[str, Any]  # as the spec sets them; `validated_params` fills in the defaults
    counts_for_verdict: bool

    def validated_params(self) -> BaseModel:
        """The params as the check kind read them: validated by its params model, defaults filled in."""
        from grokrepro.claims.registry import CHECKS

        return CHECKS[self.kind].params_model.model_validate(self.params)


class Verdict(_Record):
    claim: str
    paper: str
    statement: str
    scale: str
    # "development": the seeds the settings were chosen on, so not a verdict in the full sense
    seed_set: str = "verdict"
    verdict: Outcome
    # In the checks' own words: why the verdict is not `reproduced` (empty when it is).
    reason: str
    # "substitute" when the scale's setup differs from the paper's; the report labels it so.
    setting: Literal["paper", "substitute"]
    differs_from_paper: list[str]
    checks: list[CheckRecord]
    # The curves the checks read: this claim's first, then those of the claims it uses.
    data: list[str]
    # The sha256 of every file the verdict read, taken as it read them (grokrepro check and the report compare).
    data_sha256: dict[str, str] = Field(default_factory=dict)
    # The group files the curves were merged from, with the sha256 each had when merged.
    group_sha256: dict[str, str] = Field(default_factory=dict)
    # Trained files put back from an archive rather than trained here: the archive and the files.
    restored_from: Optional[dict[str, Any]] = None
    seeds: list[int]
    n_runs: int
    n_diverged: int
    n_early_stopped: int
    n_aborted: int
    spec_sha256: str
    plugin_sha256: dict[str, str] = Field(default_factory=dict)
    # The hash of the spec's checks (kinds, params, selections, controls): equal hashes, equal thresholds.
    thresholds_sha256: str
    training_spec_sha256: Optional[str] = None
    git_commit: str
    git_dirty: bool
    training_git_commit: Optional[str]
    versions: dict[str, Any]
    # The hosts the groups were trained on and the one judging (CPU model, ISA level, torch's CPU capability, GPU).
    training_hosts: list[dict[str, Any]] = Field(default_factory=list)
    host: dict[str, Any] = Field(default_factory=dict)
    device: str
    runtime_s: float

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

