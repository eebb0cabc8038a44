"""The trainer's loop as it was before steps stopped waiting on the host (a `.item()` at every step, batch orders
drawn at every step), frozen verbatim as a reference: tests/test_step_loop.py trains with both and demands the
same bits."""

import math
import time

import numpy as np
import torch
from tqdm import tqdm

from grokrepro.metrics.spectral import early_features, predicted_to_grok
from grokrepro.train import EnsembleTrainer
from grokrepro.train.checkpoint import load_latest, save_atomic
from grokrepro.train.ensemble import METRICS, NOT_REACHED, REGRESSION_METRICS, ZERO_PREDICTOR_METRICS, GroupResult
from grokrepro.train.optim import restore_state


class LegacyLoopTrainer(EnsembleTrainer):
    def _batch(self, step: int):
        if self.full_batch:
            return self.train_x, self.train_y
        n_train = self.train_x.shape[1]
        per_epoch = n_train // self.batch_size
        epoch, offset = divmod(step, per_epoch)
        # Orders depend only on (seed, epoch), so a resumed run draws exactly the batches it would have.
        order = torch.stack([
            torch.randperm(n_train, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
            for seed in self.seeds
        ]).to(self.device)
        index = order[:, offset * self.batch_size : (offset + 1) * self.batch_size]
        rows = torch.arange(len(self.seeds), device=self.device)[:, None]
        return self.train_x[rows, index], self.train_y[rows, index]

    # The trainer's helpers of that time, before stop rules were registered kinds
    @property
    def _abort(self):
        return self.train.stop_rules["early_abort"]

    def _legacy_state(self, step, metrics, diverged_at, stopped_at, held_since, aborted_at):
        return {"run_ids": [r.run_id for r in self.runs], "step": step, "params": self.params,
                "optimiser": self.optimiser_state, "metrics": metrics,
                "diverged_at": diverged_at, "stopped_at": stopped_at, "held_since": held_since,
                "aborted_at": aborted_at}

    def _legacy_active_runs(self, diverged_at, stopped_at, aborted_at):
        stopped = torch.as_tensor((stopped_at != NOT_REACHED) | (aborted_at != NOT_REACHED), device=self.device)
        active = (diverged_at == NOT_REACHED) & ~stopped
        return active, bool(active.all())

    def _early_abort(self, step, metrics, aborted_at):
        abort = self._abort
        if not abort.enabled or step != abort.window:
            return aborted_at
        feature = early_features(metrics["train_loss"], self.steps, abort)[abort.feature]
        stop = ~predicted_to_grok(feature, abort) & (aborted_at == NOT_REACHED)
        return np.where(stop, step, aborted_at)

    def run(self, progress: bool = True) -> GroupResult:
        n_runs, total = len(self.runs), self.train.steps
        names = list(REGRESSION_METRICS + ZERO_PREDICTOR_METRICS if self.regression else METRICS)
        metrics = {name: np.full((n_runs, len(self.steps)), np.nan) for name in names}
        diverged_at = torch.full((n_runs,), NOT_REACHED, dtype=torch.long, device=self.device)
        stopped_at = np.full(n_runs, NOT_REACHED)
        held_since = np.full(n_runs, NOT_REACHED)
        aborted_at = np.full(n_runs, NOT_REACHED)
        start = 0
        if self.checkpoint_path:
            state = load_latest(self.checkpoint_path, [r.run_id for r in self.runs])
            if state is not None:
                start, metrics = state["step"], state["metrics"]
                stopped_at, held_since = state["stopped_at"], state["held_since"]
                aborted_at = state.get("aborted_at", aborted_at)
                diverged_at = state["diverged_at"].to(self.device)
                for name, param in self.params.items():
                    param.copy_(state["params"][name])
                restore_state(self.optimiser_state, self._saved_optimiser_state(state))
        log_index = {int(s): i for i, s in enumerate(self.steps)}
        early = self.train.stop_rules["early_stop"]
        began, done_steps = time.perf_counter(), 0
        bar = tqdm(total=total, initial=start, disable=not progress, unit="step", mininterval=2.0,
                   desc=f"{n_runs} runs")
        step = start
        # Which runs still train changes only at a logged step (early stop), at the early-abort window or when a
        # loss turns non-finite, so the mask is rebuilt only then: per-step bookkeeping is what a tiny model's
        # step time is made of.
        refresh = True
        while step <= total:
            if self._abort.enabled and step == self._abort.window:
                aborted_at, refresh = self._early_abort(step, metrics, aborted_at), True
            if refresh:
                active, everyone = self._legacy_active_runs(diverged_at, stopped_at, aborted_at)
                refresh = False
            if not everyone and not bool(active.any()):
                break
            losses = logits = None
            if step < total:
                inputs, labels = self._batch(step)
                grads, (losses, logits) = self._gradients(inputs, labels, active, everyone)
                # one check while all is well; the per-run bookkeeping only when some loss is not finite
                if not (everyone and math.isfinite(losses.sum().item())):
                    newly = active & ~torch.isfinite(losses)
                    diverged_at = torch.where(newly, step, diverged_at)
                    active, everyone = active & ~newly, everyone and not bool(newly.any())
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
                logged &= (stopped_at == NOT_REACHED) & (aborted_at == NOT_REACHED)
                for name, value in values.items():
                    metrics[name][logged, column] = value.detach().cpu().numpy()[logged]
                for name, value in self._run_probes(step, logged).items():
                    if name not in metrics:
                        metrics[name] = np.full((n_runs, len(self.steps)), np.nan)
                    metrics[name][logged, column] = value[logged]
                if early.enabled:
                    held = values["test_acc"].cpu().numpy() >= early.test_acc
                    held_since = np.where(held, np.where(held_since == NOT_REACHED, step, held_since),
                                          NOT_REACHED)
                    finished = (held_since != NOT_REACHED) & (step - held_since >= early.patience)
                    # never before the end of a dense early window: whoever asked for it reads those steps
                    finished &= step >= self.train.log_every_step_until
                    stopped_at = np.where(finished & (stopped_at == NOT_REACHED), step, stopped_at)
                everything_done = ((diverged_at != NOT_REACHED).cpu().numpy() | (stopped_at != NOT_REACHED)
                                   | (aborted_at != NOT_REACHED))
                if everything_done.all():
                    break
                refresh = early.enabled  # runs stopped at this step still take its update
            if step < total:
                self._update(grads, step, active, everyone)
                done_steps += 1
                bar.update(1)
            step += 1
            if self.checkpoint_path and step % self.train.checkpoint_every == 0 and step <= total:
                save_atomic(self._legacy_state(step, metrics, diverged_at, stopped_at, held_since, aborted_at),
                            self.checkpoint_path)
        bar.close()
        elapsed = time.perf_counter() - began
        return GroupResult(
            run_ids=[r.run_id for r in self.runs], steps=self.steps, metrics=metrics,
            diverged_at=diverged_at.cpu().numpy(), stopped_at=np.asarray(stopped_at),
            aborted_at=np.asarray(aborted_at),
            device=str(self.device), wall_seconds=elapsed,
            steps_per_second=done_steps / elapsed if elapsed > 0 else math.nan,
        )


# -- Grokfast-MA as it was: the queue shifted with torch.cat at every step, summed tensor by tensor ------------
from typing import Literal  # noqa: E402

from pydantic import Field  # noqa: E402

from grokrepro.train.optim import TransformSettings, Transformation, per_run, register_transform  # noqa: E402


@register_transform
class LegacyGrokfastMA(Transformation):
    kind = "legacy_grokfast_ma"
    per_run = ("lamb",)

    class Settings(TransformSettings):
        kind: Literal["legacy_grokfast_ma"] = "legacy_grokfast_ma"
        window: int = Field(100, ge=1)
        lamb: float = Field(5.0, ge=0)
        filter_type: Literal["mean", "sum"] = "mean"
        warmup: bool = True

    def init(self, params):
        w = self.settings.window
        first = next(iter(params.values()))
        return {"queue": {k: torch.zeros((v.shape[0], w, *v.shape[1:]), dtype=v.dtype, device=v.device)
                          for k, v in params.items()},
                "count": torch.zeros(first.shape[0], device=first.device)}

    def update(self, grads, state, params, ctx):
        w, lamb = self.settings.window, self.per_run_value("lamb")
        count = state["count"] + 1
        filled = count.clamp(max=w)
        apply = (count >= w) if self.settings.warmup else torch.ones_like(count, dtype=torch.bool)
        out, queue = {}, {}
        for name, grad in grads.items():
            queue[name] = torch.cat([state["queue"][name][:, 1:], grad[:, None]], dim=1)
            total = queue[name][:, 0]
            for i in range(1, w):
                total = total + queue[name][:, i]
            if self.settings.filter_type == "mean":
                total = total / per_run(filled, grad)
            out[name] = torch.where(per_run(apply, grad), grad + total * per_run(lamb, grad), grad)
        return out, {"queue": queue, "count": count}
