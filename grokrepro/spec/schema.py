"""The spec language: what a claim's YAML may say, validated by pydantic.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import (BaseModel, ConfigDict, Field, PlainValidator, ValidationError, field_validator, model_serializer,
                      model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from grokrepro.registry import MODELS, PROBES, TASKS, Strict
from grokrepro.registry import drop_if_default as _drop_if_default

SCALES = ("smoke", "default", "paper")
# A claim publishes in paper/<claim>; these names are the workflow's own targets there (paper/all,
# paper/report.html). The claim pattern already refuses a dot.
RESERVED_CLAIM_NAMES = ("all", "report")


# The kinds of task, model and probe a spec may name are those registered (grokrepro.registry), library and
# plug-ins alike; each validates against its kind's own Settings.
Task = TASKS.field()
Model = MODELS.field()
Probe = PROBES.field()


class TransformEntry(BaseModel):
    """One gradient transformation of `optimizer.transforms`: its kind and that kind's settings.

    Validated against the kind's own Settings (grokrepro.train.optim), with its defaults filled in, so that an
    omitted default and a written one are the same run. Only a spec that lists transformations imports them
    (and torch): every other spec validates without."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @model_validator(mode="before")
    @classmethod
    def _by_kind(cls, raw):
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
            raise ValueError("a transformation is a mapping with a string `kind`")
        from grokrepro.train.optim import normalise_transform

        return normalise_transform(raw)


class ScheduleEntry(BaseModel):
    """`optimizer.schedule`: a learning-rate schedule's kind and that kind's settings (grokrepro/schedules).

    Validated against the kind's Settings in grokrepro.registry.SCHEDULES, defaults filled in, like a
    transformation; plug-in kinds registered after this module was imported are found too."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @model_validator(mode="before")
    @classmethod
    def _by_kind(cls, raw):
        from grokrepro.schedules import normalise_schedule

        return normalise_schedule(raw)


class OptimizerSettings(Strict):
    """What every base optimiser shares: its transformations, loss, rates, warm-up and schedule, batch and loss
    precision. A base optimiser kind (grokrepro/optimizers, or a plug-in) subclasses this with a `kind` literal
    and its own fields; the spec's `optimizer` is validated by the kind it names (adamw when it names none)."""

    kind: str
    # Gradient transformations applied in order before the base optimiser `kind` (grokrepro/train/transforms).
    transforms: tuple[TransformEntry, ...] = ()
    # "auto": cross-entropy for classification, squared error for regression; or a loss registered in
    # grokrepro/train/losses.py (e.g. stablemax_cross_entropy).
    loss: str = "auto"
    lr: float = Field(gt=0)
    # Each run's learning rate is lr · α^lr_alpha_power (Kumar et al.: η = η₀/α², power −2).
    lr_alpha_power: float = 0.0
    weight_decay: float = Field(default=0.0, ge=0)
    # λ‖θ‖∞ added to the loss (the largest |entry| over all of a run's parameters; its subgradient), for any kind.
    linf_penalty: float = Field(default=0.0, ge=0)
    # Adam's moment decay rates and denominator term; kinds without moments leave them unused. (They stay here
    # rather than in adamw's own fields: every run id so far hashed them, whatever its optimiser.)
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = Field(default=1e-8, gt=0)
    # Linear warm-up over the first warmup_steps steps, for every kind.
    warmup_steps: int = Field(default=0, ge=0)
    # A factor on the rate after the warm-up (grokrepro/schedules): constant, cosine, step or a plug-in's kind.
    schedule: ScheduleEntry = ScheduleEntry(kind="constant")
    # "full" = full batch (one step is one epoch); an integer caps the batch at min(n, half the train set).
    batch_size: Union[Literal["full"], int] = "full"
    # float64 avoids the float32 softmax collapse that causes slingshot spikes in long runs.
    loss_dtype: Literal["float32", "float64"] = "float32"

    # A kind's own optional fields left out of the configuration at these values, so that adding one changes
    # no existing run id (run ids hash the dumped configuration).
    left_out_at: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _another_kinds_field(cls, raw):
        # A field of another base optimiser deserves more than "extra inputs are not permitted".
        if isinstance(raw, dict):
            from grokrepro.registry import OPTIMIZERS

            for key in raw:
                if key in cls.model_fields:
                    continue
                owners = [name for name, kind in OPTIMIZERS.kinds().items() if key in kind.settings.model_fields]
                if owners:
                    own = cls.model_fields["kind"].default
                    hint = cls.hint_for(key)
                    message = f"{key} is a setting of {' and '.join(owners)}, not of {own}" + (
                        f" ({hint})" if hint else "")
                    raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                        type=PydanticCustomError("another_kinds_field", message), loc=(key,), input=raw[key])])
        return raw

    @classmethod
    def hint_for(cls, key: str) -> str:
        """A kind's pointer to its own counterpart of another kind's field (adamw: momentum is betas[0])."""
        return ""

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas):
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        return betas

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, batch_size):
        if batch_size != "full" and batch_size <= 0:
            raise ValueError(f"batch_size must be 'full' or a positive integer, got {batch_size}")
        return batch_size

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, loss):
        if loss != "auto":
            from grokrepro.train.losses import loss_function

            loss_function(loss)  # raises, naming the known losses
        return loss

    @model_serializer(mode="wrap")
    def _dump(self, handler):  # left out at their defaults, so no existing run id changes
        data = _drop_if_default(handler(self), {"loss": "auto", "schedule": {"kind": "constant"},
                                                **self.left_out_at})
        if not data.get("transforms", True):  # () in python mode, [] in JSON mode
            del data["transforms"]
        return data


def _under(key: str, error: ValidationError) -> ValidationError:
    """`error`, raised while validating the value of `key`, with `key` put in front of each location."""
    return ValidationError.from_exception_data(error.title, [
        InitErrorDetails(type=e["type"], loc=(key, *e["loc"]), input=e["input"], ctx=e.get("ctx", {}))
        for e in error.errors(include_url=False)])


def validate_optimizer(raw):
    from grokrepro.registry import OPTIMIZERS

    if isinstance(raw, OptimizerSettings):
        return raw
    if isinstance(raw, dict) and "kind" not in raw:
        raw = {**raw, "kind": "adamw"}  # the default base optimiser
    return OPTIMIZERS.validate(raw)


# The spec's `optimizer`: validated by the registered base optimiser its `kind` names (library and plug-ins).
Optimizer = Annotated[Any, PlainValidator(validate_optimizer)]


class EarlyLossPredictor(Strict):
    """Notsawo et al. 2023: predict grokking from the training loss of the first `window` steps, detrended,
    by one Hjorth parameter against a threshold. The paper gives no filter, cutoff, window or threshold, so
    all are fields, fixed on development runs (see grokrepro.metrics.spectral)."""

    # K: the losses at steps 0 .. K-1, which must all be logged (train.log_every_step_until >= K)
    window: int = Field(default=400, ge=8)
    signal: Literal["log_loss", "loss"] = "log_loss"
    # How the slow part is removed: the residual of a centred moving average over `smoothing` steps; or
    # Fourier components below `cutoff` (cycles per step) removed; or only the `band` kept (the abstract's
    # "low-frequency" reading).
    detrend: Literal["moving_average", "high_pass", "low_band"] = "moving_average"
    smoothing: int = Field(default=25, ge=2)
    cutoff: float = Field(default=0.04, gt=0, lt=0.5)
    band: tuple[float, float] = (0.01, 0.05)
    feature: Literal["activity", "mobility", "complexity"] = "activity"
    # A run is predicted to grok when its feature is at least (above) or at most (below) the threshold.
    groks_when: Literal["above", "below"] = "above"
    threshold: float | None = None

    @field_validator("band")
    @classmethod
    def _band_ordered(cls, band):
        if not 0 <= band[0] < band[1] <= 0.5:
            raise ValueError(f"band must satisfy 0 <= low < high <= 0.5 cycles per step, got {band}")
        return band


class Train(Strict):
    steps: int = Field(gt=0)
    # Metrics are logged every `log_every` steps and at `log_points` log-spaced steps besides.
    log_every: int = Field(gt=0)
    log_points: int = Field(default=100, ge=0)
    # ... and at every step up to this one, for features of the early curve (0: no dense window).
    log_every_step_until: int = Field(default=0, ge=0)
    checkpoint_every: int = Field(default=1000, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Runs per vmapped process; larger groups are split.
    max_group_size: int = Field(default=64, gt=0)
    probes: list[Probe] = Field(default_factory=list)
    # The stop rules (grokrepro/stop_rules, or a plug-in's), by kind. A spec writes each as a key of `train`
    # named by its kind (`early_stop: {enabled: true, ...}`); they are gathered here when it is validated and
    # written back as those keys when it is dumped.
    stop_rules: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _gather_stop_rules(cls, raw, handler):
        if not isinstance(raw, dict):
            return handler(raw)
        from grokrepro.registry import STOP_RULES

        if "stop_rules" in raw:
            raise ValueError("stop rules are written as keys of train named by their kind (e.g. early_stop: "
                             "{...}), not as stop_rules")
        known, rest, rules = STOP_RULES.kinds(), {}, {}
        for key, value in raw.items():
            if key not in known:
                rest[key] = value
                continue
            try:
                rules[key] = known[key].settings.model_validate(value)
            except ValidationError as error:
                raise _under(key, error) from None
        for name, kind in known.items():  # in the registry's order, whatever the spec's
            if name not in rules and kind.extra.get("in_every_config"):
                rules[name] = kind.settings()
        ordered = {name: rules[name] for name in known if name in rules}
        return handler({**rest, "stop_rules": ordered})

    @model_serializer(mode="wrap")
    def _stop_rules_as_keys(self, handler):
        data = handler(self)
        data.update(data.pop("stop_rules"))
        return data

    @model_validator(mode="after")
    def _stop_rules_fit_the_training(self):
        # A rule may need something of the training around it (early_abort: a densely logged window).
        for rule in self.stop_rules.values():
            check = getattr(rule, "check_train", None)
            if check is not None:
                check(self)
        return self

    @model_validator(mode="after")
    def _probes_on_logged_steps(self):
        # Probes run only at logged steps; an interval off the logging grid would silently thin them out.
        for probe in self.probes:
            if probe.every % self.log_every:
                raise ValueError(f"probe {probe.kind!r} every {probe.every} is not a multiple of log_every "
                                 f"{self.log_every}")
        return self


class Seeds(Strict):
    # Seeds used to choose settings by hand or by search; never used for a verdict.
    development: list[int] = Field(default_factory=list)
    verdict: list[int] = Field(min_length=1)
    # Seeds an earlier verdict was computed on. A revised check is judged on seeds never run before, so a seed
    # listed here can never again be a verdict seed (it may still be looked at as a development seed).
    retired: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self):
        shared = sorted(set(self.development) & set(self.verdict))
        if shared:
            raise ValueError(f"verdict seeds must be fresh, but {shared} are also development seeds")
        reused = sorted(set(self.retired) & set(self.verdict))
        if reused:
            raise ValueError(f"verdict seeds must be fresh, but {reused} are retired: an earlier verdict was "
                             "computed on them")
        if len(set(self.verdict)) != len(self.verdict):
            raise ValueError("verdict seeds repeat")
        return self


class WarmStart(Strict):
    """Every run starts from the final weights of its parent: the run's own configuration and seed with these
    overrides, trained first by a rule of its own (Varma et al.'s ungrokking starts from a grokked network).
    Runs whose parents coincide share one; the model is never overridden, so the weights fit."""

    task: dict[str, Any] = Field(default_factory=dict)
    optimizer: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)


class Control(Strict):
    """Runs on which a check must *not* hold. The check is computed on them exactly as on its own runs, with
    this `where` merged over the check's and these `params` over the check's; if it passes there too, it
    cannot tell the paper's effect from its absence and is `not_discriminating`."""

    # The control's runs (merged over the check's); may be empty when the control is the same runs read with
    # other `params` (e.g. a hyper-parameter in place of the check's statistic).
    where: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    # Sweep points the control needs that the check's grids lack (one grid over the same axes), run with
    # the claim's other runs.
    sweep: Optional[dict[str, list[Any]]] = None
    # Why the check must fail here, in one sentence for the report.
    why: str = ""

    @model_validator(mode="after")
    def _differs_from_its_check(self):
        if not self.where and not self.params:
            raise ValueError("a control needs a where (other runs) or params (another reading of the same runs)")
        return self


class Check(Strict):
    name: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    statement: str = Field(min_length=1)
    # Sweep coordinates that select the configuration the check is judged on, e.g. {train_fraction: 0.4}.
    where: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    # False for a check beyond the paper (e.g. a demonstration of early abort): reported, not part of the verdict.
    counts_for_verdict: bool = True
    # One control, or several (each must fail).
    control: list[Control] = Field(default_factory=list)

    @field_validator("control", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, dict) else value


class ScaleBlock(Strict):
    """What one scale changes. Sections are partial and merged over the spec's base sections."""

    differs_from_paper: list[str] = Field(default_factory=list)
    task: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    optimizer: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    sweep: dict[str, list[Any]] | list[dict[str, list[Any]]] | None = None
    seeds: dict[str, Any] = Field(default_factory=dict)
    warm_start: dict[str, Any] = Field(default_factory=dict)
    # Per-check overrides by check name, for what must follow this scale's sweep (a `where` value, a size a
    # check compares): {L4: {where: {...}, params: {...}}}, each merged key by key over the check's own.
    checks: dict[str, "CheckOverride"] = Field(default_factory=dict)


class CheckOverride(Strict):
    where: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    # Replaces the check's controls at this scale (one mapping or a list; [] for none).
    control: Optional[list[Control]] = None  # validated here, so a bad one is named by its scale
    # Whether the check counts for this scale's verdict (a claim whose evidence needs the paper's budget is
    # shown, not counted, where the scale cannot give it that budget); None: as the check says.
    counts_for_verdict: Optional[bool] = None

    @field_validator("control", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, dict) else value


ScaleBlock.model_rebuild()


class SpecFile(Strict):
    """The YAML file as written: base sections plus per-scale overrides."""

    claim: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    paper: str = Field(min_length=1)
    # One line on what the claim checks, for the claims tables of the README and the report.
    summary: str = Field(default="", max_length=120)
    statement: str = Field(min_length=1)
    # Files (relative to this spec's folder) or importable modules that register kinds this spec names: tasks,
    # models, probes, schedules, transformations, losses, check kinds (grokrepro.registry).
    plugins: list[str] = Field(default_factory=list)
    task: dict[str, Any]
    model: dict[str, Any]
    optimizer: dict[str, Any]
    train: dict[str, Any]
    # One grid (a mapping of axes to values) or a list of grids over the same axes, whose union is run.
    sweep: dict[str, list[Any]] | list[dict[str, list[Any]]] = Field(default_factory=dict)
    seeds: dict[str, Any]
    warm_start: Optional[dict[str, Any]] = None
    # Other claims whose curves this claim's checks read (e.g. the ungrokking transition); the workflow
    # makes those first.
    uses_claims: list[str] = Field(default_factory=list)
    checks: list[Check] = Field(min_length=1)
    scales: dict[Literal[SCALES], ScaleBlock]

    @field_validator("claim")
    @classmethod
    def _not_reserved(cls, name):
        if name in RESERVED_CLAIM_NAMES:
            raise ValueError(f"{name!r} is reserved for the workflow's own targets (paper/all, paper/report.html); "
                             f"reserved names: {', '.join(RESERVED_CLAIM_NAMES)}")
        return name

    @model_validator(mode="after")
    def _other_claims(self):
        # Whether each names a spec the workflow has is checked where the specs are found (spec.discover).
        if self.claim in self.uses_claims:
            raise ValueError(f"uses_claims {self.uses_claims}: a claim cannot use its own curves")
        return self

    @model_validator(mode="after")
    def _all_scales(self):
        missing = [s for s in SCALES if s not in self.scales]
        if missing:
            raise ValueError(f"scales {missing} are missing; every spec declares smoke, default and paper")
        names = [c.name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"check names repeat: {names}")
        for scale, block in self.scales.items():
            unknown = sorted(set(block.checks) - set(names))
            if unknown:
                raise ValueError(f"scales.{scale}.checks names {unknown}, which are not checks of this spec {names}")
        return self


class ResolvedSpec(Strict):
    """One scale of a spec with its overrides applied: what the pipeline actually runs."""

    claim: str
    paper: str
    statement: str
    plugins: list[str] = Field(default_factory=list)
    scale: Literal[SCALES]
    differs_from_paper: list[str]
    task: Task
    model: Model
    optimizer: Optimizer
    train: Train
    sweep: list[dict[str, list[Any]]]  # always a list of grids once resolved
    seeds: Seeds
    warm_start: Optional[WarmStart] = None
    uses_claims: list[str] = Field(default_factory=list)
    checks: list[Check]
