"""How far can kernel_vs_rich's scale-free eNTK drift go? ‖Θ/‖Θ‖ − Θ₀/‖Θ₀‖‖_F (first output, 300 random pairs)
between a random init (the suite's earlier W ~ N(0, 1), V ~ N(0, 1/width), or with `pytorch` as argument the
paper's PyTorch-default init, now the spec's) and (a) a second random init, (b) an idealised Fourier
network (neuron i: W[i, a] = cos(2π k_i a/p + φ_i), W[i, p + b] = cos(2π k_i b/p + ψ_i),
V[c, i] = cos(2π k_i c/p + φ_i + ψ_i)), its readout scaled to ‖V‖² = vscale² ‖W‖²/2 (vscale 1: the balance
gradient flow keeps, ‖W‖²/2 − ‖V‖² conserved, once the norm has grown far past its initial value).

    python studies/kernel_vs_rich_drift_ceiling.py [normal|pytorch]

Prints one line per prime and width. The drift is a function of the parameters' direction only (Θ is
4-homogeneous in θ), so these distances are what the old K2's "≥ 0.5 after the fit" asked the trained net to
exceed; the second-init distance is the D_ref the revised K2 reads the drift in.
"""

from __future__ import annotations

import math
import sys

import torch

from grokrepro.models.quadratic import QuadraticNet


def scale_free(kernel: torch.Tensor, initial: torch.Tensor) -> float:
    return float(torch.linalg.norm(kernel / torch.linalg.norm(kernel) - initial / torch.linalg.norm(initial)))


def fourier_net(p: int, width: int, vscale: float, generator: torch.Generator) -> QuadraticNet:
    k = torch.randint(1, (p + 1) // 2, (width,), generator=generator).double()
    phi, psi = (torch.rand(width, generator=generator, dtype=torch.double) * 2 * math.pi for _ in range(2))
    symbols = torch.arange(p).double()
    weight = torch.cat([torch.cos(2 * math.pi * k[:, None] * symbols / p + phi[:, None]),
                        torch.cos(2 * math.pi * k[:, None] * symbols / p + psi[:, None])], 1)
    readout = torch.cos(2 * math.pi * k[None, :] * symbols[:, None] / p + (phi + psi)[None, :])
    readout = readout * vscale * torch.linalg.norm(weight) / torch.linalg.norm(readout) / math.sqrt(2)
    net = QuadraticNet(p, width=width).double()
    with torch.no_grad():
        net.weight.copy_(weight)
        net.readout.copy_(readout)
    return net


def main(init: str = "normal") -> None:
    for p, per_symbol in ((23, 8), (31, 8), (47, 8), (97, 8), (23, 16), (23, 32)):
        width = per_symbol * p
        generator = torch.Generator().manual_seed(p)
        torch.manual_seed(p)
        pairs = torch.randint(0, p, (300, 2), generator=generator)
        initial = QuadraticNet(p, width=width, init=init).double().ntk(pairs)
        other = scale_free(QuadraticNet(p, width=width, init=init).double().ntk(pairs), initial)
        ideal = {v: scale_free(fourier_net(p, width, v, generator).ntk(pairs), initial) for v in (1.0, 2.0, 3.0)}
        print(f"p {p} width {width}: second init {other:.3f}; Fourier net, readout 1x / 2x / 3x balanced: "
              + " / ".join(f"{d:.3f}" for d in ideal.values()))


if __name__ == "__main__":
    main(*sys.argv[1:])
