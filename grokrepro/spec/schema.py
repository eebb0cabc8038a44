"""The spec language: what a claim's YAML may say, validated by pydantic.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

MODULAR_OPERATIONS = (
    "x+y",
    "x-y",
    "x/y",
    "x/y if y odd else x-y",
    "x^2+y^2",
    "x^2+xy+y^2",
    "x^2+xy+y^2+x",
    "x^3+xy",
    "x^3+xy^2+y",
)
PERMUTATION_OPERATIONS = ("x*y", "x*y*x^-1", "x*y*x")
COMMUTATIVE_OPERATIONS = ("x+y", "x^2+y^2", "x^2+xy+y^2")
SCALES = ("smoke", "default", "paper")
# A claim publishes in paper/<claim>; these names are the workflow's own targets there (paper/all,
# paper/report.html). The claim pattern already refuses a dot.
RESERVED_CLAIM_NAMES = ("all", "report")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _drop_if_default(data: dict, defaults: dict) -> dict:
    """Leave out optional fields at their defaults, so that adding one changes no existing run's id (ids hash
    the dumped configuration)."""
    return {k: v for k, v in data.items() if not (k in defaults and v == defaults[k])}


class SplitTask(Strict):
    """A table of all operand pairs, split into training and test pairs.

    The training set is the first `train_size` pairs (or `train_fraction` of them) of one permutation drawn
    from the split seed, so with one seed a smaller training set is nested inside every larger one.
    """

    train_fraction: Optional[float] = Field(default=None, gt=0, le=1)
    train_size: Optional[int] = Field(default=None, gt=0)
    # ... or a count that grows with the prime: round(train_size_coefficient · p^train_size_exponent)
    # (Mohamadi et al.: n = 2p^{5/3} pairs, 2p^{2.25} triples), so that a sweep over primes keeps the rule.
    train_size_exponent: Optional[float] = Field(default=None, gt=0)
    train_size_coefficient: float = Field(default=1.0, gt=0)
    # "run": each run draws its own split from its seed; an integer: every run shares that split.
    split_seed: Union[int, Literal["run"]] = "run"
    # "random": every pair gets a label drawn at random (seeded by the split seed), so a network that fits
    # the training set can only memorise it (Varma et al.'s memorisation-only networks).
    labels: Literal["true", "random"] = "true"

    @model_validator(mode="after")
    def _one_size(self):
        given = [self.train_fraction, self.train_size, self.train_size_exponent]
        if sum(v is not None for v in given) != 1:
            raise ValueError("give exactly one of train_fraction and train_size (or train_size_exponent)")
        if self.train_size_exponent is not None and getattr(self, "kind", None) != "modular":
            raise ValueError("train_size_exponent scales with the prime: modular tasks only")
        return self


class ModularTask(SplitTask):
    kind: Literal["modular"] = "modular"
    operation: Literal[MODULAR_OPERATIONS]
    prime: int = Field(ge=2)
    # "classes": pairs (a, b) labelled a∘b (classification). "triples": Mohamadi et al.'s regression task,
    # every triple (a, b, c) with target p·1[a∘b = c], squared loss on the c-th output; sizes count triples.
    target: Literal["classes", "triples"] = "classes"
    # "unordered": a commutative operation's pairs (a, b) and (b, a) are one example, a <= b (Notsawo et al.:
    # p(p+1)/2 pairs), so no test pair is the mirror image of a training pair.
    pairs: Literal["ordered", "unordered"] = "ordered"

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _drop_if_default(handler(self), {"pairs": "ordered"})

    @model_validator(mode="after")
    def _unordered_needs_commutative(self):
        if self.pairs == "unordered" and self.operation not in COMMUTATIVE_OPERATIONS:
            raise ValueError(f"pairs: unordered needs a commutative operation ({', '.join(COMMUTATIVE_OPERATIONS)})")
        if self.pairs == "unordered" and self.target != "classes":
            raise ValueError("pairs: unordered applies to classification tasks only")
        return self

    @field_validator("prime")
    @classmethod
    def _is_prime(cls, prime: int) -> int:
        if any(prime % d == 0 for d in range(2, int(prime**0.5) + 1)):
            raise ValueError(f"{prime} is not a prime")
        return prime


class PermutationTask(SplitTask):
    kind: Literal["permutation"]
    operation: Literal[PERMUTATION_OPERATIONS]
    degree: int = Field(default=5, ge=2, le=6)


class BitwiseTask(SplitTask):
    """Bitwise operations on `bits`-bit integers (Liu et al. 2023 use 5-bit XOR)."""

    kind: Literal["bitwise"]
    operation: Literal["xor"] = "xor"
    bits: int = Field(default=5, ge=1, le=8)


class GaussianRegressionTask(Strict):
    """Kumar et al. 2024: x ~ N(0, I/D), y = ½(β·x)² with β ~ N(0, I_D); P training and n_test test points."""

    kind: Literal["gaussian_regression"]
    target: Literal["quadratic"] = "quadratic"
    dim: int = Field(gt=0)
    n_train: int = Field(gt=0)
    n_test: int = Field(default=1000, gt=0)
    # draws β and the points; "run" = the run's seed
    split_seed: Union[int, Literal["run"]] = "run"


Task = Annotated[Union[ModularTask, PermutationTask, BitwiseTask, GaussianRegressionTask],
                 Field(discriminator="kind")]


class MLP(Strict):
    kind: Literal["mlp"]
    embed_dim: int = Field(gt=0)
    hidden: int = Field(gt=0)
    hidden_layers: int = Field(default=1, ge=1)
    activation: Literal["relu", "silu", "gelu"] = "relu"
    init_scale: float = Field(default=1.0, gt=0)


class Transformer(Strict):
    d_model: int = Field(default=128, gt=0)
    n_heads: int = Field(default=4, gt=0)
    init_scale: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        return self


class NandaTransformer(Transformer):
    """Nanda et al. 2023: one layer, no LayerNorm, read out at the last position only."""

    kind: Literal["nanda_transformer"]
    d_mlp: int = Field(default=512, gt=0)


class PowerTransformer(Transformer):
    """Power et al. 2022: decoder-only transformer over the tokens [a, op, b, =]."""

    kind: Literal["power_transformer"]
    n_layers: int = Field(default=2, gt=0)
    # The operand embeddings are the read-out weights (Notsawo et al.: "the embedding weights are used as weights
    # for the output linear classification layer").
    tied_readout: bool = False

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _drop_if_default(handler(self), {"tied_readout": False})


class LazyQuadratic(Strict):
    """Kumar et al. 2024: f = (α/N) Σ φ(w_i·x), φ(h) = h + (ε/2)h², readouts fixed to 1, W ~ N(0, 1)."""

    kind: Literal["lazy_quadratic"]
    width: int = Field(gt=0)
    alpha: float = Field(default=1.0, gt=0)
    epsilon: float = Field(default=0.0, ge=0)
    # Train α[f(θ) − f(θ₀)], so that the output starts at zero whatever α is.
    centred: bool = True
    init_scale: float = Field(default=1.0, gt=0)
    # "gram": the same function through WᵀW (cheaper when P, N >> D; rounds differently, see models/lazy.py).
    form: Literal["features", "gram"] = "features"

    @model_serializer(mode="wrap")
    def _dump(self, handler):  # left out at its default, so no existing run id changes
        return _drop_if_default(handler(self), {"form": "features"})


class Quadratic(Strict):
    """Mohamadi et al. 2024: f(a, b) = V (W [e_a; e_b])^{⊙2}, no biases. Init "pytorch" (the paper's): a bias-free
    nn.Linear's W ~ U(±1/√(2p)), V ~ U(±1/√width); "normal": W ~ N(0, 1), V ~ N(0, 1/width); times init_scale."""

    kind: Literal["quadratic"]
    init: Literal["pytorch", "normal"] = "pytorch"
    # the hidden width, or a multiple of p (Mohamadi et al.: 8p <= h = O(p)), so that a sweep over primes keeps it
    width: Optional[int] = Field(default=None, gt=0)
    width_per_symbol: Optional[int] = Field(default=None, gt=0)
    init_scale: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _one_width(self):
        if (self.width is None) == (self.width_per_symbol is None):
            raise ValueError("give exactly one of width and width_per_symbol")
        return self


Model = Annotated[Union[MLP, NandaTransformer, PowerTransformer, LazyQuadratic, Quadratic],
                  Field(discriminator="kind")]


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


class Optimizer(Strict):
    # "sgd": plain (full-batch) gradient descent; "normalized_gd": θ ← θ − lr · g/‖g‖₂ with the norm over all of
    # a run's parameters (Mohamadi et al.); betas, eps and warm-up are then unused.
    kind: Literal["adamw", "sgd", "normalized_gd"] = "adamw"
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
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = Field(default=1e-8, gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    # "full" = full batch (one step is one epoch); an integer caps the batch at min(n, half the train set).
    batch_size: Union[Literal["full"], int] = "full"
    # float64 avoids the float32 softmax collapse that causes slingshot spikes in long runs.
    loss_dtype: Literal["float32", "float64"] = "float32"

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

    @model_validator(mode="after")
    def _normalised_gd_knows_its_loss(self):
        if self.kind == "normalized_gd" and self.loss not in ("auto", "cross_entropy", "mse"):
            raise ValueError(f"normalized_gd differentiates its own rescaled cross-entropy or squared error; "
                             f"loss {self.loss!r} is not one of them")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler):  # left out at their defaults, so no existing run id changes
        data = _drop_if_default(handler(self), {"loss": "auto"})
        if not data.get("transforms", True):  # () in python mode, [] in JSON mode
            del data["transforms"]
        return data


class EarlyStop(Strict):
    enabled: bool = False
    test_acc: float = Field(default=0.99, gt=0, le=1)
    # Steps the test accuracy must hold above test_acc before a run stops.
    patience: int = Field(default=500, gt=0)


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


class EarlyAbort(EarlyLossPredictor):
    """Stop, after `window` steps, the runs the early-loss predictor says will not grok (saving their budget)."""

    enabled: bool = False

    @model_validator(mode="after")
    def _needs_threshold(self):
        if self.enabled and self.threshold is None:
            raise ValueError("an enabled early_abort needs a threshold (fixed on development runs)")
        return self


class Probe(Strict):
    """A costlier measurement taken at logged steps that are multiples of `every`."""

    kind: Literal["lmn", "kernel_terms", "ntk_alignment", "kernel_regression", "fourier_share", "ntk_drift",
                  "linearised_curve", "softmax_collapse"]
    every: int = Field(gt=0)
    # LMN: this many training pairs, drawn with the run's seed, mapped from the first hidden layer to the logits.
    samples: int = Field(default=100, ge=2)
    # kernel_regression: test on this many test points (drawn with the run's seed; None: all of them).
    # ntk_drift: the eNTK on this many points of `split` (None: all of them).
    points: Optional[int] = Field(default=None, ge=2)
    split: Literal["train", "test", "all"] = "all"


class Train(Strict):
    steps: int = Field(gt=0)
    # Metrics are logged every `log_every` steps and at `log_points` log-spaced steps besides.
    log_every: int = Field(gt=0)
    log_points: int = Field(default=100, ge=0)
    # ... and at every step up to this one, for features of the early curve (0: no dense window).
    log_every_step_until: int = Field(default=0, ge=0)
    checkpoint_every: int = Field(default=1000, gt=0)
    early_stop: EarlyStop = EarlyStop()
    early_abort: EarlyAbort = EarlyAbort()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Runs per vmapped process; larger groups are split.
    max_group_size: int = Field(default=64, gt=0)
    probes: list[Probe] = Field(default_factory=list)

    @model_validator(mode="after")
    def _probes_on_logged_steps(self):
        # Probes run only at logged steps; an interval off the logging grid would silently thin them out.
        for probe in self.probes:
            if probe.every % self.log_every:
                raise ValueError(f"probe {probe.kind!r} every {probe.every} is not a multiple of log_every "
                                 f"{self.log_every}")
        return self

    @model_validator(mode="after")
    def _abort_window_logged(self):
        abort = self.early_abort
        if abort.enabled and (self.log_every_step_until < abort.window or abort.window >= self.steps):
            raise ValueError(f"early_abort reads the loss at every step below its window {abort.window}: "
                             f"log_every_step_until ({self.log_every_step_until}) must be >= it and steps "
                             f"({self.steps}) above it")
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

    @field_validator("control", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, dict) else value


ScaleBlock.model_rebuild()


class SpecFile(Strict):
    """The YAML file as written: base sections plus per-scale overrides."""

    claim: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    paper: str = Field(min_length=1)
    statement: str = Field(min_length=1)
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
