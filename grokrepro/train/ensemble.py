"""Train a group of same-shaped runs in one process: parameters stacked along a run axis, one functional
step vmapped over it, and an optimiser (grokrepro.train.optim) whose hyper-parameters may differ per run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from grokrepro.models import ModelShape, build_model
from grokrepro.registry import PROBES, STOP_RULES
from grokrepro.tasks import Dataset
from grokrepro.train.allocator import keep_freed_memory
from grokrepro.train.checkpoint import load_latest, save_atomic
from grokrepro.train.losses import loss_function
from grokrepro.train.optim import AdamW, Optimiser, restore_state
from grokrepro.train.schedule import log_steps
from grokrepro.train.stops import NOT_REACHED, StopRule

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "param_norm")
REGRESSION_METRICS = ("train_loss", "test_loss", "param_norm")
# Regression runs also log the loss of the zero predictor on each split (constant; the scale the regression
# claims measure losses against).
ZERO_PREDICTOR_METRICS = ("zero_train_loss", "zero_test_loss")
RECORDS = ("stopped_at", "aborted_at")  # where stop rules record their stops (grokrepro.train.stops)


def pick_device(requested: str) -> torch.device:
    """The device of a trainer built without one: `auto` is the CPU here, because only the caller knows the
    scale, and only the paper scale moves to a GPU (grokrepro.cluster.training_device, which the CLI passes)."""
    return torch.device("cuda" if requested == "cuda" else "cpu")


@dataclass
class GroupResult:
    run_ids: list[str]
    steps: np.ndarray  # logged steps
    metrics: dict[str, np.ndarray]  # name -> (run, step); NaN where not logged (stopped or diverged)
    diverged_at: np.ndarray  # (run,) first step with a non-finite loss, or NOT_REACHED
    stopped_at: np.ndarray  # (run,) step at which a stop rule found it done (early stop), or NOT_REACHED
    aborted_at: np.ndarray  # (run,) step at which a stop rule gave it up (early abort), or NOT_REACHED
    device: str
    wall_seconds: float
    steps_per_second: float
    extra: dict = field(default_factory=dict)


def _stack_split(datasets: list[Dataset], which: str, device) -> tuple[torch.Tensor, torch.Tensor]:
    index = [getattr(d, f"{which}_index") for d in datasets]
    inputs = torch.as_tensor(np.stack([d.inputs[i] for d, i in zip(datasets, index)]), device=device)
    labels = torch.as_tensor(np.stack([d.labels[i] for d, i in zip(datasets, index)]), device=device)
    return inputs, labels


def _scattered(values: torch.Tensor, rows: torch.Tensor, n_runs: int) -> torch.Tensor:
    """A (run,) tensor with `values` at `rows` and NaN elsewhere."""
    full = torch.full((n_runs,), float("nan"), dtype=values.dtype, device=values.device)
    return full.index_copy_(0, rows, values)


class EnsembleTrainer:
    def __init__(self, runs, datasets: list[Dataset], checkpoint_path: Path | None = None,
                 initial_params: dict[str, torch.Tensor] | None = None, device: str | None = None):
        keep_freed_memory()
        first = runs[0]
        self.runs, self.train, self.optimizer = runs, first.train, first.optimizer
        self.device = torch.device(device) if device is not None else pick_device(first.train.device)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.loss_dtype = getattr(torch, first.optimizer.loss_dtype)
        self.regression = datasets[0].is_regression
        loss = first.optimizer.loss
        self.loss = loss_function(("mse" if self.regression else "cross_entropy") if loss == "auto" else loss)
        self.datasets = datasets
        self.model_shape = ModelShape.of(datasets[0])

        models = []
        for run in runs:
            torch.manual_seed(run.seed)
            models.append(build_model(run.model, self.model_shape).to(self.device))
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().clone() for k, v in params.items()}
        if initial_params is not None:  # a warm start: each run's parent's final weights
            for name, param in self.params.items():
                param.copy_(initial_params[name].to(param))
        # Buffers hold per-run constants (a centred model's θ₀, its α and ε); they are never trained.
        self.buffers = {k: v.detach().clone() for k, v in buffers.items()}
        # θ at the start of training (after any warm start, before any resumed checkpoint), for probes that
        # compare with it (ntk_drift)
        self.initial_params = {k: v.clone() for k, v in self.params.items()}
        self.template = build_model(first.model, self.model_shape).to("meta")
        self.optimiser = Optimiser(runs, self.device)
        self.optimiser_state = self.optimiser.init(self.params)
        # (run,) rates, for the probes that replay the optimiser in closed form (the linearised network)
        self.lr, self.weight_decay = self.optimiser.lr, self.optimiser.weight_decay
        self.seeds = [r.seed for r in runs]
        self.train_x, self.train_y = _stack_split(datasets, "train", self.device)
        self.test_x, self.test_y = _stack_split(datasets, "test", self.device)
        n_train = self.train_x.shape[1]
        batch = first.optimizer.batch_size
        # Power et al.: batch = min(512, half the training set); "full" means one step is one epoch.
        self.batch_size = n_train if batch == "full" else max(1, min(batch, n_train // 2))
        self.full_batch = self.batch_size == n_train
        self.steps = log_steps(first.train.steps, first.train.log_every, first.train.log_points,
                               first.train.log_every_step_until)

        # The enabled stop rules, by kind; those that decide before a step, by that step; those that read
        # logged steps
        self.stop_rules: dict[str, StopRule] = {
            kind: STOP_RULES[kind].load()(settings, self) for kind, settings in first.train.stop_rules.items()
            if getattr(settings, "enabled", True)}
        self._deciding_at: dict[int, list[StopRule]] = {}
        for rule in self.stop_rules.values():
            for step in rule.decision_steps():
                self._deciding_at.setdefault(int(step), []).append(rule)
        self._reading_logged_steps = [r for r in self.stop_rules.values() if r.reads_logged_steps]

        self.probes = first.train.probes
        if self.probes:
            self.probe_model = build_model(first.model, self.model_shape).to(self.device)

        self._log_gains = None
        self._orders: dict[int, torch.Tensor] = {}  # epoch -> (run, n_train) batch order (minibatch groups)
        self._run_rows = torch.arange(len(runs), device=self.device)[:, None]
        self._forward = vmap(self._logits)
        # A group of one run calls a plain module whose parameters are views of the stacked ones: no vmap and
        # no functional_call, whose per-call attribute swapping costs more than a small model's step.
        self.solo = self._module_viewing_run(0) if len(runs) == 1 else None
        self._solo_leaves = dict(self.solo.named_parameters()) if self.solo is not None else None

    def _module_viewing_run(self, k: int) -> torch.nn.Module:
        module = build_model(self.runs[0].model, self.model_shape).to(self.device)
        for name, tensor in [*self.params.items(), *self.buffers.items()]:
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            if name in self.params:  # a Parameter made from a view shares its storage with the stacked tensor
                owner._parameters[leaf] = torch.nn.Parameter(tensor[k], requires_grad=True)
            else:
                owner._buffers[leaf] = tensor[k]
        return module

    # -- the functional model -------------------------------------------------------------------------
    def _logits(self, params, buffers, inputs):
        return functional_call(self.template, (params, buffers), (inputs,))

    def _loss_of(self, outputs, labels, reduction="mean"):
        return self.loss(outputs.to(self.loss_dtype), labels, reduction=reduction)

    def _run_losses(self, outputs, labels) -> torch.Tensor:
        """(run,) mean loss of each run on its own examples."""
        if self.regression:  # outputs and labels have the same shape: no reshaping
            return self._loss_of(outputs, labels, reduction="none").flatten(1).mean(1)
        n_runs = labels.shape[0]
        per_example = self._loss_of(outputs.flatten(0, 1), labels.flatten(), reduction="none")
        return per_example.view(n_runs, -1).mean(1)

    def _normalised_objective(self, outputs, labels, losses) -> tuple[torch.Tensor, torch.Tensor]:
        """(run,) objectives whose gradients are the losses' times exp(log_gain), and the (run,) log gains.

        Normalised gradient descent needs only the gradient's direction, so it differentiates an objective with
        the same direction but without a cross-entropy gradient that underflows (or a loss that rounds to 0) once
        the margins are large. For cross-entropy the scale is exp(-smallest margin) (1 while an example is
        misclassified), for squared error the loss; log_gain = -log scale."""
        if self.regression:
            scale = losses.detach().clamp_min(torch.finfo(losses.dtype).tiny)
            return losses / scale, -scale.log()
        # ∂loss/∂logits = (softmax - one-hot)/n, taken in log space and multiplied by exp(smallest margin) so
        # that it neither underflows nor rounds to zero however large the margins grow; the objective
        # <that, logits> has exactly this gradient.
        wide = outputs.detach().to(self.loss_dtype)
        log_p = wide.log_softmax(-1)
        target = labels[..., None] == torch.arange(wide.shape[-1], device=labels.device)
        correct = wide.gather(-1, labels[..., None])
        margins = correct - wide.masked_fill(target, float("-inf")).amax(-1, keepdim=True)
        shift = margins.flatten(1).amin(1).clamp_min(0.0)  # 0 while an example is misclassified
        others = torch.exp((log_p + shift[:, None, None]).masked_fill(target, float("-inf")))
        pull = others - target * others.sum(-1, keepdim=True)
        objective = (pull * outputs.to(self.loss_dtype)).flatten(1).sum(1) / labels.shape[1]
        return objective, shift

    def _grad_step(self, params, buffers, inputs, labels):
        """Gradients of each run's objective with respect to its own parameters, with the losses and outputs.

        The forward pass is vmapped and the backward pass is ordinary autograd of the summed objectives: runs
        share no parameters, so the gradient of the sum is each run's own gradient. This is faster than vmapping
        torch.func.grad, whose per-op wrapping costs more than the batched backward ops. A group of one run
        skips vmap altogether, so a lone run computes exactly what a plain module would."""
        with torch.enable_grad():
            if self.solo is not None and params is self.params:
                leaves = self._solo_leaves
                outputs = self.solo(inputs[0]).unsqueeze(0)
            else:
                leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
                outputs = self._forward(leaves, buffers, inputs)
            losses = self._run_losses(outputs, labels)
            objective, self._log_gains = losses, None
            if self.optimiser.base.normalised_objective:
                # the loss's own gradient is grads x exp(-log_gain): the l-infinity penalty is weighed to match
                objective, self._log_gains = self._normalised_objective(outputs, labels, losses)
            grads = torch.autograd.grad(objective.sum(), [leaves[k] for k in params])
        grads = {k: g.view_as(params[k]) for k, g in zip(params, grads)}
        return grads, (losses.detach(), outputs.detach())

    def _accuracy(self, logits, labels):
        if self.regression:
            return torch.full(labels.shape[:1], float("nan"), device=self.device)
        return (logits.argmax(-1) == labels).float().mean(-1)

    def _evaluate(self, inputs, labels, active: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and accuracy of every run on its own examples, in chunks to bound memory. With `active`, only
        those runs are computed and the others get NaN."""
        if active is not None and not bool(active.all()):
            rows = active.nonzero().squeeze(1)
            loss, accuracy = self._evaluate_rows(inputs[rows], labels[rows], rows)
            return _scattered(loss, rows, len(active)), _scattered(accuracy, rows, len(active))
        return self._evaluate_rows(inputs, labels)

    def _evaluate_rows(self, inputs, labels, rows: torch.Tensor | None = None):
        n_runs, n = labels.shape
        if n == 0 or n_runs == 0:
            nan = torch.full((n_runs,), float("nan"), device=self.device)
            return nan, nan
        params, buffers = self._rows(rows)
        chunk = max(1, 2**18 // n_runs)
        loss_sum = torch.zeros(n_runs, dtype=self.loss_dtype, device=self.device)
        correct = torch.zeros(n_runs, device=self.device)
        with torch.no_grad():
            for start in range(0, n, chunk):
                x, y = inputs[:, start : start + chunk], labels[:, start : start + chunk]
                logits = self._forward(params, buffers, x)
                loss_sum += self._loss_of(logits.flatten(0, 1), y.flatten(), reduction="none").view(n_runs, -1).sum(1)
                if not self.regression:
                    correct += (logits.argmax(-1) == y).sum(1)
        if self.regression:
            return (loss_sum / n).float(), torch.full((n_runs,), float("nan"), device=self.device)
        return (loss_sum / n).float(), correct / n

    def _rows(self, rows: torch.Tensor | None):
        """Parameters and buffers of the chosen runs (all when `rows` is None)."""
        if rows is None:
            return self.params, self.buffers
        return ({k: v[rows] for k, v in self.params.items()}, {k: v[rows] for k, v in self.buffers.items()})

    def _gradients(self, inputs, labels, active: torch.Tensor, everyone: bool | None = None,
                   rows: torch.Tensor | None = None):
        """Gradients, losses and logits of the active runs only, so that stopped, aborted and diverged runs
        cost no compute; the others get zero gradients, NaN losses and zero logits (never used). `everyone`
        says that every run is active, and `rows` which runs are, when the caller already knows (finding
        them here would make the host wait for the device)."""
        everyone = bool(active.all()) if everyone is None else everyone
        if everyone:
            return self._grad_step(self.params, self.buffers, inputs, labels)
        rows = active.nonzero().squeeze(1) if rows is None else rows
        params, buffers = self._rows(rows)
        grads, (losses, logits) = self._grad_step(params, buffers, inputs[rows], labels[rows])
        n_runs = len(active)
        if self._log_gains is not None:
            self._log_gains = torch.zeros(n_runs, dtype=losses.dtype, device=losses.device)\
                .index_copy_(0, rows, self._log_gains)
        grads = {k: torch.zeros_like(self.params[k]).index_copy_(0, rows, g) for k, g in grads.items()}
        logits = torch.zeros((n_runs, *logits.shape[1:]), dtype=logits.dtype, device=logits.device)\
            .index_copy_(0, rows, logits)
        return grads, (_scattered(losses, rows, n_runs), logits)

    # -- one optimiser step ----------------------------------------------------------------------------------
    def _update(self, grads, step: int, active: torch.Tensor, everyone: bool | None = None) -> None:
        everyone = bool(active.all()) if everyone is None else everyone
        self.optimiser_state = self.optimiser.step(self.params, grads, self.optimiser_state, step, active,
                                                   everyone, self._log_gains)

    def _batch(self, step: int):
        if self.full_batch:
            return self.train_x, self.train_y
        epoch, offset = divmod(step, self.train_x.shape[1] // self.batch_size)
        if epoch not in self._orders:  # drawn ahead at the last sync step, except for a caller outside run()
            self._draw_orders(epoch, epoch)
        index = self._orders[epoch][:, offset * self.batch_size : (offset + 1) * self.batch_size]
        return self.train_x[self._run_rows, index], self.train_y[self._run_rows, index]

    def _draw_orders(self, first_epoch: int, last_epoch: int) -> None:
        """The (run, n_train) orders of the training examples in these epochs, once each (not at every step of
        an epoch). Orders depend only on (seed, epoch), so a resumed run draws exactly the batches it would
        have. They are drawn on the host (the CPU generator's permutations are the ones every result so far was
        trained on), at a sync step for every epoch until the next, and sent to a GPU in one copy from pinned
        memory that the host does not wait for."""
        self._orders = {e: order for e, order in self._orders.items() if e >= first_epoch}
        epochs = [e for e in range(first_epoch, last_epoch + 1) if e not in self._orders]
        if not epochs:
            return
        orders = torch.stack([torch.stack([
            torch.randperm(self.train_x.shape[1], generator=torch.Generator().manual_seed(seed * 1_000_003 + e))
            for seed in self.seeds]) for e in epochs])
        if self.device.type == "cuda":
            orders = orders.pin_memory().to(self.device, non_blocking=True)
        else:
            orders = orders.to(self.device)
        self._orders.update(zip(epochs, orders.unbind(0)))

    def _draw_orders_until_next_sync(self, step: int) -> None:
        """At a sync step: the batch orders of every epoch a step before the next sync step trains on."""
        if self.full_batch:
            return
        per_epoch = self.train_x.shape[1] // self.batch_size
        next_log = np.searchsorted(self.steps, step, side="right")  # self.steps is sorted
        next_sync = min(self.train.steps, (step // self.train.checkpoint_every + 1) * self.train.checkpoint_every,
                        int(self.steps[next_log]) if next_log < len(self.steps) else self.train.steps)
        next_sync = min([next_sync, *(d for d in self._deciding_at if d > step)])
        self._draw_orders(step // per_epoch, max(step, next_sync - 1) // per_epoch)

    def _run_probes(self, step: int, logged: np.ndarray) -> dict[str, np.ndarray]:
        """Values of the probes due at this step, one (run,) array per measured quantity."""
        values = {}
        self.probe_step = step  # for probes that depend on the step itself (the linearised network's curve)
        for probe in self.probes:
            if step % probe.every == 0 or step == self.train.steps:
                kind = PROBES[probe.kind]
                measured = kind.load()(self, probe, logged)
                undeclared = sorted(set(measured) - set(kind.outputs))
                if undeclared:  # its units would be unknown in the curves
                    raise ValueError(f"probe {probe.kind!r} wrote {undeclared}, which its registration does not "
                                     f"declare in outputs ({sorted(kind.outputs)})")
                values.update(measured)
        return values

    def run_models(self, runs: np.ndarray):
        """Each chosen run as a plain module (the probe model with that run's parameters and buffers)."""
        for k in runs:
            with torch.no_grad():
                for name, tensor in [*self.probe_model.named_parameters(), *self.probe_model.named_buffers()]:
                    tensor.copy_((self.params if name in self.params else self.buffers)[name][k])
            yield k, self.probe_model

    def final_params(self) -> dict:
        """The group's weights as a warm start for other runs: run ids and stacked parameters."""
        return {"run_ids": [r.run_id for r in self.runs],
                "params": {k: v.detach().cpu().clone() for k, v in self.params.items()}}

    def _zero_predictor_losses(self) -> dict[str, torch.Tensor]:
        return {f"zero_{which}_loss": self._loss_of(torch.zeros_like(labels), labels, reduction="none")
                .flatten(1).mean(1).float() for which, labels in (("train", self.train_y), ("test", self.test_y))}

    def _param_norm(self) -> torch.Tensor:
        return torch.sqrt(sum(p.detach().pow(2).flatten(1).sum(1) for p in self.params.values()))

    # -- state --------------------------------------------------------------------------------------------
    def _state(self, step, metrics, diverged_at, records):
        return {"run_ids": [r.run_id for r in self.runs], "step": step, "params": self.params,
                "optimiser": self.optimiser_state, "metrics": metrics, "diverged_at": diverged_at, **records,
                "stop_rules": {kind: rule.state() for kind, rule in self.stop_rules.items()}}

    def _load_stop_rules(self, state: dict) -> None:
        saved = state.get("stop_rules")
        if saved is None:  # written before stop rules were kinds: early stop's one state at the top level
            saved = {"early_stop": {"held_since": state["held_since"]}} if "held_since" in state else {}
        for kind, rule in self.stop_rules.items():
            if kind in saved:
                rule.load(saved[kind])

    def _saved_optimiser_state(self, state: dict) -> dict:
        """The optimiser state of a checkpoint; one written before the optimiser layer kept AdamW's moments
        at the top level (and SGD's unused zeros)."""
        if "optimiser" in state:
            return state["optimiser"]
        moments = {"exp_avg": state["exp_avg"], "exp_avg_sq": state["exp_avg_sq"]}
        return {"transforms": [], "base": moments if isinstance(self.optimiser.base, AdamW) else {}}

    def _active_runs(self, diverged_at: torch.Tensor, records: dict[str, np.ndarray]) -> tuple[torch.Tensor, bool]:
        """The (run,) mask of runs that still train, and whether that is every run."""
        stopped = torch.as_tensor(self._stopped(records), device=self.device)
        active = (diverged_at == NOT_REACHED) & ~stopped
        return active, bool(active.all())

    @staticmethod
    def _stopped(records: dict[str, np.ndarray]) -> np.ndarray:
        return np.logical_or.reduce([record != NOT_REACHED for record in records.values()])

    @staticmethod
    def _stop(records: dict[str, np.ndarray], rule: StopRule, step: int, stop: np.ndarray | None) -> None:
        """Record `step` for the runs `rule` stops that its record does not hold yet."""
        if stop is not None:
            record = records[rule.record]
            records[rule.record] = np.where(np.asarray(stop, dtype=bool) & (record == NOT_REACHED), step, record)

    def _sync_step(self, step: int) -> bool:
        """Whether the host may wait for the device at this step: a logged step, a checkpoint step (every
        group, with or without a checkpoint file, so that a resumed run follows the same path as one that was
        never stopped) and the steps a stop rule decides before (the early-abort window). Between them a step
        never reads a device value, so on a GPU the host runs ahead, queueing the next steps' kernels while the
        device computes."""
        return step in self._log_index or step % self.train.checkpoint_every == 0 or step in self._deciding_at

    def run(self, progress: bool = True) -> GroupResult:
        n_runs, total = len(self.runs), self.train.steps
        names = list(REGRESSION_METRICS + ZERO_PREDICTOR_METRICS if self.regression else METRICS)
        metrics = {name: np.full((n_runs, len(self.steps)), np.nan) for name in names}
        diverged_at = torch.full((n_runs,), NOT_REACHED, dtype=torch.long, device=self.device)
        records = {name: np.full(n_runs, NOT_REACHED) for name in RECORDS}
        start, earlier_seconds = 0, 0.0
        if self.checkpoint_path:
            state = load_latest(self.checkpoint_path, [r.run_id for r in self.runs])
            if state is not None:
                start, metrics = state["step"], state["metrics"]
                # The interrupted attempts' training time up to the checkpoint: the group's wall_seconds is the
                # whole training's, not only the resumed part's.
                earlier_seconds = float(state.get("wall_seconds", 0.0))
                records = {name: state.get(name, records[name]) for name in RECORDS}
                self._load_stop_rules(state)
                diverged_at = state["diverged_at"].to(self.device)
                for name, param in self.params.items():
                    param.copy_(state["params"][name])
                restore_state(self.optimiser_state, self._saved_optimiser_state(state))
        log_index = self._log_index = {int(s): i for i, s in enumerate(self.steps)}
        began, done_steps = time.perf_counter(), 0
        bar = tqdm(total=total, initial=start, disable=not progress, unit="step", mininterval=2.0,
                   desc=f"{n_runs} runs")
        step = start
        # The step being trained, on the device: what a diverging run's first non-finite step is read from.
        clock = torch.full((), start, dtype=torch.long, device=self.device)
        # Which runs still train (`active`, on the device) changes at a logged step (early stop), at a step a
        # stop rule decides before (the early-abort window), or when a loss turns non-finite. The host's view
        # of it (`everyone`, and `rows` for
        # the gradient) is rebuilt only at sync steps: per-step bookkeeping is what a tiny model's step time is
        # made of, and on a GPU a per-step read would make the host wait for the device at every step.
        refresh = True
        while step <= total:
            for rule in self._deciding_at.get(step, ()):
                self._stop(records, rule, step, rule.before_step(step, metrics))
                refresh = True
            sync = self._sync_step(step)
            if refresh or sync:
                active, everyone = self._active_runs(diverged_at, records)
                rows = None if everyone else active.nonzero().squeeze(1)
                refresh = False
                if rows is not None and len(rows) == 0:
                    break
                self._draw_orders_until_next_sync(step)
            losses = logits = None
            if step < total:
                inputs, labels = self._batch(step)
                grads, (losses, logits) = self._gradients(inputs, labels, active, everyone, rows)
                # Divergence is found on the device: a run whose loss is not finite leaves `active` (the
                # masked update keeps it where it was) and its first such step is kept in diverged_at. The
                # host learns of it at the next sync step; until then a group whose every run was active takes
                # the unmasked update, in which a diverged run moves on alone (its parameters and optimiser
                # state are its own; nothing of it is logged after the step it diverged at).
                newly = active & ~torch.isfinite(losses)
                diverged_at = torch.where(newly, clock, diverged_at)
                active = active & ~newly
                if sync:  # the host catches up with this step's divergences
                    everyone = everyone and bool(active.all())
                    rows = None if everyone else active.nonzero().squeeze(1)
            if step in log_index:
                column = log_index[step]
                if self.full_batch and losses is not None:
                    train_loss = losses.float()
                    train_acc = self._accuracy(logits, self.train_y)
                else:
                    train_loss, train_acc = self._evaluate(self.train_x, self.train_y, active)
                test_loss, test_acc = self._evaluate(self.test_x, self.test_y, active)
                values = dict(train_loss=train_loss, train_acc=train_acc, test_loss=test_loss,
                              test_acc=test_acc, param_norm=self._param_norm())
                values = {name: values[name] for name in METRICS if name in metrics}
                if self.regression:
                    values.update(self._zero_predictor_losses())
                logged = ((diverged_at == NOT_REACHED) | (diverged_at == step)).cpu().numpy()
                logged &= ~self._stopped(records)
                host = {name: value.detach().cpu().numpy() for name, value in values.items()}
                for name, value in host.items():
                    metrics[name][logged, column] = value[logged]
                for name, value in self._run_probes(step, logged).items():
                    if name not in metrics:
                        metrics[name] = np.full((n_runs, len(self.steps)), np.nan)
                    metrics[name][logged, column] = value[logged]
                for rule in self._reading_logged_steps:
                    self._stop(records, rule, step, rule.after_logged_step(step, host, metrics))
                if ((diverged_at != NOT_REACHED).cpu().numpy() | self._stopped(records)).all():
                    break
                refresh = bool(self._reading_logged_steps)  # runs stopped at this step still take its update
            if step < total:
                self._update(grads, step, active, everyone)
                done_steps += 1
                bar.update(1)
            step += 1
            clock += 1
            if self.checkpoint_path and step % self.train.checkpoint_every == 0 and step <= total:
                state = self._state(step, metrics, diverged_at, records)
                state["wall_seconds"] = earlier_seconds + time.perf_counter() - began
                save_atomic(state, self.checkpoint_path)
        bar.close()
        elapsed = time.perf_counter() - began
        return GroupResult(
            run_ids=[r.run_id for r in self.runs], steps=self.steps, metrics=metrics,
            diverged_at=diverged_at.cpu().numpy(), stopped_at=np.asarray(records["stopped_at"]),
            aborted_at=np.asarray(records["aborted_at"]),
            device=str(self.device), wall_seconds=earlier_seconds + elapsed,
            steps_per_second=done_steps / elapsed if elapsed > 0 else math.nan,
        )
