"""Learning-rate schedules: one module per kind, each registering its Settings and factor function in
grokrepro.registry.SCHEDULES."""
