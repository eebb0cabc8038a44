"""Kernel quantities: centred kernel-label alignment and ridgeless kernel regression."""

from __future__ import annotations

import torch


def centred_alignment(kernel: torch.Tensor, labels: torch.Tensor) -> float:
    """y_cᵀ K_c y_c / (‖K_c‖_F ‖y_c‖²) with K_c = K minus its column means and y_c the centred labels."""
    kernel, labels = kernel.double(), labels.double()
    centred_kernel = kernel - kernel.mean(dim=0, keepdim=True)
    centred_labels = labels - labels.mean()
    denominator = torch.linalg.norm(centred_kernel) * centred_labels.pow(2).sum()
    return float(centred_labels @ centred_kernel @ centred_labels / denominator) if denominator > 0 else float("nan")


def kernel_regression_predictions(kernel_train: torch.Tensor, kernel_cross: torch.Tensor,
                                  targets: torch.Tensor) -> torch.Tensor:
    """Minimum-norm interpolation: K(test, train) K(train, train)⁺ y."""
    coefficients = torch.linalg.lstsq(kernel_train.double(), targets.double()[:, None], rcond=1e-10).solution
    return (kernel_cross.double() @ coefficients)[:, 0].to(targets.dtype)


def kernel_regression_coefficients(kernel_train: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """c with K c = y, the minimum-norm interpolant's coefficients (targets (n,) or (n, outputs)). A Cholesky
    solve where K is numerically positive definite (fast at ten thousand points), least squares otherwise."""
    kernel, targets = kernel_train.double(), targets.double()
    factor, info = torch.linalg.cholesky_ex(kernel)
    if int(info) == 0:
        coefficients = torch.cholesky_solve(targets.reshape(len(targets), -1), factor)
        if torch.isfinite(coefficients).all():
            return coefficients.reshape(targets.shape)
    solution = torch.linalg.lstsq(kernel, targets.reshape(len(targets), -1), rcond=1e-10).solution
    return solution.reshape(targets.shape)
