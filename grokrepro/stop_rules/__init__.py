"""Stop rules: one module per kind, each registering its Settings and its rule in grokrepro.registry.STOP_RULES.

A spec writes a rule as a key of `train` named by its kind (`train.early_stop: {enabled: true, patience: 500}`).
The rule itself (grokrepro.train.stops.StopRule) is built once per training group and stops runs before the
budget, either after a logged step (from that step's metrics) or before a step it names (from the curves so
far); a stopped run takes no further update and logs nothing more. Each stop is recorded per run as
`stopped_at` (the run reached what it trained for) or `aborted_at` (the run was given up on).

A new rule is a module here or a plug-in file beside a spec:

    class LossBelowSettings(Strict):
        enabled: bool = False
        train_loss: float = 1e-3

    class LossBelow(StopRule):  # grokrepro.train.stops
        def after_logged_step(self, step, values, metrics):
            return values["train_loss"] < self.settings.train_loss

    STOP_RULES.register("loss_below", LossBelowSettings, LossBelow)

These modules import no torch (the rules are named as "module:attribute"): validating a spec must not need it.
"""
