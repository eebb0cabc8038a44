from grokrepro.models.networks import build_model, matmul_flops_per_example

__all__ = ["build_model", "matmul_flops_per_example"]
