"""The models a spec can name: one module per kind, each its Settings and a builder registered in
grokrepro.registry.MODELS. These modules import no torch (validating a spec must not); a builder imports its
network when a model is built."""
