"""The built-in probes' measurements (their kinds, settings and outputs: grokrepro/probes/).

A probe takes the trainer, its settings and the mask of runs being logged, and returns one (run,) array per
quantity it measures (NaN for runs not measured).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap
from torch.nn import functional as F

from grokrepro.metrics.fourier import supported, trigonometric_share
from grokrepro.metrics.kernels import centred_alignment, kernel_regression_coefficients
from grokrepro.metrics.linearised import LinearisedSpectrum, LinearisedTwin
from grokrepro.metrics.lmn import linear_mapping_number
from grokrepro.metrics.population import lazy_quadratic_terms


def probe_samples(dataset, seed: int, count: int) -> torch.Tensor:
    """`count` training pairs, the same for every step of a run (drawn with the run's seed)."""
    order = np.random.default_rng(seed).permutation(dataset.train_index)
    return torch.as_tensor(dataset.inputs[order[:count]])


def _empty(trainer) -> np.ndarray:
    return np.full(len(trainer.runs), np.nan)


def lmn(trainer, probe, logged) -> dict[str, np.ndarray]:
    # the same training pairs at every step of a run, drawn once
    cache = trainer.__dict__.setdefault("_lmn_samples", {})
    if probe.samples not in cache:
        cache[probe.samples] = [probe_samples(d, r.seed, probe.samples).to(trainer.device)
                                for r, d in zip(trainer.runs, trainer.datasets)]
    inputs = cache[probe.samples]
    values = _empty(trainer)
    for k, model in trainer.run_models(np.nonzero(logged)[0]):
        if not hasattr(model, "first_hidden"):
            raise TypeError(f"the LMN probe needs a model with first_hidden/from_first_hidden, not "
                            f"{type(model).__name__}")
        with torch.no_grad():
            values[k] = linear_mapping_number(model.first_hidden(inputs[k]), model.from_first_hidden)
    return {"lmn": values}


def kernel_terms(trainer, probe, logged) -> dict[str, np.ndarray]:
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


def model_ntk(model, inputs_a: torch.Tensor, inputs_b: torch.Tensor | None = None) -> torch.Tensor:
    """The eNTK of a scalar output: the model's closed form where it has one (`ntk`), else torch.func."""
    if hasattr(model, "ntk"):
        return model.ntk(inputs_a, inputs_b)
    return empirical_ntk(model, inputs_a, inputs_b)


def _split(trainer, k: int, which: str, points: int | None = None):
    """Inputs and labels of run k's `which` split (train, test or all); with `points`, that many of them drawn
    with the run's seed (the same at every step)."""
    data = trainer.datasets[k]
    index = np.arange(len(data.labels)) if which == "all" else getattr(data, f"{which}_index")
    if points is not None and points < len(index):
        index = np.sort(np.random.default_rng([trainer.runs[k].seed, 2]).choice(index, points, replace=False))
    return (torch.as_tensor(data.inputs[index], device=trainer.device),
            torch.as_tensor(data.labels[index], device=trainer.device))


def ntk_alignment(trainer, probe, logged) -> dict[str, np.ndarray]:
    """Centred alignment of the current eNTK with the labels, on the test set (the model's closed-form eNTK where
    it has one)."""
    values = _empty(trainer)
    for k, model in trainer.run_models(np.nonzero(logged)[0]):
        x, y = _split(trainer, k, "test")
        values[k] = centred_alignment(model_ntk(model, x), y)
    return {"ntk_alignment": values}


def kernel_regression(trainer, probe, logged) -> dict[str, np.ndarray]:
    """Test loss of kernel regression with the current eNTK (at step 0: the lazy-regime baseline): the network's
    current output plus the minimum-norm interpolant of its residuals on the training set.

    A classifier's p outputs are regressed on one-hot labels with the eNTK of its first output as the kernel of
    each (K ⊗ I); the loss is then the mean squared error over examples and outputs, and the accuracy is
    reported too."""
    values, accuracy = _empty(trainer), _empty(trainer)
    points = probe.points
    for k, model in trainer.run_models(np.nonzero(logged)[0]):
        x_train, y_train = _split(trainer, k, "train")
        x_test, y_test = _split(trainer, k, "test", points)
        classes = not trainer.regression
        targets = F.one_hot(y_train, trainer.datasets[k].n_symbols).double() if classes else y_train.double()
        with torch.no_grad():
            residual = targets - model(x_train).double()
        coefficients = kernel_regression_coefficients(model_ntk(model, x_train), residual)
        squared, correct = 0.0, 0
        for start in range(0, len(x_test), 4096):  # the cross kernel in chunks: it can be larger than memory
            x = x_test[start:start + 4096]
            with torch.no_grad():
                prediction = model(x).double() + model_ntk(model, x, x_train).double() @ coefficients
            y = y_test[start:start + 4096]
            if classes:
                squared += float(((prediction - F.one_hot(y, prediction.shape[-1]).double()) ** 2).mean(-1).sum())
                correct += int((prediction.argmax(-1) == y).sum())
            else:
                squared += float(((prediction - y.double()) ** 2).sum())
        values[k] = squared / len(x_test)
        accuracy[k] = correct / len(x_test)
    result = {"kernel_test_loss": values}
    if not trainer.regression:
        result["kernel_test_acc"] = accuracy
    return result


def reference_init_seed(seed: int) -> int:
    """The seed of the independent second init that `ntk_drift`'s D_ref compares a run's initial eNTK with."""
    return (seed * 1_000_003 + 7_919) % 2**63


def _reference_ntk(trainer, k: int, inputs: torch.Tensor) -> torch.Tensor:
    """The eNTK on `inputs` of a second, independent init of run k's model (same scheme and init_scale)."""
    from grokrepro.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(reference_init_seed(trainer.runs[k].seed))
        model = build_model(trainer.runs[k].model, trainer.model_shape)
    model = model.to(device=inputs.device, dtype=trainer.params[next(iter(trainer.params))].dtype)
    return model_ntk(model, inputs).double()


def _unit(kernel: torch.Tensor) -> torch.Tensor:
    return kernel / torch.linalg.norm(kernel)


def ntk_drift(trainer, probe, logged) -> dict[str, np.ndarray]:
    """How far the eNTK Θ_t on a fixed sample of points has moved from Θ₀ (at the start of training):
    scale-free ‖Θ_t/‖Θ_t‖ − Θ₀/‖Θ₀‖‖_F (a homogeneous network's kernel grows with its norm) and raw
    ‖Θ_t − Θ₀‖_F/‖Θ₀‖_F; and, as the unit the first is read in, D_ref = the same scale-free distance between Θ₀
    and the kernel of a second, independent init of the same scheme on the same points (`ntk_drift_ref`, the
    same at every step)."""
    drift, raw, reference = _empty(trainer), _empty(trainer), _empty(trainer)
    points, split = probe.points, probe.split
    rows = np.nonzero(logged)[0]
    current = {k: model_ntk(model, _split(trainer, k, split, points)[0]).double()
               for k, model in trainer.run_models(rows)}
    # Θ₀ and D_ref once per run and probe settings (the initial parameters never change)
    cache = trainer.__dict__.setdefault("_initial_ntk", {})
    missing = [k for k in rows if (k, points, split) not in cache]
    if missing:
        saved = dict(trainer.params)
        try:
            trainer.params.update(trainer.initial_params)
            for k, model in trainer.run_models(np.asarray(missing)):
                x = _split(trainer, k, split, points)[0]
                start = model_ntk(model, x).double()
                cache[k, points, split] = (start, float(torch.linalg.norm(_unit(start) -
                                                                           _unit(_reference_ntk(trainer, k, x)))))
        finally:
            trainer.params.update(saved)
    for k in rows:
        now, (start, reference[k]) = current[k], cache[k, points, split]
        drift[k] = float(torch.linalg.norm(_unit(now) - _unit(start)))
        raw[k] = float(torch.linalg.norm(now - start) / torch.linalg.norm(start))
    return {"ntk_drift": drift, "ntk_drift_raw": raw, "ntk_drift_ref": reference}


def linearised_curve(trainer, probe, logged) -> dict[str, np.ndarray]:
    """Train and test loss of each run's linearised network (its first-order expansion around θ₀, trained by the
    same full-batch gradient descent from the same start) at the current step: Kumar et al.'s Fig. 1 comparator.

    Without weight decay, in closed form from the eigendecomposition of the initial eNTK (computed once per run);
    with it, by training a torch.func twin of the linearisation step by step (metrics/linearised.py)."""
    plain_gd = (trainer.optimizer.kind == "sgd" and not trainer.optimizer.momentum
                and trainer.optimiser.constant_rate)  # the twin replays constant-rate gradient descent
    if not trainer.regression or not plain_gd or not trainer.full_batch:
        raise TypeError("the linearised_curve probe needs a regression task trained by full-batch sgd without "
                        "momentum, warm-up or schedule, not "
                        f"{trainer.optimizer.kind} with batch size {trainer.batch_size}")
    train, test = _empty(trainer), _empty(trainer)
    rows = np.nonzero(logged)[0]
    cache = trainer.__dict__.setdefault("_linearised", {})
    missing = [k for k in rows if k not in cache]
    if missing:  # from θ₀, whatever step this is (a resumed run reaches here first at its checkpoint's step)
        saved = dict(trainer.params)
        try:
            trainer.params.update(trainer.initial_params)
            for k, model in trainer.run_models(np.asarray(missing)):
                (x_train, y_train), (x_test, y_test) = _split(trainer, k, "train"), _split(trainer, k, "test")
                lr, weight_decay = float(trainer.lr[k]), float(trainer.weight_decay[k])
                if weight_decay == 0:
                    with torch.no_grad():
                        start_train, start_test = model(x_train), model(x_test)
                    cache[k] = LinearisedSpectrum(model_ntk(model, x_train), model_ntk(model, x_test, x_train),
                                                  start_train, start_test, y_train, y_test, lr)
                else:
                    cache[k] = (LinearisedTwin(model, x_train, y_train, lr, weight_decay), x_test, y_test)
        finally:
            trainer.params.update(saved)
    for k in rows:
        if isinstance(cache[k], LinearisedSpectrum):
            train[k], test[k] = cache[k].losses(trainer.probe_step)
        else:
            twin, x_test, y_test = cache[k]
            twin.advance(trainer.probe_step)
            train[k], test[k] = twin.losses(x_test, y_test)
    return {"linearised_train_loss": train, "linearised_test_loss": test}


def fourier_share(trainer, probe, logged) -> dict[str, np.ndarray]:
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


def softmax_collapse(trainer, probe, logged) -> dict[str, np.ndarray]:
    """Share of each run's training examples whose per-example loss is exactly 0 in the run's loss and loss
    dtype (the authors' `zero_terms`: their loss with reduction "none", compared with 0), at the parameters of
    this logged step."""
    if trainer.regression:
        raise TypeError("the softmax_collapse probe needs a classification task")
    n_runs, n = trainer.train_y.shape
    zeros = torch.zeros(n_runs, dtype=torch.float64, device=trainer.device)
    chunk = max(1, 2**18 // n_runs)
    with torch.no_grad():
        for start in range(0, n, chunk):
            x, y = trainer.train_x[:, start:start + chunk], trainer.train_y[:, start:start + chunk]
            logits = trainer._forward(trainer.params, trainer.buffers, x)
            per_example = trainer._loss_of(logits.flatten(0, 1), y.flatten(), reduction="none").view(n_runs, -1)
            zeros += (per_example == 0).double().sum(1)
    return {"softmax_collapse": np.where(logged, (zeros / n).cpu().numpy(), np.nan)}
