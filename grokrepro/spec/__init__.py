from grokrepro.spec.load import SpecError, load_spec, spec_sha256
from grokrepro.spec.runs import RunConfig, expand_runs, training_groups, warm_start_runs

__all__ = ["SpecError", "load_spec", "spec_sha256", "RunConfig", "expand_runs", "training_groups",
           "warm_start_runs"]
