"""Gradient transformations beyond the built-in ones, one module per idea; each registers its kinds with
grokrepro.train.optim.register_transform when imported, and is imported when a spec first names a kind."""
