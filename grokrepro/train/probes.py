"""Probes: measurements of each run's network, beyond loss and accuracy, taken at some logged steps.

A probe takes the trainer, its prepared inputs and the mask of runs being logged, and returns one (run,)
array per quantity it measures (NaN for runs not measured).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

from grokrepro.metrics.fourier import supported, trigonometric_share
from grokrepro.metrics.kernels import centred_alignment, kernel_regression_predictions
from grokrepro.metrics.lmn import linear_mapping_number
from grokrepro.metrics.population import lazy_quadratic_terms


def probe_samples(dataset, seed: int, count: int) -> torch.Tensor:
    """`count` training pairs, the same for every step of a run (drawn with the run's seed)."""
    order = np.random.default_rng(seed).permutation(dataset.train_index)
    return torch.as_tensor(dataset.inputs[order[:count]])


def _empty(trainer) -> np.ndarray:
    return np.full(len(trainer.runs), np.nan)


def lmn(trainer, inputs, logged) -> dict[str, np.ndarray]:
    values = _empty(trainer)
    for k, model in trainer.run_models(np.nonzero(logged)[0]):
        if not hasattr(model, "first_hidden"):
            raise TypeError(f"the LMN probe needs a model with first_hidden/from_first_hidden, not "
                            f"{type(model).__name__}")
        with torch.no_grad():
            values[k] = linear_mapping_number(model.first_hidden(inputs[k]), model.from_first_hidden)
    return {"lmn": values}


def kernel_terms(trainer, inputs, logged) -> dict[str, np.ndarray]:
    """Kumar et al.'s sufficient statistics and the exact population-loss decomposition, for every run."""
    beta = torch.as_tensor(np.stack([d.extras["beta"] for d in trainer.datasets]), device=trainer.device)
    terms = lazy_quadratic_terms(trainer.params["weight"], trainer.buffers["initial_weight"],
                                 trainer.buffers["alpha"], trainer.buffers["epsilon"], beta,
                                 centred=trainer.template.centred)
    return {name: np.where(logged, value.detach().cpu().numpy(), np.nan) for name, value in terms.items()}


def empirical_ntk(model, inputs_a: torch.Tensor, inputs_b: torch.Tensor | None = None) -> torch.Tensor:
    """K(x, x') = ∇θ f(x)·∇θ f(x') for a scalar-output model, by torch.func Jacobians."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def output(parameters, x):
        return functional_call(model, (parameters, buffers), (x[None],))[0]

    def jacobian(x):
        rows = vmap(jacrev(output), in_dims=(None, 0))(params, x)
        return torch.cat([rows[name].flatten(1) for name in params], dim=1)

    ja = jacobian(inputs_a)
    jb = ja if inputs_b is None else jacobian(inputs_b)
    return ja @ jb.T


def _split(trainer, k: int, which: str):
    index = getattr(trainer.datasets[k], f"{which}_index")
    data = trainer.datasets[k]
    return (torch.as_tensor(data.inputs[index], device=trainer.device),
            torch.as_tensor(data.labels[index], device=trainer.device))


def ntk_alignment(trainer, inputs, logged) -> dict[str, np.ndarray]:
    """Centred alignment of the current eNTK with the labels, on the test set."""
    values = _empty(trainer)
    for k, model in trainer.run_models(np.nonzero(logged)[0]):
        x, y = _split(trainer, k, "test")
        values[k] = centred_alignment(empirical_ntk(model, x), y)
    return {"ntk_alignment": values}


def kernel_regression(trainer, inputs, logged) -> dict[str, np.ndarray]:
    """Test loss of kernel regression with the current eNTK (at step 0: the lazy-regime baseline)."""
    values = _empty(trainer)
    for k, model in trainer.run_models(np.nonzero(logged)[0]):
        x_train, y_train = _split(trainer, k, "train")
        x_test, y_test = _split(trainer, k, "test")
        kernel_train = empirical_ntk(model, x_train)
        kernel_cross = empirical_ntk(model, x_test, x_train)
        with torch.no_grad():
            current_test = model(x_test)
            current_train = model(x_train)
        prediction = current_test + kernel_regression_predictions(kernel_train, kernel_cross, y_train - current_train)
        values[k] = float(((prediction - y_test) ** 2).mean())
    return {"kernel_test_loss": values}


def fourier_share(trainer, inputs, logged) -> dict[str, np.ndarray]:
    """Share of each run's logits, over every pair of the table, in its operation's trigonometric subspace."""
    task = trainer.runs[0].task
    if getattr(task, "kind", None) != "modular" or not supported(task.operation):
        raise TypeError(f"the fourier_share probe needs a modular x+y or x-y task, not {task}")
    table = torch.as_tensor(trainer.datasets[0].inputs, device=trainer.device)
    table = table.expand(len(trainer.runs), *table.shape)
    with torch.no_grad():
        logits = trainer._forward(trainer.params, trainer.buffers, table)
    share = trigonometric_share(logits, task.prime, task.operation).cpu().numpy()
    return {"fourier_share": np.where(logged, share, np.nan)}


PROBES = {"fourier_share": fourier_share, "lmn": lmn, "kernel_terms": kernel_terms, "ntk_alignment": ntk_alignment,
          "kernel_regression": kernel_regression}
