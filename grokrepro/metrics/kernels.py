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


def least_squares(matrix: torch.Tensor, targets: torch.Tensor, rcond: float = 1e-10) -> torch.Tensor:
    """The least-squares solution of `matrix` X = `targets` with singular values below rcond x the largest
    dropped, on any device. CUDA has only the `gels` driver, which assumes full rank and ignores rcond: on the
    numerically singular kernels this is the fallback for, it returns garbage. So a CUDA matrix is solved on the
    CPU with LAPACK's rank-revealing `gelsy` (the CPU default, so CPU results keep their bits) and moved back."""
    if matrix.device.type != "cpu":
        return least_squares(matrix.cpu(), targets.cpu(), rcond).to(matrix.device)
    return torch.linalg.lstsq(matrix, targets, rcond=rcond, driver="gelsy").solution


def kernel_regression_predictions(kernel_train: torch.Tensor, kernel_cross: torch.Tensor,
                                  targets: torch.Tensor) -> torch.Tensor:
    """Minimum-norm interpolation: K(test, train) K(train, train)⁺ y."""
    coefficients = least_squares(kernel_train.double(), targets.double()[:, None])
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
    solution = least_squares(kernel, targets.reshape(len(targets), -1))
    return solution.reshape(targets.shape)
