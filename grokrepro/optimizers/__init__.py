"""Base optimisers: one module per kind, each registering its Settings and its implementation in
grokrepro.registry.OPTIMIZERS.

A kind's Settings subclass grokrepro.spec.schema.OptimizerSettings (the fields every base shares: rates,
transformations, warm-up, schedule, batch) with a `kind` literal and its own fields. Its implementation
(grokrepro.train.optim.BaseOptimiser) turns the transformed gradients into a step for a whole vmapped group:

    class SignSGDSettings(OptimizerSettings):
        kind: Literal["sign_sgd"] = "sign_sgd"

    class SignSGD(BaseOptimiser):
        def __init__(self, optimizer, device): ...
        def update(self, grads, state, params, ctx):
            return {k: per_run(ctx.lr, g) * g.sign() for k, g in grads.items()}, state

    OPTIMIZERS.register("sign_sgd", SignSGDSettings, SignSGD)

These modules import no torch (implementations are named as "module:attribute"): validating a spec must not
need it.
"""
