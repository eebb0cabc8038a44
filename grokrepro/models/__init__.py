"""Models: the networks (torch, grokrepro/models/networks.py and beside it) and, in grokrepro/models/kinds/, the
kinds a spec can name (torch-free, so that validating a spec never imports torch)."""

__all__ = ["ModelShape", "build_model", "matmul_flops_per_example"]


def __getattr__(name):
    # torch only when a network is wanted: the spec layer imports grokrepro.models.kinds through this package
    if name in __all__:
        from grokrepro.models import networks

        return getattr(networks, name)
    raise AttributeError(f"module 'grokrepro.models' has no attribute {name!r}")
