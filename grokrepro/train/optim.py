"""Optimisers as chains of gradient transformations over stacked (run-batched) tensors, in the style of optax.

Every tensor here has the run axis first: a group's parameters are stacked, so one transformation serves every
run of a vmapped group at once, and a hyper-parameter that differs between runs is a (run,) tensor.

A transformation has `init(params) -> state` and `update(grads, state, params, ctx) -> (grads, state)`; it
returns new tensors and leaves its inputs alone, which is what lets the trainer keep a stopped run's state
untouched (one `torch.where` over every state tensor) and save and restore any chain's state without knowing
what is in it. A step is

    gradient -> [l-infinity penalty] -> optimizer.transforms, in order -> base (optimizer.kind: adamw, sgd,
             normalized_gd or a plug-in's, see grokrepro/optimizers) -> θ ← θ·(1 − η·λ) − step

The base turns gradients into the step it subtracts, and applies it: weight decay is decoupled, as AdamW
defines it, for every base (SGD with momentum too: θ·(1 − η·λ) − η·buf, where torch.optim.SGD would add λθ to
the gradient), and each base keeps the exact order of floating-point operations of the hand-written optimiser
this layer replaced (SGD's step is one fused multiply-add), so results are bit for bit what they were.

The rate η at step s is each run's rate times the linear warm-up min(1, (s + 1)/warmup_steps) (any base) times
the schedule's factor (grokrepro/schedules: constant, cosine, step or a plug-in's kind), whose steps count from
the end of the warm-up. Without warm-up and schedule the factor is exactly 1 and the rate is not touched.

A new idea is a module in grokrepro/train/transforms/ (found by name) or anywhere that calls
`register_transform` before the trainer is built, e.g.

    @register_transform
    class SignGradient(Transformation):
        kind = "sign"
        class Settings(TransformSettings):
            kind: Literal["sign"] = "sign"
        def update(self, grads, state, params, ctx):
            return {name: g.sign() for name, g in grads.items()}, state
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from grokrepro.registry import OPTIMIZERS
from grokrepro.schedules import Schedule

State = dict[str, Any]  # nested dicts (and lists) of tensors, every tensor with the run axis first


def per_run(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (run,) tensor shaped to broadcast against a stacked tensor (run axis first)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def stacked(runs, value_of, device, dtype=torch.float32) -> torch.Tensor:
    """One value per run as a (run,) tensor: the one place per-run hyper-parameters are read from the runs."""
    return torch.tensor([value_of(run) for run in runs], dtype=dtype, device=device)


@dataclass(frozen=True)
class StepContext:
    step: int
    lr: torch.Tensor  # (run,) learning rate at this step, warm-up and schedule included
    # (run,) log of the factor normalised gradient descent's objective scaled the loss's gradient by, else None
    log_gains: Optional[torch.Tensor] = None
    # (run,) mask of the runs that take this step, or None when every run does; for transformations that
    # update their state in place (the trainer keeps the others' state as it was either way)
    active: Optional[torch.Tensor] = None


class TransformSettings(BaseModel):
    """A transformation's parameters as a spec writes them (`kind` plus its fields); unknown keys are errors.
    Every field needs a default: tests/test_optim.py builds each registered kind from its defaults and checks
    that a resumed run is exact."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str


class Transformation:
    kind: ClassVar[str]
    Settings: ClassVar[type[TransformSettings]] = TransformSettings
    # Settings that may differ between the runs of one vmapped group (read as (run,) tensors); the others
    # change shapes or code paths and so split groups.
    per_run: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: list[TransformSettings], device: torch.device):
        shared = [s.model_dump(exclude=set(self.per_run)) for s in settings]
        if any(other != shared[0] for other in shared):
            raise ValueError(f"the runs of one group differ in {self.kind} settings that are not per-run "
                             f"({', '.join(self.per_run) or 'none are'}): {shared}")
        self.settings, self.device = settings[0], device
        self._per_run = {name: stacked(settings, lambda s: getattr(s, name), device) for name in self.per_run}

    def per_run_value(self, name: str) -> torch.Tensor:
        return self._per_run[name]

    def init(self, params: dict[str, torch.Tensor]) -> State:
        return {}

    def update(self, grads, state: State, params, ctx: StepContext):
        raise NotImplementedError


TRANSFORMS: dict[str, type[Transformation]] = {}


def register_transform(cls: type[Transformation]) -> type[Transformation]:
    if cls.kind in TRANSFORMS and TRANSFORMS[cls.kind] is not cls:
        raise ValueError(f"a transformation of kind {cls.kind!r} is registered twice "
                         f"({TRANSFORMS[cls.kind].__module__} and {cls.__module__})")
    TRANSFORMS[cls.kind] = cls
    return cls


_BUILT_IN_LOADED = False


def load_library_transforms() -> None:
    """Import the modules of grokrepro/train/transforms (once), so that each registers its transformation."""
    global _BUILT_IN_LOADED
    if not _BUILT_IN_LOADED:
        import grokrepro.train.transforms as package

        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"grokrepro.train.transforms.{module.name}")
        _BUILT_IN_LOADED = True


def transform_class(kind: str) -> type[Transformation]:
    """The class of a transformation kind; the library's modules register theirs when this first needs them."""
    if kind not in TRANSFORMS:
        load_library_transforms()
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown transformation kind {kind!r} (known: {', '.join(sorted(TRANSFORMS))})")
    return TRANSFORMS[kind]


def normalise_transform(raw: dict) -> dict:
    """A spec's transformation entry validated by its kind's Settings, with every default filled in (so that an
    omitted default and a written one name the same run)."""
    cls = transform_class(raw.get("kind"))
    try:
        return cls.Settings.model_validate(raw).model_dump()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'kind'}: {e['msg']}" for e in error.errors())
        raise ValueError(f"{cls.kind}: {problems}") from None


# -- the base optimisers: gradients in, a step out, and how to take it -------------------------------------
class BaseOptimiser(Transformation):
    """`update` returns the step θ loses (beside the decay); `apply` takes it, in place for the whole group
    (`keep` None) or only for the runs `keep` marks (the others keep their parameters). Registered in
    grokrepro.registry.OPTIMIZERS under its kind (grokrepro/optimizers), built as `cls(optimizer settings,
    device)`."""

    # True: the trainer differentiates an objective with the loss's gradient direction but a scale that cannot
    # underflow, and hands the log of the scale to the chain as ctx.log_gains (normalised gradient descent).
    normalised_objective: ClassVar[bool] = False

    def apply(self, param, decay, step, lr, keep=None) -> None:
        if keep is None:
            param.mul_(decay).sub_(step)
        else:
            param.copy_(torch.where(keep, param * decay - step, param))


class AdamW(BaseOptimiser):
    """Adam's moments and bias correction in torch.optim.AdamW's order of operations."""

    kind = "adamw"

    def __init__(self, optimizer, device):
        self.betas, self.eps, self.device = optimizer.betas, optimizer.eps, device
        self._count, self._count_step = None, None  # the fused kernel's step count, kept on the device

    def init(self, params):
        return {"exp_avg": {k: torch.zeros_like(v) for k, v in params.items()},
                "exp_avg_sq": {k: torch.zeros_like(v) for k, v in params.items()}}

    def update(self, grads, state, params, ctx):
        beta1, beta2 = self.betas
        bias1, bias2 = 1 - beta1 ** (ctx.step + 1), 1 - beta2 ** (ctx.step + 1)
        steps, m_new, v_new = {}, {}, {}
        for name, grad in grads.items():
            m = state["exp_avg"][name].lerp(grad, 1 - beta1)
            v = (state["exp_avg_sq"][name] * beta2).addcmul_(grad, grad, value=1 - beta2)
            denominator = (v.sqrt() / math.sqrt(bias2)).add_(self.eps)
            steps[name] = per_run(ctx.lr, grad) / bias1 * m / denominator
            m_new[name], v_new[name] = m, v
        return steps, {"exp_avg": m_new, "exp_avg_sq": v_new}

    def fused_step(self, params, grads, state, step: int, lr: float, weight_decay: float) -> None:
        """Every run active and sharing one learning rate and weight decay: PyTorch's fused AdamW kernel over
        the stacked tensors, in place, one pass per tensor instead of a dozen elementwise ops."""
        names = list(params)
        count = self._step_count(step)
        torch._fused_adamw_([params[k] for k in names], [grads[k].contiguous() for k in names],
                            [state["exp_avg"][k] for k in names], [state["exp_avg_sq"][k] for k in names], [],
                            [count] * len(names), amsgrad=False, lr=lr, beta1=self.betas[0],
                            beta2=self.betas[1], weight_decay=weight_decay, eps=self.eps,
                            maximize=False, grad_scale=None, found_inf=None)


    def _step_count(self, step: int) -> torch.Tensor:
        """step + 1 as a float32 device tensor, advanced in place from one step to the next. Made anew from a
        Python number at every step it would be a copy from host memory, which on a GPU waits for the device;
        it is made only at the first fused step and after a jump (a resume)."""
        if self._count is None or self._count_step != step - 1:
            self._count = torch.full((), float(step + 1), device=self.device)
        else:
            self._count.add_(1.0)
        self._count_step = step
        return self._count


class SGD(BaseOptimiser):
    """The step is η·d, taken as one multiply-add (the learning rate is applied in `apply`), with d = g, or
    with momentum torch.optim.SGD's d = buf (Nesterov: g + μ·buf), buf ← g at the first step and
    μ·buf + (1 − dampening)·g after it, in torch's order of operations. Without momentum there is no state and
    d is the gradient itself, as the hand-written SGD had it."""

    kind = "sgd"

    def __init__(self, optimizer, device):
        self.device = device
        # normalized_gd reuses this step and has no momentum of its own
        self.momentum = getattr(optimizer, "momentum", 0.0)
        self.dampening, self.nesterov = getattr(optimizer, "dampening", 0.0), getattr(optimizer, "nesterov", False)

    def init(self, params):
        if not self.momentum:
            return {}
        return {"momentum_buffer": {k: torch.zeros_like(v) for k, v in params.items()}}

    def update(self, grads, state, params, ctx):
        if not self.momentum:
            return grads, state
        buffers = {}
        for name, grad in grads.items():
            if ctx.step == 0:  # torch starts the buffer at the first gradient, undamped
                buffers[name] = grad.clone()
            else:
                buffers[name] = (state["momentum_buffer"][name] * self.momentum).add_(grad,
                                                                                      alpha=1 - self.dampening)
        if self.nesterov:
            steps = {name: grad.add(buffers[name], alpha=self.momentum) for name, grad in grads.items()}
        else:
            steps = buffers
        return steps, {"momentum_buffer": buffers}

    def apply(self, param, decay, step, lr, keep=None) -> None:
        if keep is None:
            param.mul_(decay).addcmul_(lr, step, value=-1)
        else:
            param.copy_(torch.where(keep, param * decay - lr * step, param))


class NormalisedGD(SGD):
    """θ ← θ − η·g/‖g‖₂, the norm over all of a run's parameters (Mohamadi et al.)."""

    kind = "normalized_gd"
    normalised_objective = True

    def update(self, grads, state, params, ctx):
        norm = torch.sqrt(sum(g.pow(2).flatten(1).sum(1) for g in grads.values()))
        scale = 1 / norm.clamp_min(torch.finfo(norm.dtype).tiny)
        return super().update({k: g * per_run(scale, g) for k, g in grads.items()}, state, params, ctx)


class LinfPenalty(Transformation):
    """Adds the subgradient of λ‖θ‖∞ (λ sign(θ_j) at the largest |θ_j| over all of a run's parameters).

    Under normalised gradient descent the loss's gradient arrives multiplied by a gain (see the trainer's
    normalised objective), so the penalty is multiplied by it too; both are then divided by max(1, λ·gain), in
    log space, which leaves the direction alone and keeps the numbers finite when the loss has all but
    vanished and the penalty takes over."""

    kind = "linf_penalty"

    def __init__(self, runs, device):
        self.penalty = stacked(runs, lambda r: r.optimizer.linf_penalty, device)

    def update(self, grads, state, params, ctx):
        largest = torch.stack([p.detach().abs().flatten(1).amax(1) for p in params.values()]).amax(0)
        loss_weight, penalty = torch.ones_like(self.penalty), self.penalty
        if ctx.log_gains is not None:
            log_relative = self.penalty.double().log() + ctx.log_gains.double()  # λ = 0: -inf
            loss_weight = torch.exp(-log_relative.clamp_min(0.0)).to(penalty.dtype)
            penalty = torch.exp(log_relative.clamp_max(0.0)).to(penalty.dtype)
        out = {}
        for name, param in params.items():
            at_max = (param.detach().abs() >= per_run(largest, param)).to(param.dtype)
            out[name] = (grads[name] * per_run(loss_weight, param)
                         + per_run(penalty, param) * at_max * param.detach().sign())
        return out, state


# -- state, generically --------------------------------------------------------------------------------------
def state_leaves(state, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor of a (nested) state with a path naming it, in a stable order."""
    if isinstance(state, torch.Tensor):
        return [(prefix, state)]
    items = state.items() if isinstance(state, dict) else enumerate(state)
    return [leaf for key, value in items for leaf in state_leaves(value, f"{prefix}/{key}")]


def masked_state(new, old, keep: torch.Tensor):
    """`new` where `keep` (a (run,) mask) is true and `old` elsewhere, tensor by tensor."""
    if isinstance(new, torch.Tensor):
        return torch.where(per_run(keep, new), new, old)
    if isinstance(new, dict):
        return {key: masked_state(value, old[key], keep) for key, value in new.items()}
    return [masked_state(value, before, keep) for value, before in zip(new, old)]


def restore_state(target, saved) -> None:
    """Copy a saved state into a live one of the same structure, refusing one of another structure (a
    checkpoint of other transformations must not half-load)."""
    live, stored = state_leaves(target), state_leaves(saved)
    if [path for path, _ in live] != [path for path, _ in stored]:
        raise ValueError(f"the checkpoint's optimiser state {[p for p, _ in stored]} does not match this "
                         f"optimiser's {[p for p, _ in live]}")
    for (_, tensor), (_, value) in zip(live, stored):
        tensor.copy_(value)


# -- the optimiser of a group ---------------------------------------------------------------------------------
class Optimiser:
    """A group's chain: per-run rates read once, transformations in order, then the base and the decay."""

    def __init__(self, runs, device: torch.device):
        spec = runs[0].optimizer
        self.spec, self.device = spec, device
        # Kumar et al.: each run's learning rate is lr · α^lr_alpha_power
        rates = [(r.optimizer.lr * getattr(r.model, "alpha", 1.0) ** r.optimizer.lr_alpha_power,
                  r.optimizer.weight_decay) for r in runs]
        self.lr = stacked(rates, lambda rate: rate[0], device)
        self.weight_decay = stacked(rates, lambda rate: rate[1], device)
        # One (lr, weight decay) for the whole group lets the fused AdamW kernel take every step
        self.shared_rates = rates[0] if len(set(rates)) == 1 else None
        self.chain: list[Transformation] = []
        if any(r.optimizer.linf_penalty > 0 for r in runs):
            self.chain.append(LinfPenalty(runs, device))
        for index, entry in enumerate(spec.transforms):
            cls = transform_class(entry.kind)
            settings = [cls.Settings.model_validate(r.optimizer.transforms[index].model_dump()) for r in runs]
            self.chain.append(cls(settings, device))
        self.base = OPTIMIZERS[spec.kind].load()(spec, device)
        # The runs of a group share their schedule (it is part of the group key); constant: none at all
        schedule = spec.schedule.model_dump()
        self.schedule = (None if schedule == {"kind": "constant"}
                         else Schedule(schedule, spec.warmup_steps, runs[0].train.steps))

    def init(self, params) -> State:
        return {"transforms": [t.init(params) for t in self.chain], "base": self.base.init(params)}

    def rate_factor(self, step: int) -> float:
        """The factor on every run's rate at this step: the linear warm-up times the schedule's factor (1.0
        exactly, so no rate changes by a bit, without either)."""
        warmup = self.spec.warmup_steps
        warming = min(1.0, (step + 1) / warmup) if warmup else 1.0
        if self.schedule is None:
            return warming
        return warming * self.schedule.factor(step)

    @property
    def constant_rate(self) -> bool:
        """No warm-up and no schedule: every step at the written rate."""
        return not self.spec.warmup_steps and self.schedule is None

    def learning_rate(self, factor: float) -> torch.Tensor:
        """(run,) rates at a step whose rate factor is `factor`."""
        return self.lr if factor == 1.0 else self.lr * factor

    def step(self, params, grads, state: State, step: int, active: torch.Tensor, everyone: bool,
             log_gains: Optional[torch.Tensor] = None) -> State:
        """One update of `params` (in place: modules may view them) for the active runs; returns the new state.
        Runs that diverged or stopped keep parameters and state untouched (NaN never leaks into them)."""
        factor = self.rate_factor(step)
        lr = self.learning_rate(factor)
        ctx = StepContext(step=step, lr=lr, log_gains=log_gains, active=None if everyone else active)
        transformed = []
        for transformation, old in zip(self.chain, state["transforms"]):
            grads, new = transformation.update(grads, old, params, ctx)
            transformed.append(new if everyone else masked_state(new, old, active))
        if everyone and self.shared_rates is not None and hasattr(self.base, "fused_step"):
            self.base.fused_step(params, grads, state["base"], step, self.shared_rates[0] * factor,
                                 self.shared_rates[1])
            return {"transforms": transformed, "base": state["base"]}
        steps, base_state = self.base.update(grads, state["base"], params, ctx)
        decay = 1 - lr * self.weight_decay
        for name, param in params.items():
            keep = None if everyone else per_run(active, param)
            self.base.apply(param, per_run(decay, param), steps[name], per_run(lr, param), keep)
        if not everyone:
            base_state = masked_state(base_state, state["base"], active)
        return {"transforms": transformed, "base": base_state}
