"""The linearised network: the first-order Taylor expansion of a model around its initial parameters θ₀,
f_lin(θ, x) = f(θ₀, x) + ∇θ f(θ₀, x)·(θ − θ₀), trained alongside the network by the same gradient descent.

Kumar et al. compare their network with it (Fig. 1's linearised curve, the notebook's `nt.linearize`): in the lazy
phase the network tracks it, and the network's departure from it is feature learning.

Two ways to get its losses:
- `LinearisedTwin` trains the linearisation of any scalar-output model with torch.func (jvp forward, vjp
  backward), step by step.
- `closed_form_losses`: for full-batch gradient descent on the mean squared error with a constant learning rate η
  and no weight decay, the training residual obeys r_{t+1} = (I − hK₀) r_t with K₀ the initial eNTK on the training
  set and h = 2η/P. With K₀ = VΛVᵀ and d_t = (1 − hλ)^t:
    train predictions  f₀ − V diag(1 − d_t) Vᵀ r₀,
    test predictions   f₀(test) − K₀(test, train) V diag((1 − d_t)/λ) Vᵀ r₀,
  where r₀ = f₀ − y (for a centred model f₀ = 0 and r₀ = −y). As t → ∞ the test predictions become kernel
  regression with K₀ (the minimum-norm interpolant), which is why the kernel line is the linearised network's
  end point.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, jvp, vjp


class LinearisedSpectrum:
    """What the closed form needs of one run, computed once from θ₀: the eigendecomposition of K₀ on the
    training set, the initial residual in its eigenbasis and the cross kernel's image of the eigenvectors."""

    def __init__(self, kernel_train, kernel_cross, initial_train, initial_test, train_labels, test_labels,
                 lr: float):
        kernel = torch.as_tensor(kernel_train).double()
        eigenvalues, vectors = torch.linalg.eigh(0.5 * (kernel + kernel.T))
        self.eigenvalues = eigenvalues.clamp_min(0.0)
        self.vectors = vectors
        self.initial_train = torch.as_tensor(initial_train).double()
        self.initial_test = torch.as_tensor(initial_test).double()
        self.train_labels = torch.as_tensor(train_labels).double()
        self.test_labels = torch.as_tensor(test_labels).double()
        residual = self.initial_train - self.train_labels
        self.projected_residual = vectors.T @ residual  # Vᵀ r₀
        self.cross_vectors = torch.as_tensor(kernel_cross).double() @ vectors  # K₀(test, train) V
        self.step_size = 2.0 * float(lr) / len(self.train_labels)  # h: the MSE's gradient is (2/P) Jᵀ r

    def _factors(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(1 − d_t) and (1 − d_t)/λ (→ h·t as λ → 0); expm1 and log1p keep both exact when hλ is tiny."""
        h_lambda = self.step_size * self.eigenvalues
        stable = h_lambda < 1
        log_decay = torch.log1p(-torch.where(stable, h_lambda, torch.zeros_like(h_lambda)))
        fitted = torch.where(stable, -torch.expm1(step * log_decay), 1 - (1 - h_lambda) ** step)
        positive = self.eigenvalues > 0
        per_eigenvalue = torch.where(positive, fitted / torch.where(positive, self.eigenvalues, 1.0),
                                     torch.full_like(fitted, self.step_size * step))
        return fitted, per_eigenvalue

    def predictions(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        fitted, per_eigenvalue = self._factors(step)
        train = self.initial_train - self.vectors @ (fitted * self.projected_residual)
        test = self.initial_test - self.cross_vectors @ (per_eigenvalue * self.projected_residual)
        return train, test

    def losses(self, step: int) -> tuple[float, float]:
        """Mean squared error of the linearised network after `step` full-batch gradient-descent steps."""
        train, test = self.predictions(step)
        return (float(((train - self.train_labels) ** 2).mean()), float(((test - self.test_labels) ** 2).mean()))


def closed_form_losses(kernel_train, kernel_cross, initial_train, initial_test, train_labels, test_labels,
                       lr: float, steps) -> tuple[np.ndarray, np.ndarray]:
    """Train and test loss of the linearised network at each of `steps` (full-batch GD on the MSE, constant lr)."""
    spectrum = LinearisedSpectrum(kernel_train, kernel_cross, initial_train, initial_test, train_labels,
                                  test_labels, lr)
    pairs = np.array([spectrum.losses(int(s)) for s in steps])
    return pairs[:, 0], pairs[:, 1]


class LinearisedTwin:
    """The linearisation of `model` at its current parameters, trained by full-batch gradient descent on the
    mean squared error (with optional decoupled weight decay on θ, as the trainer's SGD applies it), for any
    scalar-output model; `advance(step)` catches up to a step."""

    def __init__(self, model: torch.nn.Module, train_inputs, train_labels, lr: float, weight_decay: float = 0.0):
        self.model = model
        self.initial = {name: p.detach().clone() for name, p in model.named_parameters()}
        self.buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
        self.offset = {name: torch.zeros_like(p) for name, p in self.initial.items()}  # θ − θ₀
        self.train_inputs, self.train_labels = train_inputs, train_labels
        self.lr, self.weight_decay, self.step = float(lr), float(weight_decay), 0
        _, self._pullback = vjp(lambda p: self._output(p, train_inputs), self.initial)

    def _output(self, params, inputs):
        return functional_call(self.model, (params, self.buffers), (inputs,))

    def outputs(self, inputs) -> torch.Tensor:
        """f(θ₀, x) + J(x)(θ − θ₀)."""
        initial, tangent = jvp(lambda p: self._output(p, inputs), (self.initial,), (self.offset,))
        return initial + tangent

    def advance(self, step: int) -> None:
        while self.step < step:
            residual = self.outputs(self.train_inputs) - self.train_labels
            (gradient,) = self._pullback(2.0 * residual / len(residual))
            for name, offset in self.offset.items():
                # θ ← (1 − ηλ)θ − η∇: on the offset, the decay also pulls θ₀'s share towards zero
                decay = self.lr * self.weight_decay * (self.initial[name] + offset)
                offset.sub_(self.lr * gradient[name] + decay)
            self.step += 1

    def losses(self, test_inputs, test_labels) -> tuple[float, float]:
        with torch.no_grad():
            train = self.outputs(self.train_inputs) - self.train_labels
            test = self.outputs(test_inputs) - test_labels
        return float((train.double() ** 2).mean()), float((test.double() ** 2).mean())
