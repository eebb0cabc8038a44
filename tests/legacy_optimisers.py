"""The hand-written optimisers the trainer used before grokrepro.train.optim, frozen verbatim as a reference:
tests/test_optim.py trains with both and demands the same bits."""

import math

import torch

from grokrepro.train import EnsembleTrainer


def _per_run(values, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


class LegacyTrainer(EnsembleTrainer):
    def __init__(self, runs, datasets, *args, **kwargs):
        super().__init__(runs, datasets, *args, **kwargs)
        self.exp_avg = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(v) for k, v in self.params.items()}
        rates = [(r.optimizer.lr * getattr(r.model, "alpha", 1.0) ** r.optimizer.lr_alpha_power,
                  r.optimizer.weight_decay) for r in runs]
        self.lr = torch.tensor([lr for lr, _ in rates], device=self.device)
        self.weight_decay = torch.tensor([decay for _, decay in rates], device=self.device)
        self.shared_rates = rates[0] if len(set(rates)) == 1 else None
        self.linf_penalty = torch.tensor([r.optimizer.linf_penalty for r in runs], device=self.device)
        self.any_linf_penalty = any(r.optimizer.linf_penalty > 0 for r in runs)
        self._sgd_factors = {name: (_per_run(self.lr, p), 1 - _per_run(self.lr * self.weight_decay, p))
                             for name, p in self.params.items()}

    def _update(self, grads, step: int, active: torch.Tensor, everyone: bool | None = None) -> None:
        everyone = bool(active.all()) if everyone is None else everyone
        if self.any_linf_penalty:
            grads = self._with_linf_penalty(grads)
        if self.optimizer.kind == "sgd":
            self._sgd(grads, active, everyone)
        elif self.optimizer.kind == "normalized_gd":
            norm = torch.sqrt(sum(g.pow(2).flatten(1).sum(1) for g in grads.values()))
            scale = 1 / norm.clamp_min(torch.finfo(norm.dtype).tiny)
            self._sgd({k: g * _per_run(scale, g) for k, g in grads.items()}, active, everyone)
        else:
            self._adamw(grads, step, active, everyone)

    def _with_linf_penalty(self, grads):
        """Add the subgradient of λ‖θ‖∞ (λ sign(θ_j) at the largest |θ_j| over all of a run's parameters).

        Under normalised gradient descent the loss's gradient arrives multiplied by a gain (see
        `_normalised_objective`), so the penalty is multiplied by it too; both are then divided by
        max(1, λ·gain), in log space, which leaves the direction alone and keeps the numbers finite when the
        loss has all but vanished and the penalty takes over."""
        largest = torch.stack([p.detach().abs().flatten(1).amax(1) for p in self.params.values()]).amax(0)
        loss_weight, penalty = torch.ones_like(self.linf_penalty), self.linf_penalty
        if self._log_gains is not None:
            log_relative = self.linf_penalty.double().log() + self._log_gains.double()  # λ = 0: -inf
            loss_weight = torch.exp(-log_relative.clamp_min(0.0)).to(penalty.dtype)
            penalty = torch.exp(log_relative.clamp_max(0.0)).to(penalty.dtype)
        out = {}
        for name, param in self.params.items():
            at_max = (param.detach().abs() >= _per_run(largest, param)).to(param.dtype)
            out[name] = (grads[name] * _per_run(loss_weight, param)
                         + _per_run(penalty, param) * at_max * param.detach().sign())
        return out

    def _sgd(self, grads, active: torch.Tensor, everyone: bool) -> None:
        for name, param in self.params.items():
            run_lr, decay = self._sgd_factors[name]
            if everyone:  # in place: nothing to keep aside for stopped runs
                param.mul_(decay).addcmul_(run_lr, grads[name], value=-1)
                continue
            new_param = param * decay - run_lr * grads[name]
            param.copy_(torch.where(_per_run(active, param), new_param, param))

    def _adamw(self, grads, step: int, active: torch.Tensor, everyone: bool) -> None:
        beta1, beta2 = self.optimizer.betas
        warmup = self.optimizer.warmup_steps
        warming = min(1.0, (step + 1) / warmup) if warmup else 1.0
        if everyone and self.shared_rates is not None:
            return self._fused_adamw(grads, step, warming)
        lr = self.lr * warming
        bias1, bias2 = 1 - beta1 ** (step + 1), 1 - beta2 ** (step + 1)
        for name, param in self.params.items():
            grad, m, v = grads[name], self.exp_avg[name], self.exp_avg_sq[name]
            run_lr = _per_run(lr, param)
            decay = 1 - run_lr * _per_run(self.weight_decay, param)
            if everyone:  # in place, in torch.optim.AdamW's order of operations
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = (v.sqrt() / math.sqrt(bias2)).add_(self.optimizer.eps)
                param.mul_(decay).sub_(run_lr / bias1 * m / denominator)
                continue
            keep = _per_run(active, param)
            new_m = m.lerp(grad, 1 - beta1)
            new_v = (v * beta2).addcmul_(grad, grad, value=1 - beta2)
            denominator = (new_v.sqrt() / math.sqrt(bias2)).add_(self.optimizer.eps)
            new_param = param * decay - run_lr / bias1 * new_m / denominator
            # Runs that diverged or stopped keep their state untouched (NaN never leaks into it).
            param.copy_(torch.where(keep, new_param, param))
            m.copy_(torch.where(keep, new_m, m))
            v.copy_(torch.where(keep, new_v, v))

    def _fused_adamw(self, grads, step: int, warming: float) -> None:
        """Every run active and sharing one learning rate and weight decay: PyTorch's fused AdamW kernel over
        the stacked tensors, one pass per tensor instead of a dozen elementwise ops."""
        lr, weight_decay = self.shared_rates
        names = list(self.params)
        count = torch.tensor(float(step + 1), device=self.device)
        torch._fused_adamw_([self.params[k] for k in names], [grads[k].contiguous() for k in names],
                            [self.exp_avg[k] for k in names], [self.exp_avg_sq[k] for k in names], [],
                            [count] * len(names), amsgrad=False, lr=lr * warming, beta1=self.optimizer.betas[0],
                            beta2=self.optimizer.betas[1], weight_decay=weight_decay, eps=self.optimizer.eps,
                            maximize=False, grad_scale=None, found_inf=None)

