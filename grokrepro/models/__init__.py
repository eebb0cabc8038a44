"""Models: the networks (torch) and, in grokrepro/models/kinds/, the kinds a spec can name (torch-free)."""

from grokrepro.models.networks import ModelShape, build_model, matmul_flops_per_example

__all__ = ["ModelShape", "build_model", "matmul_flops_per_example"]
